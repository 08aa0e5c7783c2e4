//! The user pool's pre sign-up trigger: a self sign-up names a patient with
//! a valid document or a doctor the insurer registered with that email.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsPreSignup;
use citas_lambda::{Aws, cognito, init_telemetry, run};
use lambda_http::lambda_runtime::{Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = init_telemetry(env!("CARGO_BIN_NAME"))?;
    let services = Aws::for_trigger().await.services();
    run(
        metrics,
        |event: LambdaEvent<CognitoEventUserPoolsPreSignup>| async {
            Ok::<_, Error>(cognito::pre_sign_up(&services, event.payload).await?)
        },
    )
    .await
}

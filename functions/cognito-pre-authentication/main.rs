//! The user pool's pre authentication trigger: a patient signs in with
//! their document as a second fact. It reads nothing: no client is built.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsPreAuthentication;
use citas_lambda::{cognito, init_telemetry, run};
use lambda_http::lambda_runtime::{Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = init_telemetry(env!("CARGO_BIN_NAME"))?;
    run(
        metrics,
        |event: LambdaEvent<CognitoEventUserPoolsPreAuthentication>| async {
            Ok::<_, Error>(cognito::pre_authentication(event.payload)?)
        },
    )
    .await
}

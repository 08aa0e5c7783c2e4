//! The user pool's post confirmation trigger: the confirmed user joins
//! their group with their country and document; a patient's record is
//! created or completed.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsPostConfirmation;
use citas_lambda::{Aws, cognito, init_telemetry, run};
use lambda_http::lambda_runtime::{Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = init_telemetry(env!("CARGO_BIN_NAME"))?;
    let aws = Aws::for_trigger().await;
    let (services, directory) = (aws.services(), aws.user_directory());
    run(
        metrics,
        |event: LambdaEvent<CognitoEventUserPoolsPostConfirmation>| async {
            Ok::<_, Error>(cognito::post_confirmation(&services, &directory, event.payload).await?)
        },
    )
    .await
}

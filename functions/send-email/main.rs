//! SQS → SES: each notification message becomes at most one email; failed
//! records are reported so only they are delivered again.

use aws_lambda_events::event::sqs::SqsEvent;
use citas_lambda::{Aws, init_telemetry, jobs, run};
use lambda_http::lambda_runtime::{Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = init_telemetry(env!("CARGO_BIN_NAME"))?;
    let pipeline = Aws::from_env().await.email_pipeline()?;
    run(metrics, |event: LambdaEvent<SqsEvent>| async {
        Ok::<_, Error>(jobs::send_emails(&pipeline, event.payload).await)
    })
    .await
}

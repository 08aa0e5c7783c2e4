//! SQS → SES: each notification message becomes at most one email; failed
//! records are reported so only they are delivered again.

use aws_lambda_events::event::sqs::SqsEvent;
use citas_lambda::{Aws, init_logging, jobs};
use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let pipeline = Aws::from_env().await.email_pipeline()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, Error>(jobs::send_emails(&pipeline, event.payload).await)
    }))
    .await
}

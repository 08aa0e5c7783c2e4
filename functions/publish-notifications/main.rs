//! The transactional outbox's publisher: the history table's stream shows
//! every committed change of an appointment; its notifications go to the
//! country's queue, keyed by the change, so a record read twice sends one email.

use citas_lambda::{Aws, init_logging, jobs};
use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let queue = Aws::from_env().await.queue();
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<aws_lambda_events::event::dynamodb::Event>| async {
            let records = jobs::stream_records(event.payload);
            Ok::<_, Error>(jobs::publish_notifications(queue.as_ref(), records).await)
        },
    ))
    .await
}

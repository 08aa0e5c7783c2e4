//! The transactional outbox's publisher: the history table's stream shows
//! every committed change of an appointment; its notifications go to the
//! country's queue, keyed by the change, so a record read twice sends one email.

use citas_lambda::{Aws, init_telemetry, jobs, run};
use lambda_http::lambda_runtime::{Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = init_telemetry(env!("CARGO_BIN_NAME"))?;
    let queue = Aws::from_env().await.queue();
    run(
        metrics,
        |event: LambdaEvent<aws_lambda_events::event::dynamodb::Event>| async {
            let records = jobs::stream_records(event.payload);
            Ok::<_, Error>(jobs::publish_notifications(queue.as_ref(), records).await)
        },
    )
    .await
}

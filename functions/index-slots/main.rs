//! The slot table's stream: slot items written without the free-slot index's
//! attributes (seed 000's items pasted with `aws dynamodb batch-write-item`)
//! are completed, so searches and auto-assignment find them.

use citas_lambda::{Aws, init_telemetry, jobs, run};
use lambda_http::lambda_runtime::{Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = init_telemetry(env!("CARGO_BIN_NAME"))?;
    let store = Aws::from_env().await.store();
    run(
        metrics,
        |event: LambdaEvent<aws_lambda_events::event::dynamodb::Event>| async {
            let records = jobs::stream_records(event.payload);
            Ok::<_, Error>(jobs::index_slots(&store, records).await)
        },
    )
    .await
}

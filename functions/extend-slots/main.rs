//! Daily, per country, in its time zone: generate every open working plan's
//! slots up to the horizon (`SLOT_HORIZON_DAYS`).

use citas_lambda::{Aws, init_telemetry, jobs, run};
use lambda_http::lambda_runtime::{Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = init_telemetry(env!("CARGO_BIN_NAME"))?;
    let services = Aws::from_env().await.services();
    run(metrics, |event: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(jobs::extend_slots(&services, event.payload).await?)
    })
    .await
}

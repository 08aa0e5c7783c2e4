//! Daily, per country, in its time zone: enqueue a reminder for each of the
//! next day's appointments.

use citas_lambda::{Aws, init_telemetry, jobs, run};
use lambda_http::lambda_runtime::{Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = init_telemetry(env!("CARGO_BIN_NAME"))?;
    let services = Aws::from_env().await.services();
    run(metrics, |event: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(jobs::send_reminders(&services, event.payload).await?)
    })
    .await
}

//! Daily, per country, in its time zone: enqueue a reminder for each of the
//! next day's appointments.

use citas_lambda::{Aws, init_logging, jobs};
use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let services = Aws::from_env().await.services();
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(jobs::send_reminders(&services, event.payload).await?)
    }))
    .await
}

//! Daily, per country, in its time zone: generate every open working plan's
//! slots up to the horizon (`SLOT_HORIZON_DAYS`).

use citas_lambda::{Aws, init_logging, jobs};
use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let services = Aws::from_env().await.services();
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(jobs::extend_slots(&services, event.payload).await?)
    }))
    .await
}

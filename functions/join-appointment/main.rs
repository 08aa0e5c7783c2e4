//! POST /{country}/appointment/{id}/join: entering a virtual visit's meeting.
//! Clients are built once, at init; each request goes to the shared HTTP layer.

use citas_lambda::{Aws, functions, http, init_telemetry, run_http};
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = init_telemetry(env!("CARGO_BIN_NAME"))?;
    let services = Aws::from_env().await.services();
    run_http(metrics, |request| {
        http(&services, functions::JOIN_APPOINTMENT, request)
    })
    .await
}

//! GET /{country}/appointment/{id}, …/{id}/history, GET /{country}/appointment?… and GET /health.
//! Clients are built once, at init; each request goes to the shared HTTP layer.

use citas_lambda::{Aws, functions, http, init_logging};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let services = Aws::from_env().await.services();
    lambda_http::run(service_fn(|request| {
        http(&services, functions::QUERY_APPOINTMENTS, request)
    }))
    .await
}

//! POST /{country}/appointment/{id}/confirm, …/refuse, …/complete, …/no-show and …/cancel.
//! Clients are built once, at init; each request goes to the shared HTTP layer.

use citas_lambda::{Aws, functions, http, init_logging};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let services = Aws::from_env().await.services();
    lambda_http::run(service_fn(|request| {
        http(&services, functions::CLOSE_APPOINTMENT, request)
    }))
    .await
}

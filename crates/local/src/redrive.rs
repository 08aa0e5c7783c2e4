//! Sending dead letters back, locally: the embedded mode's dead-letter queue
//! is `<data dir>/dead-letter.jsonl`; `citas redrive` (through a local-only
//! route) puts a country's letters back on the in-process queue, as
//! `aws sqs start-message-move-task` does for a deployed stage's.

use std::collections::HashMap;

use citas_api::Problem;
use citas_api::handlers::json_response;
use citas_domain::access::{Access, authorize};
use citas_domain::{Caller, Country, Notification, Services};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

use citas_embedded::queue::DeadLetterFile;

/// Local only; not an API route, never deployed.
pub const LOCAL_REDRIVE_PATH: &str = "/_local/redrive";

/// `POST /_local/redrive {"country": "pe"}`, for an admin of that country:
/// `{"country", "redriven", "kept"}` (letters of other countries, and those
/// that could not be enqueued, stay in the file).
pub async fn on_request(
    services: &Services,
    claims: &HashMap<String, String>,
    body: &[u8],
    dead_letters: Option<&DeadLetterFile>,
) -> Response<Body> {
    let input: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let Some(country) = input["country"]
        .as_str()
        .and_then(|c| Country::from_code(c).ok())
    else {
        return Problem::bad_request("invalid_body", "send {\"country\": \"pe\"} or \"cl\"")
            .into_response(None);
    };
    let allowed = Caller::from_claims(claims)
        .is_ok_and(|caller| authorize(&caller, country, Access::Redrive).is_ok());
    if !allowed {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "dead letters are sent back by an admin of the country",
        )
        .into_response(None);
    }
    let Some(file) = dead_letters else {
        return Problem::new(
            StatusCode::CONFLICT,
            "not_embedded",
            "on the AWS adapters the dead letters are on SQS: aws sqs start-message-move-task",
        )
        .into_response(None);
    };
    let letters = match file.take_all().await {
        Ok(letters) => letters,
        Err(error) => {
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "dead_letters_unreadable",
                error.to_string(),
            )
            .into_response(None);
        }
    };
    let mut kept = Vec::new();
    let mut redriven = 0;
    for letter in letters {
        match Notification::from_json(&letter) {
            Ok(message) if message.country == country => {
                match services.queue.enqueue(&message).await {
                    Ok(()) => redriven += 1,
                    Err(error) => {
                        tracing::warn!(%error, "a dead letter could not be enqueued; kept");
                        kept.push(letter);
                    }
                }
            }
            _ => kept.push(letter),
        }
    }
    if let Err(error) = file.put_back(&kept).await {
        tracing::error!(%error, kept = kept.len(), "dead letters could not be put back");
    }
    tracing::info!(
        country = country.code,
        redriven,
        kept = kept.len(),
        "dead letters sent back"
    );
    json_response(
        StatusCode::OK,
        &json!({ "country": country.code, "redriven": redriven, "kept": kept.len() }),
    )
}

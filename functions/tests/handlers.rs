//! Each function's handler, fed the API Gateway HTTP API (v2) event documents
//! in tests/fixtures through lambda_http's own parser, as the runtime does.

use std::path::Path;
use std::sync::Arc;

use citas_domain::{ManualClock, Services};
use citas_lambda::{functions, http};
use citas_local::queue::InProcessQueue;
use citas_local::{EmbeddedStore, seed};
use lambda_http::Body;
use serde_json::Value;

fn fixture(name: &str) -> lambda_http::Request {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
}

async fn services(dir: &Path) -> Services {
    let store = Arc::new(EmbeddedStore::open(dir).expect("store"));
    let seed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed");
    seed::load_dir(store.as_ref(), &seed_dir)
        .await
        .expect("seed");
    // The fixtures were captured on 2026-11-22 (10:00 in Lima).
    let clock = Arc::new(ManualClock::new(
        "2026-11-22T15:00:00Z".parse().expect("time"),
    ));
    let (queue, _consumer) = InProcessQueue::with_outbox(store.clone(), dir, clock.clone());
    Services {
        store,
        queue: Arc::new(queue),
        clock,
    }
}

async fn call(services: &Services, serves: &[citas_api::Action], name: &str) -> (u16, Value) {
    let response = http(services, serves, fixture(name))
        .await
        .expect("handler never fails");
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        other => panic!("unexpected body {other:?}"),
    };
    (status, body)
}

#[tokio::test]
async fn every_api_function_handles_its_events() {
    let dir = tempfile::tempdir().expect("dir");
    let services = services(dir.path()).await;

    let (status, patient) = call(
        &services,
        functions::REGISTER_PATIENT,
        "apigw-register-patient.json",
    )
    .await;
    assert_eq!(
        (status, patient["document"].as_str()),
        (200, Some("41234567")),
        "seeded patient, updated"
    );

    let (status, created) = call(
        &services,
        functions::CREATE_APPOINTMENT,
        "apigw-create-appointment.json",
    )
    .await;
    assert_eq!(
        (status, created["id"].as_str()),
        (201, Some("20261122-45678912")),
        "{created}"
    );
    assert_eq!(created["status"], "registered");

    let (status, fetched) = call(
        &services,
        functions::QUERY_APPOINTMENTS,
        "apigw-get-appointment.json",
    )
    .await;
    assert_eq!((status, &fetched), (200, &created));
    let (status, page) = call(
        &services,
        functions::QUERY_APPOINTMENTS,
        "apigw-list-appointments.json",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["id"], "20261122-45678912");
    let (status, health) = call(
        &services,
        functions::QUERY_APPOINTMENTS,
        "apigw-health.json",
    )
    .await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));

    let (status, assigned) = call(
        &services,
        functions::ASSIGN_APPOINTMENT,
        "apigw-assign-appointment.json",
    )
    .await;
    assert_eq!(
        (status, assigned["status"].as_str()),
        (200, Some("assigned")),
        "{assigned}"
    );
    let (status, accepted) = call(
        &services,
        functions::NOTIFY_APPOINTMENT,
        "apigw-notify-appointment.json",
    )
    .await;
    assert_eq!(
        (status, accepted["message"]["type"].as_str()),
        (202, Some("appointment.assigned"))
    );
    let (status, completed) = call(
        &services,
        functions::CLOSE_APPOINTMENT,
        "apigw-complete-appointment.json",
    )
    .await;
    assert_eq!(
        (status, completed["status"].as_str()),
        (200, Some("completed"))
    );
    let (status, problem) = call(
        &services,
        functions::CLOSE_APPOINTMENT,
        "apigw-cancel-appointment.json",
    )
    .await;
    assert_eq!(
        (status, problem["current_status"].as_str()),
        (409, Some("completed"))
    );
}

#[tokio::test]
async fn cancel_and_the_errors_a_function_answers_itself() {
    let dir = tempfile::tempdir().expect("dir");
    let services = services(dir.path()).await;
    call(
        &services,
        functions::CREATE_APPOINTMENT,
        "apigw-create-appointment.json",
    )
    .await;
    let (status, cancelled) = call(
        &services,
        functions::CLOSE_APPOINTMENT,
        "apigw-cancel-appointment.json",
    )
    .await;
    assert_eq!(
        (status, cancelled["cancel_reason"].as_str()),
        (200, Some("viaje imprevisto"))
    );

    // An unsupported country is rejected before any store call.
    let (status, problem) = call(
        &services,
        functions::CREATE_APPOINTMENT,
        "apigw-unsupported-country.json",
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("unsupported_country"))
    );
    assert_eq!(
        problem["request_id"], "Jd0qRgqGoAMEb5Q=",
        "problems quote API Gateway's request id"
    );
    // A function only serves its own routes.
    let (status, problem) = call(
        &services,
        functions::QUERY_APPOINTMENTS,
        "apigw-create-appointment.json",
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("route_not_found"))
    );
}

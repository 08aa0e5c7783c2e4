//! Data survives a restart of the local server (the `kill -9` case is in
//! crates/local/tests, next to the binary it kills).

mod common;

use citas_e2e::assert_problem;
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn data_survives_a_restart_and_the_seed_is_not_reloaded() {
    let mut app = TestApp::spawn().await;
    app.create("pe", "45678912", "cardiologia").await;
    let slot = "pe-cardiologia-9999235-1796652000";
    let (status, _) = app
        .post(
            "/pe/appointment/20261122-45678912/assign",
            json!({ "slot": slot }),
        )
        .await;
    assert_eq!(status, 200);

    app.restart().await;

    let (status, fetched) = app.get("/pe/appointment/20261122-45678912").await;
    assert_eq!(status, 200);
    assert_eq!(fetched["status"], "assigned");
    assert_eq!(fetched["date"], slot);
    // Had the seed been loaded again, the booked slot would be available again.
    app.create("pe", "70123456", "cardiologia").await;
    let (status, problem) = app
        .post(
            "/pe/appointment/20261122-70123456/assign",
            json!({ "slot": slot }),
        )
        .await;
    assert_problem((status, &problem), 409, "slot_unavailable");
    let (status, _) = app
        .post(
            "/pe/appointment",
            json!({ "document": "45678912", "speciality": "cardiologia" }),
        )
        .await;
    assert_eq!(status, 409);
}

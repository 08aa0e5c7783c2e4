//! Black-box tests of every route of the local server, each on a fresh server
//! with its own data directory and a clock the test controls.

mod common;

use citas_domain::Role;
use citas_e2e::assert_problem;
use common::TestApp;
use futures::future::join_all;
use serde_json::{Value, json};

/// 2026-12-07 09:00 in Lima, the earliest seeded future slot time in Peru.
const PE_FIRST_SLOT_EPOCH: i64 = 1_796_652_000;
const PE_CARDIO_SLOT: &str = "pe-cardiologia-9999235-1796652000";

#[tokio::test]
async fn health_answers() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/health").await, (200, json!({ "status": "ok" })));
}

#[tokio::test]
async fn patients_are_created_then_updated_with_normalised_documents() {
    let app = TestApp::spawn().await;
    let body =
        json!({ "document": "7.777.777-6", "name": "  Ana Pérez ", "email": "ana@example.cl" });
    let (status, created) = app.post("/cl/patient", body.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created,
        json!({ "document": "7777777-6", "name": "Ana Pérez", "email": "ana@example.cl",
                "email_verified": true })
    );
    let (status, updated) = app
        .post(
            "/cl/patient",
            json!({ "document": "77777776", "name": "Ana Pérez Soto", "email": "ana@example.cl" }),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Ana Pérez Soto");
    // The updated name is what new appointments carry.
    let appointment = app.create("cl", "7777777-6", "Pediatría").await;
    assert_eq!(appointment["patient"], "Ana Pérez Soto");
}

#[tokio::test]
async fn patient_input_errors_are_400_problems_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "pe",
            json!({ "document": "1234567", "name": "A", "email": "a@b.pe" }),
            "invalid_document",
        ),
        (
            "cl",
            json!({ "document": "12.345.678-9", "name": "A", "email": "a@b.cl" }),
            "invalid_document",
        ),
        (
            "pe",
            json!({ "document": "45678912", "name": "", "email": "a@b.pe" }),
            "invalid_name",
        ),
        (
            "pe",
            json!({ "document": "45678912", "name": "A", "email": "not-an-email" }),
            "invalid_email",
        ),
        (
            "pe",
            json!({ "document": "45678912", "name": "A" }),
            "invalid_body",
        ),
        (
            "pe",
            json!({ "document": 45678912, "name": "A", "email": "a@b.pe" }),
            "invalid_body",
        ),
        (
            "pe",
            json!({ "document": "45678912", "name": "A", "email": "a@b.pe", "role": "admin" }),
            "invalid_body",
        ),
        ("pe", json!([1, 2]), "invalid_body"),
    ];
    for (country, body, code) in cases {
        let (status, problem) = app.post(&format!("/{country}/patient"), body.clone()).await;
        assert_problem((status, &problem), 400, code);
    }
    let (status, problem) = app
        .post(
            "/cl/patient",
            json!({ "document": "12.345.678-9", "name": "A", "email": "a@b.cl" }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["field"], "document");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("check digit 5"),
        "{problem}"
    );
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies_are_rejected_cleanly() {
    let app = TestApp::spawn().await;
    let (status, problem) = app
        .post_raw("/pe/appointment", "application/json", "{\"document\": ")
        .await;
    assert_problem((status, &problem), 400, "invalid_json");
    let (status, problem) = app
        .post_raw("/pe/appointment", "application/json", "")
        .await;
    assert_problem((status, &problem), 400, "invalid_body");
    let (status, problem) = app
        .post_raw(
            "/pe/appointment",
            "application/json",
            vec![0xff, 0xfe, 0x00],
        )
        .await;
    assert_problem((status, &problem), 400, "invalid_json");
    let (status, problem) = app.post_raw("/pe/appointment", "text/plain", "{}").await;
    assert_problem((status, &problem), 415, "unsupported_media_type");
    let huge = format!(
        "{{\"document\": \"{}\", \"speciality\": \"x\"}}",
        "9".repeat(70 * 1024)
    );
    let (status, problem) = app
        .post_raw("/pe/appointment", "application/json", huge)
        .await;
    assert_problem((status, &problem), 413, "payload_too_large");
}

#[tokio::test]
async fn unknown_countries_routes_and_methods() {
    let app = TestApp::spawn().await;
    // ZZ is user-assigned in ISO 3166: never a country's code.
    let (status, problem) = app.get("/zz/appointment?status=registered").await;
    assert_problem((status, &problem), 404, "unsupported_country");
    assert_eq!(
        problem["supported_countries"],
        json!(citas_domain::values::country::supported_codes())
    );
    let (status, problem) = app.post("/zz/patient", json!({})).await;
    assert_problem((status, &problem), 404, "unsupported_country");
    let (status, problem) = app.get("/pe/nothing").await;
    assert_problem((status, &problem), 404, "route_not_found");
    let response = app
        .client
        .delete(format!("{}/pe/appointment", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 405);
    // The 405 says which methods the path takes; a readable path takes HEAD too.
    assert_eq!(
        response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("POST, GET, HEAD")
    );
    let response = app
        .client
        .put(format!("{}/pe/patient", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(
        (
            response.status().as_u16(),
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
        ),
        (405, Some("POST"))
    );
}

/// `notify` says when there is no email to send to, and a client asking
/// again and again within a minute gets one email.
#[tokio::test]
async fn notify_refuses_without_an_email_and_sends_one_email_per_window() {
    let app = TestApp::spawn().await;
    // Seed 000's patients have no email.
    app.create("pe", "123456789", "Medicina interna").await;
    let (status, problem) = app
        .post("/pe/appointment/20261122-123456789/notify", json!({}))
        .await;
    assert_problem((status, &problem), 422, "no_email_on_file");

    app.create("pe", "45678912", "Medicina interna").await;
    for _ in 0..10 {
        let (status, body) = app
            .post("/pe/appointment/20261122-45678912/notify", json!({}))
            .await;
        assert_eq!(status, 202, "{body}");
    }
    common::wait_for_emails(&app, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        common::wait_for_emails(&app, 1).await.len(),
        1,
        "ten requests, one email"
    );
    // After the window, asking again sends again.
    app.set_now("2026-11-22T15:02:00Z");
    app.post("/pe/appointment/20261122-45678912/notify", json!({}))
        .await;
    assert_eq!(common::wait_for_emails(&app, 2).await.len(), 2);
}

/// After a cancellation the patient may ask again that day: the day's
/// request is re-opened (registered, the new speciality), keeping its id.
#[tokio::test]
async fn asking_again_on_the_day_of_a_cancellation_reopens_the_request() {
    let app = TestApp::spawn().await;
    app.create("pe", "45678912", "Medicina interna").await;
    let id = "20261122-45678912";
    let (status, assigned) = app
        .post(&format!("/pe/appointment/{id}/assign"), json!({}))
        .await;
    assert_eq!(status, 200, "{assigned}");
    let (status, cancelled) = app
        .post(
            &format!("/pe/appointment/{id}/cancel"),
            json!({ "reason": "me equivoqué de especialidad" }),
        )
        .await;
    assert_eq!((status, &cancelled["status"]), (200, &json!("cancelled")));

    app.set_now("2026-11-22T18:00:00Z");
    let again = app.create("pe", "45678912", "Cardiología").await;
    assert_eq!(again["id"], id);
    assert_eq!(again["status"], "registered");
    assert_eq!(again["speciality_name"], "Cardiología");
    assert_eq!(again["update_at"], "2026-11-22T18:00:00.000Z");
    assert!(
        again.get("cancel_reason").is_none() && again.get("slot").is_none(),
        "{again}"
    );
    // The freed slot is free again, and the re-opened request can book.
    let (status, booked) = app
        .post(&format!("/pe/appointment/{id}/assign"), json!({}))
        .await;
    assert_eq!(status, 200, "{booked}");
    // An open request of the day is still a 409 naming it.
    let (status, problem) = app
        .post(
            "/pe/appointment",
            json!({ "document": "45678912", "speciality": "Pediatría" }),
        )
        .await;
    assert_problem((status, &problem), 409, "appointment_exists");
    assert_eq!(problem["existing_id"], id);
}

/// An id is the same appointment in any spelling the country accepts, and a
/// percent-encoded path is decoded as API Gateway decodes it.
#[tokio::test]
async fn ids_are_compared_in_their_normal_form() {
    let app = TestApp::spawn().await;
    let created = app.create("cl", "10000013-K", "Pediatría").await;
    assert_eq!(created["id"], "20261122-10000013-K");
    for spelling in [
        "20261122-10000013-k",
        "20261122-10.000.013-K",
        "20261122-10000013%2DK",
        "20261122%2D10000013%2Dk",
    ] {
        let (status, read) = app.get(&format!("/cl/appointment/{spelling}")).await;
        assert_eq!((status, &read["id"]), (200, &created["id"]), "{spelling}");
    }
}

/// A doctor's list by status is real pages of their own appointments (it
/// used to filter someone else's page, answering `{"items":[],"next_cursor":…}`).
#[tokio::test]
async fn a_doctors_list_by_status_is_pages_of_their_own() {
    let app = TestApp::spawn().await;
    let mut theirs = Vec::new();
    for document in ["45678912", "70123456", "41234567"] {
        let created = app.create("pe", document, "Medicina interna").await;
        let id = created["id"].as_str().expect("id");
        let (status, assigned) = app
            .post(&format!("/pe/appointment/{id}/assign"), json!({}))
            .await;
        assert_eq!(status, 200, "{assigned}");
        theirs.push((
            id.to_owned(),
            assigned["doctor"].as_str().expect("doctor").to_owned(),
        ));
    }
    let doctor = &theirs[0].1;
    let token = app.token(citas_domain::Role::Doctor, "pe", doctor.rsplit('-').next());
    let mut seen = Vec::new();
    let mut path = "/pe/appointment?status=assigned&limit=1".to_owned();
    for _ in 0..10 {
        let (status, page) = app.send_as("GET", &path, &token, None).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().expect("items");
        assert!(
            !items.is_empty() || page["next_cursor"].is_null(),
            "no empty page before the end: {page}"
        );
        seen.extend(items.iter().map(|a| {
            assert_eq!(&a["doctor"], doctor.as_str());
            a["id"].as_str().expect("id").to_owned()
        }));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/pe/appointment?status=assigned&limit=1&cursor={cursor}")
            }
            None => break,
        }
    }
    let mut expected: Vec<String> = theirs
        .iter()
        .filter(|(_, d)| d == doctor)
        .map(|(id, _)| id.clone())
        .collect();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
}

/// HEAD answers as GET would, without the body.
#[tokio::test]
async fn head_is_get_without_the_body() {
    let app = TestApp::spawn().await;
    app.create("pe", "45678912", "Medicina interna").await;
    let token = app.token(citas_domain::Role::Admin, "pe", None);
    let get = app
        .client
        .get(format!("{}/pe/appointment/20261122-45678912", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    let head = app
        .client
        .head(format!("{}/pe/appointment/20261122-45678912", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), get.status());
    assert_eq!(
        head.headers().get("content-type"),
        get.headers().get("content-type")
    );
    assert!(head.bytes().await.expect("body").is_empty());
    assert!(!get.bytes().await.expect("body").is_empty());
    let missing = app
        .client
        .head(format!("{}/pe/appointment/20261122-70123456", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("head");
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn an_appointment_walks_from_request_to_completion_in_peru() {
    let app = TestApp::spawn().await;
    let created = app.create("pe", "45678912", "Medicina interna").await;
    assert_eq!(created["id"], "20261122-45678912");
    assert_eq!(created["status"], "registered");
    assert_eq!(created["speciality"], "medicina-interna");
    assert_eq!(created["patient"], "Ana Lucía Torres Vega");
    assert_eq!(created["created_at"], "2026-11-22T15:00:00.000Z");
    assert!(created.get("date").is_none());

    let (status, fetched) = app.get("/pe/appointment/20261122-45678912").await;
    assert_eq!((status, &fetched), (200, &created));

    let (status, assigned) = app
        .post("/pe/appointment/20261122-45678912/assign", json!({}))
        .await;
    assert_eq!(status, 200, "{assigned}");
    assert_eq!(assigned["status"], "assigned");
    // The slot, shaped for a screen: Lima's clock and the doctor's name.
    let slot = &assigned["slot"];
    assert_eq!(slot["id"], assigned["date"]);
    assert_eq!(slot["time_zone"], "America/Lima");
    assert!(
        slot["starts_at"]
            .as_str()
            .is_some_and(|t| t.ends_with("-05:00")),
        "{slot}"
    );
    assert!(
        slot["local_time"].as_str().is_some_and(|t| t.len() == 5),
        "{slot}"
    );
    assert_eq!(slot["doctor"]["id"], assigned["doctor"]);
    assert!(
        slot["doctor"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("Dr")),
        "{slot}"
    );
    let slot = assigned["date"].as_str().unwrap_or_default().to_owned();
    assert!(
        slot.ends_with(&format!("-{PE_FIRST_SLOT_EPOCH}")),
        "earliest slot: {slot}"
    );
    assert!(slot.starts_with("pe-medicina-interna-"), "{slot}");
    assert_eq!(assigned["starts_at"], "2026-12-07T14:00:00.000Z");

    // Completing waits for the start.
    let (status, problem) = app
        .post("/pe/appointment/20261122-45678912/complete", json!({}))
        .await;
    assert_problem((status, &problem), 409, "not_started");
    assert_eq!(problem["starts_at"], "2026-12-07T09:00:00-05:00");
    app.set_now("2026-12-07T14:30:00Z");
    let (status, completed) = app
        .post("/pe/appointment/20261122-45678912/complete", json!({}))
        .await;
    assert_eq!(status, 200, "{completed}");
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["date"], json!(slot));
    let (_, fetched) = app.get("/pe/appointment/20261122-45678912").await;
    assert_eq!(fetched["status"], "completed");
}

#[tokio::test]
async fn chile_uses_santiago_local_day_and_normalised_ruts() {
    let app = TestApp::spawn().await;
    // 2026-11-23 03:30 UTC: still the 22nd in Lima (UTC-5), already the 23rd in Santiago (UTC-3, summer time).
    app.set_now("2026-11-23T03:30:00Z");
    let cl = app.create("cl", "12.345.678-5", "Cardiología").await;
    assert_eq!(cl["id"], "20261123-12345678-5");
    assert_eq!(cl["document"], "12345678-5");
    let pe = app.create("pe", "70123456", "Cardiología").await;
    assert_eq!(pe["id"], "20261122-70123456");

    let (status, assigned) = app
        .post("/cl/appointment/20261123-12345678-5/assign", json!({}))
        .await;
    assert_eq!(status, 200, "{assigned}");
    // The only Chilean cardiologist's first slot: 2026-12-07 09:00 in Santiago (UTC-3).
    assert_eq!(assigned["date"], "cl-cardiologia-15000000-1796644800");
    assert_eq!(assigned["starts_at"], "2026-12-07T12:00:00.000Z");
}

#[tokio::test]
async fn seed_000_patients_work_as_they_are() {
    let app = TestApp::spawn().await;
    let created = app.create("pe", "123456789", "Medicina interna").await;
    assert_eq!(created["patient"], "Mary Fernanda Huamán Sobrado");
}

#[tokio::test]
async fn same_patient_same_local_day_is_a_conflict_naming_the_existing_id() {
    let app = TestApp::spawn().await;
    app.create("pe", "45678912", "pediatria").await;
    let (status, problem) = app
        .post(
            "/pe/appointment",
            json!({ "document": "45678912", "speciality": "Cardiología" }),
        )
        .await;
    assert_problem((status, &problem), 409, "appointment_exists");
    assert_eq!(problem["existing_id"], "20261122-45678912");
    // The next local day is another appointment.
    app.set_now("2026-11-23T05:00:00Z");
    assert_eq!(
        app.create("pe", "45678912", "pediatria").await["id"],
        "20261123-45678912"
    );
}

#[tokio::test]
async fn create_errors() {
    let app = TestApp::spawn().await;
    let (status, problem) = app
        .post(
            "/pe/appointment",
            json!({ "document": "87654321", "speciality": "pediatria" }),
        )
        .await;
    assert_problem((status, &problem), 404, "patient_not_found");
    let (status, problem) = app
        .post(
            "/pe/appointment",
            json!({ "document": "45678912", "speciality": "  ¿? " }),
        )
        .await;
    assert_problem((status, &problem), 400, "invalid_speciality");
    let (status, problem) = app
        .post(
            "/cl/appointment",
            json!({ "document": "45678912", "speciality": "pediatria" }),
        )
        .await;
    assert_problem((status, &problem), 400, "invalid_document");
}

#[tokio::test]
async fn get_unknown_or_malformed_ids_is_404() {
    let app = TestApp::spawn().await;
    for id in [
        "20261122-45678912",
        "not-an-id",
        "20261122-12.345.678-5",
        "20261122-45678912x",
    ] {
        let (status, problem) = app.get(&format!("/pe/appointment/{id}")).await;
        assert_problem((status, &problem), 404, "appointment_not_found");
    }
}

#[tokio::test]
async fn lists_are_newest_first_and_paginated_with_opaque_cursors() {
    let app = TestApp::spawn().await;
    let documents = ["45678912", "70123456", "41234567", "001234567", "123456789"];
    for (minute, document) in documents.iter().enumerate() {
        app.set_now(&format!("2026-11-22T15:0{minute}:00Z"));
        app.create("pe", document, "pediatria").await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/pe/appointment?status=registered&limit=2&cursor={c}"),
            None => "/pe/appointment?status=registered&limit=2".to_owned(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|i| i["document"].as_str().unwrap_or_default().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut newest_first: Vec<String> = documents.iter().map(|d| d.to_string()).collect();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    assert_eq!(pages, 3);

    // Other statuses and other countries are other lists.
    let (_, assigned) = app.get("/pe/appointment?status=assigned").await;
    assert_eq!(assigned, json!({ "items": [], "next_cursor": null }));
    let (_, chile) = app.get("/cl/appointment?status=registered").await;
    assert_eq!(chile["items"], json!([]));

    // A patient's own list.
    app.set_now("2026-11-23T15:00:00Z");
    app.create("pe", "45678912", "cardiologia").await;
    let (status, mine) = app.get("/pe/appointment?document=45678912").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = mine["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["20261123-45678912", "20261122-45678912"]);
}

#[tokio::test]
async fn list_query_errors_and_foreign_cursors_are_400() {
    let app = TestApp::spawn().await;
    for document in ["45678912", "70123456"] {
        app.create("pe", document, "pediatria").await;
    }
    let (_, page) = app.get("/pe/appointment?status=registered&limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty());
    let cases = [
        ("/pe/appointment".to_owned(), "invalid_query"),
        (
            "/pe/appointment?status=Registrado".to_owned(),
            "invalid_status",
        ),
        (
            "/pe/appointment?status=registered&limit=101".to_owned(),
            "invalid_limit",
        ),
        (
            "/pe/appointment?status=registered&limit=0".to_owned(),
            "invalid_limit",
        ),
        (
            "/pe/appointment?status=registered&limit=ten".to_owned(),
            "invalid_limit",
        ),
        (
            "/pe/appointment?status=registered&limit=1&limit=2".to_owned(),
            "invalid_query",
        ),
        (
            "/pe/appointment?document=4567".to_owned(),
            "invalid_document",
        ),
        (
            "/pe/appointment?status=registered&cursor=garbage!".to_owned(),
            "invalid_cursor",
        ),
        (
            format!("/pe/appointment?status=assigned&cursor={cursor}"),
            "invalid_cursor",
        ),
        (
            format!("/cl/appointment?status=registered&cursor={cursor}"),
            "invalid_cursor",
        ),
    ];
    for (path, code) in cases {
        let (status, problem) = app.get(&path).await;
        assert_problem((status, &problem), 400, code);
    }
    // A patient's list with a status: both at once, only that status.
    let (status, page) = app
        .get("/pe/appointment?status=registered&document=45678912")
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page["items"].as_array().is_some_and(|items| items
            .iter()
            .all(|a| a["status"] == "registered" && a["document"] == "45678912")),
        "{page}"
    );
    let (status, _) = app
        .get(&format!(
            "/pe/appointment?status=registered&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(status, 200);
}

/// `medicina` is not `medicina-interna`, though one id starts like the other
/// (the first version compared slot ids by prefix and booked it).
#[tokio::test]
async fn a_slot_of_another_speciality_that_shares_a_prefix_is_refused() {
    let app = TestApp::spawn().await;
    // "Medicina" is offered once a doctor of it is registered.
    let (status, doctor) = app
        .post(
            "/pe/doctor",
            json!({ "document": "5550001", "name": "Dr. Medina", "speciality": "Medicina" }),
        )
        .await;
    assert_eq!(status, 201, "{doctor}");
    app.create("pe", "41234567", "Medicina").await;
    let (status, problem) = app
        .post(
            "/pe/appointment/20261122-41234567/assign",
            json!({ "slot": "pe-medicina-interna-9999234-1796652000" }),
        )
        .await;
    assert_problem((status, &problem), 422, "slot_mismatch");
    // Nor does auto-assignment reach for another speciality's slots.
    let (status, problem) = app
        .post("/pe/appointment/20261122-41234567/assign", json!({}))
        .await;
    assert_problem((status, &problem), 409, "no_slot_available");
}

#[tokio::test]
async fn assigning_a_given_slot_and_its_errors() {
    let app = TestApp::spawn().await;
    app.create("pe", "45678912", "cardiologia").await;
    app.create("pe", "70123456", "cardiologia").await;
    app.create("pe", "41234567", "Medicina interna").await;

    let (status, assigned) = app
        .post(
            "/pe/appointment/20261122-45678912/assign",
            json!({ "slot": PE_CARDIO_SLOT }),
        )
        .await;
    assert_eq!(status, 200, "{assigned}");
    assert_eq!(assigned["date"], PE_CARDIO_SLOT);
    assert_eq!(assigned["doctor"], "pe-cardiologia-9999235");

    let cases = [
        (
            "20261122-70123456",
            json!({ "slot": PE_CARDIO_SLOT }),
            409,
            "slot_unavailable",
        ),
        (
            "20261122-45678912",
            json!({ "slot": PE_CARDIO_SLOT }),
            409,
            "invalid_transition",
        ),
        (
            "20261122-41234567",
            json!({ "slot": "pe-cardiologia-9999235-1796677200" }),
            422,
            "slot_mismatch",
        ),
        (
            "20261122-41234567",
            json!({ "slot": "pe-medicina-interna-9999234-1732633200" }),
            409,
            "slot_in_past",
        ),
        (
            "20261122-41234567",
            json!({ "slot": "pe-medicina-interna-9999234-1796652001" }),
            404,
            "slot_not_found",
        ),
        (
            "20261122-41234567",
            json!({ "slot": "no epoch" }),
            400,
            "invalid_slot",
        ),
        (
            "20261122-41234567",
            json!({ "slot": 5 }),
            400,
            "invalid_body",
        ),
        (
            "20261122-41234567",
            json!({ "slot": "x", "doctor": "y" }),
            400,
            "invalid_body",
        ),
        ("20261122-99999999", json!({}), 404, "appointment_not_found"),
    ];
    for (id, body, expected_status, code) in cases {
        let (status, problem) = app
            .post(&format!("/pe/appointment/{id}/assign"), body.clone())
            .await;
        assert_problem((status, &problem), expected_status, code);
    }
    let (_, problem) = app
        .post("/pe/appointment/20261122-45678912/assign", json!({}))
        .await;
    assert_eq!(problem["current_status"], "assigned");

    // An empty body means "the earliest available slot".
    let (status, auto) = app
        .post_raw(
            "/pe/appointment/20261122-70123456/assign",
            "application/json",
            "",
        )
        .await;
    assert_eq!(status, 200, "{auto}");
    assert_eq!(auto["date"], "pe-cardiologia-9999235-1796677200");
}

#[tokio::test]
async fn no_slot_for_a_speciality_nobody_practises() {
    let app = TestApp::spawn().await;
    app.create("pe", "45678912", "Oncología").await;
    let (status, problem) = app
        .post("/pe/appointment/20261122-45678912/assign", json!({}))
        .await;
    assert_problem((status, &problem), 409, "no_slot_available");
}

#[tokio::test]
async fn complete_and_cancel_follow_the_status_machine() {
    let app = TestApp::spawn().await;
    app.create("pe", "45678912", "cardiologia").await;
    app.create("pe", "70123456", "cardiologia").await;
    let base = "/pe/appointment/20261122-45678912";

    let (status, problem) = app.post(&format!("{base}/complete"), json!({})).await;
    assert_problem((status, &problem), 409, "invalid_transition");
    assert_eq!(problem["current_status"], "registered");

    let (status, _) = app
        .post(&format!("{base}/assign"), json!({ "slot": PE_CARDIO_SLOT }))
        .await;
    assert_eq!(status, 200);

    for body in [
        json!({}),
        json!({ "reason": "   " }),
        json!({ "reason": "x".repeat(501) }),
    ] {
        let (status, problem) = app.post(&format!("{base}/cancel"), body).await;
        assert_eq!(status, 400, "{problem}");
    }
    let (status, cancelled) = app
        .post(
            &format!("{base}/cancel"),
            json!({ "reason": "viaje imprevisto" }),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "viaje imprevisto");

    // The slot is free again: another patient books it.
    let (status, booked) = app
        .post(
            "/pe/appointment/20261122-70123456/assign",
            json!({ "slot": PE_CARDIO_SLOT }),
        )
        .await;
    assert_eq!(status, 200, "{booked}");

    for action in ["complete", "cancel", "assign"] {
        let body = if action == "cancel" {
            json!({ "reason": "x" })
        } else {
            json!({})
        };
        let (status, problem) = app.post(&format!("{base}/{action}"), body).await;
        assert_problem((status, &problem), 409, "invalid_transition");
        assert_eq!(problem["current_status"], "cancelled");
    }

    app.set_now("2026-12-07T14:30:00Z");
    let (status, completed) = app
        .post("/pe/appointment/20261122-70123456/complete", json!({}))
        .await;
    assert_eq!(
        (status, completed["status"].as_str()),
        (200, Some("completed"))
    );
    let (status, problem) = app
        .post(
            "/pe/appointment/20261122-70123456/cancel",
            json!({ "reason": "tarde" }),
        )
        .await;
    assert_eq!(
        (status, problem["current_status"].as_str()),
        (409, Some("completed"))
    );
}

#[tokio::test]
async fn notify_enqueues_the_current_state_message() {
    let app = TestApp::spawn().await;
    app.create("cl", "11.111.111-1", "pediatria").await;
    let (status, accepted) = app
        .post("/cl/appointment/20261122-11111111-1/notify", json!({}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let message = &accepted["message"];
    assert_eq!(message["type"], "appointment.registered");
    assert_eq!(message["version"], 2);
    assert_eq!(message["change"]["status"], "registered");
    assert_eq!(message["country"], "cl");
    assert_eq!(message["appointment_id"], "20261122-11111111-1");
    let (status, problem) = app
        .post("/cl/appointment/20261122-20000000-5/notify", json!({}))
        .await;
    assert_problem((status, &problem), 404, "appointment_not_found");

    // The in-process queue feeds the email pipeline: one .eml in the outbox.
    let emails = common::wait_for_emails(&app, 1).await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0].contains("To: <benjamin.castro@example.cl>"),
        "{}",
        emails[0]
    );
    // The subject is MIME-encoded (it holds an accent): decode it.
    let email = citas_e2e::parse_email(emails[0].as_bytes());
    assert_eq!(email.subject, "Recibimos tu solicitud de cita de Pediatría");
}

#[tokio::test]
async fn fifty_concurrent_bookings_of_one_slot_have_one_winner() {
    let app = TestApp::spawn().await;
    let documents: Vec<String> = (0..50).map(|i| format!("{}", 50_000_000 + i)).collect();
    for document in &documents {
        app.register("pe", document, "Paciente de prueba").await;
        app.create("pe", document, "cardiologia").await;
    }
    let attempts = documents.iter().map(|document| {
        let app = &app;
        async move {
            app.post(
                &format!("/pe/appointment/20261122-{document}/assign"),
                json!({ "slot": PE_CARDIO_SLOT }),
            )
            .await
        }
    });
    let results = join_all(attempts).await;
    let winners: Vec<&(u16, Value)> = results.iter().filter(|(s, _)| *s == 200).collect();
    let losers = results
        .iter()
        .filter(|(s, b)| *s == 409 && b["code"] == "slot_unavailable")
        .count();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(losers, 49);
    // Exactly one appointment holds the slot.
    let (_, assigned) = app.get("/pe/appointment?status=assigned&limit=100").await;
    assert_eq!(assigned["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(assigned["items"][0]["date"], PE_CARDIO_SLOT);
}

#[tokio::test]
async fn concurrent_status_changes_have_one_winner() {
    let app = TestApp::spawn().await;
    app.create("pe", "45678912", "cardiologia").await;
    let base = "/pe/appointment/20261122-45678912";
    let (status, _) = app
        .post(&format!("{base}/assign"), json!({ "slot": PE_CARDIO_SLOT }))
        .await;
    assert_eq!(status, 200);
    // Once the consultation's time has come, both are possible: one wins.
    app.set_now("2026-12-07T14:30:00Z");
    let attempts = (0..20).map(|i| {
        let app = &app;
        async move {
            if i % 2 == 0 {
                app.post(&format!("{base}/complete"), json!({})).await
            } else {
                app.post(&format!("{base}/cancel"), json!({ "reason": "carrera" }))
                    .await
            }
        }
    });
    let results = join_all(attempts).await;
    assert_eq!(
        results.iter().filter(|(s, _)| *s == 200).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results
            .iter()
            .filter(|(s, b)| *s == 409 && b["code"] == "invalid_transition")
            .count(),
        19
    );
}

#[tokio::test]
async fn cors_preflight_and_headers_for_a_browser_frontend() {
    let app = TestApp::spawn().await;
    let preflight = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/pe/appointment", app.base),
        )
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status().as_u16(), 204);
    let header = |name: &str| {
        preflight
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("access-control-allow-origin").as_deref(),
        Some("http://localhost:5173")
    );
    assert!(
        header("access-control-allow-methods")
            .unwrap_or_default()
            .contains("POST")
    );
    assert_eq!(
        header("access-control-allow-headers").as_deref(),
        Some("authorization, content-type")
    );
    let response = app
        .client
        .get(format!("{}/health", app.base))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .expect("get");
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://localhost:5173")
    );
    // A script may read where a resource is, when to retry and how stale an answer is.
    let exposed = response
        .headers()
        .get("access-control-expose-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    for name in ["location", "retry-after", "warning", "age"] {
        assert!(
            exposed.split(", ").any(|h| h == name),
            "{name} not in {exposed}"
        );
    }
}

/// The local server answers CORS for its allowed origins only (a frontend's
/// development servers by default), as API Gateway does for
/// `CorsAllowedOrigins`; another origin gets no CORS headers, preflight or not.
#[tokio::test]
async fn cors_is_only_for_allowed_origins() {
    let app = TestApp::spawn().await;
    for (origin, allowed) in [
        ("http://127.0.0.1:5173", true),
        ("https://evil.example", false),
        ("http://localhost:5174", false),
        ("null", false),
    ] {
        let preflight = app
            .client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/pe/appointment", app.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "x-anything, authorization",
            )
            .send()
            .await
            .expect("preflight");
        let get = app
            .client
            .get(format!("{}/health", app.base))
            .header("origin", origin)
            .send()
            .await
            .expect("get");
        for response in [&preflight, &get] {
            let allow = response
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok());
            assert_eq!(allow, allowed.then_some(origin), "{origin}");
        }
        // Never the headers it asked for: the allowed ones only.
        let headers = preflight
            .headers()
            .get("access-control-allow-headers")
            .and_then(|v| v.to_str().ok());
        assert_eq!(
            headers,
            allowed.then_some("authorization, content-type"),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn the_doctors_answer_a_move_and_the_history_through_the_routes() {
    let app = TestApp::spawn().await;
    // A rheumatologist who confirms bookings, with Tuesday mornings free.
    let (status, _) = app
        .post(
            "/pe/doctor",
            json!({ "document": "7700002", "name": "Dra. Reyes", "speciality": "reumatologia",
                    "email": "reyes@example.pe", "requires_confirmation": true }),
        )
        .await;
    assert_eq!(status, 201);
    let doctor_id = "pe-reumatologia-7700002";
    let (status, plan) = app
        .put(
            &format!("/pe/doctor/{doctor_id}/availability"),
            json!({ "slot_minutes": 30, "valid_from": "2026-11-23",
                    "weekly": [{ "weekday": "tue", "from": "09:00", "to": "10:00" }] }),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    app.register("pe", "45678912", "Ana Torres").await;
    let created = app.create("pe", "45678912", "reumatologia").await;
    let id = created["id"].as_str().expect("id").to_owned();
    let base = format!("/pe/appointment/{id}");
    let ana = app.token(Role::Patient, "pe", Some("45678912"));
    let reyes = app.token(Role::Doctor, "pe", Some("7700002"));

    // Ana books the earliest slot: Tuesday 24 at 09:00; it waits for Dra. Reyes.
    let (status, pending) = app
        .send_as("POST", &format!("{base}/assign"), &ana, Some(json!({})))
        .await;
    assert_eq!(
        (status, pending["status"].as_str()),
        (200, Some("pending")),
        "{pending}"
    );
    assert_eq!(pending["slot"]["local_date"], "2026-11-24");
    assert_eq!(pending["slot"]["local_time"], "09:00");
    // Ana cannot answer for her doctor; the doctor cannot move her booking.
    let (status, problem) = app
        .send_as("POST", &format!("{base}/confirm"), &ana, Some(json!({})))
        .await;
    assert_problem((status, &problem), 403, "forbidden");
    let (status, problem) = app
        .send_as(
            "POST",
            &format!("{base}/reschedule"),
            &reyes,
            Some(json!({})),
        )
        .await;
    assert_problem((status, &problem), 403, "forbidden");
    // Dra. Reyes refuses: the request is registered again, with the reason.
    let (status, refused) = app
        .send_as(
            "POST",
            &format!("{base}/refuse"),
            &reyes,
            Some(json!({ "reason": "congreso médico" })),
        )
        .await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["status"], "registered");
    assert_eq!(refused["refusal_reason"], "congreso médico");
    assert!(refused.get("slot").is_none(), "{refused}");
    // Ana books again (the same slot is free again) and Dra. Reyes confirms.
    let (_, pending) = app
        .send_as("POST", &format!("{base}/assign"), &ana, Some(json!({})))
        .await;
    assert_eq!(pending["slot"]["local_time"], "09:00");
    let (status, confirmed) = app
        .send_as("POST", &format!("{base}/confirm"), &reyes, Some(json!({})))
        .await;
    assert_eq!(
        (status, confirmed["status"].as_str()),
        (200, Some("assigned"))
    );
    let (status, problem) = app
        .send_as("POST", &format!("{base}/confirm"), &reyes, Some(json!({})))
        .await;
    assert_problem((status, &problem), 409, "invalid_transition");
    assert_eq!(problem["current_status"], "assigned");
    // Ana moves to 09:30: the old slot is free, the new one hers, still assigned.
    let later = format!("{doctor_id}-{}", 1_795_530_600);
    let (status, moved) = app
        .send_as(
            "POST",
            &format!("{base}/reschedule"),
            &ana,
            Some(json!({ "slot": later })),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (
            moved["status"].as_str(),
            moved["slot"]["local_time"].as_str()
        ),
        (Some("assigned"), Some("09:30"))
    );
    let (_, agenda) = app
        .send_as(
            "GET",
            &format!("/pe/doctor/{doctor_id}/agenda?date=2026-11-24"),
            &reyes,
            None,
        )
        .await;
    let booked: Vec<&str> = agenda["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter(|s| s["appointment"].is_object())
        .filter_map(|s| s["local_time"].as_str())
        .collect();
    assert_eq!(booked, ["09:30"], "{agenda}");
    assert_eq!(
        (agenda["date"].as_str(), agenda["from"].as_str()),
        (Some("2026-11-24"), Some("2026-11-24"))
    );
    // The doctor's week in one call: the same slots, each with its date.
    let (status, week) = app
        .send_as(
            "GET",
            &format!("/pe/doctor/{doctor_id}/agenda?from=2026-11-23&to=2026-11-29"),
            &reyes,
            None,
        )
        .await;
    assert_eq!(status, 200, "{week}");
    assert_eq!(
        (week["from"].as_str(), week["to"].as_str()),
        (Some("2026-11-23"), Some("2026-11-29"))
    );
    assert!(week.get("date").is_none(), "{week}");
    let days: std::collections::BTreeSet<&str> = week["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["local_date"].as_str())
        .collect();
    assert!(days.contains("2026-11-24"), "{week}");
    assert!(
        days.iter()
            .all(|d| ("2026-11-23"..="2026-11-29").contains(d)),
        "{days:?}"
    );
    assert_eq!(
        week["slots"]
            .as_array()
            .map(|s| s.iter().filter(|s| s["appointment"].is_object()).count()),
        Some(1)
    );
    for (query, code) in [
        ("from=2026-11-01&to=2026-12-02", "invalid_date"),
        ("from=2026-11-29&to=2026-11-23", "invalid_date"),
        ("from=2026-11-23", "invalid_date"),
        (
            "date=2026-11-24&from=2026-11-23&to=2026-11-29",
            "invalid_date",
        ),
    ] {
        let (status, problem) = app
            .send_as(
                "GET",
                &format!("/pe/doctor/{doctor_id}/agenda?{query}"),
                &reyes,
                None,
            )
            .await;
        assert_problem((status, &problem), 400, code);
    }
    // Within Peru's 24 hours Ana can no longer cancel; the answer says until when.
    app.set_now("2026-11-24T09:00:00Z");
    let (status, problem) = app
        .send_as(
            "POST",
            &format!("{base}/cancel"),
            &ana,
            Some(json!({ "reason": "viaje" })),
        )
        .await;
    assert_problem((status, &problem), 409, "too_late_to_change");
    assert_eq!(problem["deadline"], "2026-11-23T09:30:00-05:00");
    // Before the start nobody can record a no-show; after it, the doctor can.
    let (status, problem) = app
        .send_as("POST", &format!("{base}/no-show"), &reyes, Some(json!({})))
        .await;
    assert_problem((status, &problem), 409, "not_started");
    app.set_now("2026-11-24T14:45:00Z");
    let (status, absent) = app
        .send_as("POST", &format!("{base}/no-show"), &reyes, Some(json!({})))
        .await;
    assert_eq!((status, absent["status"].as_str()), (200, Some("no_show")));

    // The history, oldest first, for Ana and for her doctor alike.
    for token in [&ana, &reyes] {
        let (status, history) = app
            .send_as("GET", &format!("{base}/history"), token, None)
            .await;
        assert_eq!(status, 200, "{history}");
        let steps: Vec<(Value, Value, Value, Value)> = history["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| {
                (
                    e["by"]["role"].clone(),
                    e["from"].clone(),
                    e["to"].clone(),
                    e["reason"].clone(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                (
                    json!("admin"),
                    json!(null),
                    json!("registered"),
                    json!(null)
                ),
                (
                    json!("patient"),
                    json!("registered"),
                    json!("pending"),
                    json!(null)
                ),
                (
                    json!("doctor"),
                    json!("pending"),
                    json!("registered"),
                    json!("congreso médico")
                ),
                (
                    json!("patient"),
                    json!("registered"),
                    json!("pending"),
                    json!(null)
                ),
                (
                    json!("doctor"),
                    json!("pending"),
                    json!("assigned"),
                    json!(null)
                ),
                (
                    json!("patient"),
                    json!("assigned"),
                    json!("assigned"),
                    json!(null)
                ),
                (
                    json!("doctor"),
                    json!("assigned"),
                    json!("no_show"),
                    json!(null)
                ),
            ]
        );
    }
    let (status, problem) = app
        .send_as(
            "GET",
            &format!("{base}/history"),
            &app.token(Role::Patient, "pe", Some("70123456")),
            None,
        )
        .await;
    assert_problem((status, &problem), 404, "appointment_not_found");
}

#[tokio::test]
async fn another_countrys_request_is_refused_before_its_body_is_read() {
    let app = TestApp::spawn().await;
    let peru_admin = app.token(Role::Admin, "pe", None);
    // A DNI is not a RUT, but the token may not act in Chile at all: that is the answer.
    for (path, body) in [
        (
            "/cl/patient",
            json!({ "document": "45678912", "name": "Ana", "email": "ana@example.pe" }),
        ),
        (
            "/cl/appointment",
            json!({ "document": "45678912", "speciality": "x" }),
        ),
        (
            "/cl/appointment/20261122-45678912/refuse",
            json!({ "reason": "" }),
        ),
    ] {
        let (status, problem) = app.send_as("POST", path, &peru_admin, Some(body)).await;
        assert_problem((status, &problem), 403, "wrong_country");
    }
}

#[tokio::test]
async fn a_patient_reads_their_own_record_and_nobody_elses() {
    let app = TestApp::spawn().await;
    app.register("cl", "12.345.678-5", "Valentina Rojas").await;
    app.register("cl", "8.888.888-K", "Rosa Díaz").await;
    let valentina = app.token(Role::Patient, "cl", Some("12345678-5"));
    // Written as the patient knows it or as stored: the same record.
    for written in ["12.345.678-5", "12345678-5", "123456785"] {
        let (status, body) = app
            .send_as("GET", &format!("/cl/patient/{written}"), &valentina, None)
            .await;
        assert_eq!(status, 200, "{written}: {body}");
        assert_eq!(
            body,
            json!({ "document": "12345678-5", "name": "Valentina Rojas", "email": "paciente@example.com",
                    "email_verified": true })
        );
    }
    // Someone else's record, or a document that cannot be, is not found.
    for path in [
        "/cl/patient/8888888-K",
        "/cl/patient/12345678-9",
        "/cl/patient/nope",
    ] {
        let (status, body) = app.send_as("GET", path, &valentina, None).await;
        assert_problem((status, &body), 404, "patient_not_found");
    }
    // Staff read any; an unknown one is not found either.
    let (status, body) = app.get("/cl/patient/8888888-K").await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Rosa Díaz")));
    let (status, body) = app.get("/cl/patient/23456789-6").await;
    assert_problem((status, &body), 404, "patient_not_found");
    // Another country's token learns nothing.
    let peruvian = app.token(Role::Patient, "pe", Some("45678912"));
    let (status, _) = app
        .send_as("GET", "/cl/patient/12345678-5", &peruvian, None)
        .await;
    assert!(status == 403 || status == 404, "{status}");
}

//! Reviews (issue 26): the patient of a completed visit rates it once; the
//! doctor's rating (count and sum) is written in the review's transaction,
//! so reviews at once all count; the list shows first names only, newest
//! first; staff hide one, and it leaves the list and the average.

mod common;

use citas_domain::Role;
use citas_e2e::assert_problem;
use common::TestApp;
use common::visits::{booked_visits, completed_visits, doctor_with_plan};
use serde_json::{Value, json};

over_http_on_every_store!(
    the_patient_of_a_completed_visit_reviews_it_once,
    staff_hide_a_review_and_it_leaves_the_list_and_the_rating,
    twenty_reviews_at_once_all_count,
    an_erased_patients_review_stays_without_name_or_words,
);

fn neurologist(document: &str) -> Value {
    json!({ "document": document, "name": "Dra. Elena Ríos", "speciality": "neurologia",
            "price": {"amount": "130.00", "currency": "PEN"}, "modalities": ["virtual"] })
}

fn patients(from: u32, count: u32) -> Vec<String> {
    (from..from + count).map(|n| n.to_string()).collect()
}

async fn review_as(app: &TestApp, patient: &str, id: &str, body: Value) -> (u16, Value) {
    let token = app.token(Role::Patient, "pe", Some(patient));
    app.send_as(
        "POST",
        &format!("/pe/appointment/{id}/review"),
        &token,
        Some(body),
    )
    .await
}

async fn the_patient_of_a_completed_visit_reviews_it_once(app: &TestApp) {
    let doctor = doctor_with_plan(app, "pe", neurologist("7700041")).await;
    let visitors = patients(41_000_001, 2);
    let completed = completed_visits(app, "pe", &doctor, &visitors).await;
    let (status, review) = review_as(
        app,
        &visitors[0],
        &completed[0],
        json!({ "stars": 5, "comment": "  Muy clara y puntual.  " }),
    )
    .await;
    assert_eq!(status, 201, "{review}");
    assert_eq!(
        (&review["stars"], &review["comment"], &review["first_name"]),
        (
            &json!(5),
            &json!("Muy clara y puntual."),
            &json!("Paciente")
        )
    );
    // Once only, whatever the stars.
    let (status, again) = review_as(app, &visitors[0], &completed[0], json!({ "stars": 1 })).await;
    assert_problem((status, &again), 409, "already_reviewed");
    // Someone else's visit is not found; nor is it for its doctor or staff to review.
    let (status, problem) =
        review_as(app, &visitors[1], &completed[0], json!({ "stars": 1 })).await;
    assert_problem((status, &problem), 404, "appointment_not_found");
    let (status, problem) = app
        .post(
            &format!("/pe/appointment/{}/review", completed[1]),
            json!({ "stars": 1 }),
        )
        .await;
    assert_problem((status, &problem), 403, "forbidden");
    // Bad stars and comments name their field.
    for (body, code) in [
        (json!({}), "invalid_stars"),
        (json!({ "stars": 0 }), "invalid_stars"),
        (json!({ "stars": 6 }), "invalid_stars"),
        (json!({ "stars": 4.5 }), "invalid_stars"),
        (json!({ "stars": "5" }), "invalid_stars"),
        (
            json!({ "stars": 4, "comment": "a\u{0007}b" }),
            "invalid_comment",
        ),
        (
            json!({ "stars": 4, "comment": "x".repeat(1001) }),
            "invalid_comment",
        ),
    ] {
        let (status, problem) = review_as(app, &visitors[1], &completed[1], body.clone()).await;
        assert_problem((status, &problem), 400, code);
    }
    // A visit still to come is not reviewed.
    let upcoming = patients(41_000_011, 1);
    let (booked, _) = booked_visits(app, "pe", &doctor, &upcoming).await;
    let (status, problem) = review_as(app, &upcoming[0], &booked[0], json!({ "stars": 4 })).await;
    assert_problem((status, &problem), 409, "not_completed");
    assert_eq!(problem["current_status"], "assigned");
    // The second visit's review, a day later: the doctor shows both, the list newest first.
    app.clock
        .set(citas_domain::Clock::now(app.clock.as_ref()) + jiff::SignedDuration::from_hours(24));
    let (status, _) = review_as(app, &visitors[1], &completed[1], json!({ "stars": 4 })).await;
    assert_eq!(status, 201);
    let (_, read) = app.get(&format!("/pe/doctor/{doctor}")).await;
    assert_eq!(
        read["rating"],
        json!({ "average": 4.5, "count": 2 }),
        "{read}"
    );
    let patient = app.token(Role::Patient, "pe", Some(&visitors[0]));
    let (status, list) = app
        .send_as(
            "GET",
            &format!("/pe/doctor/{doctor}/review"),
            &patient,
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let stars: Vec<&Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| &r["stars"])
        .collect();
    assert_eq!(stars, [&json!(4), &json!(5)], "{list}");
    // Nothing in it names the patient's document or the appointment.
    let text = list.to_string();
    for secret in visitors.iter().chain(&completed) {
        assert!(!text.contains(secret.as_str()), "{secret} in {text}");
    }
    // Paginated.
    let (_, first) = app
        .get(&format!("/pe/doctor/{doctor}/review?limit=1"))
        .await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1));
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = app
        .get(&format!(
            "/pe/doctor/{doctor}/review?limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(second["items"][0]["stars"], 5, "{second}");
    assert_eq!(second["next_cursor"], Value::Null);
    // Another country's doctor, or no such doctor, has no reviews here.
    let (status, problem) = app.get("/pe/doctor/pe-neurologia-1/review").await;
    assert_problem((status, &problem), 404, "doctor_not_found");
}

async fn staff_hide_a_review_and_it_leaves_the_list_and_the_rating(app: &TestApp) {
    let doctor = doctor_with_plan(app, "pe", neurologist("7700042")).await;
    let visitors = patients(42_000_001, 2);
    let completed = completed_visits(app, "pe", &doctor, &visitors).await;
    let (_, kind) = review_as(app, &visitors[0], &completed[0], json!({ "stars": 5 })).await;
    let (_, rude) = review_as(
        app,
        &visitors[1],
        &completed[1],
        json!({ "stars": 1, "comment": "¡Pésima!" }),
    )
    .await;
    let rude = rude["id"].as_str().expect("an id").to_owned();
    let (_, read) = app.get(&format!("/pe/doctor/{doctor}")).await;
    assert_eq!(read["rating"], json!({ "average": 3.0, "count": 2 }));
    // Only staff hide, with a reason.
    let patient = app.token(Role::Patient, "pe", Some(&visitors[0]));
    let (status, problem) = app
        .send_as(
            "POST",
            &format!("/pe/review/{rude}/hide"),
            &patient,
            Some(json!({ "reason": "no" })),
        )
        .await;
    assert_problem((status, &problem), 403, "forbidden");
    let (status, problem) = app
        .post(&format!("/pe/review/{rude}/hide"), json!({}))
        .await;
    assert_problem((status, &problem), 400, "invalid_reason");
    let (status, hidden) = app
        .post(
            &format!("/pe/review/{rude}/hide"),
            json!({ "reason": "insultos" }),
        )
        .await;
    assert_eq!(status, 200, "{hidden}");
    assert_eq!(hidden["hidden"]["reason"], "insultos");
    let (_, read) = app.get(&format!("/pe/doctor/{doctor}")).await;
    assert_eq!(
        read["rating"],
        json!({ "average": 5.0, "count": 1 }),
        "{read}"
    );
    let (_, list) = app.get(&format!("/pe/doctor/{doctor}/review")).await;
    let ids: Vec<&Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, [&kind["id"]], "{list}");
    // Once: again it is a conflict, and the rating stays.
    let (status, problem) = app
        .post(
            &format!("/pe/review/{rude}/hide"),
            json!({ "reason": "otra vez" }),
        )
        .await;
    assert_problem((status, &problem), 409, "already_hidden");
    let (_, read) = app.get(&format!("/pe/doctor/{doctor}")).await;
    assert_eq!(read["rating"]["count"], 1);
    // Unknown and malformed ids, and another country's staff, find nothing.
    for id in ["00000000-0000-4000-8000-000000000000", "not-a-review"] {
        let (status, problem) = app
            .post(&format!("/pe/review/{id}/hide"), json!({ "reason": "x" }))
            .await;
        assert_problem((status, &problem), 404, "review_not_found");
    }
    let (status, problem) = app
        .post(
            &format!(
                "/cl/review/{}/hide",
                kind["id"].as_str().unwrap_or_default()
            ),
            json!({ "reason": "x" }),
        )
        .await;
    assert_problem((status, &problem), 404, "review_not_found");
}

async fn twenty_reviews_at_once_all_count(app: &TestApp) {
    let doctor = doctor_with_plan(app, "pe", neurologist("7700043")).await;
    let visitors = patients(43_000_001, 20);
    let completed = completed_visits(app, "pe", &doctor, &visitors).await;
    // Stars 1..5 four times: a sum of 60, an average of 3.0.
    let reviews = visitors
        .iter()
        .zip(&completed)
        .enumerate()
        .map(|(n, (patient, id))| {
            let stars = n % 5 + 1;
            async move { review_as(app, patient, id, json!({ "stars": stars })).await }
        });
    let answers = futures::future::join_all(reviews).await;
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
    }
    let (_, read) = app.get(&format!("/pe/doctor/{doctor}")).await;
    assert_eq!(
        read["rating"],
        json!({ "average": 3.0, "count": 20 }),
        "{read}"
    );
    let (_, list) = app
        .get(&format!("/pe/doctor/{doctor}/review?limit=100"))
        .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(20), "{list}");
}

async fn an_erased_patients_review_stays_without_name_or_words(app: &TestApp) {
    let doctor = doctor_with_plan(app, "pe", neurologist("7700044")).await;
    let visitors = patients(44_100_001, 1);
    let completed = completed_visits(app, "pe", &doctor, &visitors).await;
    let (status, _) = review_as(
        app,
        &visitors[0],
        &completed[0],
        json!({ "stars": 2, "comment": "Llegó tarde." }),
    )
    .await;
    assert_eq!(status, 201);
    let patient = app.token(Role::Patient, "pe", Some(&visitors[0]));
    let (status, erased) = app
        .send_as(
            "DELETE",
            &format!("/pe/patient/{}", visitors[0]),
            &patient,
            None,
        )
        .await;
    assert_eq!(status, 200, "{erased}");
    // The stars still count; the name and the words are gone.
    let (_, read) = app.get(&format!("/pe/doctor/{doctor}")).await;
    assert_eq!(
        read["rating"],
        json!({ "average": 2.0, "count": 1 }),
        "{read}"
    );
    let (_, list) = app.get(&format!("/pe/doctor/{doctor}/review")).await;
    let review = &list["items"][0];
    assert_eq!(
        (&review["stars"], &review["first_name"], &review["comment"]),
        (&json!(2), &json!(""), &Value::Null),
        "{list}"
    );
}

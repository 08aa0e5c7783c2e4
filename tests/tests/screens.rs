//! What a patient's and a doctor's screens read, over HTTP on both stores:
//! the patient's own record, a month's free days, visits to come (soonest
//! first, paginated), lists by patient and status together, end times and
//! lengths of slots and visits, the doctor's week, and where a visit moved.

mod common;

use citas_domain::Role;
use citas_e2e::assert_problem;
use common::TestApp;
use serde_json::{Value, json};

over_http_on_every_store!(
    a_patients_screens_show_their_record_free_days_and_visits_to_come,
    a_doctors_screens_show_their_week_and_visits_to_come,
    slots_and_visits_carry_their_length_and_end,
    a_patients_changes_of_a_day_are_bounded_and_staffs_are_not,
    a_patient_takes_everything_held_about_them,
    a_patients_data_is_erased_on_request,
);

const DOCTOR: &str = "7700301";
const DOCTOR_ID: &str = "pe-cardiologia-7700301";
const ANA: &str = "45678912";
const LUIS: &str = "70123456";

/// Dra. Paz works Mondays and Wednesdays 09:00–10:30 in 45-minute slots,
/// from Monday 23 November 2026 (the tests' clock is Sunday 22, 10:00 in Lima).
async fn doctor_with_plan(app: &TestApp, slot_minutes: u16) -> String {
    let (status, doctor) = app
        .post(
            "/pe/doctor",
            json!({ "document": DOCTOR, "name": "Dra. Carmen Paz", "speciality": "Cardiología",
                    "email": "carmen.paz@example.pe" }),
        )
        .await;
    assert!(status == 201 || status == 200, "{doctor}");
    let token = app.token(Role::Doctor, "pe", Some(DOCTOR));
    let (status, applied) = app
        .send_as(
            "PUT",
            &format!("/pe/doctor/{DOCTOR_ID}/availability"),
            &token,
            Some(json!({
                "slot_minutes": slot_minutes,
                "valid_from": "2026-11-23",
                "weekly": [
                    { "weekday": "mon", "from": "09:00", "to": "10:30" },
                    { "weekday": "wed", "from": "09:00", "to": "10:30" }
                ]
            })),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    token
}

/// The doctor's free slots of one local day, as a patient's search shows them.
async fn free_slots_on(app: &TestApp, token: &str, date: &str) -> Vec<Value> {
    let (status, page) = app
        .send_as(
            "GET",
            &format!("/pe/slot?speciality=cardiologia&from={date}&to={date}&doctor={DOCTOR_ID}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

/// A new appointment of `document`, booked on the given slot by the patient.
async fn booked(app: &TestApp, document: &str, slot: &Value) -> Value {
    let created = app.create("pe", document, "cardiologia").await;
    let id = created["id"].as_str().expect("id");
    let token = app.token(Role::Patient, "pe", Some(document));
    let (status, appointment) = app
        .send_as(
            "POST",
            &format!("/pe/appointment/{id}/assign"),
            &token,
            Some(json!({ "slot": slot["id"] })),
        )
        .await;
    assert_eq!(status, 200, "{appointment}");
    appointment
}

/// The ids of a list's items, in order.
fn ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|a| a["id"].as_str()).collect())
        .unwrap_or_default()
}

/// The local days of a month view that have free slots, with their counts.
fn free_days(view: &Value) -> Vec<(String, u64)> {
    view["days"]
        .as_array()
        .expect("days")
        .iter()
        .filter(|day| day["free"].as_u64() > Some(0))
        .map(|day| {
            (
                day["date"].as_str().unwrap_or_default().to_owned(),
                day["free"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

async fn a_patients_screens_show_their_record_free_days_and_visits_to_come(app: &TestApp) {
    doctor_with_plan(app, 45).await;
    app.register("pe", ANA, "Ana Torres").await;
    app.register("pe", LUIS, "Luis Rojas").await;
    let ana = app.token(Role::Patient, "pe", Some(ANA));

    // Her own record; another patient's is not found.
    let (status, record) = app
        .send_as("GET", &format!("/pe/patient/{ANA}"), &ana, None)
        .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(
        (&record["document"], &record["name"], &record["email"]),
        (
            &json!(ANA),
            &json!("Ana Torres"),
            &json!("paciente@example.com")
        )
    );
    let (status, problem) = app
        .send_as("GET", &format!("/pe/patient/{LUIS}"), &ana, None)
        .await;
    assert_problem((status, &problem), 404, "patient_not_found");

    // The month view: every free day of the rest of November in one call.
    let (status, november) = app
        .send_as(
            "GET",
            "/pe/slot/days?speciality=cardiologia&month=2026-11",
            &ana,
            None,
        )
        .await;
    assert_eq!(status, 200, "{november}");
    assert_eq!(november["days"].as_array().map(Vec::len), Some(30));
    assert_eq!(
        free_days(&november),
        [
            ("2026-11-23".to_owned(), 2),
            ("2026-11-25".to_owned(), 2),
            ("2026-11-30".to_owned(), 2)
        ]
    );

    // Ana books Monday 30 at 09:00 today, and tomorrow Wednesday 25 at 09:45.
    let monday = free_slots_on(app, &ana, "2026-11-30").await;
    let first = booked(app, ANA, &monday[0]).await;
    app.set_now("2026-11-23T15:00:00Z");
    let wednesday = free_slots_on(app, &ana, "2026-11-25").await;
    let second = booked(app, ANA, &wednesday[1]).await;
    // And on the 24th a third, which she cancels.
    app.set_now("2026-11-24T15:00:00Z");
    let december = free_slots_on(app, &ana, "2026-12-02").await;
    let third = booked(app, ANA, &december[0]).await;
    let (status, cancelled) = app
        .send_as(
            "POST",
            &format!(
                "/pe/appointment/{}/cancel",
                third["id"].as_str().expect("id")
            ),
            &ana,
            Some(json!({ "reason": "viaje" })),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    // Its history says which slot the cancellation let go.
    let (_, history) = app
        .send_as(
            "GET",
            &format!(
                "/pe/appointment/{}/history",
                third["id"].as_str().expect("id")
            ),
            &ana,
            None,
        )
        .await;
    let last = history["items"]
        .as_array()
        .and_then(|entries| entries.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&last["to"], &last["from_slot"], &last["to_slot"]),
        (&json!("cancelled"), &december[0]["id"], &Value::Null),
        "{history}"
    );

    // Her visits to come, soonest first, a page at a time; the cancelled one is not one.
    let (status, page) = app
        .send_as("GET", "/pe/appointment?upcoming=true&limit=1", &ana, None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), [second["id"].as_str().expect("id")]);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (status, rest) = app
        .send_as(
            "GET",
            &format!("/pe/appointment?upcoming=true&limit=1&cursor={cursor}"),
            &ana,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(ids(&rest), [first["id"].as_str().expect("id")]);
    assert!(rest["next_cursor"].is_null(), "{rest}");
    // The same, for her document, as staff see it.
    let (_, staff) = app
        .get(&format!("/pe/appointment?document={ANA}&upcoming=true"))
        .await;
    assert_eq!(
        ids(&staff),
        [&second["id"], &first["id"]].map(|v| v.as_str().expect("id"))
    );
    // Patient and status together: her cancelled visit only.
    let (status, only_cancelled) = app
        .send_as(
            "GET",
            &format!("/pe/appointment?document={ANA}&status=cancelled"),
            &ana,
            None,
        )
        .await;
    assert_eq!(status, 200, "{only_cancelled}");
    assert_eq!(ids(&only_cancelled), [third["id"].as_str().expect("id")]);
    // Upcoming lists are of pending or assigned visits; another patient's is not hers.
    let (status, problem) = app
        .send_as(
            "GET",
            "/pe/appointment?upcoming=true&status=completed",
            &ana,
            None,
        )
        .await;
    assert_problem((status, &problem), 400, "invalid_status");
    let (status, problem) = app
        .send_as("GET", "/pe/appointment?upcoming=yes", &ana, None)
        .await;
    assert_problem((status, &problem), 400, "invalid_upcoming");
    let (status, problem) = app
        .send_as(
            "GET",
            &format!("/pe/appointment?document={LUIS}&upcoming=true"),
            &ana,
            None,
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    // Once Wednesday's visit has begun, only Monday's is to come.
    app.set_now("2026-11-25T14:46:00Z");
    let (_, later) = app
        .send_as("GET", "/pe/appointment?upcoming=true", &ana, None)
        .await;
    assert_eq!(ids(&later), [first["id"].as_str().expect("id")]);
    // A cursor kept from before never reaches back to visits that have begun since.
    app.set_now("2026-11-30T15:00:00Z");
    let (status, stale) = app
        .send_as(
            "GET",
            &format!("/pe/appointment?upcoming=true&limit=1&cursor={cursor}"),
            &ana,
            None,
        )
        .await;
    assert_eq!(status, 200, "{stale}");
    assert_eq!(ids(&stale), Vec::<&str>::new(), "{stale}");
}

async fn a_doctors_screens_show_their_week_and_visits_to_come(app: &TestApp) {
    let doctor = doctor_with_plan(app, 45).await;
    app.register("pe", ANA, "Ana Torres").await;
    app.register("pe", LUIS, "Luis Rojas").await;
    let ana = app.token(Role::Patient, "pe", Some(ANA));
    let monday = free_slots_on(app, &ana, "2026-11-23").await;
    let wednesday = free_slots_on(app, &ana, "2026-11-25").await;
    let luis_visit = booked(app, LUIS, &wednesday[0]).await;
    let ana_visit = booked(app, ANA, &monday[1]).await;

    // The week in one call: both days' slots in time order, the booked ones with their patient.
    let (status, week) = app
        .send_as(
            "GET",
            &format!("/pe/doctor/{DOCTOR_ID}/agenda?from=2026-11-23&to=2026-11-29"),
            &doctor,
            None,
        )
        .await;
    assert_eq!(status, 200, "{week}");
    let slots: Vec<(String, String, Option<String>)> = week["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| {
            (
                s["local_date"].as_str().unwrap_or_default().to_owned(),
                s["local_time"].as_str().unwrap_or_default().to_owned(),
                s["appointment"]["patient"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let slot = |date: &str, time: &str, patient: Option<&str>| {
        (date.to_owned(), time.to_owned(), patient.map(str::to_owned))
    };
    assert_eq!(
        slots,
        [
            slot("2026-11-23", "09:00", None),
            slot("2026-11-23", "09:45", Some("Ana Torres")),
            slot("2026-11-25", "09:00", Some("Luis Rojas")),
            slot("2026-11-25", "09:45", None),
        ]
    );
    assert_eq!(
        (&week["from"], &week["to"], week.get("date")),
        (&json!("2026-11-23"), &json!("2026-11-29"), None)
    );
    // More than 31 days is refused.
    let (status, problem) = app
        .send_as(
            "GET",
            &format!("/pe/doctor/{DOCTOR_ID}/agenda?from=2026-11-23&to=2026-12-31"),
            &doctor,
            None,
        )
        .await;
    assert_eq!(status, 400, "{problem}");

    // The doctor's visits to come, soonest first, across patients.
    let (status, upcoming) = app
        .send_as("GET", "/pe/appointment?upcoming=true", &doctor, None)
        .await;
    assert_eq!(status, 200, "{upcoming}");
    assert_eq!(
        ids(&upcoming),
        [&ana_visit["id"], &luis_visit["id"]].map(|v| v.as_str().expect("id"))
    );
    let (_, pending) = app
        .send_as(
            "GET",
            "/pe/appointment?upcoming=true&status=pending",
            &doctor,
            None,
        )
        .await;
    assert_eq!(ids(&pending), Vec::<&str>::new());
    // Another doctor has none of them.
    let other = app.token(Role::Doctor, "pe", Some("7700399"));
    let (status, none) = app
        .send_as("GET", "/pe/appointment?upcoming=true", &other, None)
        .await;
    assert_eq!((status, ids(&none)), (200, Vec::<&str>::new()));
}

async fn slots_and_visits_carry_their_length_and_end(app: &TestApp) {
    let doctor = doctor_with_plan(app, 45).await;
    app.register("pe", ANA, "Ana Torres").await;
    let ana = app.token(Role::Patient, "pe", Some(ANA));
    let monday = free_slots_on(app, &ana, "2026-11-30").await;
    assert_eq!(
        (
            &monday[0]["starts_at"],
            &monday[0]["ends_at"],
            &monday[0]["minutes"]
        ),
        (
            &json!("2026-11-30T09:00:00-05:00"),
            &json!("2026-11-30T09:45:00-05:00"),
            &json!(45)
        )
    );
    let visit = booked(app, ANA, &monday[0]).await;
    assert_eq!(
        (&visit["slot"]["ends_at"], &visit["slot"]["minutes"]),
        (&json!("2026-11-30T09:45:00-05:00"), &json!(45))
    );
    let id = visit["id"].as_str().expect("id");

    // She moves to 09:45: the history names the slot left and the slot taken.
    let (status, moved) = app
        .send_as(
            "POST",
            &format!("/pe/appointment/{id}/reschedule"),
            &ana,
            Some(json!({ "slot": monday[1]["id"] })),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["slot"]["ends_at"], "2026-11-30T10:30:00-05:00");
    let (status, history) = app
        .send_as("GET", &format!("/pe/appointment/{id}/history"), &ana, None)
        .await;
    assert_eq!(status, 200, "{history}");
    let last = history["items"]
        .as_array()
        .and_then(|entries| entries.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&last["from_slot"], &last["to_slot"]),
        (&monday[0]["id"], &monday[1]["id"]),
        "{history}"
    );

    // The doctor turns to 30-minute slots: the free ones are made again with
    // the new length; the booked visit keeps its own, and no new slot shares
    // its time (09:30 and 10:00 would overlap 09:45–10:30).
    let (status, applied) = app
        .send_as(
            "PUT",
            &format!("/pe/doctor/{DOCTOR_ID}/availability"),
            &doctor,
            Some(json!({
                "slot_minutes": 30,
                "valid_from": "2026-11-23",
                "weekly": [
                    { "weekday": "mon", "from": "09:00", "to": "10:30" },
                    { "weekday": "wed", "from": "09:00", "to": "10:30" }
                ]
            })),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    let times: Vec<Value> = free_slots_on(app, &ana, "2026-11-30")
        .await
        .iter()
        .map(|s| json!([s["local_time"], s["ends_at"], s["minutes"]]))
        .collect();
    assert_eq!(times, [json!(["09:00", "2026-11-30T09:30:00-05:00", 30])]);
    let (_, still) = app
        .send_as("GET", &format!("/pe/appointment/{id}"), &ana, None)
        .await;
    assert_eq!(
        (&still["slot"]["local_time"], &still["slot"]["minutes"]),
        (&json!("09:45"), &json!(45))
    );
}

async fn a_patients_changes_of_a_day_are_bounded_and_staffs_are_not(app: &TestApp) {
    doctor_with_plan(app, 45).await;
    app.register("pe", ANA, "Ana Torres").await;
    let ana = app.token(Role::Patient, "pe", Some(ANA));
    let mut free = Vec::new();
    for day in ["2026-12-02", "2026-12-07", "2026-12-09", "2026-12-14"] {
        free.extend(free_slots_on(app, &ana, day).await);
    }
    let visit = booked(app, ANA, &free[0]).await;
    let id = visit["id"].as_str().expect("id").to_owned();
    let move_to = |slot: &Value, token: &str| {
        let path = format!("{}/pe/appointment/{id}/reschedule", app.base);
        app.client
            .post(path)
            .bearer_auth(token)
            .json(&json!({ "slot": slot["id"] }))
            .send()
    };
    // The next day (Monday 23, 10:00 in Lima) she moves it back and forth:
    // five moves, and the sixth is refused until the day is over.
    app.set_now("2026-11-23T15:00:00Z");
    for slot in &free[1..6] {
        let response = move_to(slot, &ana).await.expect("reschedule");
        assert_eq!(response.status().as_u16(), 200, "{slot}");
    }
    let refused = move_to(&free[6], &ana).await.expect("reschedule");
    let retry_after = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, problem) = common::read(refused).await;
    assert_problem((status, &problem), 429, "too_many_changes");
    assert_eq!(problem["limit"], 5, "{problem}");
    // Until midnight in Lima: 14 hours.
    assert_eq!(retry_after.as_deref(), Some("50400"));
    // Nothing moved: the visit is where the fifth move put it.
    let (_, current) = app.get(&format!("/pe/appointment/{id}")).await;
    assert_eq!(current["slot"]["id"], free[5]["id"], "{current}");
    // Staff are not bound.
    let admin = app.token(Role::Admin, "pe", None);
    let response = move_to(&free[6], &admin).await.expect("reschedule");
    assert_eq!(response.status().as_u16(), 200);
    // The next day she may change it again.
    app.set_now("2026-11-24T15:00:00Z");
    let response = move_to(&free[7], &ana).await.expect("reschedule");
    assert_eq!(response.status().as_u16(), 200);
}

async fn a_patient_takes_everything_held_about_them(app: &TestApp) {
    doctor_with_plan(app, 45).await;
    app.register("pe", ANA, "Ana Torres").await;
    app.register("pe", LUIS, "Luis Rojas").await;
    let ana = app.token(Role::Patient, "pe", Some(ANA));
    let monday = free_slots_on(app, &ana, "2026-11-30").await;
    let first = booked(app, ANA, &monday[0]).await;
    app.set_now("2026-11-23T15:00:00Z");
    let second = app.create("pe", ANA, "cardiologia").await;
    booked(app, LUIS, &monday[1]).await;

    let (status, export) = app
        .send_as("GET", &format!("/pe/patient/{ANA}/export"), &ana, None)
        .await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(
        (&export["patient"]["document"], &export["patient"]["email"]),
        (&json!(ANA), &json!("paciente@example.com"))
    );
    let mut ids: Vec<&str> = export["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    ids.sort_unstable();
    let mut expected = [
        first["id"].as_str().expect("id"),
        second["id"].as_str().expect("id"),
    ];
    expected.sort_unstable();
    assert_eq!(ids, expected, "hers only: {export}");
    // Each with its whole history, the booking included.
    let booked_one = export["appointments"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["id"] == first["id"]))
        .cloned()
        .unwrap_or_default();
    let tos: Vec<&str> = booked_one["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["to"].as_str())
        .collect();
    assert_eq!(tos, ["registered", "assigned"], "{booked_one}");
    assert!(
        !export.to_string().contains(LUIS),
        "another patient's data: {export}"
    );
    // An admin may take it too; another patient may not (not found).
    let (status, _) = app.get(&format!("/pe/patient/{ANA}/export")).await;
    assert_eq!(status, 200);
    let luis = app.token(Role::Patient, "pe", Some(LUIS));
    let (status, problem) = app
        .send_as("GET", &format!("/pe/patient/{ANA}/export"), &luis, None)
        .await;
    assert_problem((status, &problem), 404, "patient_not_found");
}

/// What an answer must not hold once Ana's data is erased.
fn names_ana(body: &Value) -> bool {
    let text = body.to_string();
    text.contains(ANA) || text.contains("Ana Torres") || text.contains("paciente@example.com")
}

async fn a_patients_data_is_erased_on_request(app: &TestApp) {
    let doctor = doctor_with_plan(app, 45).await;
    app.register("pe", ANA, "Ana Torres").await;
    app.register("pe", LUIS, "Luis Rojas").await;
    let ana = app.token(Role::Patient, "pe", Some(ANA));
    // A visit she attends on Monday 30, one she has booked for Wednesday 2
    // December, and a request she cancelled.
    let monday = free_slots_on(app, &ana, "2026-11-30").await;
    let attended = booked(app, ANA, &monday[0]).await;
    app.set_now("2026-11-23T15:00:00Z");
    let december = free_slots_on(app, &ana, "2026-12-02").await;
    let to_come = booked(app, ANA, &december[0]).await;
    app.set_now("2026-11-24T15:00:00Z");
    let withdrawn = app.create("pe", ANA, "cardiologia").await;
    let id_of = |appointment: &Value| appointment["id"].as_str().expect("id").to_owned();
    let (status, cancelled) = app
        .send_as(
            "POST",
            &format!("/pe/appointment/{}/cancel", id_of(&withdrawn)),
            &ana,
            Some(json!({ "reason": "ya no" })),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    app.set_now("2026-11-30T14:50:00Z");
    let (status, completed) = app
        .send_as(
            "POST",
            &format!("/pe/appointment/{}/complete", id_of(&attended)),
            &doctor,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{completed}");

    // Another patient may not erase her; she may.
    let luis = app.token(Role::Patient, "pe", Some(LUIS));
    let (status, problem) = app
        .send_as("DELETE", &format!("/pe/patient/{ANA}"), &luis, None)
        .await;
    assert_problem((status, &problem), 404, "patient_not_found");
    let (status, erasure) = app
        .send_as("DELETE", &format!("/pe/patient/{ANA}"), &ana, None)
        .await;
    assert_eq!(status, 200, "{erasure}");
    assert_eq!(
        (
            &erasure["record_deleted"],
            &erasure["cancelled"],
            &erasure["deleted"]
        ),
        (&json!(true), &json!(1), &json!(2)),
        "{erasure}"
    );
    let kept = erasure["kept_anonymised"][0]
        .as_str()
        .expect("the attended visit, kept")
        .to_owned();
    assert!(!names_ana(&erasure), "{erasure}");

    // Nothing answers with her name, email or document.
    let (status, problem) = app.get(&format!("/pe/patient/{ANA}")).await;
    assert_problem((status, &problem), 404, "patient_not_found");
    let (status, problem) = app.get(&format!("/pe/patient/{ANA}/export")).await;
    assert_problem((status, &problem), 404, "patient_not_found");
    let (status, list) = app.get(&format!("/pe/appointment?document={ANA}")).await;
    assert_eq!((status, ids(&list)), (200, Vec::<&str>::new()), "{list}");
    for appointment in [&attended, &to_come, &withdrawn] {
        let (status, problem) = app
            .get(&format!("/pe/appointment/{}", id_of(appointment)))
            .await;
        assert_problem((status, &problem), 404, "appointment_not_found");
        let (status, _) = app
            .get(&format!("/pe/appointment/{}/history", id_of(appointment)))
            .await;
        assert_eq!(status, 404);
    }
    // The doctor's records keep the visit, naming no one.
    let (status, visit) = app.get(&format!("/pe/appointment/{kept}")).await;
    assert_eq!(status, 200, "{visit}");
    assert_eq!(
        (&visit["status"], &visit["slot"]["id"]),
        (&json!("completed"), &monday[0]["id"])
    );
    assert!(!names_ana(&visit), "{visit}");
    let (status, agenda) = app
        .send_as(
            "GET",
            &format!("/pe/doctor/{DOCTOR_ID}/agenda?date=2026-11-30"),
            &doctor,
            None,
        )
        .await;
    assert_eq!(status, 200, "{agenda}");
    assert!(!names_ana(&agenda), "{agenda}");
    let (_, completed) = app
        .send_as("GET", "/pe/appointment?status=completed", &doctor, None)
        .await;
    assert_eq!(ids(&completed), [kept.as_str()], "{completed}");
    assert!(!names_ana(&completed), "{completed}");

    // Her Wednesday slot is free again, and Luis books it.
    let wednesday = free_slots_on(app, &luis, "2026-12-02").await;
    assert!(
        wednesday.iter().any(|slot| slot["id"] == december[0]["id"]),
        "{wednesday:?}"
    );
    booked(app, LUIS, &december[0]).await;
    // A second request finds nothing left.
    let (status, problem) = app
        .send_as("DELETE", &format!("/pe/patient/{ANA}"), &ana, None)
        .await;
    assert_problem((status, &problem), 404, "patient_not_found");
}

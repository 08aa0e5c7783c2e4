//! Teleconsultation (issue 27): a plan's virtual ranges make virtual slots;
//! a virtual visit's patient and doctor enter the same meeting from 10
//! minutes before the start until its end (50 minutes, Peru's rule); nobody
//! else does; an in-person visit has no meeting; the booking's invitation
//! carries the room's link (RFC 7986 CONFERENCE). On every store, over HTTP,
//! with the local default of Jitsi rooms.

mod common;

use citas_domain::Role;
use citas_e2e::assert_problem;
use common::{TestApp, emails_to, wait_for_emails};
use serde_json::{Value, json};

/// The local outbox holds what was sent: the embedded store's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_visits_email_and_invitation_carry_its_room() {
    let app = TestApp::spawn().await;
    let app = &app;
    let doctor = online_cardiologist(app, "7700055").await;
    let online = slots_of(app, &doctor, "virtual").await;
    let id = booked(
        app,
        "45670055",
        online[0]["id"].as_str().expect("a slot id"),
    )
    .await;
    app.set_now("2026-11-23T13:55:00Z");
    let patient = app.token(Role::Patient, "pe", Some("45670055"));
    let (status, entry) = join_as(app, &patient, &id).await;
    assert_eq!(status, 200, "{entry}");
    let room = entry["join_url"].as_str().expect("a room").to_owned();
    // The booking's email says it is online and its invitation carries the
    // room's link as LOCATION and CONFERENCE; no join token anywhere.
    wait_for_emails(app, 1).await;
    let email = wait_for_booking_email(app, &room).await;
    let email = citas_e2e::parse_email(email.as_bytes());
    assert!(email.text.contains("teleconsulta"), "{}", email.text);
    let ics = email
        .attachments
        .iter()
        .find(|a| a.filename == "cita.ics")
        .expect("an invitation");
    let unfolded = ics.content.replace("\r\n ", "");
    assert!(
        unfolded.contains(&format!(
            "CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO;LABEL=Teleconsulta:{room}"
        )),
        "{unfolded}"
    );
    assert!(unfolded.contains(&format!("LOCATION:{room}")), "{unfolded}");
}

over_http_on_every_store!(
    a_virtual_visit_opens_ten_minutes_before_and_both_parties_meet_in_one_room,
    virtual_and_in_person_slots_are_searched_apart_and_plans_name_a_bad_modality,
    an_in_person_visit_has_no_meeting,
    a_moved_virtual_visit_gets_a_new_room,
    a_doctor_search_by_modality_shows_the_next_slot_of_that_modality,
);

/// A cardiologist who sees patients online on Monday mornings, in person after.
async fn online_cardiologist(app: &TestApp, document: &str) -> String {
    let (status, created) = app
        .post(
            "/pe/doctor",
            json!({ "document": document, "name": "Dra. Lucía Campos", "speciality": "cardiologia",
                    "modalities": ["virtual"] }),
        )
        .await;
    assert!(status == 201 || status == 200, "{created}");
    let id = created["id"].as_str().expect("a doctor id").to_owned();
    let (status, plan) = app
        .put(
            &format!("/pe/doctor/{id}/availability"),
            json!({ "slot_minutes": 30, "valid_from": "2026-11-23", "valid_until": "2026-11-30",
                    "weekly": [
                        { "weekday": "mon", "from": "09:00", "to": "10:00", "modality": "virtual" },
                        { "weekday": "mon", "from": "10:00", "to": "11:00" } ] }),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    // The answer states the meeting's length, and each range its modality.
    assert_eq!(plan["meeting_minutes"], 50, "{plan}");
    assert_eq!(plan["weekly"][0]["modality"], "virtual", "{plan}");
    assert!(
        plan["weekly"][1].get("modality").is_none(),
        "in person by default: {plan}"
    );
    id
}

/// The doctor's slots of one modality on Monday the 23rd, earliest first.
async fn slots_of(app: &TestApp, doctor: &str, modality: &str) -> Vec<Value> {
    let (status, page) = app
        .get(&format!(
            "/pe/slot?speciality=cardiologia&doctor={doctor}&from=2026-11-23&to=2026-11-23&modality={modality}"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().expect("items").clone()
}

/// A registered patient's appointment booked on `slot`: its id.
async fn booked(app: &TestApp, patient: &str, slot: &str) -> String {
    app.register("pe", patient, &format!("Paciente {patient} Díaz"))
        .await;
    let created = app.create("pe", patient, "cardiologia").await;
    let id = created["id"].as_str().expect("an id").to_owned();
    let (status, booked) = app
        .post(
            &format!("/pe/appointment/{id}/assign"),
            json!({ "slot": slot }),
        )
        .await;
    assert_eq!(status, 200, "{booked}");
    id
}

/// As [`booked`], the patient asking and booking with their own token.
async fn booked_by_patient(app: &TestApp, patient: &str, slot: &str) -> String {
    app.register("pe", patient, &format!("Paciente {patient} Díaz"))
        .await;
    let token = app.token(Role::Patient, "pe", Some(patient));
    let (status, created) = app
        .send_as(
            "POST",
            "/pe/appointment",
            &token,
            Some(json!({ "document": patient, "speciality": "cardiologia" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let (status, booked) = app
        .send_as(
            "POST",
            &format!("/pe/appointment/{id}/assign"),
            &token,
            Some(json!({ "slot": slot })),
        )
        .await;
    assert_eq!(status, 200, "{booked}");
    id
}

async fn join_as(app: &TestApp, token: &str, id: &str) -> (u16, Value) {
    app.send_as("POST", &format!("/pe/appointment/{id}/join"), token, None)
        .await
}

async fn a_virtual_visit_opens_ten_minutes_before_and_both_parties_meet_in_one_room(app: &TestApp) {
    let doctor = online_cardiologist(app, "7700051").await;
    // A quarter of an hour before the 09:00 online slot, the patient books it.
    app.set_now("2026-11-23T13:45:00Z");
    let online = slots_of(app, &doctor, "virtual").await;
    let slot = online[0]["id"].as_str().expect("a slot id");
    let id = booked_by_patient(app, "45670051", slot).await;
    let (status, visit) = app.get(&format!("/pe/appointment/{id}")).await;
    assert_eq!(status, 200, "{visit}");
    assert_eq!(visit["modality"], "virtual", "{visit}");
    assert_eq!(
        (
            &visit["meeting"]["opens_at"],
            &visit["meeting"]["closes_at"],
            &visit["meeting"]["minutes"]
        ),
        (
            &json!("2026-11-23T08:50:00-05:00"),
            &json!("2026-11-23T09:50:00-05:00"),
            &json!(50)
        ),
        "{visit}"
    );
    let patient = app.token(Role::Patient, "pe", Some("45670051"));
    let doctor_token = app.token(Role::Doctor, "pe", Some("7700051"));

    // Eleven minutes before the start: not open yet, and when it opens.
    app.set_now("2026-11-23T13:49:00Z");
    let (status, problem) = join_as(app, &patient, &id).await;
    assert_problem((status, &problem), 409, "meeting_not_open");
    assert_eq!(
        problem["opens_at"], "2026-11-23T08:50:00-05:00",
        "{problem}"
    );

    // Inside the window: the patient, then the doctor, then the patient
    // again all get the same room.
    app.set_now("2026-11-23T13:55:00Z");
    let (status, first) = join_as(app, &patient, &id).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["provider"], "jitsi", "{first}");
    assert_eq!(first["opens_at"], "2026-11-23T08:50:00-05:00");
    assert_eq!(first["closes_at"], "2026-11-23T09:50:00-05:00");
    let room = first["join_url"]
        .as_str()
        .expect("a room address")
        .to_owned();
    let name = room.rsplit('/').next().expect("a room name");
    assert_eq!(name.len(), "citas-".len() + 32, "{room}");
    let (status, by_doctor) = join_as(app, &doctor_token, &id).await;
    assert_eq!(status, 200, "{by_doctor}");
    assert_eq!(by_doctor["join_url"], json!(room));
    let (status, again) = join_as(app, &patient, &id).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["join_url"], json!(room));

    // Nobody else: another patient and another doctor are told it does not
    // exist; staff are not a party to it.
    let stranger = app.token(Role::Patient, "pe", Some("45670099"));
    let (status, problem) = join_as(app, &stranger, &id).await;
    assert_problem((status, &problem), 404, "appointment_not_found");
    let other_doctor = app.token(Role::Doctor, "pe", Some("7700099"));
    let (status, problem) = join_as(app, &other_doctor, &id).await;
    assert_problem((status, &problem), 404, "appointment_not_found");
    let (status, problem) = app
        .post(&format!("/pe/appointment/{id}/join"), json!({}))
        .await;
    assert_problem((status, &problem), 403, "forbidden");

    // The meeting's end (start + 50 minutes) closes it.
    app.set_now("2026-11-23T14:50:00Z");
    let (status, problem) = join_as(app, &patient, &id).await;
    assert_problem((status, &problem), 409, "meeting_over");
    assert_eq!(
        problem["closes_at"], "2026-11-23T09:50:00-05:00",
        "{problem}"
    );
}

/// The patient's booking email of a virtual visit (the one with its room).
async fn wait_for_booking_email(app: &TestApp, room: &str) -> String {
    for _ in 0..250 {
        if let Some(email) = emails_to(app, "paciente@example.com")
            .into_iter()
            .find(|email| {
                email
                    .replace("=\r\n", "")
                    .replace("\r\n ", "")
                    .contains(room)
            })
        {
            return email;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no email carries the room {room}");
}

async fn virtual_and_in_person_slots_are_searched_apart_and_plans_name_a_bad_modality(
    app: &TestApp,
) {
    let doctor = online_cardiologist(app, "7700052").await;
    let online = slots_of(app, &doctor, "virtual").await;
    let in_person = slots_of(app, &doctor, "in_person").await;
    let times = |slots: &[Value]| -> Vec<(String, String)> {
        slots
            .iter()
            .map(|s| {
                (
                    s["local_time"].as_str().unwrap_or_default().to_owned(),
                    s["modality"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        times(&online),
        vec![
            ("09:00".to_owned(), "virtual".to_owned()),
            ("09:30".to_owned(), "virtual".to_owned())
        ]
    );
    assert_eq!(
        times(&in_person),
        vec![
            ("10:00".to_owned(), "in_person".to_owned()),
            ("10:30".to_owned(), "in_person".to_owned())
        ]
    );
    // The month view counts them apart too.
    for (modality, free) in [("virtual", 2), ("in_person", 2)] {
        let (status, days) = app
            .get(&format!(
                "/pe/slot/days?speciality=cardiologia&month=2026-11&doctor={doctor}&modality={modality}"
            ))
            .await;
        assert_eq!(status, 200, "{days}");
        let monday = days["days"]
            .as_array()
            .expect("days")
            .iter()
            .find(|day| day["date"] == "2026-11-23")
            .unwrap_or_else(|| panic!("the 23rd: {days}"));
        assert_eq!(monday["free"], free, "{modality}: {monday}");
    }
    let (status, problem) = app
        .get("/pe/slot?speciality=cardiologia&modality=online")
        .await;
    assert_problem((status, &problem), 400, "invalid_modality");
    // A range's modality is in_person or virtual.
    let (status, problem) = app
        .put(
            &format!("/pe/doctor/{doctor}/availability"),
            json!({ "slot_minutes": 30, "valid_from": "2026-11-23",
                    "weekly": [{ "weekday": "mon", "from": "09:00", "to": "10:00", "modality": "online" }] }),
        )
        .await;
    assert_problem((status, &problem), 400, "invalid_plan");
    assert_eq!(problem["field"], "weekly", "{problem}");
    // Turning the online hour in person remakes its free slots as in-person ones.
    let (status, plan) = app
        .put(
            &format!("/pe/doctor/{doctor}/availability"),
            json!({ "slot_minutes": 30, "valid_from": "2026-11-23", "valid_until": "2026-11-30",
                    "weekly": [{ "weekday": "mon", "from": "09:00", "to": "11:00" }] }),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert!(slots_of(app, &doctor, "virtual").await.is_empty());
    assert_eq!(slots_of(app, &doctor, "in_person").await.len(), 4);
}

async fn an_in_person_visit_has_no_meeting(app: &TestApp) {
    let doctor = online_cardiologist(app, "7700053").await;
    let in_person = slots_of(app, &doctor, "in_person").await;
    let slot = in_person[0]["id"].as_str().expect("a slot id");
    let id = booked(app, "45670053", slot).await;
    let (_, visit) = app.get(&format!("/pe/appointment/{id}")).await;
    assert_eq!(visit["modality"], "in_person", "{visit}");
    assert!(visit.get("meeting").is_none(), "{visit}");
    // Inside what would be its window.
    app.set_now("2026-11-23T14:55:00Z");
    let patient = app.token(Role::Patient, "pe", Some("45670053"));
    let (status, problem) = join_as(app, &patient, &id).await;
    assert_problem((status, &problem), 409, "not_virtual");
}

async fn a_moved_virtual_visit_gets_a_new_room(app: &TestApp) {
    let doctor = online_cardiologist(app, "7700054").await;
    let online = slots_of(app, &doctor, "virtual").await;
    let (first, second) = (
        online[0]["id"].as_str().expect("a slot id"),
        online[1]["id"].as_str().expect("a slot id"),
    );
    let id = booked(app, "45670054", first).await;
    let patient = app.token(Role::Patient, "pe", Some("45670054"));
    app.set_now("2026-11-23T13:55:00Z");
    let (status, before) = join_as(app, &patient, &id).await;
    assert_eq!(status, 200, "{before}");
    // Staff move it half an hour later (inside the patient's notice, staff are not bound).
    let (status, moved) = app
        .post(
            &format!("/pe/appointment/{id}/reschedule"),
            json!({ "slot": second }),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["meeting"]["opens_at"], "2026-11-23T09:20:00-05:00");
    let (status, problem) = join_as(app, &patient, &id).await;
    assert_problem((status, &problem), 409, "meeting_not_open");
    app.set_now("2026-11-23T14:25:00Z");
    let (status, after) = join_as(app, &patient, &id).await;
    assert_eq!(status, 200, "{after}");
    assert_ne!(
        after["join_url"], before["join_url"],
        "the old room is not given again"
    );
    // Cancelled: no meeting to join.
    let (status, cancelled) = app
        .post(
            &format!("/pe/appointment/{id}/cancel"),
            json!({ "reason": "el médico no puede" }),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    let (status, problem) = join_as(app, &patient, &id).await;
    assert_problem((status, &problem), 409, "not_assigned");
    assert_eq!(problem["current_status"], "cancelled");
    assert!(
        cancelled.get("meeting").is_none(),
        "no window once cancelled: {cancelled}"
    );
}

async fn a_doctor_search_by_modality_shows_the_next_slot_of_that_modality(app: &TestApp) {
    let (status, created) = app
        .post(
            "/pe/doctor",
            json!({ "document": "7700056", "name": "Dr. Mateo Salas", "speciality": "cardiologia",
                    "modalities": ["in_person", "virtual"],
                    "place": { "name": "Clínica San Borja", "address": "Av. Guardia Civil 337",
                               "district": "San Borja", "lat": -12.0950, "lon": -77.0010 } }),
        )
        .await;
    assert!(status == 201 || status == 200, "{created}");
    let (status, plan) = app
        .put(
            "/pe/doctor/pe-cardiologia-7700056/availability",
            json!({ "slot_minutes": 30, "valid_from": "2026-11-23", "valid_until": "2026-11-30",
                    "weekly": [
                        { "weekday": "mon", "from": "09:00", "to": "10:00", "modality": "virtual" },
                        { "weekday": "mon", "from": "10:00", "to": "11:00" } ] }),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    for (modality, time) in [("virtual", "09:00"), ("in_person", "10:00")] {
        let (status, found) = app
            .get(&format!(
                "/pe/doctor?speciality=cardiologia&modality={modality}"
            ))
            .await;
        assert_eq!(status, 200, "{found}");
        let salas = found["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|item| item["id"] == "pe-cardiologia-7700056")
            .unwrap_or_else(|| panic!("Dr. Salas is found: {found}"));
        assert_eq!(
            salas["next_slot"]["local_time"], time,
            "{modality}: {salas}"
        );
    }
}

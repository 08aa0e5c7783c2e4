//! The doctor's side over HTTP, black-box on the local server: specialities,
//! doctors, working plans, free-slot search, agendas and taking slots out,
//! with their errors, as the README's walk-through does it.

mod common;

use citas_domain::Role;
use citas_e2e::assert_problem;
use common::TestApp;
use serde_json::{Value, json};

/// A doctor's registry number in the tests below, and their id.
const DOCTOR: &str = "7700001";
const DOCTOR_ID: &str = "pe-cardiologia-7700001";

/// Mondays and Wednesdays 09:00–11:00 from Monday 23 November 2026 (the
/// tests' clock is 22 November, 10:00 in Lima).
fn plan() -> Value {
    json!({
        "slot_minutes": 30,
        "weekly": [
            { "weekday": "mon", "from": "09:00", "to": "11:00" },
            { "weekday": "wed", "from": "09:00", "to": "11:00" }
        ],
        "valid_from": "2026-11-23",
        "valid_until": "2027-12-31",
        "exceptions": [
            { "date": "2026-11-25", "off": true },
            { "date": "2026-11-30", "ranges": [{ "from": "10:00", "to": "11:00" }] }
        ]
    })
}

async fn register_doctor(app: &TestApp) -> Value {
    let (status, doctor) = app
        .post(
            "/pe/doctor",
            json!({ "document": DOCTOR, "name": "Dra. Elena Ríos", "speciality": "Cardiología",
                    "email": "elena.rios@example.pe" }),
        )
        .await;
    assert_eq!(status, 201, "{doctor}");
    doctor
}

fn local_times(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["local_date"].as_str().unwrap_or_default(),
                s["local_time"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn specialities_are_named_in_spanish_and_grow_with_registered_doctors() {
    let app = TestApp::spawn().await;
    let (status, list) = app.get("/pe/speciality").await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().expect("items");
    assert!(items.contains(&json!({ "slug": "cardiologia", "name": "Cardiología" })));
    assert!(items.contains(&json!({ "slug": "medicina-interna", "name": "Medicina interna" })));

    // Seed 000's own example still works, and answers with the display name.
    let created = app.create("pe", "45678912", "Medicina interna").await;
    assert_eq!(created["speciality"], "medicina-interna");
    assert_eq!(created["speciality_name"], "Medicina interna");

    // A speciality the country does not offer is refused, listing the offered ones.
    let (status, problem) = app
        .post(
            "/pe/appointment",
            json!({ "document": "70123456", "speciality": "Medicina deportiva" }),
        )
        .await;
    assert_problem((status, &problem), 422, "unknown_speciality");
    assert!(
        problem["offered"]
            .as_array()
            .is_some_and(|o| o.contains(&json!({ "slug": "pediatria", "name": "Pediatría" }))),
        "{problem}"
    );

    // Registering a doctor of it adds it, with the name as given, in Peru only.
    let (status, doctor) = app
        .post(
            "/pe/doctor",
            json!({ "document": "7700009", "name": "Dr. Paz", "speciality": "Medicina Deportiva" }),
        )
        .await;
    assert_eq!(status, 201, "{doctor}");
    assert_eq!(doctor["id"], "pe-medicina-deportiva-7700009");
    let (_, list) = app.get("/pe/speciality").await;
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .contains(&json!({ "slug": "medicina-deportiva", "name": "Medicina Deportiva" }))
    );
    let (_, chile) = app.get("/cl/speciality").await;
    assert!(
        !chile["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|s| s["slug"] == "medicina-deportiva")
    );
    let created = app.create("pe", "70123456", "medicina-deportiva").await;
    assert_eq!(created["speciality_name"], "Medicina Deportiva");
}

#[tokio::test]
async fn doctors_are_registered_updated_listed_and_read() {
    let app = TestApp::spawn().await;
    let doctor = register_doctor(&app).await;
    assert_eq!(doctor["id"], DOCTOR_ID);
    assert_eq!(doctor["speciality_name"], "Cardiología");
    assert_eq!(doctor["requires_confirmation"], false);
    let (status, updated) = app
        .post("/pe/doctor", json!({ "document": DOCTOR, "name": "Dra. Elena Ríos Paz", "speciality": "cardiologia", "requires_confirmation": true }))
        .await;
    assert_eq!(
        (status, &updated["name"]),
        (200, &json!("Dra. Elena Ríos Paz"))
    );
    let (status, read) = app.get(&format!("/pe/doctor/{DOCTOR_ID}")).await;
    assert_eq!(status, 200);
    assert_eq!(read, updated);

    // Seed doctors and this one, a page at a time, each once.
    let mut ids = Vec::new();
    let mut path = "/pe/doctor?speciality=cardiologia&limit=1".to_owned();
    for _ in 0..10 {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["items"].as_array().expect("items").len() <= 1);
        ids.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|d| d["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/pe/doctor?speciality=cardiologia&limit=1&cursor={cursor}")
            }
            None => break,
        }
    }
    assert!(ids.contains(&DOCTOR_ID.to_owned()), "{ids:?}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no doctor twice: {ids:?}");

    // Anyone signed in may read doctors; only an admin registers them.
    let patient = app.token(Role::Patient, "pe", Some("45678912"));
    let (status, _) = app
        .send_as("GET", &format!("/pe/doctor/{DOCTOR_ID}"), &patient, None)
        .await;
    assert_eq!(status, 200);
    let (status, problem) = app
        .send_as(
            "POST",
            "/pe/doctor",
            &patient,
            Some(json!({ "document": "1", "name": "X", "speciality": "cardiologia" })),
        )
        .await;
    assert_problem((status, &problem), 403, "forbidden");

    // Errors.
    let (status, problem) = app.get("/pe/doctor").await;
    assert_problem((status, &problem), 400, "invalid_speciality");
    let (status, problem) = app.get("/pe/doctor/pe-cardiologia-404404").await;
    assert_problem((status, &problem), 404, "doctor_not_found");
    let (status, problem) = app.get(&format!("/cl/doctor/{DOCTOR_ID}")).await;
    assert_problem((status, &problem), 404, "doctor_not_found");
    let (status, problem) = app
        .post(
            "/pe/doctor",
            json!({ "document": "12.345.678-5", "name": "X", "speciality": "cardiologia" }),
        )
        .await;
    assert_problem((status, &problem), 400, "invalid_document");
    let (status, problem) = app
        .post(
            "/pe/doctor",
            json!({ "document": "1", "name": "X", "speciality": "cardiologia", "email": "no" }),
        )
        .await;
    assert_problem((status, &problem), 400, "invalid_email");
}

/// The README's walk-through: the doctor sets a plan, a patient finds a slot
/// and books it, the doctor sees it in the agenda.
#[tokio::test]
async fn a_plan_becomes_slots_a_patient_books_one_and_the_doctor_sees_it() {
    let app = TestApp::spawn().await;
    register_doctor(&app).await;
    let doctor = app.token(Role::Doctor, "pe", Some(DOCTOR));
    let (status, applied) = app
        .send_as(
            "PUT",
            &format!("/pe/doctor/{DOCTOR_ID}/availability"),
            &doctor,
            Some(plan()),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["time_zone"], "America/Lima");
    assert_eq!(applied["slots"]["removed"], 0);
    // 56 days from 22 November: 8 Mondays and 8 Wednesdays of 4 slots, less
    // the Wednesday off and the short Monday (2 slots).
    assert_eq!(applied["slots"]["added"], 16 * 4 - 4 - 2, "{applied}");
    assert_eq!(applied["generated_until"], "2027-01-16");
    let (status, stored) = app
        .send_as(
            "GET",
            &format!("/pe/doctor/{DOCTOR_ID}/availability"),
            &doctor,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(stored["weekly"], plan()["weekly"]);
    assert_eq!(stored["exceptions"], plan()["exceptions"]);
    // The same plan again adds nothing.
    let (_, again) = app
        .send_as(
            "PUT",
            &format!("/pe/doctor/{DOCTOR_ID}/availability"),
            &doctor,
            Some(plan()),
        )
        .await;
    assert_eq!(
        (&again["slots"]["added"], &again["slots"]["removed"]),
        (&json!(0), &json!(0))
    );

    // A patient looks for free days and times of the doctor's first week.
    let ana = app.token(Role::Patient, "pe", Some("45678912"));
    let (status, page) = app
        .send_as(
            "GET",
            &format!(
                "/pe/slot?speciality=cardiologia&from=2026-11-23&to=2026-11-29&doctor={DOCTOR_ID}"
            ),
            &ana,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        local_times(&page),
        [
            "2026-11-23 09:00",
            "2026-11-23 09:30",
            "2026-11-23 10:00",
            "2026-11-23 10:30"
        ]
    );
    let first = &page["items"][0];
    assert_eq!(first["starts_at"], "2026-11-23T09:00:00-05:00");
    assert_eq!(first["time_zone"], "America/Lima");
    assert_eq!(
        first["doctor"],
        json!({ "id": DOCTOR_ID, "name": "Dra. Elena Ríos" })
    );

    // Ana asks for a cardiology appointment and books the 09:30 slot.
    app.create("pe", "45678912", "Cardiología").await;
    let slot = page["items"][1]["id"].as_str().expect("slot").to_owned();
    let (status, booked) = app
        .send_as(
            "POST",
            "/pe/appointment/20261122-45678912/assign",
            &ana,
            Some(json!({ "slot": slot })),
        )
        .await;
    assert_eq!(status, 200, "{booked}");

    // The doctor's agenda of that day shows it, with Ana's name.
    let (status, agenda) = app
        .send_as(
            "GET",
            &format!("/pe/doctor/{DOCTOR_ID}/agenda?date=2026-11-23"),
            &doctor,
            None,
        )
        .await;
    assert_eq!(status, 200, "{agenda}");
    let slots = agenda["slots"].as_array().expect("slots");
    assert_eq!(slots.len(), 4);
    let held: Vec<&Value> = slots.iter().filter(|s| s["available"] == false).collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["id"], slot.as_str());
    assert_eq!(
        held[0]["appointment"],
        json!({ "id": "20261122-45678912", "status": "assigned", "patient": "Ana Lucía Torres Vega" })
    );

    // The booked slot cannot be taken out; a free one can, once.
    let (status, problem) = app
        .send_as(
            "DELETE",
            &format!("/pe/doctor/{DOCTOR_ID}/slot/{slot}"),
            &doctor,
            None,
        )
        .await;
    assert_problem((status, &problem), 409, "slot_booked");
    let free = page["items"][3]["id"].as_str().expect("slot");
    let (status, _) = app
        .send_as(
            "DELETE",
            &format!("/pe/doctor/{DOCTOR_ID}/slot/{free}"),
            &doctor,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, problem) = app
        .send_as(
            "DELETE",
            &format!("/pe/doctor/{DOCTOR_ID}/slot/{free}"),
            &doctor,
            None,
        )
        .await;
    assert_problem((status, &problem), 404, "slot_not_found");

    // Dropping Mondays keeps Ana's booking and says so.
    let mut wednesdays = plan();
    wednesdays["weekly"] = json!([{ "weekday": "wed", "from": "09:00", "to": "11:00" }]);
    let (status, applied) = app
        .send_as(
            "PUT",
            &format!("/pe/doctor/{DOCTOR_ID}/availability"),
            &doctor,
            Some(wednesdays),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    let kept: Vec<&str> = applied["slots"]["booked_outside_plan"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(kept, [slot.as_str()]);
    let (_, still) = app.get("/pe/appointment/20261122-45678912").await;
    assert_eq!(still["status"], "assigned");
}

#[tokio::test]
async fn plans_searches_and_agendas_refuse_what_they_cannot_use() {
    let app = TestApp::spawn().await;
    register_doctor(&app).await;
    let path = format!("/pe/doctor/{DOCTOR_ID}/availability");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = plan();
        change(&mut body);
        body
    };
    let cases: [(&str, Value); 7] = [
        (
            "ends before it starts",
            with(&|p| p["weekly"][0]["to"] = json!("08:00")),
        ),
        (
            "overlaps",
            with(&|p| p["weekly"][1] = json!({ "weekday": "mon", "from": "10:00", "to": "12:00" })),
        ),
        (
            "unknown weekday",
            with(&|p| p["weekly"][0]["weekday"] = json!("monday")),
        ),
        (
            "not a time",
            with(&|p| p["weekly"][0]["from"] = json!("9:00")),
        ),
        ("slot too long", with(&|p| p["slot_minutes"] = json!(0))),
        (
            "until before from",
            with(&|p| p["valid_until"] = json!("2026-01-01")),
        ),
        (
            "exception without hours",
            with(&|p| p["exceptions"][0] = json!({ "date": "2026-11-25" })),
        ),
    ];
    for (what, body) in cases {
        let (status, problem) = app.put(&path, body).await;
        assert_eq!(status, 400, "{what}: {problem}");
        assert_eq!(problem["code"], "invalid_plan", "{what}: {problem}");
    }
    let (status, problem) = app
        .put("/pe/doctor/pe-cardiologia-404404/availability", plan())
        .await;
    assert_problem((status, &problem), 404, "doctor_not_found");
    let (status, problem) = app.get(&path).await;
    assert_problem((status, &problem), 404, "availability_not_found");

    for (query, code) in [
        ("", "invalid_speciality"),
        (
            "speciality=cardiologia&from=2026-12-10&to=2026-12-01",
            "invalid_date",
        ),
        ("speciality=cardiologia&from=10-12-2026", "invalid_date"),
        (
            "speciality=cardiologia&from=2026-01-01&to=2027-06-01",
            "invalid_date",
        ),
        (
            "speciality=cardiologia&doctor=cl-cardiologia-1",
            "invalid_doctor",
        ),
        (
            "speciality=cardiologia&doctor=pe-pediatria-1",
            "invalid_doctor",
        ),
        ("speciality=cardiologia&limit=0", "invalid_limit"),
        (
            "speciality=cardiologia&cursor=bm90LWEtY3Vyc29y",
            "invalid_cursor",
        ),
    ] {
        let (status, problem) = app.get(&format!("/pe/slot?{query}")).await;
        assert_problem((status, &problem), 400, code);
    }
    let (status, problem) = app.get("/pe/slot?speciality=astrologia").await;
    assert_problem((status, &problem), 422, "unknown_speciality");
    let (status, problem) = app.get(&format!("/pe/doctor/{DOCTOR_ID}/agenda")).await;
    assert_problem((status, &problem), 400, "invalid_date");
    let (status, problem) = app
        .delete(&format!(
            "/pe/doctor/{DOCTOR_ID}/slot/pe-pediatria-1-1796652000"
        ))
        .await;
    assert_problem((status, &problem), 404, "slot_not_found");
}

/// In Santiago a 00:30 slot does not exist on 5 September 2027 (clocks jump
/// from 00:00 to 01:00), and 09:00 stays 09:00 on both sides of the change.
#[tokio::test]
async fn santiago_plans_follow_the_local_clock_across_the_change_of_time() {
    let app = TestApp::spawn().await;
    app.set_now("2027-09-01T12:00:00Z");
    let (status, doctor) = app
        .post(
            "/cl/doctor",
            json!({ "document": "8800001", "name": "Dr. Soto", "speciality": "Pediatría" }),
        )
        .await;
    assert_eq!(status, 201, "{doctor}");
    let id = doctor["id"].as_str().expect("id");
    let every_day: Vec<Value> = ["sat", "sun", "mon"]
        .iter()
        .flat_map(|day| {
            [
                json!({ "weekday": day, "from": "00:00", "to": "01:00" }),
                json!({ "weekday": day, "from": "09:00", "to": "09:30" }),
            ]
        })
        .collect();
    let (status, applied) = app
        .put(
            &format!("/cl/doctor/{id}/availability"),
            json!({ "slot_minutes": 30, "weekly": every_day, "valid_from": "2027-09-01" }),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    let (status, page) = app
        .get("/cl/slot?speciality=pediatria&from=2027-09-04&to=2027-09-06&limit=100")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        local_times(&page),
        [
            "2027-09-04 00:00",
            "2027-09-04 00:30",
            "2027-09-04 09:00",
            // Sunday the 5th: no midnight slots; 09:00 is now UTC−3.
            "2027-09-05 09:00",
            "2027-09-06 00:00",
            "2027-09-06 00:30",
            "2027-09-06 09:00",
        ]
    );
    let offsets: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| &s["starts_at"].as_str().expect("starts_at")[19..])
        .collect();
    assert_eq!(
        offsets,
        [
            "-04:00", "-04:00", "-04:00", "-03:00", "-03:00", "-03:00", "-03:00"
        ]
    );
}

/// A doctor's email is for staff and the doctor: patients and other doctors
/// see the doctor without it, one by one and in lists.
#[tokio::test]
async fn only_staff_and_the_doctor_see_a_doctors_email() {
    let app = TestApp::spawn().await;
    register_doctor(&app).await;
    let cases = [
        ("admin", app.token(Role::Admin, "pe", None), true),
        (
            "the doctor",
            app.token(Role::Doctor, "pe", Some(DOCTOR)),
            true,
        ),
        (
            "another doctor",
            app.token(Role::Doctor, "pe", Some("7700999")),
            false,
        ),
        (
            "a patient",
            app.token(Role::Patient, "pe", Some("45678912")),
            false,
        ),
    ];
    for (who, token, sees) in cases {
        let (status, one) = app
            .send_as("GET", &format!("/pe/doctor/{DOCTOR_ID}"), &token, None)
            .await;
        assert_eq!(status, 200, "{who}: {one}");
        let (status, list) = app
            .send_as("GET", "/pe/doctor?speciality=cardiologia", &token, None)
            .await;
        assert_eq!(status, 200, "{who}: {list}");
        let listed = list["items"]
            .as_array()
            .and_then(|items| items.iter().find(|d| d["id"] == DOCTOR_ID))
            .cloned()
            .unwrap_or_default();
        let email = json!("elena.rios@example.pe");
        for shown in [&one, &listed] {
            assert_eq!(shown["name"], "Dra. Elena Ríos", "{who}: {shown}");
            assert_eq!(shown.get("email") == Some(&email), sees, "{who}: {shown}");
        }
    }
}

/// One save writes a bounded number of slots: 5-minute slots around the clock
/// every day would be 16,128 over the horizon; the plan is refused, naming the limit.
#[tokio::test]
async fn a_plan_of_too_many_slots_is_refused_naming_the_limit() {
    let app = TestApp::spawn().await;
    register_doctor(&app).await;
    let doctor = app.token(Role::Doctor, "pe", Some(DOCTOR));
    let weekly: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({ "weekday": day, "from": "00:00", "to": "23:55" }))
        .collect();
    let (status, problem) = app
        .send_as(
            "PUT",
            &format!("/pe/doctor/{DOCTOR_ID}/availability"),
            &doctor,
            Some(json!({ "slot_minutes": 5, "weekly": weekly, "valid_from": "2026-11-23" })),
        )
        .await;
    assert_problem((status, &problem), 422, "too_many_slots");
    assert_eq!(problem["limit"], 3000, "{problem}");
    // Nothing was written: the doctor has no plan and no slots.
    let (status, _) = app
        .send_as(
            "GET",
            &format!("/pe/doctor/{DOCTOR_ID}/availability"),
            &doctor,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

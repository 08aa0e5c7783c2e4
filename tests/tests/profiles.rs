//! A doctor's profile (issue 26): the price in the country's currency as
//! exact decimals, modalities, the place with its coordinates, languages
//! and a bio, kept as given on every store; bad values are problems naming
//! the field; doctors registered without one read as before.

mod common;

use citas_e2e::assert_problem;
use common::TestApp;
use serde_json::{Value, json};

over_http_on_every_store!(
    a_profile_is_kept_as_given,
    a_chilean_price_is_in_whole_pesos,
    bad_profiles_are_refused_naming_the_field,
);

fn cardiologist(profile: Value) -> Value {
    let mut doctor = json!({
        "document": "7700031", "name": "Dra. Inés Salazar", "speciality": "cardiologia",
        "email": "ines.salazar@clinica.pe",
    });
    for (key, value) in profile.as_object().expect("an object") {
        doctor[key] = value.clone();
    }
    doctor
}

fn lima_profile() -> Value {
    json!({
        "price": {"amount": "120.00", "currency": "PEN"},
        "modalities": ["virtual", "in_person", "virtual"],
        "place": {"name": "Clínica San Felipe", "address": "Av. Gregorio Escobedo 650",
                  "district": "Jesús María", "lat": -12.080_612, "lon": -77.050_034},
        "languages": ["español", "quechua"],
        "bio": "Cardióloga con 15 años de experiencia.",
    })
}

async fn a_profile_is_kept_as_given(app: &TestApp) {
    let (status, created) = app.post("/pe/doctor", cardiologist(lima_profile())).await;
    assert_eq!(status, 201, "{created}");
    let (status, read) = app.get("/pe/doctor/pe-cardiologia-7700031").await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, created);
    assert_eq!(
        read["price"],
        json!({"amount": "120.00", "currency": "PEN"})
    );
    assert_eq!(read["modalities"], json!(["in_person", "virtual"]));
    assert_eq!(read["place"], lima_profile()["place"]);
    assert_eq!(read["languages"], json!(["español", "quechua"]));
    // A doctor registered without one, as every doctor before, reads with none.
    let (status, seeded) = app
        .post(
            "/pe/doctor",
            json!({"document": "7700033", "name": "Dr. Sin Perfil", "speciality": "cardiologia"}),
        )
        .await;
    assert_eq!(status, 201, "{seeded}");
    assert_eq!(
        (
            &seeded["price"],
            &seeded["modalities"],
            &seeded["place"],
            &seeded["bio"]
        ),
        (&Value::Null, &json!([]), &Value::Null, &Value::Null)
    );
    // A price given as 120 is 120.00: exact, in the currency's decimals.
    let mut whole = lima_profile();
    whole["price"]["amount"] = json!("120");
    let (status, updated) = app.post("/pe/doctor", cardiologist(whole)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["price"]["amount"], "120.00");
    // Registered again without a profile: what it no longer has is gone.
    let (status, _) = app.post("/pe/doctor", cardiologist(json!({}))).await;
    assert_eq!(status, 200);
    let (_, bare) = app.get("/pe/doctor/pe-cardiologia-7700031").await;
    assert_eq!(
        (
            &bare["price"],
            &bare["modalities"],
            &bare["place"],
            &bare["languages"],
            &bare["bio"]
        ),
        (
            &Value::Null,
            &json!([]),
            &Value::Null,
            &json!([]),
            &Value::Null
        ),
        "{bare}"
    );
}

async fn a_chilean_price_is_in_whole_pesos(app: &TestApp) {
    let doctor = json!({
        "document": "7700032", "name": "Dr. Tomás Vidal", "speciality": "pediatria",
        "price": {"amount": "45000", "currency": "CLP"}, "modalities": ["virtual"],
    });
    let (status, created) = app.post("/cl/doctor", doctor.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["price"],
        json!({"amount": "45000", "currency": "CLP"})
    );
    let (_, read) = app.get("/cl/doctor/cl-pediatria-7700032").await;
    assert_eq!(read["price"], created["price"]);
    let mut cents = doctor;
    cents["price"]["amount"] = json!("45000.50");
    let (status, problem) = app.post("/cl/doctor", cents).await;
    assert_problem((status, &problem), 400, "invalid_price");
}

async fn bad_profiles_are_refused_naming_the_field(app: &TestApp) {
    let cases = [
        (
            json!({"price": {"amount": 120.0, "currency": "PEN"}}),
            "invalid_price",
            "price",
        ),
        (
            json!({"price": {"amount": "120.00", "currency": "USD"}}),
            "invalid_price",
            "price",
        ),
        (
            json!({"price": {"amount": "120.001", "currency": "PEN"}}),
            "invalid_price",
            "price",
        ),
        (
            json!({"modalities": ["presencial"]}),
            "invalid_modality",
            "modalities",
        ),
        (
            json!({"modalities": ["in_person"]}),
            "invalid_place",
            "place",
        ),
        (
            json!({"place": {"name": "X", "address": "Y", "district": "Z", "lat": -95.0, "lon": 0.0}}),
            "invalid_place",
            "place",
        ),
        (
            json!({"place": {"name": " ", "address": "Y", "district": "Z", "lat": 0.0, "lon": 0.0}}),
            "invalid_place",
            "place",
        ),
        (
            json!({"languages": vec!["a"; 11]}),
            "invalid_languages",
            "languages",
        ),
        (json!({"bio": "x".repeat(1001)}), "invalid_bio", "bio"),
    ];
    for (profile, code, field) in cases {
        let (status, problem) = app.post("/pe/doctor", cardiologist(profile.clone())).await;
        assert_problem((status, &problem), 400, code);
        assert_eq!(problem["field"], field, "{profile}");
    }
    // Nothing was stored by the refused requests.
    let (status, _) = app.get("/pe/doctor/pe-cardiologia-7700031").await;
    assert_eq!(status, 404);
}

/// The price where the patient decides: each free slot of a search says
/// what its doctor charges (the seeded internist in Lima: S/ 120.00; seed
/// 000's own example doctor has no profile: null).
#[tokio::test]
async fn free_slots_carry_their_doctors_price() {
    let app = TestApp::spawn().await;
    let priced = "pe-medicina-interna-9999238";
    let (status, page) = app
        .get(&format!(
            "/pe/slot?speciality=medicina-interna&doctor={priced}&limit=5"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().expect("items");
    assert!(!items.is_empty(), "{page}");
    for item in items {
        assert_eq!(item["doctor"]["id"], priced, "{item}");
        assert_eq!(
            item["price"],
            json!({"amount": "120.00", "currency": "PEN"}),
            "{item}"
        );
    }
    let unpriced = "pe-medicina-interna-9999234";
    let (_, page) = app
        .get(&format!(
            "/pe/slot?speciality=medicina-interna&doctor={unpriced}&limit=2"
        ))
        .await;
    let items = page["items"].as_array().expect("items");
    assert!(!items.is_empty(), "{page}");
    assert!(items.iter().all(|item| item["price"].is_null()), "{page}");
}

/// The appointment keeps the price its slot's doctor had when it was booked.
#[tokio::test]
async fn a_booked_appointment_shows_the_price_it_was_booked_at() {
    let app = TestApp::spawn().await;
    let priced = "pe-medicina-interna-9999238";
    let (_, page) = app
        .get(&format!(
            "/pe/slot?speciality=medicina-interna&doctor={priced}&limit=1"
        ))
        .await;
    let slot = page["items"][0]["id"]
        .as_str()
        .expect("a free slot")
        .to_owned();
    let created = app.create("pe", "45678912", "medicina-interna").await;
    assert!(created.get("price").is_none(), "{created}");
    let id = created["id"].as_str().expect("an id");
    let (status, booked) = app
        .post(
            &format!("/pe/appointment/{id}/assign"),
            json!({ "slot": slot }),
        )
        .await;
    assert_eq!(status, 200, "{booked}");
    assert_eq!(
        booked["price"],
        json!({"amount": "120.00", "currency": "PEN"})
    );
    let (_, read) = app.get(&format!("/pe/appointment/{id}")).await;
    assert_eq!(read["price"], booked["price"]);
}

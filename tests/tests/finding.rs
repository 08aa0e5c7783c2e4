//! Finding a doctor (issue 26): by distance from a point on real
//! coordinates in Lima and Santiago, by rating, modality and price, sorted,
//! paginated, each with its next free slot; bad parameters name their field.

mod common;

use citas_domain::Role;
use citas_e2e::assert_problem;
use common::TestApp;
use common::visits::{completed_visits, doctor_with_plan};
use serde_json::{Value, json};

over_http_on_every_store!(
    distance_finds_and_orders_doctors_in_lima,
    distance_in_santiago_and_prices_in_pesos,
    rating_price_and_modality_filter_and_sort,
    results_are_paginated_and_carry_the_next_slot,
    bad_search_parameters_name_their_field,
);

/// Lima's Plaza de Armas.
const PLAZA_DE_ARMAS: &str = "-12.0464,-77.0300";

fn doctor(
    document: &str,
    speciality: &str,
    lat: f64,
    lon: f64,
    price: &str,
    currency: &str,
) -> Value {
    json!({
        "document": document, "name": format!("Dr. {document}"), "speciality": speciality,
        "price": {"amount": price, "currency": currency},
        "modalities": ["in_person"],
        "place": {"name": "Consultorio", "address": "Jr. de la Unión 100", "district": "Cercado",
                  "lat": lat, "lon": lon},
    })
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// A patient of the country, who searches.
fn patient(app: &TestApp, country: &str) -> String {
    let document = if country == "cl" {
        "12345678-5"
    } else {
        "45678912"
    };
    app.token(Role::Patient, country, Some(document))
}

async fn find(app: &TestApp, country: &str, query: &str) -> Value {
    let patient = patient(app, country);
    let (status, page) = app
        .send_as("GET", &format!("/{country}/doctor?{query}"), &patient, None)
        .await;
    assert_eq!(status, 200, "{query}: {page}");
    page
}

async fn distance_finds_and_orders_doctors_in_lima(app: &TestApp) {
    // 2.0 km south of the plaza, 4.0 km west, and Miraflores' Parque Kennedy (8.3 km).
    let south = doctor("7700051", "neurologia", -12.0644, -77.0300, "100.00", "PEN");
    let west = doctor("7700052", "neurologia", -12.0464, -77.0668, "100.00", "PEN");
    let kennedy = doctor("7700053", "neurologia", -12.1211, -77.0297, "100.00", "PEN");
    for body in [&kennedy, &west, &south] {
        let (status, created) = app.post("/pe/doctor", body.clone()).await;
        assert_eq!(status, 201, "{created}");
    }
    // Online only, with no place: never in a search near a point.
    let (status, _) = app
        .post(
            "/pe/doctor",
            json!({ "document": "7700054", "name": "Dra. Online",
                                     "speciality": "neurologia", "modalities": ["virtual"] }),
        )
        .await;
    assert_eq!(status, 201);
    let within_5 = find(
        app,
        "pe",
        &format!("speciality=neurologia&near={PLAZA_DE_ARMAS}&within_km=5"),
    )
    .await;
    assert_eq!(
        ids(&within_5),
        ["pe-neurologia-7700051", "pe-neurologia-7700052"],
        "{within_5}"
    );
    let km: Vec<f64> = within_5["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["distance_km"].as_f64().expect("a distance"))
        .collect();
    assert!(
        (1.9..2.1).contains(&km[0]) && (3.9..4.1).contains(&km[1]),
        "{km:?}"
    );
    assert_eq!(within_5["complete"], true);
    let within_1 = find(
        app,
        "pe",
        &format!("speciality=neurologia&near={PLAZA_DE_ARMAS}&within_km=1"),
    )
    .await;
    assert_eq!(ids(&within_1), Vec::<String>::new(), "{within_1}");
    let within_10 = find(
        app,
        "pe",
        &format!("speciality=neurologia&near={PLAZA_DE_ARMAS}&within_km=10"),
    )
    .await;
    assert_eq!(
        ids(&within_10),
        [
            "pe-neurologia-7700051",
            "pe-neurologia-7700052",
            "pe-neurologia-7700053"
        ]
    );
    // The default radius is 5 km and the default order is by distance.
    let default = find(
        app,
        "pe",
        &format!("speciality=neurologia&near={PLAZA_DE_ARMAS}"),
    )
    .await;
    assert_eq!(ids(&default), ids(&within_5));
    // From Miraflores the order turns round.
    let from_kennedy = find(
        app,
        "pe",
        "speciality=neurologia&near=-12.1211,-77.0297&within_km=10&sort=distance",
    )
    .await;
    assert_eq!(
        ids(&from_kennedy),
        [
            "pe-neurologia-7700053",
            "pe-neurologia-7700051",
            "pe-neurologia-7700052"
        ]
    );
    // A doctor who moves leaves their old cell.
    let mut moved = south.clone();
    moved["place"]["lat"] = json!(-12.1211);
    moved["place"]["lon"] = json!(-77.0350);
    let (status, _) = app.post("/pe/doctor", moved).await;
    assert_eq!(status, 200);
    let after = find(
        app,
        "pe",
        &format!("speciality=neurologia&near={PLAZA_DE_ARMAS}&within_km=5"),
    )
    .await;
    assert_eq!(ids(&after), ["pe-neurologia-7700052"], "{after}");
}

async fn distance_in_santiago_and_prices_in_pesos(app: &TestApp) {
    // Plaza de Armas de Santiago, and a doctor 2 km north of it.
    let plaza = "-33.4378,-70.6505";
    let (status, created) = app
        .post(
            "/cl/doctor",
            doctor("7700061", "neurologia", -33.4198, -70.6505, "25000", "CLP"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = app
        .post(
            "/cl/doctor",
            doctor("7700062", "neurologia", -33.4378, -70.6200, "45000", "CLP"),
        )
        .await;
    assert_eq!(status, 201);
    let near = find(
        app,
        "cl",
        &format!("speciality=neurologia&near={plaza}&within_km=5"),
    )
    .await;
    assert_eq!(
        ids(&near),
        ["cl-neurologia-7700061", "cl-neurologia-7700062"],
        "{near}"
    );
    assert_eq!(
        near["items"][0]["price"],
        json!({"amount": "25000", "currency": "CLP"})
    );
    let within_1 = find(
        app,
        "cl",
        &format!("speciality=neurologia&near={plaza}&within_km=1"),
    )
    .await;
    assert!(ids(&within_1).is_empty(), "{within_1}");
    let cheap = find(
        app,
        "cl",
        &format!("speciality=neurologia&near={plaza}&max_price=30000"),
    )
    .await;
    assert_eq!(ids(&cheap), ["cl-neurologia-7700061"], "{cheap}");
    // Pesos have no decimals; a sol amount is not a peso one.
    let patient = patient(app, "cl");
    for bad in ["30000.50", "abc", "-1"] {
        let (status, problem) = app
            .send_as(
                "GET",
                &format!("/cl/doctor?speciality=neurologia&max_price={bad}"),
                &patient,
                None,
            )
            .await;
        assert_problem((status, &problem), 400, "invalid_max_price");
    }
    // Santiago's doctors are not Lima's.
    let lima = find(
        app,
        "pe",
        &format!("speciality=neurologia&near={PLAZA_DE_ARMAS}&within_km=10"),
    )
    .await;
    assert!(ids(&lima).is_empty(), "{lima}");
}

async fn rating_price_and_modality_filter_and_sort(app: &TestApp) {
    let lima = |document: &str, price: &str| {
        doctor(document, "neurologia", -12.0500, -77.0300, price, "PEN")
    };
    let good = doctor_with_plan(app, "pe", lima("7700071", "180.00")).await;
    let poor = doctor_with_plan(app, "pe", lima("7700072", "90.00")).await;
    let mut online = lima("7700073", "120.00");
    online["modalities"] = json!(["in_person", "virtual"]);
    let unrated = doctor_with_plan(app, "pe", online).await;
    for (doctor, first, stars) in [(&good, 44_000_001, [5, 4]), (&poor, 44_000_011, [2, 3])] {
        let visitors: Vec<String> = (first..first + 2).map(|n: u32| n.to_string()).collect();
        let completed = completed_visits(app, "pe", doctor, &visitors).await;
        for ((patient, id), stars) in visitors.iter().zip(&completed).zip(stars) {
            let token = app.token(Role::Patient, "pe", Some(patient));
            let (status, body) = app
                .send_as(
                    "POST",
                    &format!("/pe/appointment/{id}/review"),
                    &token,
                    Some(json!({ "stars": stars })),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
    }
    let near = format!("speciality=neurologia&near={PLAZA_DE_ARMAS}");
    let rated = find(app, "pe", &format!("{near}&min_rating=4")).await;
    assert_eq!(ids(&rated), vec![good.clone()], "{rated}");
    assert_eq!(
        rated["items"][0]["rating"],
        json!({"average": 4.5, "count": 2})
    );
    let by_rating = find(app, "pe", &format!("{near}&sort=rating")).await;
    assert_eq!(
        ids(&by_rating),
        [good.clone(), poor.clone(), unrated.clone()],
        "{by_rating}"
    );
    let by_price = find(app, "pe", &format!("{near}&sort=price")).await;
    assert_eq!(
        ids(&by_price),
        [poor.clone(), unrated.clone(), good.clone()],
        "{by_price}"
    );
    let affordable = find(app, "pe", &format!("{near}&max_price=120&sort=price")).await;
    assert_eq!(
        ids(&affordable),
        [poor.clone(), unrated.clone()],
        "{affordable}"
    );
    let virtual_ones = find(app, "pe", &format!("{near}&modality=virtual")).await;
    assert_eq!(ids(&virtual_ones), vec![unrated.clone()], "{virtual_ones}");
    // Without a point: the speciality's doctors, by rating by default.
    let anywhere = find(app, "pe", "speciality=neurologia&min_rating=2.5").await;
    assert_eq!(ids(&anywhere), [good, poor], "{anywhere}");
    assert!(
        anywhere["items"][0].get("distance_km").is_none(),
        "{anywhere}"
    );
}

async fn results_are_paginated_and_carry_the_next_slot(app: &TestApp) {
    let mut ids_made = Vec::new();
    for (n, lat) in [-12.0470, -12.0480, -12.0490].into_iter().enumerate() {
        let body = doctor(
            &format!("770008{n}"),
            "neurologia",
            lat,
            -77.0300,
            "100.00",
            "PEN",
        );
        ids_made.push(if n == 1 {
            doctor_with_plan(app, "pe", body).await
        } else {
            let (status, created) = app.post("/pe/doctor", body).await;
            assert_eq!(status, 201, "{created}");
            created["id"].as_str().expect("an id").to_owned()
        });
    }
    let query = format!("speciality=neurologia&near={PLAZA_DE_ARMAS}&limit=2");
    let first = find(app, "pe", &query).await;
    assert_eq!(ids(&first), ids_made[..2]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = find(app, "pe", &format!("{query}&cursor={cursor}")).await;
    assert_eq!(ids(&second), ids_made[2..]);
    assert_eq!(second["next_cursor"], Value::Null);
    // A cursor belongs to its search.
    let patient = patient(app, "pe");
    let (status, problem) = app
        .send_as(
            "GET",
            &format!(
                "/pe/doctor?speciality=neurologia&near={PLAZA_DE_ARMAS}&sort=price&cursor={cursor}"
            ),
            &patient,
            None,
        )
        .await;
    assert_problem((status, &problem), 400, "invalid_cursor");
    // Only the doctor with a plan has a next slot: the first of their plan (Monday 23 November, 08:00 in Lima).
    let slot = &first["items"][1]["next_slot"];
    assert_eq!(slot["local_date"], "2026-11-23", "{first}");
    assert_eq!(slot["local_time"], "08:00");
    assert_eq!(slot["starts_at"], "2026-11-23T08:00:00-05:00");
    assert!(
        slot["id"]
            .as_str()
            .is_some_and(|id| id.starts_with(&ids_made[1])),
        "{slot}"
    );
    assert_eq!(first["items"][0]["next_slot"], Value::Null);
    // The earliest free slot first.
    let earliest = find(
        app,
        "pe",
        &format!("speciality=neurologia&near={PLAZA_DE_ARMAS}&sort=earliest"),
    )
    .await;
    assert_eq!(ids(&earliest)[0], ids_made[1], "{earliest}");
    // The plain list carries next slots too.
    let plain = find(app, "pe", "speciality=neurologia").await;
    let with_slot: Vec<&Value> = plain["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|item| !item["next_slot"].is_null())
        .map(|item| &item["id"])
        .collect();
    assert_eq!(with_slot, [&json!(ids_made[1])], "{plain}");
}

async fn bad_search_parameters_name_their_field(app: &TestApp) {
    let patient = patient(app, "pe");
    for (query, code) in [
        ("speciality=neurologia&sort=distance", "invalid_sort"),
        ("speciality=neurologia&sort=nearest", "invalid_sort"),
        ("speciality=neurologia&near=-12.05", "invalid_near"),
        ("speciality=neurologia&near=-95,10", "invalid_near"),
        ("speciality=neurologia&near=a,b", "invalid_near"),
        (
            "speciality=neurologia&near=-12.05,-77.03&within_km=50",
            "invalid_within_km",
        ),
        (
            "speciality=neurologia&near=-12.05,-77.03&within_km=0",
            "invalid_within_km",
        ),
        ("speciality=neurologia&within_km=3", "invalid_within_km"),
        ("speciality=neurologia&min_rating=6", "invalid_min_rating"),
        (
            "speciality=neurologia&min_rating=4.25",
            "invalid_min_rating",
        ),
        (
            "speciality=neurologia&modality=presencial",
            "invalid_modality",
        ),
        (
            "speciality=neurologia&max_price=12.345",
            "invalid_max_price",
        ),
        ("near=-12.05,-77.03", "invalid_speciality"),
    ] {
        let (status, problem) = app
            .send_as("GET", &format!("/pe/doctor?{query}"), &patient, None)
            .await;
        assert_problem((status, &problem), 400, code);
    }
}

/// The local server loads the seed (the moto runs start empty).
#[tokio::test]
async fn seeded_doctors_are_found_near_their_place() {
    let app = &TestApp::spawn().await;
    // Seeded: Dra. Rosa Quispe, Clínica Ricardo Palma, San Isidro.
    let page = find(
        app,
        "pe",
        "speciality=dermatologia&near=-12.0911,-77.0204&within_km=1",
    )
    .await;
    assert!(
        ids(&page).contains(&"pe-dermatologia-9999237".to_owned()),
        "{page}"
    );
    assert!(
        page["items"][0]["distance_km"]
            .as_f64()
            .is_some_and(|km| km < 0.1),
        "{page}"
    );
}

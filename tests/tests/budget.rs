//! Each use case, run on the AWS adapters against moto, stays within its
//! budget of SDK calls, counted by an SDK interceptor, and never scans.

mod backends;

use std::collections::BTreeMap;
use std::sync::Arc;

use citas_api::body::{AppointmentRequest, ListQuery, PatientRequest};
use citas_aws::{OperationCounter, SqsQueue};
use citas_domain::use_cases;
use citas_domain::{Doctor, ManualClock, PERU, Services};
use citas_e2e::build;
use citas_layout::keys::STATUS_SHARDS;
use jiff::civil::{date, time};

/// The use cases on a counted DynamoDB store, on 2 January 2030.
fn services_on(backend: &backends::Backend) -> Services {
    Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store: backend.store.clone(),
        queue: Arc::new(citas_e2e::NullQueue),
        clock: Arc::new(ManualClock::new(
            "2030-01-02T15:00:00Z".parse().expect("time"),
        )),
        horizon: Default::default(),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    }
}

fn ops(counts: &BTreeMap<String, usize>) -> usize {
    counts.values().sum()
}

/// Searching a speciality's free slots and auto-assigning cost the same
/// requests with 3 doctors in the speciality as with 300.
#[tokio::test]
async fn search_and_auto_assign_do_not_grow_with_the_number_of_doctors() {
    let mut costs = Vec::new();
    for doctors in [3, 300] {
        let backend = backends::dynamodb().await;
        let dynamo = backend.counter.clone().expect("counting DynamoDB client");
        let services = services_on(&backend);
        let admin = citas_domain::Caller {
            subject: "budget".into(),
            country: &PERU,
            identity: citas_domain::Identity::Admin,
        };
        // Each doctor has one free slot, a minute apart, so pages mix doctors.
        for n in 0..doctors {
            let doctor = build::doctor(&PERU, "cardiologia", &format!("{}", 1000 + n));
            services.store.put_doctor(&doctor).await.expect("doctor");
            let slot = build::slot_at(&doctor.id, &format!("2030-03-04T14:{:02}:00Z", n % 60));
            let slot = citas_domain::Slot {
                id: citas_domain::SlotId::new(
                    doctor.id.clone(),
                    slot.starts_at() + jiff::SignedDuration::from_hours(i64::from(n / 60)),
                ),
                ..slot
            };
            services.store.put_slot(&slot).await.expect("slot");
        }
        let input = PatientRequest {
            document: "45678912".into(),
            name: "Ana".into(),
            email: "ana@example.pe".into(),
        }
        .try_into_domain(&PERU)
        .expect("input");
        use_cases::register_patient(&services, &admin, &PERU, input)
            .await
            .expect("patient");
        let input = AppointmentRequest {
            document: "45678912".into(),
            speciality: "cardiologia".into(),
        }
        .try_into_domain(&PERU)
        .expect("input");
        use_cases::create_appointment(&services, &admin, &PERU, input)
            .await
            .expect("create");
        dynamo.take();

        let query = citas_api::slot_body::SlotSearchQuery {
            speciality: Some("cardiologia".into()),
            from: Some("2030-03-01".into()),
            to: Some("2030-03-31".into()),
            limit: Some("20".into()),
            ..Default::default()
        }
        .try_into_domain(&PERU)
        .expect("query");
        let page = citas_domain::use_cases::search_slots(&services, &admin, &PERU, query)
            .await
            .expect("search");
        assert_eq!(page.items.len(), doctors.min(20) as usize);
        assert!(page.items.iter().all(|f| f.doctor.is_some()), "names found");
        let search = dynamo.take();
        use_cases::assign(
            &services,
            &admin,
            &PERU,
            &build::appointment_id(&PERU, "20300102-45678912"),
            None,
        )
        .await
        .expect("auto-assign");
        let assign = dynamo.take();
        assert!(!search.contains_key("Scan") && !assign.contains_key("Scan"));
        // The month view: one counting query per day of March.
        let days = citas_api::slot_body::DaysSearchQuery {
            modality: Default::default(),
            speciality: Some("cardiologia".into()),
            month: Some("2030-03".into()),
            doctor: None,
        }
        .try_into_domain(&PERU)
        .expect("query");
        let month = citas_domain::use_cases::free_days(&services, &admin, &PERU, days)
            .await
            .expect("free days");
        assert_eq!(month.len(), 31);
        let free: usize = month.iter().map(|day| day.free).sum();
        assert_eq!(
            free,
            doctors as usize - 1,
            "every free slot counted (one was just booked)"
        );
        let days = dynamo.take();
        costs.push((doctors, search, assign, days));
    }
    let expected_search = BTreeMap::from([("BatchGetItem".to_owned(), 1), ("Query".to_owned(), 1)]);
    // The appointment and the chosen slot's doctor, one page of the index, one transaction.
    let expected_assign = BTreeMap::from([
        ("GetItem".to_owned(), 2),
        ("Query".to_owned(), 1),
        ("TransactWriteItems".to_owned(), 1),
    ]);
    let expected_days = BTreeMap::from([("Query".to_owned(), 31)]);
    for (doctors, search, assign, days) in &costs {
        assert_eq!(days, &expected_days, "free days with {doctors} doctors");
        assert_eq!(search, &expected_search, "search with {doctors} doctors");
        assert_eq!(
            assign, &expected_assign,
            "auto-assign with {doctors} doctors"
        );
    }
}

/// Finding a doctor near a point costs the same requests with 3 doctors in
/// the speciality as with 300: one query per geohash cell of the circle and
/// one next-slot query per doctor found, whatever the doctors elsewhere.
#[tokio::test]
async fn finding_a_doctor_near_a_point_does_not_grow_with_the_number_of_doctors() {
    use citas_domain::scheduling::doctor::{DoctorProfile, Modality, Place};
    use citas_domain::use_cases::{DoctorSearch, DoctorSort, Near};
    use citas_domain::values::place::Coordinates;
    let mut costs = Vec::new();
    for doctors in [3_u32, 300] {
        let backend = backends::dynamodb().await;
        let dynamo = backend.counter.clone().expect("counting DynamoDB client");
        let services = services_on(&backend);
        let patient = citas_domain::Caller {
            subject: "budget".into(),
            country: &PERU,
            identity: citas_domain::Identity::Patient(
                PERU.parse_document("45678912").expect("a DNI"),
            ),
        };
        // Three doctors within 2 km of Lima's Plaza de Armas, each with a free
        // slot; the rest of the speciality 30 km and more to the south.
        for n in 0..doctors {
            let (lat, lon) = if n < 3 {
                (-12.0464 - 0.005 * f64::from(n), -77.0300)
            } else {
                (
                    -12.32 - 0.01 * f64::from(n % 60),
                    -77.03 + 0.01 * f64::from(n / 60),
                )
            };
            let place = Place {
                name: "Consultorio".into(),
                address: "Av. Arequipa 100".into(),
                district: "Lima".into(),
                coordinates: Coordinates::new(lat, lon).expect("coordinates"),
            };
            let doctor = Doctor {
                profile: DoctorProfile::new(
                    None,
                    vec![Modality::InPerson],
                    Some(place),
                    vec![],
                    None,
                )
                .expect("a profile"),
                ..build::doctor(&PERU, "cardiologia", &format!("{}", 1000 + n))
            };
            services.store.put_doctor(&doctor).await.expect("doctor");
            let slot = build::slot_at(&doctor.id, "2030-03-04T14:00:00Z");
            services.store.put_slot(&slot).await.expect("slot");
        }
        let mut by_sort = BTreeMap::new();
        for sort in [DoctorSort::Distance, DoctorSort::Earliest] {
            let search = DoctorSearch::new(
                citas_domain::Speciality::parse("cardiologia").expect("a speciality"),
                Some(Near {
                    point: Coordinates::new(-12.0464, -77.0300).expect("the plaza"),
                    within_km: 5.0,
                }),
                None,
                None,
                None,
                Some(sort),
            )
            .expect("a search");
            dynamo.take();
            let found = use_cases::find_doctors(
                &services,
                &patient,
                &PERU,
                &search,
                &citas_domain::PageRequest {
                    limit: 20,
                    cursor: None,
                },
            )
            .await
            .expect("found");
            assert_eq!(found.items.len(), 3, "{doctors} doctors");
            assert!(found.complete);
            assert!(found.items.iter().all(|item| item.next_slot.is_some()));
            let calls = dynamo.take();
            assert!(!calls.contains_key("Scan"), "{calls:?}");
            by_sort.insert(sort.as_str(), calls);
        }
        costs.push((doctors, by_sort));
    }
    let cells = citas_domain::values::place::cells_covering(
        &Coordinates::new(-12.0464, -77.0300).expect("the plaza"),
        5.0,
        citas_domain::values::place::CELL_PRECISION,
        citas_domain::use_cases::MAX_CELLS,
    )
    .expect("cells")
    .len();
    // One query per cell, one per doctor found for its next slot.
    let expected = BTreeMap::from([("Query".to_owned(), cells + 3)]);
    for (doctors, by_sort) in &costs {
        for (sort, calls) in by_sort {
            assert_eq!(calls, &expected, "sort={sort} with {doctors} doctors");
        }
    }
}

#[tokio::test]
async fn every_use_case_stays_within_its_call_budget_and_never_scans() {
    let backend = backends::dynamodb().await;
    let dynamo = backend.counter.clone().expect("counting DynamoDB client");
    let sqs_counter = OperationCounter::default();
    let (sqs, urls) = backends::sqs_queues(&sqs_counter).await;
    let clock = Arc::new(ManualClock::new(
        "2030-01-02T15:00:00Z".parse().expect("time"),
    ));
    let admin = citas_domain::Caller {
        subject: "budget".into(),
        country: &PERU,
        identity: citas_domain::Identity::Admin,
    };
    let services = Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store: backend.store.clone(),
        queue: Arc::new(SqsQueue::new(sqs, urls)),
        clock: clock.clone(),
        horizon: Default::default(),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut take = |counter: &OperationCounter| {
        let counts = counter.take();
        for (name, n) in &counts {
            *seen.entry(name.clone()).or_default() += n;
        }
        counts
    };

    // Two cardiologists with slots; set-up calls are not counted.
    let doctors: Vec<Doctor> = ["1", "2"]
        .iter()
        .map(|document| build::doctor(&PERU, "cardiologia", document))
        .collect();
    for doctor in &doctors {
        services.store.put_doctor(doctor).await.expect("doctor");
        for day in 4..=5 {
            let slot = build::slot(&doctor.id, date(2030, 3, day), time(9, 0, 0, 0));
            services.store.put_slot(&slot).await.expect("slot");
        }
    }
    take(&dynamo);

    for (n, document) in ["45678912", "70123456"].iter().enumerate() {
        let input = PatientRequest {
            document: (*document).into(),
            name: format!("Paciente {n}"),
            email: "p@example.pe".into(),
        }
        .try_into_domain(&PERU)
        .expect("input");
        use_cases::register_patient(&services, &admin, &PERU, input)
            .await
            .expect("patient");
        // The record is read first: an address it already verified stays verified.
        assert_eq!(ops(&take(&dynamo)), 2, "register a patient");
        let input = AppointmentRequest {
            document: (*document).into(),
            speciality: "Cardiología".into(),
        }
        .try_into_domain(&PERU)
        .expect("input");
        use_cases::create_appointment(&services, &admin, &PERU, input)
            .await
            .expect("create");
        let counts = take(&dynamo);
        assert!(ops(&counts) <= 2, "create: {counts:?}");
    }

    use_cases::get_appointment(
        &services,
        &admin,
        &PERU,
        &build::appointment_id(&PERU, "20300102-45678912"),
    )
    .await
    .expect("get");
    assert_eq!(ops(&take(&dynamo)), 1, "get");

    let list = |status: Option<&str>, document: Option<&str>, upcoming: bool| {
        ListQuery {
            status: status.map(str::to_owned),
            document: document.map(str::to_owned),
            upcoming: upcoming.then(|| "true".to_owned()),
            limit: Some("10".into()),
            cursor: None,
        }
        .try_into_domain(&PERU)
        .expect("list query")
    };
    let page = use_cases::list_appointments(
        &services,
        &admin,
        &PERU,
        list(Some("registered"), None, false),
    )
    .await
    .expect("list");
    assert_eq!(page.items.len(), 2);
    let counts = take(&dynamo);
    assert!(
        ops(&counts) <= STATUS_SHARDS as usize,
        "one query per status partition: {counts:?}"
    );
    use_cases::list_appointments(
        &services,
        &admin,
        &PERU,
        list(None, Some("45678912"), false),
    )
    .await
    .expect("list");
    assert_eq!(ops(&take(&dynamo)), 1, "a patient's list is one query");

    let given = build::slot(&doctors[1].id, date(2030, 3, 5), time(9, 0, 0, 0));
    use_cases::assign(
        &services,
        &admin,
        &PERU,
        &build::appointment_id(&PERU, "20300102-45678912"),
        Some(given.id.clone()),
    )
    .await
    .expect("assign");
    let counts = take(&dynamo);
    // The appointment, the slot, its doctor's name, one transaction.
    assert!(ops(&counts) <= 4, "assign to a given slot: {counts:?}");
    let upcoming =
        use_cases::list_appointments(&services, &admin, &PERU, list(None, Some("45678912"), true))
            .await
            .expect("upcoming");
    assert_eq!(upcoming.items.len(), 1, "the visit just booked");
    assert_eq!(
        ops(&take(&dynamo)),
        1,
        "a patient's visits to come are one query"
    );
    assert_eq!(
        sqs_counter.take_total(),
        0,
        "assigning calls no queue: the committed change is published from the history stream"
    );

    let auto = use_cases::assign(
        &services,
        &admin,
        &PERU,
        &build::appointment_id(&PERU, "20300102-70123456"),
        None,
    )
    .await
    .expect("auto-assign");
    assert_eq!(
        auto.starts_at(),
        Some("2030-03-04T14:00:00Z".parse().expect("time")),
        "the earliest slot"
    );
    let counts = take(&dynamo);
    // The appointment, one query of the free-slot index, the page's doctors, one transaction.
    assert_eq!(ops(&counts), 4, "auto-assign: {counts:?}");
    assert_eq!(
        sqs_counter.take_total(),
        0,
        "assigning calls no queue: the committed change is published from the history stream"
    );

    use_cases::notify(
        &services,
        &admin,
        &PERU,
        &build::appointment_id(&PERU, "20300102-45678912"),
    )
    .await
    .expect("notify");
    assert_eq!(
        ops(&take(&dynamo)),
        2,
        "notify reads the appointment and its patient's email once"
    );
    assert_eq!(
        sqs_counter.take(),
        BTreeMap::from([("SendMessage".to_owned(), 1)])
    );

    // Once the consultation has started.
    clock.set("2030-03-05T15:00:00Z".parse().expect("time"));
    use_cases::complete(
        &services,
        &admin,
        &PERU,
        &build::appointment_id(&PERU, "20300102-45678912"),
    )
    .await
    .expect("complete");
    assert!(ops(&take(&dynamo)) <= 2, "complete");
    let reason = "viaje".to_owned();
    use_cases::cancel(
        &services,
        &admin,
        &PERU,
        &build::appointment_id(&PERU, "20300102-70123456"),
        reason,
    )
    .await
    .expect("cancel");
    assert!(ops(&take(&dynamo)) <= 2, "cancel (and free the slot)");
    assert_eq!(
        sqs_counter.take_total(),
        0,
        "cancelling calls no queue either"
    );

    assert!(!seen.contains_key("Scan"), "no Scan ever: {seen:?}");
    assert!(
        seen.keys().all(|op| [
            "GetItem",
            "BatchGetItem",
            "PutItem",
            "UpdateItem",
            "Query",
            "TransactWriteItems"
        ]
        .contains(&op.as_str())),
        "{seen:?}"
    );
}

//! The doctor's side of scheduling through the use cases, on every backend
//! (the embedded store and DynamoDB on moto): plan → slots → search → book →
//! agenda, re-applying and changing plans, the daily horizon job, and
//! auto-assignment under contention.

mod backends;

use std::sync::Arc;

use backends::Backend;
use citas_domain::use_cases::{self, NewAppointment, NewDoctor, NewPatient, SlotQuery};
use citas_domain::{
    DoctorDocument, DomainError, EmailAddress, ManualClock, OfferedSpeciality, PERU, PageRequest,
    Services, SlotHorizon, Status, WorkingPlan,
};
use citas_e2e::build;
use futures::future::join_all;
use jiff::civil::{Weekday, date};

on_every_backend!(
    a_plan_becomes_slots_that_are_found_booked_and_shown_in_the_agenda,
    re_applying_a_plan_writes_nothing_and_a_changed_plan_keeps_booked_slots,
    the_daily_job_extends_every_open_plan_to_the_horizon,
    fifty_simultaneous_auto_assigns_all_succeed_on_distinct_slots,
    ten_simultaneous_plan_saves_leave_exactly_one_plans_slots,
    a_crowd_of_thirty_auto_assigns_spreads_over_the_earliest_slots,
);

/// Monday 2027-01-04, 08:00 in Lima.
const NOW: &str = "2027-01-04T13:00:00Z";

fn services(backend: &Backend, horizon_days: u16) -> (Services, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(build::at(NOW)));
    let services = Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store: backend.store.clone(),
        queue: Arc::new(citas_e2e::RecordingQueue::default()),
        clock: clock.clone(),
        horizon: SlotHorizon::days(horizon_days).expect("horizon"),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    };
    (services, clock)
}

use citas_e2e::callers::{admin, doctor as doctor_caller, patient as patient_caller};

async fn register_doctor(services: &Services, document: &str) -> citas_domain::Doctor {
    let (doctor, _) = use_cases::register_doctor(
        services,
        &admin(),
        &PERU,
        NewDoctor {
            document: DoctorDocument::parse(document).expect("document"),
            name: format!("Dra. {document}"),
            speciality: OfferedSpeciality::named("Cardiología").expect("speciality"),
            email: None,
            requires_confirmation: false,
            profile: Default::default(),
        },
    )
    .await
    .expect("doctor registered");
    doctor
}

/// A patient with a registered appointment for cardiology; returns its id.
async fn appointment_for(services: &Services, document: &str) -> citas_domain::AppointmentId {
    let document_value = PERU.parse_document(document).expect("document");
    use_cases::register_patient(
        services,
        &admin(),
        &PERU,
        NewPatient {
            document: document_value.clone(),
            name: format!("Paciente {document}"),
            email: EmailAddress::parse("p@example.pe").expect("email"),
        },
    )
    .await
    .expect("patient");
    use_cases::create_appointment(
        services,
        &admin(),
        &PERU,
        NewAppointment {
            document: document_value,
            speciality: build::speciality("cardiologia"),
        },
    )
    .await
    .expect("appointment")
    .id
}

fn mornings(weekdays: &[Weekday], from: &str, to: &str) -> WorkingPlan {
    let ranges: Vec<(Weekday, &str, &str)> = weekdays.iter().map(|d| (*d, from, to)).collect();
    build::plan(&ranges, "2027-01-04", Some("2027-12-31"))
}

fn search(from: Option<&str>, to: Option<&str>, limit: usize) -> SlotQuery {
    SlotQuery {
        modality: Default::default(),
        speciality: build::speciality("cardiologia"),
        from: from.map(|d| d.parse().expect("date")),
        to: to.map(|d| d.parse().expect("date")),
        doctor: None,
        page: PageRequest {
            limit,
            cursor: None,
        },
    }
}

async fn a_plan_becomes_slots_that_are_found_booked_and_shown_in_the_agenda(backend: &Backend) {
    let (services, _) = services(backend, 14);
    let doctor = register_doctor(&services, "1001").await;
    let id = doctor.id.clone();
    // The doctor sets their own plan: Mondays and Wednesdays 09:00–11:00.
    let plan = mornings(&[Weekday::Monday, Weekday::Wednesday], "09:00", "11:00");
    let applied = use_cases::set_availability(&services, &doctor_caller("1001"), &PERU, &id, plan)
        .await
        .expect("plan applied");
    // 14 days from Monday 4 January: four working days of four slots.
    assert_eq!((applied.added, applied.removed), (16, 0));
    assert_eq!(applied.availability.generated_until, date(2027, 1, 17));

    // A patient finds the first free slots, earliest first, with the doctor's name.
    let patient = patient_caller("45678912");
    let page = use_cases::search_slots(&services, &patient, &PERU, search(None, None, 3))
        .await
        .expect("search");
    let locals: Vec<_> = page.items.iter().map(|f| f.slot.local_start()).collect();
    assert_eq!(
        locals,
        [
            (date(2027, 1, 4), jiff::civil::time(9, 0, 0, 0)),
            (date(2027, 1, 4), jiff::civil::time(9, 30, 0, 0)),
            (date(2027, 1, 4), jiff::civil::time(10, 0, 0, 0)),
        ]
    );
    assert_eq!(
        page.items[0].doctor.as_ref().map(|d| d.name.as_str()),
        Some("Dra. 1001")
    );
    // A local-date window: Wednesday the 6th only.
    let wednesday = use_cases::search_slots(
        &services,
        &patient,
        &PERU,
        search(Some("2027-01-06"), Some("2027-01-06"), 100),
    )
    .await
    .expect("search");
    assert_eq!(wednesday.items.len(), 4);
    assert!(
        wednesday
            .items
            .iter()
            .all(|f| f.slot.local_start().0 == date(2027, 1, 6))
    );

    // The patient books the 09:30 slot.
    let appointment = appointment_for(&services, "45678912").await;
    let chosen = page.items[1].slot.id.clone();
    let booked = use_cases::assign(
        &services,
        &patient,
        &PERU,
        &appointment,
        Some(chosen.clone()),
    )
    .await
    .expect("booked");
    assert_eq!(booked.status, Status::Assigned);

    // It is no longer offered, and the doctor's agenda shows it with the patient.
    let after = use_cases::search_slots(&services, &patient, &PERU, search(None, None, 3))
        .await
        .expect("search");
    assert!(after.items.iter().all(|f| f.slot.id != chosen));
    let agenda = use_cases::agenda(
        &services,
        &doctor_caller("1001"),
        &PERU,
        &id,
        date(2027, 1, 4),
        date(2027, 1, 4),
    )
    .await
    .expect("agenda");
    assert_eq!(agenda.entries.len(), 4);
    let taken: Vec<_> = agenda
        .entries
        .iter()
        .filter_map(|e| {
            e.appointment
                .as_ref()
                .map(|a| (e.slot.id.clone(), a.patient_name.clone()))
        })
        .collect();
    assert_eq!(taken, [(chosen, "Paciente 45678912".to_owned())]);

    // Another doctor may neither read this agenda nor change this plan.
    let other = use_cases::agenda(
        &services,
        &doctor_caller("2002"),
        &PERU,
        &id,
        date(2027, 1, 4),
        date(2027, 1, 4),
    )
    .await;
    assert!(matches!(other, Err(DomainError::Denied(_))), "{other:?}");
}

async fn re_applying_a_plan_writes_nothing_and_a_changed_plan_keeps_booked_slots(
    backend: &Backend,
) {
    let (services, _) = services(backend, 14);
    let doctor = register_doctor(&services, "1001").await;
    let id = doctor.id.clone();
    let plan = mornings(&[Weekday::Monday, Weekday::Wednesday], "09:00", "11:00");
    use_cases::set_availability(&services, &admin(), &PERU, &id, plan.clone())
        .await
        .expect("plan");
    let (from, until) = (build::at(NOW), build::at("2027-01-20T00:00:00Z"));
    let stored_slots = || async {
        backend
            .store
            .doctor_slots(&doctor.id, from, until)
            .await
            .expect("slots")
    };
    let before = stored_slots().await;
    if let Some(counter) = &backend.counter {
        counter.take();
    }
    let again = use_cases::set_availability(&services, &admin(), &PERU, &id, plan)
        .await
        .expect("same plan");
    assert_eq!((again.added, again.removed), (0, 0));
    assert!(again.booked_outside_plan.is_empty());
    // Nothing of the slots was written: on DynamoDB no item write but the
    // plan's own updates was sent, and the same slots are stored.
    if let Some(counter) = &backend.counter {
        let calls = counter.take();
        let slot_writes: Vec<&String> = calls
            .keys()
            .filter(|operation| {
                [
                    "PutItem",
                    "DeleteItem",
                    "BatchWriteItem",
                    "TransactWriteItems",
                ]
                .contains(&operation.as_str())
            })
            .collect();
        assert!(slot_writes.is_empty(), "{calls:?}");
    }
    assert!(!before.is_empty());
    assert_eq!(stored_slots().await, before);

    // A patient books Wednesday 6 January 10:30.
    let appointment = appointment_for(&services, "45678912").await;
    let wednesday = use_cases::search_slots(
        &services,
        &admin(),
        &PERU,
        search(Some("2027-01-06"), Some("2027-01-06"), 10),
    )
    .await
    .expect("search");
    let booked = wednesday.items[3].slot.clone();
    use_cases::assign(
        &services,
        &admin(),
        &PERU,
        &appointment,
        Some(booked.id.clone()),
    )
    .await
    .expect("booked");

    // The doctor stops working Wednesdays: the four slots of each of the
    // two Wednesdays go but the booked one (seven), which stays and is reported.
    let changed = mornings(&[Weekday::Monday], "09:00", "11:00");
    let applied = use_cases::set_availability(&services, &admin(), &PERU, &id, changed.clone())
        .await
        .expect("changed plan");
    assert_eq!((applied.added, applied.removed), (0, 7));
    assert_eq!(
        applied
            .booked_outside_plan
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&booked.id)
    );
    assert_eq!(
        backend
            .store
            .get_slot(&booked.id)
            .await
            .expect("get")
            .map(|s| s.available),
        Some(false)
    );
    let stored = use_cases::get_availability(&services, &admin(), &PERU, &id)
        .await
        .expect("plan stored");
    assert_eq!(stored.plan, changed);
    // Longer mornings add only the new slots.
    let longer = mornings(&[Weekday::Monday], "09:00", "12:00");
    let applied = use_cases::set_availability(&services, &admin(), &PERU, &id, longer)
        .await
        .expect("longer plan");
    assert_eq!((applied.added, applied.removed), (4, 0));
}

async fn the_daily_job_extends_every_open_plan_to_the_horizon(backend: &Backend) {
    let (services, clock) = services(backend, 7);
    let doctor = register_doctor(&services, "1001").await;
    let every_day = build::plan(
        &[
            (Weekday::Monday, "09:00", "10:00"),
            (Weekday::Tuesday, "09:00", "10:00"),
            (Weekday::Wednesday, "09:00", "10:00"),
            (Weekday::Thursday, "09:00", "10:00"),
            (Weekday::Friday, "09:00", "10:00"),
            (Weekday::Saturday, "09:00", "10:00"),
            (Weekday::Sunday, "09:00", "10:00"),
        ],
        "2027-01-01",
        None,
    );
    let applied = use_cases::set_availability(&services, &admin(), &PERU, &doctor.id, every_day)
        .await
        .expect("plan");
    assert_eq!(applied.added, 7 * 2);
    // Nothing to do the same day; three days later, three more days.
    assert_eq!(
        use_cases::extend_horizons(&services, &PERU)
            .await
            .expect("job")
            .slots_added,
        0
    );
    clock.set(build::at("2027-01-07T06:00:00Z"));
    let report = use_cases::extend_horizons(&services, &PERU)
        .await
        .expect("job");
    assert_eq!((report.plans, report.slots_added), (1, 3 * 2));
    let stored = backend
        .store
        .get_availability(&doctor.id)
        .await
        .expect("get")
        .expect("plan");
    assert_eq!(stored.generated_until, date(2027, 1, 13));
    assert_eq!(
        use_cases::extend_horizons(&services, &PERU)
            .await
            .expect("job again")
            .slots_added,
        0,
        "running twice adds nothing"
    );
}

async fn fifty_simultaneous_auto_assigns_all_succeed_on_distinct_slots(backend: &Backend) {
    let (services, _) = services(backend, 14);
    // Three doctors with 20 free slots each: 60 for 50 requests.
    for document in ["1001", "1002", "1003"] {
        let doctor = register_doctor(&services, document).await;
        let plan = build::plan(
            &[
                (Weekday::Monday, "09:00", "14:00"),
                (Weekday::Tuesday, "09:00", "14:00"),
            ],
            "2027-01-04",
            Some("2027-01-05"),
        );
        use_cases::set_availability(&services, &admin(), &PERU, &doctor.id, plan)
            .await
            .expect("plan");
    }
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(appointment_for(&services, &format!("{}", 40_000_000 + n)).await);
    }
    let outcomes = join_all(ids.iter().map(|id| {
        let services = services.clone();
        async move { use_cases::assign(&services, &admin(), &PERU, id, None).await }
    }))
    .await;
    let mut slots = Vec::new();
    for outcome in outcomes {
        let appointment = outcome.expect("every auto-assign succeeds");
        slots.push(appointment.slot.expect("a slot").to_string());
    }
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), 50, "fifty distinct slots");
    // The next one takes one of the ten left; after those, there is none.
    for n in 0..10 {
        let id = appointment_for(&services, &format!("{}", 41_000_000 + n)).await;
        use_cases::assign(&services, &admin(), &PERU, &id, None)
            .await
            .expect("one of the last ten");
    }
    let id = appointment_for(&services, "42000000").await;
    assert!(matches!(
        use_cases::assign(&services, &admin(), &PERU, &id, None).await,
        Err(DomainError::NoSlotAvailable { .. })
    ));
}

/// The ids of the doctor's free slots from now on, and those the stored
/// plan has from now to the horizon: after any saves, the two are equal.
async fn free_and_planned(
    services: &Services,
    doctor: &citas_domain::DoctorId,
) -> (Vec<String>, Vec<String>, u32) {
    let now = services.clock.now();
    let today = PERU.local_date(now);
    let stored = services
        .store
        .get_availability(doctor)
        .await
        .expect("read")
        .expect("a plan is stored");
    let mut planned: Vec<String> = stored
        .plan
        .slots(doctor, today, services.horizon.end(today))
        .into_iter()
        .filter(|slot| slot.starts_at() > now)
        .map(|slot| slot.id.to_string())
        .collect();
    let mut free: Vec<String> = services
        .store
        .doctor_slots(
            doctor,
            now,
            now + jiff::SignedDuration::from_hours(24 * 400),
        )
        .await
        .expect("slots")
        .into_iter()
        .filter(|slot| slot.available)
        .map(|slot| slot.id.to_string())
        .collect();
    planned.sort();
    free.sort();
    (free, planned, stored.revision)
}

async fn ten_simultaneous_plan_saves_leave_exactly_one_plans_slots(backend: &Backend) {
    let (services, _) = services(backend, 14);
    let doctor = register_doctor(&services, "1001").await;
    let id = doctor.id.clone();
    // Ten different plans: two hours a morning, each an hour later than the one before.
    let plans: Vec<WorkingPlan> = (0..10u8)
        .map(|n| {
            mornings(
                &[Weekday::Monday, Weekday::Tuesday, Weekday::Thursday],
                &format!("{:02}:00", 7 + n),
                &format!("{:02}:00", 9 + n),
            )
        })
        .collect();
    // A new doctor's first plan, then an existing plan changed, ten at once each time.
    for round in 0..2 {
        let outcomes = join_all(plans.iter().map(|plan| {
            let (services, id, plan) = (services.clone(), id.clone(), plan.clone());
            tokio::spawn(async move {
                use_cases::set_availability(&services, &admin(), &PERU, &id, plan).await
            })
        }))
        .await;
        let outcomes: Vec<_> = outcomes
            .into_iter()
            .map(|joined| joined.expect("the save ran"))
            .collect();
        assert!(
            outcomes.iter().any(Result::is_ok),
            "round {round}: one save wins: {outcomes:?}"
        );
        assert!(
            outcomes
                .iter()
                .all(|o| o.is_ok() || matches!(o, Err(DomainError::PlanChanged))),
            "round {round}: the others are told the plan changed: {outcomes:?}"
        );
        let (free, planned, revision) = free_and_planned(&services, &doctor.id).await;
        assert!(!planned.is_empty());
        assert_eq!(
            free, planned,
            "round {round}: the free slots are the stored plan's"
        );
        let saved = outcomes.iter().filter(|o| o.is_ok()).count() as u32;
        assert!(
            revision >= saved,
            "round {round}: revision {revision} after {saved} saves"
        );
    }
}

async fn a_crowd_of_thirty_auto_assigns_spreads_over_the_earliest_slots(backend: &Backend) {
    let (services, _) = services(backend, 14);
    // Five doctors, 40 slots each in the week: 200 free slots for 30 requests.
    for document in ["2001", "2002", "2003", "2004", "2005"] {
        let doctor = register_doctor(&services, document).await;
        let plan = build::plan(
            &[
                (Weekday::Monday, "09:00", "13:00"),
                (Weekday::Tuesday, "09:00", "13:00"),
                (Weekday::Wednesday, "09:00", "13:00"),
                (Weekday::Thursday, "09:00", "13:00"),
                (Weekday::Friday, "09:00", "13:00"),
            ],
            "2027-01-04",
            Some("2027-01-08"),
        );
        use_cases::set_availability(&services, &admin(), &PERU, &doctor.id, plan)
            .await
            .expect("plan");
    }
    let earliest: Vec<String> =
        use_cases::search_slots(&services, &admin(), &PERU, search(None, None, 100))
            .await
            .expect("search")
            .items
            .into_iter()
            .map(|free| free.slot.id.to_string())
            .collect();
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(appointment_for(&services, &format!("{}", 43_000_000 + n)).await);
    }
    if let Some(counter) = &backend.counter {
        counter.take();
    }
    let outcomes = join_all(ids.iter().map(|id| {
        let (services, id) = (services.clone(), id.clone());
        tokio::spawn(async move { use_cases::assign(&services, &admin(), &PERU, &id, None).await })
    }))
    .await;
    let mut slots = Vec::new();
    for outcome in outcomes {
        let appointment = outcome.expect("ran").expect("every auto-assign succeeds");
        slots.push(appointment.slot.expect("a slot").to_string());
    }
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), 30, "thirty distinct slots");
    // The earliest are handed out first: all within the earliest 60 of 200.
    let late: Vec<&String> = slots
        .iter()
        .filter(|slot| !earliest[..60].contains(slot))
        .collect();
    assert!(late.is_empty(), "booked past the earliest 60: {late:?}");
    // The crowd's booking attempts grow with it, not with its square: about
    // three a request on average, six allowed for an unlucky draw (one slot
    // after another would take up to 30 a request, 465 in all).
    if let Some(counter) = &backend.counter {
        let attempts = counter
            .take()
            .get("TransactWriteItems")
            .copied()
            .unwrap_or(0);
        assert!(
            attempts <= 30 * 6,
            "{attempts} booking attempts for 30 requests"
        );
    }
}

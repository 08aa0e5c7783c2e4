//! One contract for the `Store` port, written once and run against every
//! backend: the embedded redb store and the DynamoDB adapter on moto (a real
//! AWS wire protocol server that `scripts/test` starts; `MOTO_ENDPOINT` says where).

mod backends;

use backends::Backend;
use citas_domain::ports::{
    Availability, ListFilter, PageRequest, PlanLease, SlotSearch, StoreError,
};
use citas_domain::{
    Actor, Appointment, AppointmentId, CHILE, Country, Doctor, EmailAddress, HistoryEntry,
    OfferedSpeciality, PERU, Patient, Slot, SlotChange, Status, Store, Transition, Upserted,
};
use citas_e2e::build;
use futures::future::join_all;
use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::civil::{date, time};

use cases::*;

on_every_backend!(
    patients_are_created_then_updated,
    a_second_appointment_with_the_same_id_is_rejected,
    concurrent_creates_of_one_id_have_one_winner,
    status_changes_are_conditional_on_the_current_status,
    booking_takes_the_slot_atomically_with_the_status_change,
    cancelling_gives_the_slot_back,
    fifty_concurrent_bookings_of_one_slot_have_one_winner,
    concurrent_status_changes_have_one_winner,
    lists_by_status_are_newest_first_across_pages,
    lists_by_document_and_by_assigned_day,
    cursors_only_work_for_their_own_list,
    doctors_by_speciality_and_country_in_pages,
    specialities_are_added_once_per_country,
    a_plan_is_kept_beside_its_doctor_and_listed_while_open,
    a_plan_is_saved_by_one_holder_at_a_time,
    adding_slots_leaves_taken_ids_alone_and_only_free_ones_are_removed,
    free_slot_pages_never_repeat_or_skip_a_slot,
    a_doctors_list_by_status_holds_only_their_appointments,
    a_change_and_its_history_entry_are_written_together,
    a_lapsed_claim_is_taken_over_once_then_settled_and_never_claimed_again,
    a_completed_claim_is_kept_from_its_completion_and_cannot_be_released,
);

pub fn id(country: &'static Country, raw: &str) -> AppointmentId {
    AppointmentId::parse(country, raw).expect("appointment id")
}

pub fn at(text: &str) -> Timestamp {
    build::at(text)
}

pub fn appointment(country: &'static Country, document: &str, created_at: &str) -> Appointment {
    build::appointment(country, document)
        .created_at(created_at)
        .patient_name("Paciente")
        .build()
}

pub fn doctor(country: &'static Country, speciality: &str, document: &str) -> Doctor {
    build::doctor(country, speciality, document)
}

pub fn slot(doctor: &Doctor, day: i8, hour: i8) -> Slot {
    build::slot(&doctor.id, date(2030, 3, day), time(hour, 0, 0, 0))
}

/// The appointment once booked on the slot (its next revision).
pub fn assigned(appointment: &Appointment, slot: &Slot, at_text: &str) -> Appointment {
    Appointment {
        status: Status::Assigned,
        slot: Some(slot.id.clone()),
        updated_at: at(at_text),
        revision: appointment.revision + 1,
        ..appointment.clone()
    }
}

/// A store-level change from `before` to `after`, as an entity would decide
/// it (the contract checks what stores do with it, not the status machine).
pub fn change(before: &Appointment, after: Appointment, slots: SlotChange) -> Transition {
    let revision = before.revision + 1;
    Transition {
        expected_meeting: before.meeting.as_ref().and_then(|m| m.session.clone()),
        expected: before.status,
        expected_revision: before.revision,
        slots,
        entry: HistoryEntry {
            revision,
            at: after.updated_at,
            by: Actor::system("contract"),
            from: Some(before.status),
            to: after.status,
            reason: after.cancel_reason.clone(),
            note: None,
            slot: after.slot.clone(),
            doctor_name: after.doctor_name.clone(),
            slot_minutes: before.slot_minutes,
            from_slot: before.slot.clone(),
        },
        appointment: Appointment { revision, ..after },
    }
}

pub fn booking(slot: &Slot) -> SlotChange {
    SlotChange {
        book: Some(slot.id.clone()),
        release: None,
    }
}

pub fn book(appointment: Appointment, slot: &Slot) -> Transition {
    change(
        &appointment,
        assigned(&appointment, slot, "2030-01-01T00:00:00Z"),
        booking(slot),
    )
}

mod cases {
    use super::*;

    pub async fn patients_are_created_then_updated(backend: &Backend) {
        let store = &backend.store;
        let mut patient = Patient {
            document: CHILE.parse_document("12345678-5").expect("RUT"),
            name: "Valentina".into(),
            email: Some(EmailAddress::parse("v@example.cl").expect("email")),
            email_verified: true,
            verification: None,
        };
        assert_eq!(
            store.upsert_patient(&CHILE, &patient).await,
            Ok(citas_domain::Upserted::Created)
        );
        patient.name = "Valentina Fuentes".into();
        assert_eq!(
            store.upsert_patient(&CHILE, &patient).await,
            Ok(citas_domain::Upserted::Updated)
        );
        assert_eq!(
            store
                .get_patient(&CHILE, &CHILE.parse_document("12345678-5").expect("RUT"))
                .await,
            Ok(Some(patient))
        );
        // Countries are separate tables.
        assert_eq!(
            store
                .get_patient(&PERU, &CHILE.parse_document("12345678-5").expect("RUT"))
                .await,
            Ok(None)
        );
    }

    pub async fn a_second_appointment_with_the_same_id_is_rejected(backend: &Backend) {
        let store = &backend.store;
        let first = appointment(&PERU, "45678912", "2030-01-02T15:00:00Z");
        store
            .insert_appointment(&first)
            .await
            .expect("first insert");
        let mut second = first.clone();
        second.speciality = build::speciality("pediatria");
        assert_eq!(
            store.insert_appointment(&second).await,
            Err(StoreError::AlreadyExists {
                existing_id: first.id.to_string()
            })
        );
        assert_eq!(
            store.get_appointment(&PERU, &first.id).await,
            Ok(Some(first))
        );
        assert_eq!(
            store
                .get_appointment(&PERU, &id(&PERU, "20300102-00000000"))
                .await,
            Ok(None)
        );
    }

    pub async fn concurrent_creates_of_one_id_have_one_winner(backend: &Backend) {
        let store = &backend.store;
        let attempts = (0..20).map(|n| {
            let mut candidate = appointment(&PERU, "45678912", "2030-01-02T15:00:00Z");
            candidate.speciality = build::speciality(&format!("speciality-{n}"));
            async move { store.insert_appointment(&candidate).await }
        });
        let results = join_all(attempts).await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .filter(|r| r.is_err())
                .all(|r| matches!(r, Err(StoreError::AlreadyExists { .. })))
        );
    }

    pub async fn status_changes_are_conditional_on_the_current_status(backend: &Backend) {
        let store = &backend.store;
        let registered = appointment(&PERU, "45678912", "2030-01-02T15:00:00Z");
        store.insert_appointment(&registered).await.expect("insert");
        let cancel = change(
            &registered,
            Appointment {
                status: Status::Cancelled,
                cancel_reason: Some("viaje".into()),
                ..registered.clone()
            },
            SlotChange::default(),
        );
        // Expecting the wrong status fails and names the stored one.
        let wrong = Transition {
            expected: Status::Assigned,
            ..cancel.clone()
        };
        // So does expecting another revision (someone changed it meanwhile).
        let stale = Transition {
            expected_revision: registered.revision + 5,
            ..cancel.clone()
        };
        assert_eq!(
            store.transition(&stale).await,
            Err(StoreError::StatusConflict {
                current: Status::Registered
            })
        );
        assert_eq!(
            store.transition(&wrong).await,
            Err(StoreError::StatusConflict {
                current: Status::Registered
            })
        );
        assert_eq!(store.transition(&cancel).await, Ok(()));
        assert_eq!(
            store.transition(&cancel).await,
            Err(StoreError::StatusConflict {
                current: Status::Cancelled
            })
        );
        let stored = store
            .get_appointment(&PERU, &registered.id)
            .await
            .expect("get");
        assert_eq!(
            stored.map(|a| (a.status, a.cancel_reason)),
            Some((Status::Cancelled, Some("viaje".into())))
        );
        let missing = Transition {
            appointment: appointment(&PERU, "70123456", "2030-01-02T15:00:00Z"),
            ..cancel
        };
        assert_eq!(store.transition(&missing).await, Err(StoreError::NotFound));
    }

    pub async fn booking_takes_the_slot_atomically_with_the_status_change(backend: &Backend) {
        let store = &backend.store;
        let cardiologist = doctor(&PERU, "cardiologia", "1");
        let slot = slot(&cardiologist, 4, 9);
        store.put_slot(&slot).await.expect("slot");
        let first = appointment(&PERU, "45678912", "2030-01-02T15:00:00Z");
        let second = appointment(&PERU, "70123456", "2030-01-02T15:00:00Z");
        for a in [&first, &second] {
            store.insert_appointment(a).await.expect("insert");
        }
        // A booking whose status condition fails leaves the slot free.
        let stale = Transition {
            expected: Status::Assigned,
            ..book(first.clone(), &slot)
        };
        assert_eq!(
            store.transition(&stale).await,
            Err(StoreError::StatusConflict {
                current: Status::Registered
            })
        );
        assert_eq!(
            store
                .get_slot(&slot.id)
                .await
                .expect("get")
                .map(|s| s.available),
            Some(true)
        );

        assert_eq!(store.transition(&book(first.clone(), &slot)).await, Ok(()));
        assert_eq!(
            store
                .get_slot(&slot.id)
                .await
                .expect("get")
                .map(|s| s.available),
            Some(false)
        );
        let stored = store
            .get_appointment(&PERU, &first.id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            (stored.status, stored.slot.as_ref()),
            (Status::Assigned, Some(&slot.id))
        );

        // The slot is gone for anyone else, and the loser's appointment is untouched.
        assert_eq!(
            store.transition(&book(second.clone(), &slot)).await,
            Err(StoreError::SlotUnavailable(slot.id.to_string()))
        );
        assert_eq!(
            store.get_appointment(&PERU, &second.id).await,
            Ok(Some(second))
        );
        assert_eq!(free_slots(store.as_ref(), &cardiologist, None).await, []);
    }

    pub async fn cancelling_gives_the_slot_back(backend: &Backend) {
        let store = &backend.store;
        let cardiologist = doctor(&PERU, "cardiologia", "1");
        let slot = slot(&cardiologist, 4, 9);
        store.put_slot(&slot).await.expect("slot");
        let registered = appointment(&PERU, "45678912", "2030-01-02T15:00:00Z");
        store.insert_appointment(&registered).await.expect("insert");
        let booking = book(registered, &slot);
        store.transition(&booking).await.expect("booked");
        let cancel = change(
            &booking.appointment,
            Appointment {
                status: Status::Cancelled,
                cancel_reason: Some("enfermedad".into()),
                ..booking.appointment.clone()
            },
            SlotChange {
                book: None,
                release: Some(slot.id.clone()),
            },
        );
        assert_eq!(store.transition(&cancel).await, Ok(()));
        assert_eq!(
            store
                .get_slot(&slot.id)
                .await
                .expect("get")
                .map(|s| s.available),
            Some(true)
        );
        assert_eq!(
            free_slots(store.as_ref(), &cardiologist, None).await,
            std::slice::from_ref(&slot.id),
            "free again, and found again by the speciality's search"
        );
    }

    pub async fn fifty_concurrent_bookings_of_one_slot_have_one_winner(backend: &Backend) {
        let store = &backend.store;
        let cardiologist = doctor(&PERU, "cardiologia", "1");
        let slot = slot(&cardiologist, 4, 9);
        store.put_slot(&slot).await.expect("slot");
        let mut appointments = Vec::new();
        for n in 0..50 {
            let a = appointment(
                &PERU,
                &format!("{}", 50_000_000 + n),
                "2030-01-02T15:00:00Z",
            );
            store.insert_appointment(&a).await.expect("insert");
            appointments.push(a);
        }
        let results = join_all(appointments.iter().map(|a| {
            let transition = book(a.clone(), &slot);
            async move { store.transition(&transition).await }
        }))
        .await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert_eq!(
            results
                .iter()
                .filter(|r| **r == Err(StoreError::SlotUnavailable(slot.id.to_string())))
                .count(),
            49,
            "{results:?}"
        );
        let mut holders = 0;
        for a in &appointments {
            let stored = store
                .get_appointment(&PERU, &a.id)
                .await
                .expect("get")
                .expect("exists");
            if stored.status == Status::Assigned {
                holders += 1;
            }
        }
        assert_eq!(holders, 1);
    }

    pub async fn concurrent_status_changes_have_one_winner(backend: &Backend) {
        let store = &backend.store;
        let registered = appointment(&CHILE, "12345678-5", "2030-01-02T15:00:00Z");
        store.insert_appointment(&registered).await.expect("insert");
        let results = join_all((0..20).map(|n| {
            let transition = change(
                &registered,
                Appointment {
                    status: Status::Cancelled,
                    cancel_reason: Some(format!("reason {n}")),
                    ..registered.clone()
                },
                SlotChange::default(),
            );
            async move { store.transition(&transition).await }
        }))
        .await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert_eq!(
            results
                .iter()
                .filter(|r| **r
                    == Err(StoreError::StatusConflict {
                        current: Status::Cancelled
                    }))
                .count(),
            19,
            "{results:?}"
        );
    }

    async fn walk(
        store: &dyn Store,
        country: &'static Country,
        filter: &ListFilter,
        limit: usize,
    ) -> (Vec<String>, usize) {
        let mut ids = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = store
                .list_appointments(
                    country,
                    filter,
                    &PageRequest {
                        limit,
                        cursor: cursor.clone(),
                    },
                )
                .await
                .expect("page");
            pages += 1;
            assert!(page.items.len() <= limit);
            ids.extend(page.items.into_iter().map(|a| a.id.to_string()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return (ids, pages),
            }
            assert!(pages < 50, "pagination does not end");
        }
    }

    pub async fn lists_by_status_are_newest_first_across_pages(backend: &Backend) {
        let store = &backend.store;
        let mut expected = Vec::new();
        for n in 0..11 {
            let a = appointment(
                &PERU,
                &format!("{}", 40_000_000 + n),
                &format!("2030-01-02T15:{:02}:00Z", n),
            );
            store.insert_appointment(&a).await.expect("insert");
            expected.push(a.id.to_string());
        }
        // Same created_at for two: ties still come out exactly once.
        let twin = appointment(&PERU, "49999999", "2030-01-02T15:05:00Z");
        store.insert_appointment(&twin).await.expect("insert");
        expected.reverse();
        let (ids, pages) = walk(
            store.as_ref(),
            &PERU,
            &ListFilter::Status(Status::Registered),
            4,
        )
        .await;
        let mut sorted_ids = ids.clone();
        sorted_ids.sort();
        sorted_ids.dedup();
        assert_eq!(
            sorted_ids.len(),
            12,
            "no duplicates, nothing missing: {ids:?}"
        );
        let without_twin: Vec<String> = ids
            .iter()
            .filter(|id| **id != twin.id.to_string())
            .cloned()
            .collect();
        assert_eq!(without_twin, expected);
        assert!((3..=4).contains(&pages), "{pages} pages");
        let (all_at_once, _) = walk(
            store.as_ref(),
            &PERU,
            &ListFilter::Status(Status::Registered),
            100,
        )
        .await;
        assert_eq!(all_at_once.len(), 12);
        let (none, pages) = walk(
            store.as_ref(),
            &PERU,
            &ListFilter::Status(Status::Assigned),
            10,
        )
        .await;
        assert_eq!((none.len(), pages), (0, 1));
        let (chile, _) = walk(
            store.as_ref(),
            &CHILE,
            &ListFilter::Status(Status::Registered),
            10,
        )
        .await;
        assert!(chile.is_empty());
    }

    pub async fn lists_by_document_and_by_assigned_day(backend: &Backend) {
        let store = &backend.store;
        let cardiologist = doctor(&CHILE, "cardiologia", "1");
        let mut ids = Vec::new();
        for day in 1..=3 {
            let a = appointment(&CHILE, "12345678-5", &format!("2030-01-0{day}T15:00:00Z"));
            store.insert_appointment(&a).await.expect("insert");
            ids.push(a);
        }
        let other = appointment(&CHILE, "11111111-1", "2030-01-02T15:00:00Z");
        store.insert_appointment(&other).await.expect("insert");
        let (mine, _) = walk(
            store.as_ref(),
            &CHILE,
            &ListFilter::Document(CHILE.parse_document("12345678-5").expect("RUT")),
            2,
        )
        .await;
        assert_eq!(
            mine,
            [
                "20300103-12345678-5",
                "20300102-12345678-5",
                "20300101-12345678-5"
            ]
        );

        // Slots at 23:30 and 00:30 local (Santiago, summer time) fall on different days.
        let late = build::slot(&cardiologist.id, date(2030, 3, 4), time(23, 30, 0, 0));
        let early = build::slot(&cardiologist.id, date(2030, 3, 5), time(0, 30, 0, 0));
        let noon = build::slot(&cardiologist.id, date(2030, 3, 4), time(12, 0, 0, 0));
        let pairs = [(&ids[0], &late), (&ids[1], &early), (&other, &noon)];
        for (a, s) in pairs {
            store.put_slot(s).await.expect("slot");
            let transition = Transition {
                ..book(a.clone(), s)
            };
            store.transition(&transition).await.expect("booked");
        }
        let (fourth, _) = walk(
            store.as_ref(),
            &CHILE,
            &ListFilter::AssignedOn(date(2030, 3, 4)),
            1,
        )
        .await;
        assert_eq!(
            fourth,
            [other.id.to_string(), ids[0].id.to_string()],
            "earliest first"
        );
        let (fifth, _) = walk(
            store.as_ref(),
            &CHILE,
            &ListFilter::AssignedOn(date(2030, 3, 5)),
            10,
        )
        .await;
        assert_eq!(fifth, [ids[1].id.to_string()]);
        // Once no longer assigned, an appointment leaves the day's list.
        let before = assigned(&ids[1], &early, "2030-03-05T12:00:00Z");
        let done = change(
            &before,
            Appointment {
                status: Status::Completed,
                ..before.clone()
            },
            SlotChange::default(),
        );
        store.transition(&done).await.expect("completed");
        let (fifth, _) = walk(
            store.as_ref(),
            &CHILE,
            &ListFilter::AssignedOn(date(2030, 3, 5)),
            10,
        )
        .await;
        assert!(fifth.is_empty());
    }

    pub async fn cursors_only_work_for_their_own_list(backend: &Backend) {
        let store = &backend.store;
        for n in 0..3 {
            let a = appointment(
                &PERU,
                &format!("{}", 40_000_000 + n),
                &format!("2030-01-02T15:0{n}:00Z"),
            );
            store.insert_appointment(&a).await.expect("insert");
        }
        let first = store
            .list_appointments(
                &PERU,
                &ListFilter::Status(Status::Registered),
                &PageRequest {
                    limit: 1,
                    cursor: None,
                },
            )
            .await
            .expect("page");
        let cursor = first.next_cursor.expect("more pages");
        let reuse = |filter: ListFilter, country: &'static Country, cursor: String| {
            let store = store.clone();
            async move {
                store
                    .list_appointments(
                        country,
                        &filter,
                        &PageRequest {
                            limit: 1,
                            cursor: Some(cursor),
                        },
                    )
                    .await
            }
        };
        assert_eq!(
            reuse(ListFilter::Status(Status::Assigned), &PERU, cursor.clone()).await,
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            reuse(
                ListFilter::Status(Status::Registered),
                &CHILE,
                cursor.clone()
            )
            .await,
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            reuse(
                ListFilter::Document(PERU.parse_document("40000000").expect("DNI")),
                &PERU,
                cursor.clone()
            )
            .await,
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            reuse(
                ListFilter::Status(Status::Registered),
                &PERU,
                "bm90IGEgY3Vyc29y".into()
            )
            .await,
            Err(StoreError::InvalidCursor)
        );
        let next = reuse(ListFilter::Status(Status::Registered), &PERU, cursor)
            .await
            .expect("page");
        assert_eq!(next.items.len(), 1);
    }

    pub async fn doctors_by_speciality_and_country_in_pages(backend: &Backend) {
        let store = &backend.store;
        let wanted: Vec<Doctor> = (1..=5)
            .map(|n| doctor(&PERU, "cardiologia", &n.to_string()))
            .collect();
        for d in wanted.iter().chain([
            &doctor(&CHILE, "cardiologia", "6"),
            &doctor(&PERU, "pediatria", "7"),
        ]) {
            assert_eq!(store.put_doctor(d).await, Ok(Upserted::Created));
        }
        let renamed = Doctor {
            name: "Dra. Cinco".into(),
            email: Some(EmailAddress::parse("cinco@example.pe").expect("email")),
            ..wanted[4].clone()
        };
        assert_eq!(store.put_doctor(&renamed).await, Ok(Upserted::Updated));
        let mut found = Vec::new();
        let mut cursor = None;
        for _ in 0..10 {
            let page = store
                .list_doctors(
                    &PERU,
                    &build::speciality("cardiologia"),
                    &PageRequest { limit: 2, cursor },
                )
                .await
                .expect("page");
            assert!(page.items.len() <= 2);
            found.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        found.sort_by_key(|d| d.id.to_string());
        let mut expected = wanted.clone();
        expected[4] = renamed.clone();
        assert_eq!(found, expected, "every doctor once, the update kept");
        assert_eq!(
            store
                .get_doctors(&[
                    renamed.id.clone(),
                    build::doctor_id(&PERU, "pediatria", "7"),
                    build::doctor_id(&PERU, "pediatria", "99")
                ])
                .await
                .map(|d| d.len()),
            Ok(2),
            "a batch read leaves missing doctors out"
        );
        assert_eq!(
            store
                .list_doctors(
                    &CHILE,
                    &build::speciality("pediatria"),
                    &PageRequest {
                        limit: 5,
                        cursor: None
                    }
                )
                .await
                .map(|p| p.items),
            Ok(Vec::new())
        );
    }

    pub async fn specialities_are_added_once_per_country(backend: &Backend) {
        let store = &backend.store;
        let sports = OfferedSpeciality::named("Medicina deportiva").expect("speciality");
        store.add_speciality(&PERU, &sports).await.expect("added");
        let renamed = OfferedSpeciality {
            name: "Otro nombre".into(),
            ..sports.clone()
        };
        store.add_speciality(&PERU, &renamed).await.expect("no-op");
        assert_eq!(store.added_specialities(&PERU).await, Ok(vec![sports]));
        assert_eq!(store.added_specialities(&CHILE).await, Ok(Vec::new()));
    }

    pub async fn a_plan_is_kept_beside_its_doctor_and_listed_while_open(backend: &Backend) {
        let store = &backend.store;
        let cardiologist = doctor(&PERU, "cardiologia", "1");
        let now = at("2030-01-01T12:00:00Z");
        let open = Availability {
            plan: build::plan(&[(Weekday::Monday, "09:00", "13:00")], "2030-01-07", None),
            generated_until: date(2030, 2, 1),
            revision: 1,
        };
        let first = PlanLease::new(0, now);
        assert_eq!(
            store.lease_plan(&cardiologist.id, &first, now).await,
            Err(StoreError::NotFound),
            "no plan without a doctor"
        );
        store.put_doctor(&cardiologist).await.expect("doctor");
        store
            .lease_plan(&cardiologist.id, &first, now)
            .await
            .expect("held");
        store
            .put_availability(&cardiologist.id, &open, &first)
            .await
            .expect("plan");
        // Updating the doctor keeps the plan.
        store.put_doctor(&cardiologist).await.expect("doctor again");
        assert_eq!(
            store.get_availability(&cardiologist.id).await,
            Ok(Some(open.clone()))
        );
        let due = |through| store.availability_due(&PERU, through, 10);
        assert_eq!(
            due(date(2030, 2, 2)).await,
            Ok(vec![(cardiologist.id.clone(), open.clone())])
        );
        assert_eq!(
            due(date(2030, 2, 1)).await,
            Ok(Vec::new()),
            "generated far enough"
        );
        assert_eq!(
            store.availability_due(&CHILE, date(2031, 1, 1), 10).await,
            Ok(Vec::new())
        );
        // A plan generated to its last day is done.
        let ended = Availability {
            plan: build::plan(
                &[(Weekday::Monday, "09:00", "13:00")],
                "2030-01-07",
                Some("2030-01-31"),
            ),
            generated_until: date(2030, 1, 31),
            revision: 2,
        };
        let second = PlanLease::new(1, now);
        store
            .lease_plan(&cardiologist.id, &second, now)
            .await
            .expect("held");
        store
            .put_availability(&cardiologist.id, &ended, &second)
            .await
            .expect("plan");
        assert_eq!(due(date(2031, 1, 1)).await, Ok(Vec::new()));
        assert_eq!(
            store.get_availability(&cardiologist.id).await,
            Ok(Some(ended))
        );
    }

    pub async fn a_plan_is_saved_by_one_holder_at_a_time(backend: &Backend) {
        let store = &backend.store;
        let cardiologist = doctor(&PERU, "cardiologia", "1");
        store.put_doctor(&cardiologist).await.expect("doctor");
        let now = at("2030-01-01T12:00:00Z");
        let plan = |until: i8| Availability {
            plan: build::plan(&[(Weekday::Monday, "09:00", "13:00")], "2030-01-07", None),
            generated_until: date(2030, 2, until),
            revision: 1,
        };
        // Ten saves read "no plan" at once: one holds it, the others are refused.
        let leases: Vec<PlanLease> = (0..10).map(|_| PlanLease::new(0, now)).collect();
        let held = join_all(
            leases
                .iter()
                .map(|lease| store.lease_plan(&cardiologist.id, lease, now)),
        )
        .await;
        let winners: Vec<&PlanLease> = leases
            .iter()
            .zip(&held)
            .filter(|(_, held)| held.is_ok())
            .map(|(lease, _)| lease)
            .collect();
        assert_eq!(winners.len(), 1, "{held:?}");
        assert!(
            held.iter()
                .all(|h| h.is_ok() || *h == Err(StoreError::PlanChanged))
        );
        // Only the holder stores; a refused one cannot.
        let loser = leases
            .iter()
            .find(|l| l.token != winners[0].token)
            .expect("a loser");
        assert_eq!(
            store
                .put_availability(&cardiologist.id, &plan(1), loser)
                .await,
            Err(StoreError::PlanChanged)
        );
        store
            .put_availability(&cardiologist.id, &plan(1), winners[0])
            .await
            .expect("stored");
        // The hold is given up with the store; a save that read before it is refused.
        assert_eq!(
            store.lease_plan(&cardiologist.id, loser, now).await,
            Err(StoreError::PlanChanged),
            "it read revision 0; the plan is at 1"
        );
        let next = PlanLease::new(1, now);
        store
            .lease_plan(&cardiologist.id, &next, now)
            .await
            .expect("the next save holds it");
        // A holder that died is overtaken once its hold lapses.
        let overtaking = PlanLease::new(1, next.until);
        assert_eq!(
            store
                .lease_plan(
                    &cardiologist.id,
                    &overtaking,
                    next.until - jiff::SignedDuration::from_secs(1)
                )
                .await,
            Err(StoreError::PlanChanged)
        );
        store
            .lease_plan(&cardiologist.id, &overtaking, next.until)
            .await
            .expect("lapsed hold overtaken");
        assert_eq!(
            store
                .put_availability(&cardiologist.id, &plan(2), &next)
                .await,
            Err(StoreError::PlanChanged),
            "the dead holder's late save is refused"
        );
        store
            .put_availability(
                &cardiologist.id,
                &Availability {
                    revision: 2,
                    ..plan(3)
                },
                &overtaking,
            )
            .await
            .expect("stored");
        assert_eq!(
            store
                .get_availability(&cardiologist.id)
                .await
                .expect("read")
                .map(|a| (a.revision, a.generated_until)),
            Some((2, date(2030, 2, 3)))
        );
    }

    pub async fn adding_slots_leaves_taken_ids_alone_and_only_free_ones_are_removed(
        backend: &Backend,
    ) {
        let store = &backend.store;
        let cardiologist = doctor(&PERU, "cardiologia", "1");
        let slots: Vec<Slot> = [9, 10, 11]
            .iter()
            .map(|&h| slot(&cardiologist, 4, h))
            .collect();
        let registered = appointment(&PERU, "45678912", "2030-01-02T15:00:00Z");
        store.put_slot(&slots[0]).await.expect("slot");
        store.insert_appointment(&registered).await.expect("insert");
        store
            .transition(&book(registered.clone(), &slots[0]))
            .await
            .expect("booked");
        assert_eq!(
            store.add_slots(&slots).await,
            Ok(2),
            "the booked one is not overwritten"
        );
        let booked = store
            .get_slot(&slots[0].id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            (booked.available, booked.booked_by),
            (false, Some(registered.id.clone()))
        );
        assert_eq!(
            store.add_slots(&slots).await,
            Ok(0),
            "adding again adds nothing"
        );
        assert_eq!(
            store.remove_free_slot(&slots[0].id).await,
            Err(StoreError::SlotUnavailable(slots[0].id.to_string()))
        );
        assert_eq!(store.remove_free_slot(&slots[1].id).await, Ok(()));
        assert_eq!(
            store.remove_free_slot(&slots[1].id).await,
            Err(StoreError::NotFound)
        );
        let day = store
            .doctor_slots(
                &cardiologist.id,
                at("2030-03-04T00:00:00Z"),
                at("2030-03-05T00:00:00Z"),
            )
            .await
            .expect("day");
        assert_eq!(
            day.iter()
                .map(|s| (s.id.clone(), s.available))
                .collect::<Vec<_>>(),
            [(slots[0].id.clone(), false), (slots[2].id.clone(), true)]
        );
        assert_eq!(
            free_slots(store.as_ref(), &cardiologist, None).await,
            [slots[2].id.clone()]
        );
        assert_eq!(
            store
                .get_appointments(
                    &PERU,
                    &[registered.id.clone(), id(&PERU, "20300102-70123456")]
                )
                .await
                .map(|a| a.len()),
            Ok(1)
        );
    }

    pub async fn free_slot_pages_never_repeat_or_skip_a_slot(backend: &Backend) {
        let store = &backend.store;
        // Five cardiologists, each with slots on three days, some taken; a
        // pediatrician and a Chilean cardiologist whose slots must not show.
        let mut expected = Vec::new();
        let mut mine = Vec::new();
        for n in 1..=5 {
            let cardiologist = doctor(&PERU, "cardiologia", &n.to_string());
            for day in [4, 5, 6] {
                for hour in [9, 10, 11] {
                    let s = slot(&cardiologist, day, hour + (n % 2));
                    let taken = (day + hour + n) % 4 == 0;
                    store
                        .put_slot(&Slot {
                            available: !taken,
                            ..s.clone()
                        })
                        .await
                        .expect("slot");
                    if !taken {
                        expected.push((s.starts_at(), s.id.to_string()));
                        if n == 3 {
                            mine.push(s.id.clone());
                        }
                    }
                }
            }
        }
        store
            .put_slot(&slot(&doctor(&PERU, "pediatria", "9"), 4, 9))
            .await
            .expect("slot");
        store
            .put_slot(&slot(&doctor(&CHILE, "cardiologia", "9"), 4, 9))
            .await
            .expect("slot");
        expected.sort();
        let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
        let search = SlotSearch {
            modality: Default::default(),
            country: &PERU,
            speciality: build::speciality("cardiologia"),
            doctor: None,
            from: at("2030-01-01T00:00:00Z"),
            until: at("2030-12-31T00:00:00Z"),
        };
        let walked = walk_slots(store.as_ref(), &search, 4).await;
        assert_eq!(walked, expected, "earliest first, each free slot once");
        // One doctor's slots, booked ones left out, pages of any size.
        let one = SlotSearch {
            doctor: Some(build::doctor_id(&PERU, "cardiologia", "3")),
            ..search.clone()
        };
        let walked = walk_slots(store.as_ref(), &one, 2).await;
        assert_eq!(
            walked,
            mine.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        // A window: only slots starting in [from, until).
        let window = SlotSearch {
            from: at("2030-03-05T00:00:00Z"),
            until: at("2030-03-06T00:00:00Z"),
            ..search.clone()
        };
        let walked = walk_slots(store.as_ref(), &window, 100).await;
        assert!(!walked.is_empty());
        assert!(walked.iter().all(|id| {
            let at = citas_domain::SlotId::parse(id).expect("id").starts_at;
            at >= window.from && at < window.until
        }));
        // A cursor belongs to its search.
        let first = store
            .free_slots(
                &search,
                &PageRequest {
                    limit: 1,
                    cursor: None,
                },
            )
            .await
            .expect("page");
        assert_eq!(
            store
                .free_slots(
                    &window,
                    &PageRequest {
                        limit: 1,
                        cursor: first.next_cursor
                    }
                )
                .await,
            Err(StoreError::InvalidCursor)
        );
    }

    /// A doctor's list by status is real pages of their own appointments, newest
    /// first, and follows each appointment's status.
    pub async fn a_doctors_list_by_status_holds_only_their_appointments(backend: &Backend) {
        let store = &backend.store;
        let mine = doctor(&PERU, "cardiologia", "1");
        let theirs = doctor(&PERU, "cardiologia", "2");
        let documents = ["45678912", "70123456", "41234567", "40000001", "40000002"];
        let mut booked = Vec::new();
        for (n, document) in documents.iter().enumerate() {
            let owner = if n % 2 == 0 { &mine } else { &theirs };
            let s = slot(owner, 4, 8 + n as i8);
            store.put_slot(&s).await.expect("slot");
            let a = appointment(&PERU, document, &format!("2030-01-0{}T15:00:00Z", n + 1));
            store.insert_appointment(&a).await.expect("insert");
            store
                .transition(&book(a.clone(), &s))
                .await
                .expect("booked");
            booked.push((owner.id.clone(), a));
        }
        let filter = ListFilter::DoctorStatus(mine.id.document.clone(), Status::Assigned);
        let (ids, pages) = walk(store.as_ref(), &PERU, &filter, 2).await;
        // Created on the 1st, 3rd and 5th of January: newest first, none of theirs.
        assert_eq!(
            ids,
            [
                "20300105-40000002",
                "20300103-41234567",
                "20300101-45678912"
            ]
        );
        assert!(pages >= 2, "pages of two");
        // Cancelling one moves it out of the assigned list and into the cancelled one.
        let (_, first) = &booked[0];
        let before = assigned(first, &slot(&mine, 4, 8), "2030-01-01T00:00:00Z");
        let cancel = change(
            &before,
            Appointment {
                status: Status::Cancelled,
                ..before.clone()
            },
            SlotChange::default(),
        );
        store.transition(&cancel).await.expect("cancelled");
        let (after, _) = walk(store.as_ref(), &PERU, &filter, 10).await;
        assert_eq!(after.len(), 2);
        assert!(!after.contains(&first.id.to_string()));
        let cancelled = ListFilter::DoctorStatus(mine.id.document.clone(), Status::Cancelled);
        let (gone, _) = walk(store.as_ref(), &PERU, &cancelled, 10).await;
        assert_eq!(gone, [first.id.to_string()]);
    }

    pub async fn a_change_and_its_history_entry_are_written_together(backend: &Backend) {
        let store = &backend.store;
        let cardiologist = doctor(&PERU, "cardiologia", "1");
        let (first, second) = (slot(&cardiologist, 4, 9), slot(&cardiologist, 4, 10));
        for s in [&first, &second] {
            store.put_slot(s).await.expect("slot");
        }
        let registered = appointment(&PERU, "45678912", "2030-01-02T15:00:00Z");
        let (ana, jose) = (
            registered.clone(),
            appointment(&PERU, "70123456", "2030-01-02T15:00:00Z"),
        );
        store.insert_appointment(&ana).await.expect("insert");
        store.insert_appointment(&jose).await.expect("insert");
        let booking = book(ana.clone(), &first);
        store.transition(&booking).await.expect("booked");
        store
            .transition(&book(jose.clone(), &second))
            .await
            .expect("booked");
        // A move onto a taken slot fails as a whole: no entry, nothing moved.
        let moved = |to: &Slot| {
            change(
                &booking.appointment,
                Appointment {
                    slot: Some(to.id.clone()),
                    ..booking.appointment.clone()
                },
                SlotChange {
                    book: Some(to.id.clone()),
                    release: Some(first.id.clone()),
                },
            )
        };
        assert_eq!(
            store.transition(&moved(&second)).await,
            Err(StoreError::SlotUnavailable(second.id.to_string()))
        );
        let entries = store.history(&PERU, &ana.id).await.expect("history");
        assert_eq!(entries, std::slice::from_ref(&booking.entry));
        assert_eq!(
            store
                .get_slot(&first.id)
                .await
                .expect("get")
                .and_then(|s| s.booked_by),
            Some(ana.id.clone())
        );
        // Giving the second slot back lets the move through, with its entry after the first.
        let third = slot(&cardiologist, 4, 11);
        store.put_slot(&third).await.expect("slot");
        let move_to_third = moved(&third);
        store.transition(&move_to_third).await.expect("moved");
        assert_eq!(
            store
                .get_slot(&first.id)
                .await
                .expect("get")
                .map(|s| s.available),
            Some(true)
        );
        // A note sorts after the change of its revision, and writing it twice keeps one.
        let note = HistoryEntry {
            note: Some("appointment.rescheduled not sent: no email address on file".into()),
            by: Actor::system("send-email"),
            from: Some(Status::Assigned),
            reason: None,
            ..move_to_third.entry.clone()
        };
        for _ in 0..2 {
            store
                .add_history_note(&PERU, &ana.id, &note)
                .await
                .expect("note");
        }
        assert_eq!(
            store.history(&PERU, &ana.id).await.expect("history"),
            [booking.entry.clone(), move_to_third.entry.clone(), note]
        );
        // Another appointment's history is its own.
        assert_eq!(
            store.history(&PERU, &jose.id).await.expect("history").len(),
            1
        );
    }

    pub async fn a_lapsed_claim_is_taken_over_once_then_settled_and_never_claimed_again(
        backend: &Backend,
    ) {
        use citas_domain::Claim;
        let records = &backend.idempotency;
        let (lapse, keep) = (
            jiff::SignedDuration::from_mins(5),
            jiff::SignedDuration::from_hours(24),
        );
        let key = format!("{}k:appointment.assigned:r2", backends::unique_prefix());
        let claim = |now: &str| records.claim(&key, at(now), lapse, keep);
        assert_eq!(claim("2030-03-01T10:00:00Z").await, Ok(Claim::Acquired));
        assert_eq!(claim("2030-03-01T10:04:59Z").await, Ok(Claim::InProgress));
        // Not lapsed yet: nothing to settle or take over.
        let settle = |now: &str| records.settle_lapsed(&key, at(now), keep);
        let reclaim =
            |sends: u32, now: &str| records.reclaim_lapsed(&key, sends, at(now), lapse, keep);
        assert_eq!(settle("2030-03-01T10:04:59Z").await, Ok(false));
        assert_eq!(reclaim(1, "2030-03-01T10:04:59Z").await, Ok(false));
        // The holder never finished: whoever comes next learns so, and how
        // often the send was reached.
        assert_eq!(
            claim("2030-03-01T10:05:00Z").await,
            Ok(Claim::Lapsed { sends: 1 })
        );
        // One consumer takes it over to send once more; a second cannot.
        assert_eq!(reclaim(1, "2030-03-01T10:05:00Z").await, Ok(true));
        assert_eq!(reclaim(1, "2030-03-01T10:05:00Z").await, Ok(false));
        assert_eq!(claim("2030-03-01T10:09:59Z").await, Ok(Claim::InProgress));
        // That one died too: the record says the send was reached twice.
        assert_eq!(
            claim("2030-03-01T11:00:00Z").await,
            Ok(Claim::Lapsed { sends: 2 })
        );
        assert_eq!(reclaim(1, "2030-03-01T11:00:00Z").await, Ok(false));
        assert_eq!(settle("2030-03-01T11:00:00Z").await, Ok(true));
        assert_eq!(settle("2030-03-01T11:00:01Z").await, Ok(false));
        assert_eq!(reclaim(2, "2030-03-01T11:00:01Z").await, Ok(false));
        assert_eq!(claim("2030-03-01T12:00:00Z").await, Ok(Claim::Completed));
        // Kept as long as a sent key, then forgotten.
        assert_eq!(claim("2030-03-02T11:00:01Z").await, Ok(Claim::Acquired));
        // A released claim is free again at once.
        records.release(&key).await.expect("released");
        assert_eq!(claim("2030-03-02T11:00:02Z").await, Ok(Claim::Acquired));
    }

    pub async fn a_completed_claim_is_kept_from_its_completion_and_cannot_be_released(
        backend: &Backend,
    ) {
        use citas_domain::Claim;
        let records = &backend.idempotency;
        let (lapse, keep) = (
            jiff::SignedDuration::from_mins(5),
            jiff::SignedDuration::from_hours(24),
        );
        let key = format!("{}k:appointment.confirmed:r3", backends::unique_prefix());
        let claim = |now: &str| records.claim(&key, at(now), lapse, keep);
        assert_eq!(claim("2030-03-01T10:00:00Z").await, Ok(Claim::Acquired));
        records
            .complete(&key, at("2030-03-01T10:01:00Z"), keep)
            .await
            .expect("completed");
        // Past the claim's lapse it is sent, not lapsed.
        assert_eq!(claim("2030-03-01T10:06:00Z").await, Ok(Claim::Completed));
        // A late release (a consumer that thought its send failed) keeps it sent.
        records.release(&key).await.expect("released");
        assert_eq!(claim("2030-03-01T10:07:00Z").await, Ok(Claim::Completed));
        // Nothing left to settle or take over.
        assert_eq!(
            records
                .settle_lapsed(&key, at("2030-03-01T10:08:00Z"), keep)
                .await,
            Ok(false)
        );
        assert_eq!(
            records
                .reclaim_lapsed(&key, 1, at("2030-03-01T10:08:00Z"), lapse, keep)
                .await,
            Ok(false)
        );
        // Kept for `keep` from the completion, not from the claim.
        assert_eq!(claim("2030-03-02T10:00:30Z").await, Ok(Claim::Completed));
        assert_eq!(claim("2030-03-02T10:01:01Z").await, Ok(Claim::Acquired));
    }
}

/// Every page of a free-slot search, as ids.
async fn walk_slots(store: &dyn Store, search: &SlotSearch, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    for _ in 0..200 {
        let page = store
            .free_slots(search, &PageRequest { limit, cursor })
            .await
            .expect("page");
        assert!(page.items.len() <= limit);
        assert!(page.items.iter().all(|s| s.available));
        ids.extend(page.items.iter().map(|s| s.id.to_string()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            return ids;
        }
    }
    panic!("the search never ended")
}

/// The free slots of a doctor's speciality from 2030 on, as ids; `doctor` filters by doctor.
async fn free_slots(
    store: &dyn Store,
    of: &Doctor,
    doctor: Option<&Doctor>,
) -> Vec<citas_domain::SlotId> {
    let search = SlotSearch {
        modality: Default::default(),
        country: of.id.country,
        speciality: of.id.speciality.clone(),
        doctor: doctor.map(|d| d.id.clone()),
        from: at("2030-01-01T00:00:00Z"),
        until: at("2031-01-01T00:00:00Z"),
    };
    walk_slots(store, &search, 10)
        .await
        .into_iter()
        .map(|id| citas_domain::SlotId::parse(&id).expect("id"))
        .collect()
}

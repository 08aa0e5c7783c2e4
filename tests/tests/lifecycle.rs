//! The appointment lifecycle through the use cases, on every backend (the
//! embedded store and DynamoDB on moto): each transition and each refusal of
//! one, the history written with every change, atomic reschedules under
//! contention, and the calendar invitations of the emails each change sends.

mod backends;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use backends::Backend;
use citas_domain::use_cases::{self, NewAppointment, NewPatient};
use citas_domain::{
    ActorRole, Appointment, AppointmentId, Doctor, DomainError, Email, EmailAddress, MailError,
    Mailer, ManualClock, Notification, PERU, Patient, Services, Slot, SlotHorizon, SlotId, Status,
};
use citas_e2e::callers::{admin, doctor, patient};
use citas_e2e::{ReceivedEmail, build, parse_email};
use citas_notify::process::{Done, EmailPipeline};
use futures::future::join_all;

on_every_backend!(
    the_history_of_a_whole_lifecycle_names_who_did_each_change,
    each_refusal_of_a_change_says_why,
    a_reschedule_onto_a_taken_slot_changes_nothing,
    thirty_concurrent_reschedules_onto_one_slot_have_one_winner,
    invitations_keep_their_uid_and_raise_their_sequence_until_cancelled,
    an_automatic_notification_without_an_address_is_noted_in_the_history,
    changes_in_quick_succession_each_email_their_own_time_and_sequence,
    a_cancel_racing_the_doctors_confirmation_succeeds_or_names_the_state,
    a_slot_chosen_for_a_patient_never_locks_them_in_nor_moves_them_earlier,
);

/// Monday 2027-01-04, 08:00 in Lima.
const NOW: &str = "2027-01-04T13:00:00Z";
/// Wednesday 09:00, Thursday 09:00 and Friday 09:00 in Lima: well beyond Peru's 24 h.
const WEDNESDAY: &str = "2027-01-06T14:00:00Z";
const THURSDAY: &str = "2027-01-07T14:00:00Z";
const FRIDAY: &str = "2027-01-08T14:00:00Z";

/// Every email as its MIME source, decoded back as a mail client would.
#[derive(Default)]
struct Outbox(Mutex<Vec<ReceivedEmail>>);

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let raw = citas_mail::to_mime(email, "citas@example.com")
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        let mut sent = self.0.lock().expect("lock");
        sent.push(parse_email(&raw));
        Ok(format!("message-{}", sent.len()))
    }
}

struct World {
    services: Services,
    clock: Arc<ManualClock>,
    /// What `POST …/notify` and reminders enqueue directly.
    sent: Arc<citas_e2e::RecordingQueue>,
    /// The last revision of each appointment whose messages were published.
    published: Mutex<std::collections::HashMap<String, u32>>,
}

impl World {
    fn on(backend: &Backend) -> Self {
        let clock = Arc::new(ManualClock::new(build::at(NOW)));
        let sent = Arc::new(citas_e2e::RecordingQueue::default());
        let services = Services {
            meetings: citas_domain::testkit::jitsi_rooms(),
            store: backend.store.clone(),
            queue: sent.clone(),
            clock: clock.clone(),
            horizon: SlotHorizon::days(14).expect("horizon"),
            verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
        };
        Self {
            services,
            clock,
            sent,
            published: Mutex::default(),
        }
    }

    /// The messages of the appointment's committed changes not published yet:
    /// what the outbox's publisher sends for them (the history table's stream
    /// in AWS, the embedded store's outbox locally), read from the history.
    async fn publish(&self, id: &AppointmentId) -> Vec<Notification> {
        let appointment = self.get(id).await;
        let entries = self.history(id).await;
        let mut published = self.published.lock().expect("lock");
        let last = published.entry(id.to_string()).or_default();
        let fresh: Vec<_> = entries
            .into_iter()
            .filter(|e| e.revision > *last && e.note.is_none())
            .collect();
        *last = fresh.iter().map(|e| e.revision).max().unwrap_or(*last);
        fresh
            .iter()
            .flat_map(|e| Notification::of_change(&PERU, &appointment.id, e))
            .collect()
    }

    async fn doctor(&self, registry: &str, requires_confirmation: bool) -> Doctor {
        let doctor = Doctor {
            requires_confirmation,
            email: EmailAddress::parse(&format!("dr{registry}@example.pe")).ok(),
            ..build::doctor(&PERU, "cardiologia", registry)
        };
        self.services
            .store
            .put_doctor(&doctor)
            .await
            .expect("doctor");
        doctor
    }

    async fn slot(&self, doctor: &Doctor, starts_at: &str) -> SlotId {
        let slot = build::slot_at(&doctor.id, starts_at);
        self.services.store.put_slot(&slot).await.expect("slot");
        slot.id
    }

    async fn stored_slot(&self, id: &SlotId) -> Slot {
        self.services
            .store
            .get_slot(id)
            .await
            .expect("read")
            .expect("slot")
    }

    /// A patient registered by staff (so their email counts as verified),
    /// and their request for cardiology today.
    async fn request(&self, document: &str) -> Appointment {
        let caller = patient(document);
        let staff = citas_domain::Caller {
            subject: "staff".into(),
            country: &PERU,
            identity: citas_domain::Identity::Admin,
        };
        use_cases::register_patient(
            &self.services,
            &staff,
            &PERU,
            NewPatient {
                document: PERU.parse_document(document).expect("document"),
                name: format!("Paciente {document}"),
                email: EmailAddress::parse(&format!("p{document}@example.pe")).expect("email"),
            },
        )
        .await
        .expect("registered");
        use_cases::create_appointment(
            &self.services,
            &caller,
            &PERU,
            NewAppointment {
                document: PERU.parse_document(document).expect("document"),
                speciality: citas_domain::Speciality::parse("cardiologia").expect("speciality"),
            },
        )
        .await
        .expect("created")
    }

    async fn assigned(&self, document: &str, slot: &SlotId) -> Appointment {
        let appointment = self.request(document).await;
        let id = appointment.id.clone();
        use_cases::assign(
            &self.services,
            &patient(document),
            &PERU,
            &id,
            Some(slot.clone()),
        )
        .await
        .expect("assigned")
    }

    async fn get(&self, id: &AppointmentId) -> Appointment {
        use_cases::get_appointment(&self.services, &admin(), &PERU, id)
            .await
            .expect("read")
    }

    async fn history(&self, id: &AppointmentId) -> Vec<citas_domain::HistoryEntry> {
        use_cases::history(&self.services, &admin(), &PERU, id)
            .await
            .expect("history")
    }
}

/// An entry as (role, id, from, to, reason).
type Step = (ActorRole, String, Option<Status>, Status, Option<String>);

fn summary(entries: &[citas_domain::HistoryEntry]) -> Vec<Step> {
    entries
        .iter()
        .map(|e| (e.by.role, e.by.id.clone(), e.from, e.to, e.reason.clone()))
        .collect()
}

async fn the_history_of_a_whole_lifecycle_names_who_did_each_change(backend: &Backend) {
    let world = World::on(backend);
    let careful = world.doctor("1001", true).await;
    let prompt = world.doctor("1002", false).await;
    let first = world.slot(&careful, WEDNESDAY).await;
    let second = world.slot(&prompt, THURSDAY).await;
    let third = world.slot(&prompt, FRIDAY).await;
    let services = &world.services;

    let created = world.request("45678912").await;
    let id = created.id.clone();
    let ana = patient("45678912");
    let pending = use_cases::assign(services, &ana, &PERU, &id, Some(first.clone()))
        .await
        .expect("booked");
    assert_eq!(
        pending.status,
        Status::Pending,
        "the doctor confirms bookings"
    );
    let refused = use_cases::refuse(
        services,
        &doctor("1001"),
        &PERU,
        &id,
        "agenda completa".into(),
    )
    .await
    .expect("refused");
    assert_eq!(
        (
            refused.status,
            refused.slot.as_ref(),
            refused.refusal_reason.as_deref()
        ),
        (Status::Registered, None, Some("agenda completa"))
    );
    assert_eq!(refused.id, created.id, "the request keeps its id");
    assert!(
        world.stored_slot(&first).await.available,
        "the slot is free again"
    );
    let assigned = use_cases::assign(services, &admin(), &PERU, &id, Some(second.clone()))
        .await
        .expect("assigned");
    assert_eq!(assigned.status, Status::Assigned);
    let moved = use_cases::reschedule(services, &ana, &PERU, &id, Some(third.clone()))
        .await
        .expect("rescheduled");
    assert_eq!(
        (moved.status, moved.slot.as_ref()),
        (Status::Assigned, Some(&third))
    );
    assert!(world.stored_slot(&second).await.available);
    assert!(!world.stored_slot(&third).await.available);
    world
        .clock
        .set(build::at(FRIDAY) + jiff::SignedDuration::from_mins(40));
    let completed = use_cases::complete(services, &doctor("1002"), &PERU, &id)
        .await
        .expect("completed");
    assert_eq!(completed.status, Status::Completed);

    use ActorRole::{Admin, Doctor, Patient};
    use Status::{Assigned, Completed, Pending, Registered};
    let history = use_cases::history(services, &ana, &PERU, &id)
        .await
        .expect("the patient reads their history");
    assert_eq!(
        summary(&history),
        vec![
            (Patient, "45678912".into(), None, Registered, None),
            (Patient, "45678912".into(), Some(Registered), Pending, None),
            (
                Doctor,
                "1001".into(),
                Some(Pending),
                Registered,
                Some("agenda completa".into())
            ),
            (Admin, "admin".into(), Some(Registered), Assigned, None),
            (Patient, "45678912".into(), Some(Assigned), Assigned, None),
            (Doctor, "1002".into(), Some(Assigned), Completed, None),
        ]
    );
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(
        history.last().map(|e| e.at),
        Some(completed.updated_at),
        "the entry is the change's own"
    );
    // The patient was told at each step; the doctor who must answer was asked.
    assert!(
        world.sent.take().is_empty(),
        "changes enqueue nothing themselves: their messages come from the commit"
    );
    let published = world.publish(&id).await;
    let kinds: Vec<&str> = published.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "appointment.pending",
            "appointment.awaiting_answer",
            "appointment.refused",
            "appointment.assigned",
            "appointment.rescheduled"
        ]
    );
}

async fn each_refusal_of_a_change_says_why(backend: &Backend) {
    let world = World::on(backend);
    let careful = world.doctor("1001", true).await;
    let prompt = world.doctor("1002", false).await;
    let services = &world.services;
    let wednesday = world.slot(&prompt, WEDNESDAY).await;
    let tomorrow = world.slot(&prompt, "2027-01-05T12:00:00Z").await;
    let pending_slot = world.slot(&careful, THURSDAY).await;
    let assigned = world.assigned("45678912", &wednesday).await;
    let id = assigned.id.clone();
    let soon = world.assigned("70123456", &tomorrow).await;
    let soon_id = soon.id.clone();
    let pending = world.assigned("41234567", &pending_slot).await;
    let pending_id = pending.id.clone();
    assert_eq!(pending.status, Status::Pending);

    // Wrong status: a 409 that names the current one.
    for (result, current) in [
        (
            use_cases::confirm(services, &doctor("1002"), &PERU, &id).await,
            Status::Assigned,
        ),
        (
            use_cases::assign(services, &admin(), &PERU, &id, None).await,
            Status::Assigned,
        ),
        (
            use_cases::complete(services, &doctor("1001"), &PERU, &pending_id).await,
            Status::Pending,
        ),
    ] {
        match result {
            Err(DomainError::InvalidTransition { current: told, .. }) => {
                assert_eq!(told, current)
            }
            other => panic!("{other:?}"),
        }
    }
    // Not yet started: completing and no-shows wait for the start.
    for result in [
        use_cases::complete(services, &doctor("1002"), &PERU, &id).await,
        use_cases::no_show(services, &doctor("1002"), &PERU, &id).await,
    ] {
        match result {
            Err(DomainError::NotStarted { starts_at, .. }) => {
                assert_eq!(starts_at.timestamp(), build::at(WEDNESDAY))
            }
            other => panic!("{other:?}"),
        }
    }
    // Too late: within Peru's 24 hours a patient can neither cancel nor move.
    let ana_too = patient("70123456");
    for result in [
        use_cases::cancel(services, &ana_too, &PERU, &soon_id, "viaje".into()).await,
        use_cases::reschedule(services, &ana_too, &PERU, &soon_id, None).await,
    ] {
        match result {
            Err(DomainError::TooLateToChange { deadline, .. }) => {
                assert_eq!(
                    deadline.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                    "2027-01-04T07:00:00-05:00"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    // Wrong role: a patient does not answer or close; a doctor does not move bookings.
    let ana = patient("45678912");
    for result in [
        use_cases::confirm(services, &patient("41234567"), &PERU, &pending_id).await,
        use_cases::refuse(services, &ana, &PERU, &id, "no".into()).await,
        use_cases::complete(services, &ana, &PERU, &id).await,
        use_cases::no_show(services, &ana, &PERU, &id).await,
        use_cases::reschedule(services, &doctor("1002"), &PERU, &id, None).await,
    ] {
        assert!(matches!(result, Err(DomainError::Denied(_))), "{result:?}");
    }
    // Someone else's appointment does not exist for them.
    for result in [
        use_cases::cancel(services, &patient("70123456"), &PERU, &id, "x".into()).await,
        use_cases::confirm(services, &doctor("1002"), &PERU, &pending_id).await,
        use_cases::refuse(services, &doctor("1001"), &PERU, &id, "x".into()).await,
    ] {
        assert!(
            matches!(result, Err(DomainError::AppointmentNotFound { .. })),
            "{result:?}"
        );
    }
    assert!(matches!(
        use_cases::history(services, &patient("70123456"), &PERU, &id).await,
        Err(DomainError::AppointmentNotFound { .. })
    ));
    // Nothing refused left a trace; staff are not bound by the deadline.
    assert_eq!(world.history(&id).await.len(), 2);
    let cancelled = use_cases::cancel(services, &doctor("1002"), &PERU, &soon_id, "fiebre".into())
        .await
        .expect("the doctor may cancel late");
    assert_eq!(cancelled.status, Status::Cancelled);
    let confirmed = use_cases::confirm(services, &doctor("1001"), &PERU, &pending_id)
        .await
        .expect("confirmed");
    assert_eq!(confirmed.status, Status::Assigned);
    world
        .clock
        .set(build::at(WEDNESDAY) + jiff::SignedDuration::from_mins(5));
    let absent = use_cases::no_show(services, &doctor("1002"), &PERU, &id)
        .await
        .expect("no-show");
    assert_eq!(absent.status, Status::NoShow);
    assert!(
        !world.stored_slot(&wednesday).await.available,
        "a closed appointment keeps its slot"
    );
}

async fn a_reschedule_onto_a_taken_slot_changes_nothing(backend: &Backend) {
    let world = World::on(backend);
    let prompt = world.doctor("1002", false).await;
    let mine = world.slot(&prompt, WEDNESDAY).await;
    let theirs = world.slot(&prompt, THURSDAY).await;
    let ana = world.assigned("45678912", &mine).await;
    world.assigned("70123456", &theirs).await;
    let id = ana.id.clone();
    let before = world.history(&id).await;
    let result = use_cases::reschedule(
        &world.services,
        &patient("45678912"),
        &PERU,
        &id,
        Some(theirs.clone()),
    )
    .await;
    assert!(
        matches!(result, Err(DomainError::SlotUnavailable { .. })),
        "{result:?}"
    );
    assert_eq!(world.get(&id).await, ana, "the appointment is as it was");
    assert_eq!(
        world.stored_slot(&mine).await.booked_by,
        Some(ana.id.clone())
    );
    assert_eq!(world.history(&id).await, before);
}

async fn thirty_concurrent_reschedules_onto_one_slot_have_one_winner(backend: &Backend) {
    let world = World::on(backend);
    let prompt = world.doctor("1002", false).await;
    let target = world.slot(&prompt, "2027-01-15T14:00:00Z").await;
    let mut booked = Vec::new();
    for n in 0..30i64 {
        let document = format!("{}", 50_000_000 + n);
        let at = build::at(WEDNESDAY) + jiff::SignedDuration::from_mins(30 * n);
        let slot = world.slot(&prompt, &at.to_string()).await;
        booked.push((document.clone(), world.assigned(&document, &slot).await));
    }
    let results = join_all(booked.iter().map(|(document, appointment)| {
        let (world, target) = (&world, &target);
        async move {
            use_cases::reschedule(
                &world.services,
                &patient(document),
                &PERU,
                &appointment.id,
                Some(target.clone()),
            )
            .await
        }
    }))
    .await;
    let winners: Vec<&Appointment> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(DomainError::SlotUnavailable { .. }))),
        "{results:?}"
    );
    let winner = winners[0];
    assert_eq!(
        world.stored_slot(&target).await.booked_by,
        Some(winner.id.clone())
    );
    for (_, before) in &booked {
        let old = before.slot.clone().expect("booked");
        let now = world.get(&before.id).await;
        if now.id == winner.id {
            assert!(
                world.stored_slot(&old).await.available,
                "its old slot is free"
            );
        } else {
            assert_eq!(now.slot, Some(old.clone()), "still on its old slot");
            assert_eq!(
                world.stored_slot(&old).await.booked_by,
                Some(now.id.clone())
            );
        }
    }
}

async fn invitations_keep_their_uid_and_raise_their_sequence_until_cancelled(backend: &Backend) {
    let world = World::on(backend);
    let prompt = world.doctor("1002", false).await;
    let first = world.slot(&prompt, WEDNESDAY).await;
    let second = world.slot(&prompt, THURSDAY).await;
    let ana = world.assigned("45678912", &first).await;
    let id = ana.id.clone();
    let caller = patient("45678912");
    let outbox = Arc::new(Outbox::default());
    let pipeline = EmailPipeline {
        meetings: citas_domain::testkit::jitsi_rooms(),
        calendar_key: citas_notify::CalendarKey::new(&[7; 32]).expect("a 32-byte key"),
        store: backend.store.clone(),
        idempotency: backend.idempotency.clone(),
        mailer: outbox.clone(),
        clock: world.clock.clone(),
        claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
        dead_letters: Arc::new(citas_e2e::NullQueue),
    };
    // Each change's message is handled before the next change, as a queue would.
    let deliver = async || {
        for message in world.publish(&id).await {
            let done = pipeline.process(&message.to_json()).await.expect("handled");
            assert!(matches!(done, Done::Sent { .. }), "{done:?}");
        }
    };
    deliver().await;
    use_cases::reschedule(&world.services, &caller, &PERU, &id, Some(second))
        .await
        .expect("moved");
    deliver().await;
    use_cases::cancel(&world.services, &caller, &PERU, &id, "viaje".into())
        .await
        .expect("cancelled");
    deliver().await;

    let (emails, to_doctor) = patients_and_doctor(&outbox, "dr1002@example.pe");
    assert_eq!(
        to_doctor,
        ["Se canceló una cita de Cardiología de tu agenda"]
    );
    let subjects: Vec<&str> = emails.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "Tu cita de Cardiología está confirmada",
            "Tu cita de Cardiología cambió de horario",
            "Tu cita de Cardiología fue cancelada"
        ]
    );
    let field = invitation_field;
    let invitations: Vec<String> = emails.iter().map(invitation).collect();
    let uids: Vec<String> = invitations.iter().map(|ics| field(ics, "UID")).collect();
    // One UID throughout, which does not carry the id (nor its document).
    assert!(uids.iter().all(|uid| uid == &uids[0]), "{uids:?}");
    assert!(
        uids[0].ends_with("@citas")
            && !uids[0].contains(&id.to_string())
            && !uids[0].contains("45678912"),
        "{uids:?}"
    );
    // The body quotes a booking reference; the document is nowhere but in
    // the greeting (the test patient is named after it).
    for email in &emails {
        assert!(email.text.contains("Referencia: "), "{}", email.text);
        let rest = email.text.lines().filter(|line| !line.starts_with("Hola "));
        assert!(
            rest.into_iter().all(|line| !line.contains("45678912")),
            "{}",
            email.text
        );
    }
    let sequences: Vec<u32> = invitations
        .iter()
        .map(|ics| field(ics, "SEQUENCE").parse().expect("a number"))
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    let methods: Vec<String> = invitations.iter().map(|ics| field(ics, "METHOD")).collect();
    assert_eq!(methods, ["PUBLISH", "PUBLISH", "CANCEL"]);
    // The moved invitation starts at the new time, in Lima.
    assert_eq!(
        field(&invitations[1], "DTSTART;TZID=America/Lima"),
        "20270107T090000"
    );
}

async fn an_automatic_notification_without_an_address_is_noted_in_the_history(backend: &Backend) {
    let world = World::on(backend);
    let prompt = world.doctor("1002", false).await;
    let slot = world.slot(&prompt, WEDNESDAY).await;
    // Seed 000's patients have no email address.
    let nameless = Patient {
        email: None,
        ..build::patient(&PERU, "45678912")
    };
    world
        .services
        .store
        .upsert_patient(&PERU, &nameless)
        .await
        .expect("patient");
    let created = use_cases::create_appointment(
        &world.services,
        &admin(),
        &PERU,
        NewAppointment {
            document: nameless.document.clone(),
            speciality: citas_domain::Speciality::parse("cardiologia").expect("speciality"),
        },
    )
    .await
    .expect("created");
    let id = created.id.clone();
    use_cases::assign(&world.services, &admin(), &PERU, &id, Some(slot))
        .await
        .expect("assigned");
    let outbox = Arc::new(Outbox::default());
    let pipeline = EmailPipeline {
        meetings: citas_domain::testkit::jitsi_rooms(),
        calendar_key: citas_notify::CalendarKey::new(&[7; 32]).expect("a 32-byte key"),
        store: backend.store.clone(),
        idempotency: backend.idempotency.clone(),
        mailer: outbox.clone(),
        clock: world.clock.clone(),
        claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
        dead_letters: Arc::new(citas_e2e::NullQueue),
    };
    for message in world.publish(&id).await {
        let done = pipeline.process(&message.to_json()).await.expect("handled");
        assert!(matches!(done, Done::Skipped { .. }), "{done:?}");
    }
    assert!(outbox.0.lock().expect("lock").is_empty());
    let history = world.history(&id).await;
    let notes: Vec<&str> = history.iter().filter_map(|e| e.note.as_deref()).collect();
    assert_eq!(
        notes,
        ["appointment.assigned not sent: no email address on file"]
    );
    let note = history.last().expect("entries");
    assert_eq!(
        (note.by.role, note.from, note.to),
        (ActorRole::System, Some(Status::Assigned), Status::Assigned)
    );
    // Asking for it by hand says why nothing can be sent.
    assert!(matches!(
        use_cases::notify(&world.services, &admin(), &PERU, &id).await,
        Err(DomainError::NoEmailOnFile { .. })
    ));
}

/// A line of an invitation (unfolded), by name.
fn invitation_field(ics: &str, name: &str) -> String {
    ics.replace("\r\n ", "")
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")).map(str::to_owned))
        .unwrap_or_else(|| panic!("{name} missing in {ics}"))
}

/// The invitation an email carries, as text.
fn invitation(email: &ReceivedEmail) -> String {
    email
        .attachments
        .iter()
        .find(|a| a.content_type == "text/calendar")
        .unwrap_or_else(|| panic!("no invitation in {}", email.subject))
        .content
        .clone()
}

/// An email as a calendar and its reader see it: (subject, METHOD, SEQUENCE,
/// DTSTART in Lima or none, the body's "Fecha y hora" line).
type Told = (String, String, u32, Option<String>, Option<String>);

fn told(email: &ReceivedEmail) -> Told {
    let ics = invitation(email);
    let start = ics.replace("\r\n ", "").lines().find_map(|l| {
        l.strip_prefix("DTSTART;TZID=America/Lima:")
            .map(str::to_owned)
    });
    let when = email
        .text
        .lines()
        .find_map(|l| l.strip_prefix("Fecha y hora: ").map(str::to_owned));
    (
        email.subject.clone(),
        invitation_field(&ics, "METHOD"),
        invitation_field(&ics, "SEQUENCE")
            .parse()
            .expect("a number"),
        start,
        when,
    )
}

async fn changes_in_quick_succession_each_email_their_own_time_and_sequence(backend: &Backend) {
    let world = World::on(backend);
    let prompt = world.doctor("1002", false).await;
    let wednesday = world.slot(&prompt, WEDNESDAY).await;
    let thursday = world.slot(&prompt, THURSDAY).await;
    let friday = world.slot(&prompt, FRIDAY).await;
    let other = world.slot(&prompt, "2027-01-06T15:00:00Z").await;
    let outbox = Arc::new(Outbox::default());
    let pipeline = EmailPipeline {
        meetings: citas_domain::testkit::jitsi_rooms(),
        calendar_key: citas_notify::CalendarKey::new(&[7; 32]).expect("a 32-byte key"),
        store: backend.store.clone(),
        idempotency: backend.idempotency.clone(),
        mailer: outbox.clone(),
        clock: world.clock.clone(),
        claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
        dead_letters: Arc::new(citas_e2e::NullQueue),
    };
    // Booked, then moved twice before any email goes out.
    let ana = world.assigned("45678912", &wednesday).await;
    let (id, caller) = (ana.id.clone(), patient("45678912"));
    for slot in [&thursday, &friday] {
        use_cases::reschedule(&world.services, &caller, &PERU, &id, Some(slot.clone()))
            .await
            .expect("moved");
    }
    // Booked, then cancelled at once.
    let jose = world.assigned("45678913", &other).await;
    let jose_id = jose.id.clone();
    use_cases::cancel(
        &world.services,
        &patient("45678913"),
        &PERU,
        &jose_id,
        "viaje".into(),
    )
    .await
    .expect("cancelled");
    // Every email is rendered after every change: each still tells its own.
    for id in [&id, &jose_id] {
        for message in world.publish(id).await {
            let done = pipeline.process(&message.to_json()).await.expect("handled");
            assert!(matches!(done, Done::Sent { .. }), "{done:?}");
        }
    }
    let (emails, to_doctor) = patients_and_doctor(&outbox, "dr1002@example.pe");
    // The doctor hears of the cancellation (by the patient), not of the moves.
    assert_eq!(
        to_doctor,
        ["Se canceló una cita de Cardiología de tu agenda"]
    );
    let told: Vec<Told> = emails.iter().map(told).collect();
    let at = |day: &str, date: &str| {
        (
            Some(format!("202701{day}T090000")),
            Some(format!("{date} a las 09:00 (hora de Lima)")),
        )
    };
    let row = |subject: &str,
               method: &str,
               sequence: u32,
               (start, when): (Option<String>, Option<String>)| {
        (subject.to_owned(), method.to_owned(), sequence, start, when)
    };
    assert_eq!(
        told,
        [
            row(
                "Tu cita de Cardiología está confirmada",
                "PUBLISH",
                2,
                at("06", "miércoles 06/01/2027")
            ),
            row(
                "Tu cita de Cardiología cambió de horario",
                "PUBLISH",
                3,
                at("07", "jueves 07/01/2027")
            ),
            row(
                "Tu cita de Cardiología cambió de horario",
                "PUBLISH",
                4,
                at("08", "viernes 08/01/2027")
            ),
            row(
                "Tu cita de Cardiología está confirmada",
                "PUBLISH",
                2,
                (
                    Some("20270106T100000".into()),
                    Some("miércoles 06/01/2027 a las 10:00 (hora de Lima)".into())
                )
            ),
            row(
                "Tu cita de Cardiología fue cancelada",
                "CANCEL",
                3,
                (
                    Some("20270106T100000".into()),
                    Some("miércoles 06/01/2027 a las 10:00 (hora de Lima)".into())
                )
            ),
        ]
    );
    // A copy of a change's message handled again sends nothing and changes nothing.
    for message in world.publish(&id).await {
        pipeline.process(&message.to_json()).await.expect("handled");
    }
    assert_eq!(outbox.0.lock().expect("lock").len(), 6);
}

async fn a_cancel_racing_the_doctors_confirmation_succeeds_or_names_the_state(backend: &Backend) {
    let world = World::on(backend);
    let careful = world.doctor("1001", true).await;
    for n in 0..8i64 {
        let document = format!("{}", 46_000_000 + n);
        let at = build::at(WEDNESDAY) + jiff::SignedDuration::from_mins(30 * n);
        let slot = world.slot(&careful, &at.to_string()).await;
        let pending = world.assigned(&document, &slot).await;
        assert_eq!(pending.status, Status::Pending);
        let id = pending.id.clone();
        let confirm = tokio::spawn({
            let (services, id) = (world.services.clone(), id.clone());
            async move { use_cases::confirm(&services, &doctor("1001"), &PERU, &id).await }
        });
        let cancel = tokio::spawn({
            let (services, id, caller) = (world.services.clone(), id.clone(), patient(&document));
            async move { use_cases::cancel(&services, &caller, &PERU, &id, "viaje".into()).await }
        });
        let (confirmed, cancelled) = (
            confirm.await.expect("the confirmation ran"),
            cancel.await.expect("the cancel ran"),
        );
        // Cancelling is allowed from pending and from assigned: whichever came first, it succeeds.
        let cancelled = cancelled.unwrap_or_else(|e| panic!("the cancel of {id} failed: {e:?}"));
        assert_eq!(cancelled.status, Status::Cancelled);
        // The confirmation came first, or is refused naming the state that forbids it.
        match confirmed {
            Ok(a) => assert_eq!(a.status, Status::Assigned),
            Err(DomainError::InvalidTransition { current, .. }) => {
                assert_eq!(current, Status::Cancelled)
            }
            Err(other) => panic!("the confirmation of {id}: {other:?}"),
        }
        assert_eq!(world.get(&id).await.status, Status::Cancelled);
        assert!(
            world.stored_slot(&slot).await.available,
            "its slot is free again"
        );
    }
}

async fn a_slot_chosen_for_a_patient_never_locks_them_in_nor_moves_them_earlier(backend: &Backend) {
    let world = World::on(backend);
    let prompt = world.doctor("1002", false).await;
    // Monday 08:00 in Lima; Peru's notice for patients is 24 h.
    let today = world.slot(&prompt, "2027-01-04T15:00:00Z").await; // Mon 10:00
    let tomorrow_early = world.slot(&prompt, "2027-01-05T12:00:00Z").await; // Tue 07:00, 23 h away
    let wednesday = world.slot(&prompt, WEDNESDAY).await;
    let thursday = world.slot(&prompt, THURSDAY).await;
    let friday = world.slot(&prompt, FRIDAY).await;
    let assign = |document: &'static str, caller: citas_domain::Caller| {
        let world = &world;
        async move {
            let id = world.request(document).await.id;
            use_cases::assign(&world.services, &caller, &PERU, &id, None)
                .await
                .expect("assigned")
        }
    };
    // The patient's own choice left to the service: past the notice.
    let ana = assign("45678912", patient("45678912")).await;
    assert_eq!(
        ana.slot.as_ref(),
        Some(&wednesday),
        "not today nor within 24 h"
    );
    // Staff choose as before: the earliest free slot.
    let jose = assign("45678913", admin()).await;
    assert_eq!(jose.slot.as_ref(), Some(&today));
    // "Move my appointment" is later than the current one, never earlier.
    let moved = use_cases::reschedule(&world.services, &patient("45678912"), &PERU, &ana.id, None)
        .await
        .expect("moved");
    assert_eq!(
        moved.slot.as_ref(),
        Some(&thursday),
        "the next after Wednesday"
    );
    // Staff moving a visit take the earliest free one, as before.
    let by_staff = use_cases::reschedule(&world.services, &admin(), &PERU, &moved.id, None)
        .await
        .expect("moved by staff");
    assert_eq!(by_staff.slot.as_ref(), Some(&tomorrow_early));
    // Each move of a patient's is to the next later slot, until none is left.
    let rosa = assign("45678914", patient("45678914")).await;
    assert_eq!(rosa.slot.as_ref(), Some(&wednesday));
    let last = use_cases::reschedule(&world.services, &patient("45678914"), &PERU, &rosa.id, None)
        .await
        .expect("moved");
    assert_eq!(last.slot.as_ref(), Some(&thursday));
    let to_friday =
        use_cases::reschedule(&world.services, &patient("45678914"), &PERU, &rosa.id, None).await;
    assert!(
        matches!(to_friday, Ok(ref a) if a.slot.as_ref() == Some(&friday)),
        "{to_friday:?}"
    );
    let after_friday =
        use_cases::reschedule(&world.services, &patient("45678914"), &PERU, &rosa.id, None).await;
    assert!(
        matches!(after_friday, Err(DomainError::NoSlotAvailable { .. })),
        "{after_friday:?}"
    );
}

/// The emails sent, the patients' apart from the subjects sent to the doctor at `doctor`.
fn patients_and_doctor(outbox: &Outbox, doctor: &str) -> (Vec<ReceivedEmail>, Vec<String>) {
    let emails = outbox.0.lock().expect("lock").clone();
    let (to_doctor, to_patients): (Vec<_>, Vec<_>) =
        emails.into_iter().partition(|e| e.to == doctor);
    (
        to_patients,
        to_doctor.into_iter().map(|e| e.subject).collect(),
    )
}

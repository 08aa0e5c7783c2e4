//! The Chime SDK adapter (issue 27) through the join use case, against a
//! stand-in of the Chime wire (moto serves no Chime: `chime_stand_in`), on
//! every store: the first join creates the meeting (one `CreateMeeting`,
//! idempotent on the room), each join adds an attendee (one
//! `CreateAttendee`), both parties are in the same meeting whatever the
//! order or timing of their joins, and a move ends the old meeting.

mod backends;
mod chime_stand_in;

use std::sync::Arc;

use chime_stand_in::ChimeStandIn;
use citas_aws::ChimeMeetings;
use citas_domain::scheduling::doctor::Modality;
use citas_domain::testkit::{self as build, callers};
use citas_domain::use_cases;
use citas_domain::{Caller, ManualClock, PERU, Services, Slot};
use serde_json::Value;

on_every_backend!(
    one_meeting_for_any_number_of_joins_and_one_attendee_per_join,
    first_joins_at_once_meet_in_the_same_meeting,
    a_moved_visit_ends_its_meeting_and_the_next_join_opens_another,
    a_meeting_chime_ended_is_replaced_once_for_both_parties,
    a_change_read_before_a_first_join_is_refused_after_it,
);

const DOCTOR: &str = "7700061";
const PATIENT: &str = "45670061";

/// The use cases on `backend` with meetings on the stand-in, five minutes
/// before the first virtual slot's start, and their clock.
async fn services(
    backend: &backends::Backend,
    chime: &ChimeStandIn,
) -> (Services, Arc<ManualClock>) {
    let config = citas_provision::sdk_config(&chime.endpoint()).await;
    let clock = Arc::new(ManualClock::new(build::at("2026-11-23T13:55:00Z")));
    let services = Services {
        meetings: Arc::new(ChimeMeetings::new(
            aws_sdk_chimesdkmeetings::Client::new(&config),
            "sa-east-1".into(),
            "https://app.example/consulta/{room}".into(),
        )),
        store: backend.store.clone(),
        queue: Arc::new(citas_e2e::NullQueue),
        clock: clock.clone(),
        horizon: Default::default(),
        verifier: Arc::new(build::RecordingVerifier::default()),
    };
    (services, clock)
}

fn virtual_slot(starts_at: &str) -> Slot {
    Slot {
        modality: Modality::Virtual,
        ..build::slot_at(&build::doctor_id(&PERU, "cardiologia", DOCTOR), starts_at)
    }
}

/// A patient's virtual visit booked at 09:00 in Lima; its id.
async fn a_virtual_visit(services: &Services) -> citas_domain::AppointmentId {
    let store = &services.store;
    store
        .put_doctor(&build::doctor(&PERU, "cardiologia", DOCTOR))
        .await
        .expect("doctor");
    for slot in [
        virtual_slot("2026-11-23T14:00:00Z"),
        virtual_slot("2026-11-23T14:30:00Z"),
    ] {
        store.put_slot(&slot).await.expect("slot");
    }
    store
        .upsert_patient(&PERU, &build::patient(&PERU, PATIENT))
        .await
        .expect("patient");
    let appointment = build::appointment(&PERU, PATIENT).build();
    store
        .insert_appointment(&appointment)
        .await
        .expect("appointment");
    let booked = use_cases::assign(
        services,
        &callers::admin(),
        &PERU,
        &appointment.id,
        Some(virtual_slot("2026-11-23T14:00:00Z").id),
    )
    .await
    .expect("booked");
    assert_eq!(booked.modality, Modality::Virtual);
    assert!(booked.meeting.is_some(), "a room is drawn at booking");
    appointment.id
}

async fn join(services: &Services, caller: &Caller, id: &citas_domain::AppointmentId) -> Value {
    let entry = use_cases::join_meeting(services, caller, &PERU, id)
        .await
        .expect("joined");
    assert_eq!(entry.provider.as_str(), "chime");
    serde_json::json!({ "meeting": entry.meeting, "attendee": entry.attendee, "join_url": entry.join_url })
}

fn meeting_id(entry: &Value) -> String {
    entry["meeting"]["MeetingId"]
        .as_str()
        .unwrap_or_else(|| panic!("no meeting in {entry}"))
        .to_owned()
}

async fn one_meeting_for_any_number_of_joins_and_one_attendee_per_join(
    backend: &backends::Backend,
) {
    let chime = ChimeStandIn::start().await;
    let (services, _) = services(backend, &chime).await;
    let id = a_virtual_visit(&services).await;
    let (patient, doctor) = (callers::patient(PATIENT), callers::doctor(DOCTOR));
    let mut entries = Vec::new();
    for caller in [&patient, &doctor, &patient, &doctor, &patient] {
        entries.push(join(&services, caller, &id).await);
    }
    assert_eq!(chime.count("CreateMeeting"), 1, "{:?}", chime.calls());
    assert_eq!(chime.count("CreateAttendee"), 5, "{:?}", chime.calls());
    let first = meeting_id(&entries[0]);
    assert!(entries.iter().all(|entry| meeting_id(entry) == first));
    // What Chime was asked: the room as the idempotency token, an external
    // id that names neither the room nor the patient, the media region;
    // attendees by role, the patient without their document.
    let calls = chime.calls();
    let create = &calls[0].body;
    let room = create["ClientRequestToken"].as_str().expect("a token");
    assert_eq!(room.len(), 32);
    let external = create["ExternalMeetingId"]
        .as_str()
        .expect("an external id");
    assert!(
        external.starts_with("cita-") && !external.contains(room),
        "{external}"
    );
    assert_eq!(create["MediaRegion"], "sa-east-1");
    let users: Vec<&str> = calls
        .iter()
        .filter(|c| c.operation == "CreateAttendee")
        .map(|c| c.body["ExternalUserId"].as_str().unwrap_or_default())
        .collect();
    assert!(
        users[0].starts_with("patient-") && !users[0].contains(PATIENT),
        "{users:?}"
    );
    assert_eq!(users[1], format!("doctor-pe-cardiologia-{DOCTOR}"));
    assert_eq!((users[0], users[1]), (users[2], users[3]));
    // Each join answers its own attendee and the join page; the emails' link
    // is that page, never the attendee's token.
    let token = entries[0]["attendee"]["JoinToken"]
        .as_str()
        .expect("a join token");
    assert_ne!(entries[1]["attendee"]["JoinToken"].as_str(), Some(token));
    assert_eq!(
        entries[0]["join_url"],
        format!("https://app.example/consulta/{room}")
    );
}

async fn first_joins_at_once_meet_in_the_same_meeting(backend: &backends::Backend) {
    let chime = ChimeStandIn::start().await;
    let services = Arc::new(services(backend, &chime).await.0);
    let id = a_virtual_visit(&services).await;
    let mut joins = Vec::new();
    for n in 0..6 {
        let (services, id) = (services.clone(), id.clone());
        let caller = if n % 2 == 0 {
            callers::patient(PATIENT)
        } else {
            callers::doctor(DOCTOR)
        };
        joins.push(tokio::spawn(
            async move { join(&services, &caller, &id).await },
        ));
    }
    let mut meetings = std::collections::BTreeSet::new();
    for handle in joins {
        meetings.insert(meeting_id(&handle.await.expect("a join")));
    }
    assert_eq!(meetings.len(), 1, "{meetings:?}");
    assert_eq!(chime.count("CreateAttendee"), 6);
    // Joins at once may each ask for the meeting: the same token made one.
    assert!(chime.count("CreateMeeting") >= 1);
    // The one kept is the one every later join gets, without asking again.
    let before = chime.count("CreateMeeting");
    let later = join(&services, &callers::doctor(DOCTOR), &id).await;
    assert_eq!(meetings.first(), Some(&meeting_id(&later)));
    assert_eq!(chime.count("CreateMeeting"), before);
}

async fn a_moved_visit_ends_its_meeting_and_the_next_join_opens_another(
    backend: &backends::Backend,
) {
    let chime = ChimeStandIn::start().await;
    let (services, clock) = services(backend, &chime).await;
    let id = a_virtual_visit(&services).await;
    let old = meeting_id(&join(&services, &callers::patient(PATIENT), &id).await);
    use_cases::reschedule(
        &services,
        &callers::admin(),
        &PERU,
        &id,
        Some(virtual_slot("2026-11-23T14:30:00Z").id),
    )
    .await
    .expect("moved");
    let deleted: Vec<_> = chime
        .calls()
        .into_iter()
        .filter(|c| c.operation == "DeleteMeeting")
        .collect();
    assert_eq!(deleted.len(), 1, "{:?}", chime.calls());
    assert_eq!(deleted[0].meeting_id.as_deref(), Some(old.as_str()));
    // The new slot's window opens at 09:20 in Lima.
    clock.set(build::at("2026-11-23T14:25:00Z"));
    let new = meeting_id(&join(&services, &callers::doctor(DOCTOR), &id).await);
    assert_ne!(new, old);
    assert_eq!(chime.count("CreateMeeting"), 2);
    // Cancelled: its meeting is ended too.
    use_cases::cancel(
        &services,
        &callers::admin(),
        &PERU,
        &id,
        "el médico no puede".into(),
    )
    .await
    .expect("cancelled");
    let last = chime.calls().pop().expect("a call");
    assert_eq!(
        (last.operation.as_str(), last.meeting_id.as_deref()),
        ("DeleteMeeting", Some(new.as_str()))
    );
}

async fn a_meeting_chime_ended_is_replaced_once_for_both_parties(backend: &backends::Backend) {
    let chime = ChimeStandIn::start().await;
    let (services, _) = services(backend, &chime).await;
    let id = a_virtual_visit(&services).await;
    let first = meeting_id(&join(&services, &callers::patient(PATIENT), &id).await);
    // Everyone left for five minutes: Chime ended it.
    chime.end_meeting(&first);
    let again = meeting_id(&join(&services, &callers::patient(PATIENT), &id).await);
    assert_ne!(again, first);
    // The doctor joins the replacement, not a third meeting.
    let doctor = meeting_id(&join(&services, &callers::doctor(DOCTOR), &id).await);
    assert_eq!(doctor, again);
    assert_eq!(chime.count("CreateMeeting"), 2, "{:?}", chime.calls());
    // The replacement was asked for with a token of its own.
    let tokens: Vec<String> = chime
        .calls()
        .iter()
        .filter(|c| c.operation == "CreateMeeting")
        .map(|c| {
            c.body["ClientRequestToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_ne!(tokens[0], tokens[1]);
}

/// A join keeps the meeting without a new revision: a change decided on
/// the appointment as read before it must not put it back without it.
async fn a_change_read_before_a_first_join_is_refused_after_it(backend: &backends::Backend) {
    let chime = ChimeStandIn::start().await;
    let (services, _) = services(backend, &chime).await;
    let id = a_virtual_visit(&services).await;
    let before = services
        .store
        .get_appointment(&PERU, &id)
        .await
        .expect("read")
        .expect("there");
    let kept = meeting_id(&join(&services, &callers::patient(PATIENT), &id).await);
    let stale = before
        .cancel(
            "el médico no puede".into(),
            &citas_domain::Actor::system("test"),
            build::at("2026-11-23T13:56:00Z"),
        )
        .expect("a cancellation");
    let refused = services.store.transition(&stale).await;
    assert!(
        matches!(
            refused,
            Err(citas_domain::StoreError::StatusConflict { .. })
        ),
        "{refused:?}"
    );
    // Decided again on what is stored, it holds, and ends the kept meeting.
    use_cases::cancel(
        &services,
        &callers::admin(),
        &PERU,
        &id,
        "el médico no puede".into(),
    )
    .await
    .expect("cancelled");
    let last = chime.calls().pop().expect("a call");
    assert_eq!(
        (last.operation.as_str(), last.meeting_id.as_deref()),
        ("DeleteMeeting", Some(kept.as_str()))
    );
}

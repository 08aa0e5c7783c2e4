//! An appointment's life: creation, reading and lists, booking and every
//! status change, history, and the notes of emails that could not be sent.

use crate::error::Field;
use jiff::Timestamp;

use crate::Services;

use crate::access::{
    Access, Caller, Identity, Operation, Refused, authorize, authorize_appointment,
    require_country, visible_in_list,
};
use crate::appointment::history::{Actor, HistoryEntry};
use crate::appointment::notification::{Notification, NotificationKind, Unsent, key};
use crate::appointment::{Appointment, Transition};
use crate::error::DomainError;
use crate::ports::{Freshness, ListFilter, Page, PageRequest, StoreError};
use crate::privacy::masked_appointment;
use crate::use_cases::{Candidates, offered_speciality};
use crate::values::country::Country;
use crate::values::document::Document;
use crate::values::ids::{AppointmentId, SlotId};
use crate::values::speciality::Speciality;
use crate::values::text::MAX_REASON_LEN;
use crate::{appointment::status::Status, scheduling::doctor::Doctor, scheduling::slot::Slot};

/// `POST /{country}/appointment`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppointment {
    pub document: Document,
    pub speciality: Speciality,
}

/// Which list a caller asks for, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub select: ListSelection,
    pub page: PageRequest,
}

/// The appointments a list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSelection {
    /// With a status, newest first: a doctor's own, for a doctor.
    Status(Status),
    /// A patient's, newest first; of one status if given.
    Patient {
        document: Document,
        status: Option<Status>,
    },
    /// Visits still to come (pending or assigned, starting later), soonest
    /// first: the patient's given (or the calling patient's own), or the
    /// calling doctor's; of one of those statuses if given.
    Upcoming {
        document: Option<Document>,
        status: Option<Status>,
    },
}

pub async fn create_appointment(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    input: NewAppointment,
) -> Result<Appointment, DomainError> {
    acting_for(caller, country, &input.document)?;
    let patient = services
        .store
        .get_patient(country, &input.document)
        .await?
        .ok_or_else(|| DomainError::PatientNotFound {
            document: input.document.to_string(),
        })?;
    let speciality = offered_speciality(services, country, &input.speciality).await?;
    let now = services.now();
    let id = AppointmentId::for_request(country, input.document, now);
    let by = Actor::of(caller);
    let appointment = Appointment::register(id, country, &patient, speciality.clone(), &by, now);
    match services.store.insert_appointment(&appointment).await {
        Ok(()) => {
            tracing::info!(country = country.code, appointment_id = %masked_appointment(&appointment.id), "appointment registered");
            crate::metrics::changed(country, &appointment.creation_entry());
            Ok(appointment)
        }
        // The day's request exists: a cancelled one is re-opened, an open one is a 409.
        Err(StoreError::AlreadyExists { existing_id }) => {
            let existing = services
                .store
                .get_appointment(country, &appointment.id)
                .await?
                .ok_or(DomainError::DuplicateAppointment {
                    existing_id: existing_id.clone(),
                })?;
            if existing.status != Status::Cancelled {
                return Err(DomainError::DuplicateAppointment { existing_id });
            }
            let reopened = apply(services, existing.reopen(&patient, speciality, &by, now)?)
                .await
                .map_err(|error| match error {
                    // Re-opened (or otherwise changed) by a racing request meanwhile.
                    DomainError::InvalidTransition { .. }
                    | DomainError::ChangedMeanwhile { .. } => {
                        DomainError::DuplicateAppointment { existing_id }
                    }
                    other => other,
                })?;
            Ok(reopened)
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn get_appointment(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
) -> Result<Appointment, DomainError> {
    load(services, caller, country, id, Operation::Read).await
}

/// `GET /{country}/appointment/{id}`: as `get_appointment`, but while the
/// store cannot be reached it may answer from a recent copy, saying so.
pub async fn read_appointment(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
) -> Result<(Appointment, Freshness), DomainError> {
    find(services, caller, country, id, Operation::Read, true).await
}

/// The appointment, if it exists and the caller may do `operation` to it;
/// someone else's appointment is not found.
pub(super) async fn load(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
    operation: Operation,
) -> Result<Appointment, DomainError> {
    let (appointment, _) = find(services, caller, country, id, operation, false).await?;
    Ok(appointment)
}

/// Looks an appointment up for `operation`: a token of another country
/// learns nothing, not even whether an id exists; someone else's
/// appointment is not found. (An id that cannot exist never gets here: the
/// edge answers it as not found.) `to_show` allows
/// a recent copy while the store cannot be reached.
async fn find(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
    operation: Operation,
    to_show: bool,
) -> Result<(Appointment, Freshness), DomainError> {
    let not_found = || DomainError::AppointmentNotFound { id: id.to_string() };
    require_country(caller, country)?;
    let found = if to_show {
        services.store.read_appointment(country, id).await?
    } else {
        services
            .store
            .get_appointment(country, id)
            .await?
            .map(|appointment| (appointment, Freshness::Current))
    };
    let (appointment, freshness) = found.ok_or_else(not_found)?;
    match authorize_appointment(caller, &appointment, operation) {
        Ok(()) => Ok((appointment, freshness)),
        Err(Refused::Hidden) => Err(not_found()),
        Err(Refused::Denied(denied)) => Err(denied.into()),
    }
}

/// The caller may act for this patient of the country.
pub(super) fn acting_for(
    caller: &Caller,
    country: &Country,
    document: &Document,
) -> Result<(), DomainError> {
    Ok(authorize(caller, country, Access::ForPatient { document })?)
}

pub async fn list_appointments(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    request: ListRequest,
) -> Result<Page<Appointment>, DomainError> {
    let filter = match request.select {
        ListSelection::Patient { document, status } => {
            acting_for(caller, country, &document)?;
            match status {
                None => ListFilter::Document(document),
                Some(status) => ListFilter::DocumentStatus(document, status),
            }
        }
        ListSelection::Status(status) => {
            authorize(caller, country, Access::ListByStatus)?;
            match &caller.identity {
                // A doctor's list is their own appointments: real pages of them.
                Identity::Doctor(document) => ListFilter::DoctorStatus(document.clone(), status),
                _ => ListFilter::Status(status),
            }
        }
        ListSelection::Upcoming { document, status } => {
            let after = services.now();
            match (document, &caller.identity) {
                (Some(document), _) => {
                    acting_for(caller, country, &document)?;
                    ListFilter::PatientUpcoming {
                        document,
                        after,
                        status,
                    }
                }
                (None, Identity::Patient(own)) => {
                    acting_for(caller, country, own)?;
                    ListFilter::PatientUpcoming {
                        document: own.clone(),
                        after,
                        status,
                    }
                }
                (None, Identity::Doctor(own)) => {
                    authorize(caller, country, Access::ListByStatus)?;
                    ListFilter::DoctorUpcoming {
                        doctor: own.clone(),
                        after,
                        status,
                    }
                }
                (None, _) => {
                    return Err(DomainError::InvalidInput {
                        field: Field::Document,
                        message: "an upcoming list is a patient's: give 'document'".into(),
                    });
                }
            }
        }
    };
    let mut page = services
        .store
        .list_appointments(country, &filter, &request.page)
        .await?;
    // Defence in depth: nothing someone may not see leaves, whatever the index held.
    page.items.retain(|a| visible_in_list(caller, a));
    Ok(page)
}

/// Books a slot for a registered appointment: the given one, or the earliest
/// available future slot of the appointment's speciality in its country.
pub async fn assign(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
    slot: Option<SlotId>,
) -> Result<Appointment, DomainError> {
    let appointment = load(services, caller, country, id, Operation::Assign).await?;
    let (by, now) = (Actor::of(caller), services.now());
    // Checked before looking for slots, so a closed appointment is a 409, not "no slot".
    appointment.require_assignable()?;
    // A slot chosen for a patient leaves them time to change their mind.
    let earliest = if by.is_patient() {
        country.change_policy.earliest_automatic_start(now)
    } else {
        now
    };
    book(
        services,
        (caller, Operation::Assign),
        appointment,
        slot,
        earliest,
        |current, slot, doctor| current.assign(slot, doctor, &by, now),
    )
    .await
}

/// Moves a pending or assigned appointment to the given slot, or to the
/// earliest free one of its speciality; the old slot is freed in the same write.
pub async fn reschedule(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
    slot: Option<SlotId>,
) -> Result<Appointment, DomainError> {
    let appointment = load(services, caller, country, id, Operation::Reschedule).await?;
    let (by, now) = (Actor::of(caller), services.now());
    appointment.require_reschedulable(&by, now)?;
    // "Move my appointment", chosen for a patient: a later slot than the
    // current one, and one that leaves them time to change their mind.
    let earliest = match appointment.starts_at() {
        Some(current) if by.is_patient() => {
            current.max(country.change_policy.earliest_automatic_start(now))
        }
        _ => now,
    };
    book(
        services,
        (caller, Operation::Reschedule),
        appointment,
        slot,
        earliest,
        |current, slot, doctor| current.reschedule(slot, doctor, &by, now),
    )
    .await
}

/// Books the given slot, or walks the free slots of the speciality starting
/// after `earliest` (earliest first) until one is won, with the change
/// `booking` decides on the appointment as it stands.
async fn book(
    services: &Services,
    access: (&Caller, Operation),
    appointment: Appointment,
    slot: Option<SlotId>,
    earliest: Timestamp,
    booking: impl Fn(&Appointment, &Slot, Option<&Doctor>) -> Result<Transition, DomainError>,
) -> Result<Appointment, DomainError> {
    let rescheduling = appointment.status.holds_slot();
    let mut current = appointment;
    match slot {
        Some(slot_id) => {
            let slot = services.store.get_slot(&slot_id).await?.ok_or_else(|| {
                DomainError::SlotNotFound {
                    slot: slot_id.to_string(),
                }
            })?;
            let doctor = services.store.get_doctor(slot.doctor()).await?;
            let booked = apply_deciding_again(services, access, &mut current, |a| {
                booking(a, &slot, doctor.as_ref())
            })
            .await?;
            log_booking(&booked, rescheduling);
            Ok(booked)
        }
        None => {
            let mut candidates = Candidates::new(services, &current, earliest);
            while let Some((slot, doctor)) = candidates.next().await? {
                match apply_deciding_again(services, access, &mut current, |a| {
                    booking(a, &slot, doctor.as_ref())
                })
                .await
                {
                    // Someone else took it between the search and the write: move on.
                    Err(DomainError::SlotUnavailable { .. }) => {
                        candidates.lost(&slot);
                        continue;
                    }
                    Ok(booked) => {
                        log_booking(&booked, rescheduling);
                        return Ok(booked);
                    }
                    Err(other) => return Err(other),
                }
            }
            crate::metrics::count(crate::metrics::AUTO_ASSIGN_MISSES, current.country, 1);
            Err(DomainError::NoSlotAvailable {
                speciality: current.speciality.to_string(),
            })
        }
    }
}

/// A new or moved booking, in the logs. (Its emails come from the committed
/// change itself: the transactional outbox.)
fn log_booking(booked: &Appointment, rescheduled: bool) {
    let event = match (rescheduled, booked.status) {
        (true, _) => "appointment rescheduled",
        (false, Status::Pending) => "appointment pending",
        _ => "appointment assigned",
    };
    tracing::info!(country = booked.country.code, appointment_id = %masked_appointment(&booked.id), status = %booked.status, "{event}");
}

/// Loads the appointment for `operation`, lets the entity decide the change
/// and stores it (whom it concerns is told from the committed change).
async fn change(
    services: &Services,
    (caller, country, id): (&Caller, &'static Country, &AppointmentId),
    operation: Operation,
    decide: impl Fn(&Appointment, &Actor, Timestamp) -> Result<Transition, DomainError>,
) -> Result<Appointment, DomainError> {
    let mut appointment = load(services, caller, country, id, operation).await?;
    let (by, now) = (Actor::of(caller), services.now());
    apply_deciding_again(services, (caller, operation), &mut appointment, |current| {
        decide(current, &by, now)
    })
    .await
}

/// The doctor (or an admin) accepts a pending booking.
pub async fn confirm(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
) -> Result<Appointment, DomainError> {
    let request = (caller, country, id);
    change(services, request, Operation::Answer, |a, by, now| {
        a.confirm(by, now)
    })
    .await
}

/// The doctor (or an admin) turns a booking down: the slot is freed and the
/// patient is asked to choose another.
pub async fn refuse(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
    reason: String,
) -> Result<Appointment, DomainError> {
    let request = (caller, country, id);
    change(services, request, Operation::Answer, |a, by, now| {
        a.refuse(reason.clone(), by, now)
    })
    .await
}

/// The consultation took place (once it has started).
pub async fn complete(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
) -> Result<Appointment, DomainError> {
    let request = (caller, country, id);
    change(services, request, Operation::Close, Appointment::complete).await
}

/// The patient did not come (recorded once the start has passed).
pub async fn no_show(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
) -> Result<Appointment, DomainError> {
    let request = (caller, country, id);
    change(services, request, Operation::Close, Appointment::no_show).await
}

/// Cancels an open appointment and gives its slot back.
pub async fn cancel(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
    reason: String,
) -> Result<Appointment, DomainError> {
    let request = (caller, country, id);
    change(services, request, Operation::Cancel, |a, by, now| {
        a.cancel(reason.clone(), by, now)
    })
    .await
}

/// An appointment's history, oldest first, for whoever may read it.
pub async fn history(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
) -> Result<Vec<HistoryEntry>, DomainError> {
    let appointment = load(services, caller, country, id, Operation::Read).await?;
    let mut entries = vec![appointment.creation_entry()];
    entries.extend(services.store.history(country, &appointment.id).await?);
    Ok(entries)
}

/// Times a change that lost a race to another is decided again on what the
/// store then holds, before the caller is told to retry.
pub const DECIDE_AGAIN_ATTEMPTS: usize = 3;

/// Decides a change on `current` and stores it. When another change came
/// first (the conditional write fails on status or revision), the
/// appointment is read again and the change decided again on it: still
/// allowed, it is stored; no longer allowed, the refusal names the state
/// that forbids it; still racing after a few tries, `ChangedMeanwhile`.
/// `current` is left as last read.
/// What is read again is authorised again for `caller` and `operation`
/// (a visit moved to another doctor's slot is no longer this doctor's).
pub(super) async fn apply_deciding_again(
    services: &Services,
    (caller, operation): (&Caller, Operation),
    current: &mut Appointment,
    decide: impl Fn(&Appointment) -> Result<Transition, DomainError>,
) -> Result<Appointment, DomainError> {
    let mut attempt = 1;
    loop {
        let transition = decide(current)?;
        match apply(services, transition).await {
            Ok(changed) => {
                end_replaced_meeting(services, current, &changed).await;
                return Ok(changed);
            }
            Err(DomainError::ChangedMeanwhile { .. }) if attempt < DECIDE_AGAIN_ATTEMPTS => {
                attempt += 1;
                let not_found = || DomainError::AppointmentNotFound {
                    id: current.id.to_string(),
                };
                let fresh = services
                    .store
                    .get_appointment(current.country, &current.id)
                    .await?
                    .ok_or_else(not_found)?;
                match authorize_appointment(caller, &fresh, operation) {
                    Ok(()) => *current = fresh,
                    Err(Refused::Hidden) => return Err(not_found()),
                    Err(Refused::Denied(denied)) => return Err(denied.into()),
                }
            }
            other => return other,
        }
    }
}

/// A virtual visit moved or cancelled: its opened meeting is ended, so
/// nobody stays in the old one. Best effort: the change is stored, and a
/// meeting left open ends by itself once empty (Chime's rule).
async fn end_replaced_meeting(services: &Services, before: &Appointment, after: &Appointment) {
    let Some(old) = before
        .meeting
        .as_ref()
        .filter(|room| room.session.is_some())
    else {
        return;
    };
    let replaced = after.meeting.as_ref().map(|room| &room.key) != Some(&old.key);
    if !(replaced || after.status == Status::Cancelled) {
        return;
    }
    match services.meetings.end(old).await {
        Ok(()) => {
            tracing::info!(country = after.country.code, appointment_id = %masked_appointment(&after.id), "meeting ended")
        }
        Err(error) => {
            tracing::warn!(country = after.country.code, appointment_id = %masked_appointment(&after.id), %error, "the old meeting could not be ended; it ends once empty")
        }
    }
}

/// Stores a transition the entity decided on.
async fn apply(services: &Services, transition: Transition) -> Result<Appointment, DomainError> {
    services
        .store
        .transition(&transition)
        .await
        .map_err(|error| transition.refused(error))?;
    crate::metrics::changed(transition.appointment.country, &transition.entry);
    let appointment = transition.appointment;
    tracing::info!(
        country = appointment.country.code,
        appointment_id = %masked_appointment(&appointment.id),
        status = %appointment.status,
        revision = appointment.revision,
        "appointment status changed"
    );
    Ok(appointment)
}

/// Records on the appointment's history that an automatic notification could
/// not be sent, so it is visible rather than silently dropped.
pub async fn note_unsent(
    store: &dyn crate::ports::Store,
    appointment: &Appointment,
    kind: NotificationKind,
    why: Unsent,
    at: Timestamp,
) -> Result<(), crate::ports::StoreError> {
    let mut note = format!("{} not sent: {why}", kind.as_str());
    note.truncate(MAX_REASON_LEN);
    let entry = HistoryEntry {
        revision: appointment.revision,
        at,
        by: Actor::system("send-email"),
        from: Some(appointment.status),
        to: appointment.status,
        reason: None,
        note: Some(note),
        slot: appointment.slot.clone(),
        doctor_name: appointment.doctor_name.clone(),
        slot_minutes: appointment.slot_minutes,
        from_slot: appointment.slot.clone(),
    };
    store
        .add_history_note(appointment.country, &appointment.id, &entry)
        .await
}

/// Enqueues the message for the appointment's current state again.
pub async fn notify(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
) -> Result<Notification, DomainError> {
    let appointment = load(services, caller, country, id, Operation::Notify).await?;
    let patient = services
        .store
        .get_patient(country, appointment.document())
        .await?;
    match patient {
        Some(patient) if patient.reachable_email().is_some() => {}
        Some(patient) if patient.email.is_some() => {
            return Err(DomainError::EmailNotVerified {
                id: appointment.id.to_string(),
            });
        }
        _ => {
            return Err(DomainError::NoEmailOnFile {
                id: appointment.id.to_string(),
            });
        }
    }
    let kind = NotificationKind::for_status(appointment.status);
    // The client asked for this message to go out again: once per short window.
    let key = key::notify(&appointment.id, appointment.updated_at, services.now());
    let message = Notification::about(&appointment, kind, key);
    services
        .queue
        .enqueue(&message)
        .await
        .map_err(|e| DomainError::Unavailable(e.to_string()))?;
    Ok(message)
}

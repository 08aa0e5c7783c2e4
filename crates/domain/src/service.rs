//! The use cases: plain async functions over the ports.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;

use crate::access::{
    Access, Caller, Denied, Operation, authorize, require_country, visible_in_list,
};
use crate::clock::Clock;
use crate::country::Country;
use crate::document::Document;
use crate::error::DomainError;
use crate::model::{
    Appointment, AppointmentId, MAX_TEXT_LEN, Patient, Slot, SlotId, Speciality, Status,
    clean_email, clean_text,
};
use crate::notification::{Notification, NotificationKind};
use crate::ports::{
    ListFilter, NotificationQueue, Page, PageRequest, SlotChange, Store, StoreError, Transition,
    Upserted,
};
use crate::timestamp;

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: usize = 100;
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// How many slots auto-assignment tries when it keeps losing races.
const AUTO_ASSIGN_ATTEMPTS: usize = 3;

/// What the use cases run on. Built once per process.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn NotificationQueue>,
    pub clock: Arc<dyn Clock>,
}

impl Services {
    fn now(&self) -> Timestamp {
        timestamp::truncate(self.clock.now())
    }
}

/// `POST /{country}/patient`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientInput {
    pub document: String,
    pub name: String,
    pub email: String,
}

/// `POST /{country}/appointment`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAppointmentInput {
    pub document: String,
    pub speciality: String,
}

fn invalid(field: &'static str, message: impl ToString) -> DomainError {
    DomainError::InvalidInput {
        field,
        message: message.to_string(),
    }
}

pub async fn register_patient(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    input: PatientInput,
) -> Result<(Patient, Upserted), DomainError> {
    let document = patients_document(caller, country, &input.document)?;
    let name =
        clean_text(&input.name, MAX_TEXT_LEN).map_err(|e| invalid("name", format!("name {e}")))?;
    let email = clean_email(&input.email).map_err(|e| invalid("email", format!("email {e}")))?;
    let patient = Patient {
        document: document.into_string(),
        name,
        email: Some(email),
    };
    let upserted = services.store.upsert_patient(country, &patient).await?;
    Ok((patient, upserted))
}

pub async fn create_appointment(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    input: CreateAppointmentInput,
) -> Result<Appointment, DomainError> {
    let document = patients_document(caller, country, &input.document)?;
    let speciality = Speciality::parse(&input.speciality)
        .map_err(|e| invalid("speciality", format!("speciality {e}")))?;
    let patient = services
        .store
        .get_patient(country, document.as_str())
        .await?
        .ok_or_else(|| DomainError::PatientNotFound {
            document: document.to_string(),
        })?;
    let now = services.now();
    let id = AppointmentId::for_request(country, document, now);
    let appointment = Appointment {
        id: id.to_string(),
        country: country.code.to_owned(),
        document: id.document.into_string(),
        patient: patient.name,
        speciality: speciality.as_str().to_owned(),
        status: Status::Registered,
        created_at: now,
        date: None,
        update_at: now,
        doctor: None,
        starts_at: None,
        cancel_reason: None,
    };
    services
        .store
        .insert_appointment(country, &appointment)
        .await?;
    tracing::info!(country = country.code, appointment_id = %crate::privacy::masked_id(&appointment.id), "appointment registered");
    Ok(appointment)
}

pub async fn get_appointment(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &str,
) -> Result<Appointment, DomainError> {
    load(services, caller, country, id, Operation::Read).await
}

/// The appointment, if it exists and the caller may do `operation` to it;
/// someone else's appointment is not found.
async fn load(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &str,
    operation: Operation,
) -> Result<Appointment, DomainError> {
    let not_found = || DomainError::AppointmentNotFound {
        id: id.chars().take(64).collect(),
    };
    // A token of another country learns nothing, not even whether an id exists.
    require_country(caller, country).map_err(DomainError::Denied)?;
    // An id that cannot exist is not looked up.
    AppointmentId::parse(country, id).map_err(|_| not_found())?;
    let appointment = services
        .store
        .get_appointment(country, id)
        .await?
        .ok_or_else(not_found)?;
    match authorize(
        caller,
        country,
        Access::Appointment {
            appointment: &appointment,
            operation,
        },
    ) {
        Ok(()) => Ok(appointment),
        Err(Denied::Hidden) => Err(not_found()),
        Err(denied) => Err(DomainError::Denied(denied)),
    }
}

fn check(caller: &Caller, country: &Country, access: Access<'_>) -> Result<(), DomainError> {
    authorize(caller, country, access).map_err(DomainError::Denied)
}

/// A patient's document from a request, valid for the country and one the caller may act for.
fn patients_document(
    caller: &Caller,
    country: &Country,
    raw: &str,
) -> Result<Document, DomainError> {
    let document = country
        .parse_document(raw)
        .map_err(|e| invalid("document", e))?;
    check(
        caller,
        country,
        Access::ForPatient {
            document: document.as_str(),
        },
    )?;
    Ok(document)
}

/// What a list request asks for, before validation.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<String>,
    pub document: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

pub async fn list_appointments(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    query: ListQuery,
) -> Result<Page<Appointment>, DomainError> {
    let filter = match (query.status, query.document) {
        (Some(status), None) => {
            check(caller, country, Access::ListByStatus)?;
            ListFilter::Status(status.parse().map_err(|e| invalid("status", e))?)
        }
        (None, Some(document)) => {
            ListFilter::Document(patients_document(caller, country, &document)?.into_string())
        }
        _ => {
            return Err(invalid(
                "query",
                "give exactly one of the query parameters 'status' or 'document'",
            ));
        }
    };
    let limit = match query.limit {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                return Err(invalid(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                ));
            }
        },
    };
    let page = PageRequest {
        limit,
        cursor: query.cursor.filter(|c| !c.is_empty()),
    };
    let mut page = services
        .store
        .list_appointments(country, &filter, &page)
        .await?;
    // A doctor's page shows only their own; the cursor still walks the whole list.
    page.items.retain(|a| visible_in_list(caller, a));
    Ok(page)
}

/// Books a slot for a registered appointment: the given one, or the earliest
/// available future slot of the appointment's speciality in its country.
pub async fn assign(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &str,
    slot_id: Option<&str>,
) -> Result<Appointment, DomainError> {
    let appointment = load(services, caller, country, id, Operation::Assign).await?;
    require_transition(&appointment, Status::Assigned)?;
    let now = services.now();
    match slot_id {
        Some(slot_id) => {
            let slot = bookable_slot(services, country, &appointment, slot_id, now).await?;
            book(services, country, appointment, slot, now).await
        }
        None => {
            for _ in 0..AUTO_ASSIGN_ATTEMPTS {
                let slot = earliest_slot(services, country, &appointment, now)
                    .await?
                    .ok_or_else(|| DomainError::NoSlotAvailable {
                        speciality: appointment.speciality.clone(),
                    })?;
                match book(services, country, appointment.clone(), slot, now).await {
                    // Someone else took that slot between the query and the write: try the next one.
                    Err(DomainError::SlotUnavailable { .. }) => continue,
                    other => return other,
                }
            }
            Err(DomainError::NoSlotAvailable {
                speciality: appointment.speciality,
            })
        }
    }
}

async fn bookable_slot(
    services: &Services,
    country: &'static Country,
    appointment: &Appointment,
    slot_id: &str,
    now: Timestamp,
) -> Result<Slot, DomainError> {
    let parsed = SlotId::parse(slot_id).map_err(|e| invalid("slot", e))?;
    let slot =
        services
            .store
            .get_slot(slot_id)
            .await?
            .ok_or_else(|| DomainError::SlotNotFound {
                slot: slot_id.to_owned(),
            })?;
    // Doctor ids are `{country}-{speciality}-{document}`.
    let expected_prefix = format!("{}-{}-", country.code, appointment.speciality);
    if !slot.doctor.starts_with(&expected_prefix) {
        return Err(DomainError::SlotMismatch {
            slot: slot.id,
            speciality: appointment.speciality.clone(),
        });
    }
    if parsed.starts_at <= now {
        return Err(DomainError::SlotInPast { slot: slot.id });
    }
    if !slot.is_available {
        return Err(DomainError::SlotUnavailable { slot: slot.id });
    }
    Ok(slot)
}

async fn earliest_slot(
    services: &Services,
    country: &'static Country,
    appointment: &Appointment,
    now: Timestamp,
) -> Result<Option<Slot>, DomainError> {
    let doctors = services
        .store
        .doctors_by_speciality(country, &appointment.speciality)
        .await?;
    let mut best: Option<(Timestamp, Slot)> = None;
    for doctor in doctors {
        if let Some(slot) = services.store.next_available_slot(&doctor.id, now).await?
            && let Some(at) = slot.starts_at()
            && best.as_ref().is_none_or(|(best_at, _)| at < *best_at)
        {
            best = Some((at, slot));
        }
    }
    Ok(best.map(|(_, slot)| slot))
}

async fn book(
    services: &Services,
    country: &'static Country,
    appointment: Appointment,
    slot: Slot,
    now: Timestamp,
) -> Result<Appointment, DomainError> {
    let expected = appointment.status;
    let assigned = Appointment {
        status: Status::Assigned,
        date: Some(slot.id.clone()),
        doctor: Some(slot.doctor.clone()),
        starts_at: slot.starts_at(),
        update_at: now,
        ..appointment
    };
    let transition = Transition {
        country,
        appointment: assigned,
        expected,
        slot: SlotChange::Book(slot.id.clone()),
    };
    services
        .store
        .transition(&transition)
        .await
        .map_err(|e| transition_error(e, &transition.appointment.id, Status::Assigned))?;
    tracing::info!(country = country.code, appointment_id = %crate::privacy::masked_id(&transition.appointment.id), slot = %slot.id, "appointment assigned");
    let key = crate::notification::key::assigned(&transition.appointment.id, &slot.id);
    announce(
        services,
        country,
        &transition.appointment,
        NotificationKind::Assigned,
        key,
    )
    .await;
    Ok(transition.appointment)
}

pub async fn complete(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &str,
) -> Result<Appointment, DomainError> {
    let appointment = load(services, caller, country, id, Operation::Complete).await?;
    require_transition(&appointment, Status::Completed)?;
    let now = services.now();
    let transition = Transition {
        country,
        expected: appointment.status,
        appointment: Appointment {
            status: Status::Completed,
            update_at: now,
            ..appointment
        },
        slot: SlotChange::None,
    };
    apply(services, transition, Status::Completed).await
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    pub reason: String,
}

/// Cancels an open appointment and gives its slot back.
pub async fn cancel(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &str,
    input: CancelInput,
) -> Result<Appointment, DomainError> {
    let reason =
        clean_text(&input.reason, 500).map_err(|e| invalid("reason", format!("reason {e}")))?;
    let appointment = load(services, caller, country, id, Operation::Cancel).await?;
    require_transition(&appointment, Status::Cancelled)?;
    let now = services.now();
    let slot = match (&appointment.status, &appointment.date) {
        (Status::Assigned, Some(slot)) => SlotChange::Release(slot.clone()),
        _ => SlotChange::None,
    };
    let transition = Transition {
        country,
        expected: appointment.status,
        appointment: Appointment {
            status: Status::Cancelled,
            cancel_reason: Some(reason),
            update_at: now,
            ..appointment
        },
        slot,
    };
    let cancelled = apply(services, transition, Status::Cancelled).await?;
    let key = crate::notification::key::cancelled(&cancelled.id);
    announce(
        services,
        country,
        &cancelled,
        NotificationKind::Cancelled,
        key,
    )
    .await;
    Ok(cancelled)
}

/// Tells the patient about a change that is already stored. The change stands
/// even if the queue is down (the SDK has retried by then); the failure is
/// logged with what `POST …/notify` needs to send it again.
async fn announce(
    services: &Services,
    country: &'static Country,
    appointment: &Appointment,
    kind: NotificationKind,
    idempotency_key: String,
) {
    let message = Notification::about(appointment, kind, idempotency_key);
    if let Err(error) = services.queue.enqueue(country, &message).await {
        tracing::error!(
            country = country.code,
            appointment_id = %crate::privacy::masked_id(&appointment.id),
            r#type = ?kind,
            %error,
            "notification_not_enqueued: the change is stored; POST .../notify sends it again"
        );
    }
}

/// Enqueues the message for the appointment's current state again.
pub async fn notify(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &str,
) -> Result<Notification, DomainError> {
    let appointment = load(services, caller, country, id, Operation::Notify).await?;
    let kind = NotificationKind::for_status(appointment.status);
    // A fresh key: the client asked for this message to go out again.
    let message = Notification::about(&appointment, kind, uuid::Uuid::new_v4().to_string());
    services
        .queue
        .enqueue(country, &message)
        .await
        .map_err(|e| DomainError::Unavailable(e.to_string()))?;
    Ok(message)
}

fn require_transition(appointment: &Appointment, next: Status) -> Result<(), DomainError> {
    if appointment.status.can_become(next) {
        Ok(())
    } else {
        Err(DomainError::InvalidTransition {
            id: appointment.id.clone(),
            current: appointment.status,
            requested: next,
        })
    }
}

async fn apply(
    services: &Services,
    transition: Transition,
    next: Status,
) -> Result<Appointment, DomainError> {
    services
        .store
        .transition(&transition)
        .await
        .map_err(|e| transition_error(e, &transition.appointment.id, next))?;
    tracing::info!(
        country = transition.country.code,
        appointment_id = %crate::privacy::masked_id(&transition.appointment.id),
        status = %next,
        "appointment status changed"
    );
    Ok(transition.appointment)
}

fn transition_error(error: StoreError, id: &str, requested: Status) -> DomainError {
    match error {
        StoreError::StatusConflict { current } => DomainError::InvalidTransition {
            id: id.to_owned(),
            current,
            requested,
        },
        StoreError::NotFound => DomainError::AppointmentNotFound { id: id.to_owned() },
        other => other.into(),
    }
}

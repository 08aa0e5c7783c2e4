//! A patient's record: registration, verified addresses, the patient's
//! own record, and the export and erasure of everything held about them.

use jiff::Timestamp;

use super::appointments::{DECIDE_AGAIN_ATTEMPTS, acting_for, apply_deciding_again};
use crate::Services;

use crate::access::{Caller, Identity, Operation, require_country};
use crate::appointment::Appointment;
use crate::appointment::history::HistoryEntry;
use crate::error::DomainError;
use crate::ports::{ListFilter, PageRequest, StoreError, Upserted};
use crate::values::country::Country;
use crate::values::document::Document;
use crate::values::email::EmailAddress;
use crate::values::ids::AppointmentId;
use crate::verification::CODES_PER_DAY;
use crate::{appointment::status::Status, patient::Patient};

/// `POST /{country}/patient`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPatient {
    pub document: Document,
    pub name: String,
    pub email: EmailAddress,
}

pub async fn register_patient(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    input: NewPatient,
) -> Result<(Patient, Upserted), DomainError> {
    acting_for(caller, country, &input.document)?;
    let stored = services.store.get_patient(country, &input.document).await?;
    let patient = match (&caller.identity, stored) {
        (Identity::Patient(_), Some(stored)) => Patient {
            name: input.name,
            ..stored.with_email_given(input.email)
        },
        (Identity::Patient(_), None) => Patient {
            document: input.document,
            name: input.name,
            email: Some(input.email),
            email_verified: false,
            verification: None,
        },
        // Staff giving the address on file again (in any capitals) change
        // nothing of its verification.
        (_, Some(stored)) if stored.has_mailbox(&input.email) => Patient {
            name: input.name,
            email: Some(input.email),
            ..stored
        },
        // An address staff enter counts as verified.
        _ => Patient {
            document: input.document,
            name: input.name,
            email: Some(input.email),
            email_verified: true,
            verification: None,
        },
    };
    let patient = if patient.needs_code(services.now()) {
        send_code(services, country, &patient).await?
    } else {
        patient
    };
    let upserted = services.store.upsert_patient(country, &patient).await?;
    Ok((patient, upserted))
}

/// Sends a new code to the record's address and answers the record that
/// keeps its hash (to be stored by the caller). Sent before it is stored: a
/// request that fails after sending is sent again with a new code.
async fn send_code(
    services: &Services,
    country: &'static Country,
    patient: &Patient,
) -> Result<Patient, DomainError> {
    let now = services.now();
    let issued = patient
        .issue_code(country, now)
        .map_err(|_| DomainError::NothingToVerify)?;
    let counted = services
        .verifier
        .count_code(
            &issued.email.to,
            country.local_date(now),
            CODES_PER_DAY,
            now,
        )
        .await?;
    if !counted {
        return Err(DomainError::TooManyCodes {
            limit: CODES_PER_DAY,
            retry_after: country.until_midnight(now),
        });
    }
    services
        .verifier
        .send_code(&issued.email)
        .await
        .map_err(|e| DomainError::Unavailable(format!("verification email: {e}")))?;
    tracing::info!(country = country.code, "verification code sent");
    Ok(issued.patient)
}

/// `POST /{country}/patient/{document}/email/verification`: a new code to
/// the record's unverified address (the patient themself or an admin).
pub async fn resend_code(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    document: &Document,
) -> Result<Patient, DomainError> {
    let patient = own_record(services, caller, country, document).await?;
    let patient = send_code(services, country, &patient).await?;
    services.store.upsert_patient(country, &patient).await?;
    Ok(patient)
}

/// `POST /{country}/patient/{document}/email/verify`: the code sent comes
/// back, and the address is verified.
pub async fn verify_email(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    document: &Document,
    code: &str,
) -> Result<Patient, DomainError> {
    let patient = own_record(services, caller, country, document).await?;
    let verified = patient
        .verified_with(code, services.now())
        .ok_or(DomainError::InvalidCode)?;
    services.store.upsert_patient(country, &verified).await?;
    tracing::info!(country = country.code, "email address verified");
    Ok(verified)
}

async fn own_record(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    document: &Document,
) -> Result<Patient, DomainError> {
    own_data(caller, country, document)?;
    services
        .store
        .get_patient(country, document)
        .await?
        .ok_or_else(|| DomainError::PatientNotFound {
            document: crate::privacy::masked_document(document.as_str()),
        })
}

/// `GET /{country}/patient/{document}`: the patient's own record (or any,
/// for an admin). Someone else's is not found.
pub async fn get_patient(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    document: &Document,
) -> Result<Patient, DomainError> {
    require_country(caller, country)?;
    let not_found = || DomainError::PatientNotFound {
        document: crate::privacy::masked_document(document.as_str()),
    };
    if acting_for(caller, country, document).is_err() {
        return Err(not_found());
    }
    services
        .store
        .get_patient(country, document)
        .await?
        .ok_or_else(not_found)
}

/// Everything held about a patient of a country: their record (none for
/// patients pasted without one) and each appointment with its whole history
/// (changes and the notes of emails that could not be sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientExport {
    /// When it was read.
    pub at: Timestamp,
    pub patient: Option<Patient>,
    pub appointments: Vec<(Appointment, Vec<HistoryEntry>)>,
}

/// The pages of a patient's appointments an export reads at most (100 each):
/// one appointment a day is far fewer.
const EXPORT_PAGES: usize = 100;
const EXPORT_PAGE_SIZE: usize = 100;

/// The patient whose data the caller asks for: the patient themself or an
/// admin; anyone else's is not found.
fn own_data(
    caller: &Caller,
    country: &'static Country,
    document: &Document,
) -> Result<(), DomainError> {
    require_country(caller, country)?;
    acting_for(caller, country, document).map_err(|_| DomainError::PatientNotFound {
        document: crate::privacy::masked_document(document.as_str()),
    })
}

/// Every appointment of a patient, newest first (bounded by
/// `EXPORT_PAGES` pages of `EXPORT_PAGE_SIZE`).
async fn appointments_of(
    services: &Services,
    country: &'static Country,
    document: &Document,
) -> Result<Vec<Appointment>, DomainError> {
    let mut appointments = Vec::new();
    let mut cursor = None;
    for _ in 0..EXPORT_PAGES {
        let page = services
            .store
            .list_appointments(
                country,
                &ListFilter::Document(document.clone()),
                &PageRequest {
                    limit: EXPORT_PAGE_SIZE,
                    cursor: cursor.take(),
                },
            )
            .await?;
        appointments.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(appointments)
}

/// A patient's data, for the patient themself or an admin (the right of
/// access of Peru's Ley 29733 and Chile's Ley 21.719); someone else's is
/// not found. Audited without personal data: who asked and how much was read.
pub async fn export_patient(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    document: &Document,
) -> Result<PatientExport, DomainError> {
    own_data(caller, country, document)?;
    let patient = services.store.get_patient(country, document).await?;
    let mut appointments = Vec::new();
    for appointment in appointments_of(services, country, document).await? {
        let mut history = vec![appointment.creation_entry()];
        history.extend(services.store.history(country, &appointment.id).await?);
        appointments.push((appointment, history));
    }
    if patient.is_none() && appointments.is_empty() {
        return Err(DomainError::PatientNotFound {
            document: crate::privacy::masked_document(document.as_str()),
        });
    }
    tracing::info!(
        audit = "patient_export",
        country = country.code,
        by_role = caller.role().as_str(),
        by = audited_actor(caller),
        appointments = appointments.len(),
        "a patient's data was exported"
    );
    Ok(PatientExport {
        at: services.now(),
        patient,
        appointments,
    })
}

/// Who asked, as an audit line names them: staff by their token's
/// subject; a patient as `self` (their subject may be their document).
fn audited_actor(caller: &Caller) -> &str {
    match caller.identity {
        Identity::Patient(_) => "self",
        _ => &caller.subject,
    }
}

/// What the erasure of a patient's data did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientErasure {
    pub at: Timestamp,
    /// Whether there was a record (name, email) to delete.
    pub record_deleted: bool,
    /// Open appointments cancelled first (their slots freed).
    pub cancelled: usize,
    /// Appointments deleted with their history.
    pub deleted: usize,
    /// The new ids of the completed visits kept, anonymised.
    pub kept_anonymised: Vec<AppointmentId>,
}

/// Erases a patient's data, for the patient themself or an admin (the
/// right of erasure of Peru's Ley 29733 and Chile's Ley 21.719): open
/// appointments are cancelled (their slots freed; the cancellation reaches
/// the outbox as any other, but its email finds nothing left to tell and
/// is not sent, so no one is emailed about the patient again), then every
/// appointment is deleted with its history but completed visits, which are
/// kept anonymised; the record goes last, so a request that fails halfway
/// can be sent again and finishes the work. Audited without personal data.
pub async fn erase_patient(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    document: &Document,
) -> Result<PatientErasure, DomainError> {
    own_data(caller, country, document)?;
    let patient = services.store.get_patient(country, document).await?;
    let appointments = appointments_of(services, country, document).await?;
    if patient.is_none() && appointments.is_empty() {
        return Err(DomainError::PatientNotFound {
            document: crate::privacy::masked_document(document.as_str()),
        });
    }
    let now = services.now();
    let mut erasure = PatientErasure {
        at: now,
        record_deleted: false,
        cancelled: 0,
        deleted: 0,
        kept_anonymised: Vec::new(),
    };
    for listed in appointments {
        // The patient's index may lag behind the table: decide on the appointment as stored.
        let Some(mut appointment) = services.store.get_appointment(country, &listed.id).await?
        else {
            continue;
        };
        let mut attempt = 1;
        loop {
            if appointment.status.is_open() {
                appointment = apply_deciding_again(
                    services,
                    (caller, Operation::Cancel),
                    &mut appointment,
                    |current| current.cancel_for_erasure(now),
                )
                .await?;
                erasure.cancelled += 1;
            }
            let kept = (appointment.status == Status::Completed).then(|| appointment.anonymised());
            match services
                .store
                .erase_appointment(&appointment, kept.as_ref())
                .await
            {
                Ok(()) => {
                    match kept {
                        Some(kept) => erasure.kept_anonymised.push(kept.id),
                        None => erasure.deleted += 1,
                    }
                    break;
                }
                // Changed since it was read (a doctor closed it): read again.
                Err(StoreError::StatusConflict { .. }) if attempt < DECIDE_AGAIN_ATTEMPTS => {
                    attempt += 1;
                    match services
                        .store
                        .get_appointment(country, &appointment.id)
                        .await?
                    {
                        Some(fresh) => appointment = fresh,
                        None => break,
                    }
                }
                Err(StoreError::NotFound) => break,
                Err(other) => return Err(other.into()),
            }
        }
    }
    erasure.record_deleted = services.store.delete_patient(country, document).await?;
    tracing::info!(
        audit = "patient_erasure",
        country = country.code,
        by_role = caller.role().as_str(),
        by = audited_actor(caller),
        record_deleted = erasure.record_deleted,
        cancelled = erasure.cancelled,
        deleted = erasure.deleted,
        kept_anonymised = erasure.kept_anonymised.len(),
        "a patient's data was erased"
    );
    Ok(erasure)
}

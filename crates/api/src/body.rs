//! The API's JSON: request bodies and query strings as clients send them,
//! parsed once into the domain's types (`try_into_domain`), and the response
//! shapes the domain's entities are shown as.

use citas_domain::Field;
use citas_domain::meeting::{Entry, JoinWindow};
use citas_domain::use_cases::{ListRequest, ListSelection, NewAppointment, NewPatient};
use citas_domain::values::timestamp;
use citas_domain::{
    Appointment, Country, DomainError, EmailAddress, HistoryEntry, PageRequest, Patient, SlotId,
    Speciality, Status,
};
use citas_domain::{
    values::text::MAX_REASON_LEN, values::text::MAX_TEXT_LEN, values::text::clean_text,
};
use serde::{Deserialize, Serialize};

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: usize = 100;
pub const DEFAULT_PAGE_SIZE: usize = 20;

pub(crate) fn invalid(field: Field, message: impl ToString) -> DomainError {
    DomainError::InvalidInput {
        field,
        message: message.to_string(),
    }
}

fn document(country: &Country, raw: &str) -> Result<citas_domain::Document, DomainError> {
    country
        .parse_document(raw)
        .map_err(|e| invalid(Field::Document, e))
}

/// `POST /{country}/patient`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientRequest {
    pub document: String,
    pub name: String,
    pub email: String,
}

impl PatientRequest {
    pub fn try_into_domain(self, country: &Country) -> Result<NewPatient, DomainError> {
        Ok(NewPatient {
            document: document(country, &self.document)?,
            name: clean_text(&self.name, MAX_TEXT_LEN)
                .map_err(|e| invalid(Field::Name, format!("name {e}")))?,
            email: EmailAddress::parse(&self.email)
                .map_err(|e| invalid(Field::Email, format!("email {e}")))?,
        })
    }
}

/// `POST /{country}/appointment`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentRequest {
    pub document: String,
    pub speciality: String,
}

impl AppointmentRequest {
    pub fn try_into_domain(self, country: &Country) -> Result<NewAppointment, DomainError> {
        Ok(NewAppointment {
            document: document(country, &self.document)?,
            speciality: Speciality::parse(&self.speciality)
                .map_err(|e| invalid(Field::Speciality, format!("speciality {e}")))?,
        })
    }
}

/// `POST …/assign`: an optional slot id.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub slot: Option<String>,
}

impl AssignRequest {
    pub fn try_into_domain(self) -> Result<Option<SlotId>, DomainError> {
        self.slot
            .map(|raw| SlotId::parse(&raw).map_err(|e| invalid(Field::Slot, e)))
            .transpose()
    }
}

/// `POST …/cancel` and `POST …/refuse`: why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Required; missing, it is the same `invalid_reason` as an empty one.
    #[serde(default)]
    pub reason: Option<String>,
}

impl ReasonRequest {
    pub fn try_into_domain(self) -> Result<String, DomainError> {
        let reason = self
            .reason
            .ok_or_else(|| invalid(Field::Reason, "a reason is required"))?;
        clean_text(&reason, MAX_REASON_LEN)
            .map_err(|e| invalid(Field::Reason, format!("reason {e}")))
    }
}

/// `GET /{country}/appointment?status=&document=&upcoming=&limit=&cursor=`,
/// each given at most once.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<String>,
    pub document: Option<String>,
    pub upcoming: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl ListQuery {
    pub fn try_into_domain(self, country: &Country) -> Result<ListRequest, DomainError> {
        let status = self
            .status
            .map(|raw| raw.parse::<Status>().map_err(|e| invalid(Field::Status, e)))
            .transpose()?;
        let document = self
            .document
            .map(|raw| document(country, &raw))
            .transpose()?;
        let upcoming = match self.upcoming.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(invalid(Field::Upcoming, "upcoming is true or false")),
        };
        let select = match (upcoming, status, document) {
            (true, Some(status), _) if !status.holds_slot() => {
                return Err(invalid(
                    Field::Status,
                    "upcoming visits are pending or assigned: give one of those or no status",
                ));
            }
            (true, status, document) => ListSelection::Upcoming { document, status },
            (false, status, Some(document)) => ListSelection::Patient { document, status },
            (false, Some(status), None) => ListSelection::Status(status),
            (false, None, None) => {
                return Err(invalid(
                    Field::Query,
                    "give the query parameter 'status', 'document' (or both), or 'upcoming=true'",
                ));
            }
        };
        Ok(ListRequest {
            select,
            page: PageRequest {
                limit: page_limit(self.limit)?,
                cursor: self.cursor.filter(|c| !c.is_empty()),
            },
        })
    }
}

/// `?limit=`: 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] if not given.
pub(crate) fn page_limit(raw: Option<String>) -> Result<usize, DomainError> {
    match raw {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            _ => Err(invalid(
                Field::Limit,
                format!("limit must be a whole number from 1 to {MAX_PAGE_SIZE}"),
            )),
        },
    }
}

/// A patient as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PatientResponse {
    pub document: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Notifications go to the address only once it is verified.
    pub email_verified: bool,
    /// Until when the code sent to an unverified address may be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_expires_at: Option<String>,
}

impl From<&Patient> for PatientResponse {
    fn from(patient: &Patient) -> Self {
        Self {
            document: patient.document.to_string(),
            name: patient.name.clone(),
            email: patient.email.as_ref().map(ToString::to_string),
            email_verified: patient.email_verified,
            verification_expires_at: patient
                .verification
                .as_ref()
                .map(|pending| timestamp::format(pending.expires_at)),
        }
    }
}

/// `POST /{country}/patient/{document}/email/verify`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    pub code: String,
}

/// An appointment as the API shows it (seed 000's names, as in the first version).
#[derive(Debug, Clone, Serialize)]
pub struct AppointmentResponse {
    pub id: String,
    pub country: &'static str,
    pub document: String,
    pub patient: String,
    pub speciality: String,
    /// The speciality's display name, e.g. `Cardiología`.
    pub speciality_name: String,
    pub status: &'static str,
    pub created_at: String,
    /// The booked slot's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub update_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doctor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// Why the doctor last refused a booking of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal_reason: Option<String>,
    /// How many changes it has had; its calendar invitation's SEQUENCE.
    pub revision: u32,
    /// The booked slot, shaped for a screen (local date and time, the doctor's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<crate::slot_body::BookedSlot>,
    /// While it holds a slot: until when the patient may still cancel or
    /// move it (the country's change policy), in the country's offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changeable_until: Option<String>,
    /// The doctor's price when the slot was booked; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<crate::schedule_body::PriceResponse>,
    /// `in_person` or `virtual`: the booked slot's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<&'static str>,
    /// A virtual visit's meeting window (`POST …/join` enters it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting: Option<MeetingWindowResponse>,
}

/// When a virtual visit's meeting may be entered, in the country's offset.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingWindowResponse {
    pub opens_at: String,
    pub closes_at: String,
    pub minutes: i64,
}

impl MeetingWindowResponse {
    fn of(country: &'static citas_domain::Country, window: JoinWindow) -> Self {
        Self {
            opens_at: crate::slot_body::local_rfc3339(country, window.opens_at),
            closes_at: crate::slot_body::local_rfc3339(country, window.closes_at),
            minutes: country.meeting.minutes(),
        }
    }
}

/// `POST /{country}/appointment/{id}/join`: what the caller's frontend
/// needs to enter the meeting (Chime's meeting and the caller's attendee,
/// or a Jitsi room's address).
#[derive(Debug, Clone, Serialize)]
pub struct JoinResponse {
    pub provider: &'static str,
    pub opens_at: String,
    pub closes_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendee: Option<serde_json::Value>,
}

impl JoinResponse {
    pub fn new(country: &'static citas_domain::Country, entry: Entry) -> Self {
        Self {
            provider: entry.provider.as_str(),
            opens_at: crate::slot_body::local_rfc3339(country, entry.window.opens_at),
            closes_at: crate::slot_body::local_rfc3339(country, entry.window.closes_at),
            join_url: entry.join_url,
            meeting: entry.meeting,
            attendee: entry.attendee,
        }
    }
}

impl From<&Appointment> for AppointmentResponse {
    fn from(appointment: &Appointment) -> Self {
        Self {
            id: appointment.id.to_string(),
            country: appointment.country.code,
            document: appointment.document().to_string(),
            patient: appointment.patient_name.clone(),
            speciality: appointment.speciality.to_string(),
            speciality_name: appointment.speciality_name.clone(),
            status: appointment.status.as_str(),
            created_at: timestamp::format(appointment.created_at),
            date: appointment.slot.as_ref().map(ToString::to_string),
            update_at: timestamp::format(appointment.updated_at),
            doctor: appointment.doctor().map(ToString::to_string),
            starts_at: appointment.starts_at().map(timestamp::format),
            cancel_reason: appointment.cancel_reason.clone(),
            refusal_reason: appointment.refusal_reason.clone(),
            revision: appointment.revision,
            slot: crate::slot_body::BookedSlot::of(appointment),
            price: appointment
                .price
                .as_ref()
                .map(crate::schedule_body::PriceResponse::from),
            modality: appointment
                .slot
                .as_ref()
                .map(|_| appointment.modality.as_str()),
            // Only while it may still be met in (pending or assigned).
            meeting: appointment
                .starts_at()
                .filter(|_| appointment.meeting.is_some() && appointment.status.holds_slot())
                .map(|starts_at| {
                    MeetingWindowResponse::of(
                        appointment.country,
                        appointment.country.meeting.window(starts_at),
                    )
                }),
            changeable_until: appointment
                .starts_at()
                .filter(|_| appointment.status.holds_slot())
                .map(|starts_at| {
                    let deadline = appointment
                        .country
                        .change_policy
                        .patient_deadline(starts_at);
                    crate::slot_body::local_rfc3339(appointment.country, deadline)
                }),
        }
    }
}

/// A page of appointments.
#[derive(Debug, Clone, Serialize)]
pub struct AppointmentPage {
    pub items: Vec<AppointmentResponse>,
    pub next_cursor: Option<String>,
}

/// `GET …/history`: the entries, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryResponse {
    pub items: Vec<HistoryEntryResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntryResponse {
    pub at: String,
    pub by: ActorResponse,
    /// `null` for the creation.
    pub from: Option<&'static str>,
    pub to: &'static str,
    pub reason: Option<String>,
    /// On entries that record a notification that could not be sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// On entries that change the slot: the one left (none when booking) and
    /// the one taken (none when refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_slot: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_slot: Option<Option<String>>,
}

/// `GET /{country}/patient/{document}/export`: everything held about a patient.
#[derive(Debug, Clone, Serialize)]
pub struct PatientExportResponse {
    pub exported_at: String,
    /// Null for a patient who has appointments but no record (seed 000's).
    pub patient: Option<PatientResponse>,
    pub appointments: Vec<ExportedAppointment>,
}

/// `DELETE /{country}/patient/{document}`: what the erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct PatientErasureResponse {
    pub erased_at: String,
    /// Whether there was a record (name, email) to delete.
    pub record_deleted: bool,
    /// Open appointments cancelled, their slots freed.
    pub cancelled: usize,
    /// Appointments deleted with their history.
    pub deleted: usize,
    /// The new ids of the completed visits kept for the doctors' records,
    /// without name, email or document.
    pub kept_anonymised: Vec<String>,
}

impl From<&citas_domain::use_cases::PatientErasure> for PatientErasureResponse {
    fn from(erasure: &citas_domain::use_cases::PatientErasure) -> Self {
        Self {
            erased_at: timestamp::format(erasure.at),
            record_deleted: erasure.record_deleted,
            cancelled: erasure.cancelled,
            deleted: erasure.deleted,
            kept_anonymised: erasure
                .kept_anonymised
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedAppointment {
    #[serde(flatten)]
    pub appointment: AppointmentResponse,
    /// Oldest first, with the notes of emails that could not be sent.
    pub history: Vec<HistoryEntryResponse>,
}

impl From<&citas_domain::use_cases::PatientExport> for PatientExportResponse {
    fn from(export: &citas_domain::use_cases::PatientExport) -> Self {
        Self {
            exported_at: timestamp::format(export.at),
            patient: export.patient.as_ref().map(PatientResponse::from),
            appointments: export
                .appointments
                .iter()
                .map(|(appointment, history)| ExportedAppointment {
                    appointment: AppointmentResponse::from(appointment),
                    history: history.iter().map(HistoryEntryResponse::from).collect(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ActorResponse {
    pub role: &'static str,
    pub id: String,
}

impl From<&HistoryEntry> for HistoryEntryResponse {
    fn from(entry: &HistoryEntry) -> Self {
        Self {
            at: timestamp::format(entry.at),
            by: ActorResponse {
                role: entry.by.role.as_str(),
                id: entry.by.id.clone(),
            },
            from: entry.from.map(Status::as_str),
            to: entry.to.as_str(),
            reason: entry.reason.clone(),
            note: entry.note.clone(),
            from_slot: entry
                .changes_slot()
                .then(|| entry.from_slot.as_ref().map(ToString::to_string)),
            to_slot: entry
                .changes_slot()
                .then(|| entry.slot_taken().map(ToString::to_string)),
        }
    }
}

/// `GET /{country}/me`: who the token is, and the name and address on their record.
#[derive(Debug, Serialize)]
pub struct MeResponse {
    pub role: &'static str,
    pub country: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_number: Option<String>,
    /// A doctor's first record; `doctor_ids` has one per speciality.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doctor_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub doctor_ids: Vec<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

impl From<&citas_domain::use_cases::accounts::Me> for MeResponse {
    fn from(me: &citas_domain::use_cases::accounts::Me) -> Self {
        use citas_domain::Identity;
        let (document, registry_number) = match &me.identity {
            Identity::Patient(document) => (Some(document.to_string()), None),
            Identity::Doctor(registry) => (None, Some(registry.as_str().to_owned())),
            Identity::Admin => (None, None),
        };
        let doctor_ids: Vec<String> = me.doctor_ids.iter().map(ToString::to_string).collect();
        Self {
            role: me.role.as_str(),
            country: me.country.code,
            document,
            registry_number,
            doctor_id: doctor_ids.first().cloned(),
            doctor_ids,
            name: me.name.clone(),
            email: me.email.as_ref().map(ToString::to_string),
        }
    }
}

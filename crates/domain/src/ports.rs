//! The ports the use cases need; adapters (embedded, DynamoDB, SQS, …) implement them.

use async_trait::async_trait;
use jiff::Timestamp;

use jiff::civil::Date;

use crate::appointment::Appointment;
pub use crate::appointment::{SlotChange, Transition};
pub use crate::availability::Availability;
use crate::country::Country;
use crate::document::Document;
use crate::history::HistoryEntry;
use crate::ids::{AppointmentId, DoctorId, SlotId};
use crate::model::{Doctor, Patient, Slot, Status};
use crate::notification::Notification;
use crate::speciality::OfferedSpeciality;
use crate::text::{EmailAddress, Speciality};

/// Whether an upsert created a record or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Updated,
}

/// Whether what was read is the stored state or a recent copy of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Current,
    /// Read this long ago, when the store answered; it may have changed since.
    PossiblyStale {
        age: jiff::SignedDuration,
    },
}

/// Which appointments a list walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFilter {
    /// By status, newest first.
    Status(Status),
    /// One patient's appointments, newest first.
    Document(Document),
    /// One patient's appointments with a status, newest first (pages may
    /// come back short: the patient's list, filtered).
    DocumentStatus(Document, Status),
    /// Appointments assigned to a slot on this local day, earliest first (reminders).
    AssignedOn(jiff::civil::Date),
    /// One doctor's appointments (booked on their slots) with a status, newest first.
    DoctorStatus(crate::ids::DoctorDocument, Status),
    /// One patient's visits still to come: pending or assigned, starting
    /// after `after`, soonest first; of one of those statuses if given
    /// (pages may then come back short).
    PatientUpcoming {
        document: Document,
        after: jiff::Timestamp,
        status: Option<Status>,
    },
    /// One doctor's visits still to come, as [`ListFilter::PatientUpcoming`].
    DoctorUpcoming {
        doctor: crate::ids::DoctorDocument,
        after: jiff::Timestamp,
        status: Option<Status>,
    },
}

impl ListFilter {
    /// Ties a cursor to the list it came from.
    pub fn scope(&self, country: &Country) -> String {
        match self {
            ListFilter::Status(status) => format!("{}/status/{status}", country.code),
            ListFilter::Document(document) => format!("{}/document/{document}", country.code),
            ListFilter::DocumentStatus(document, status) => {
                format!("{}/document/{document}/{status}", country.code)
            }
            ListFilter::AssignedOn(day) => format!("{}/assigned-on/{day}", country.code),
            ListFilter::DoctorStatus(doctor, status) => {
                format!("{}/doctor/{doctor}/{status}", country.code)
            }
            // Not `after`: it moves on with the clock between pages.
            ListFilter::PatientUpcoming {
                document, status, ..
            } => format!("{}/upcoming/patient/{document}/{status:?}", country.code),
            ListFilter::DoctorUpcoming { doctor, status, .. } => {
                format!("{}/upcoming/doctor/{doctor}/{status:?}", country.code)
            }
        }
    }

    /// The status a list keeps when the index it walks holds others too.
    pub fn only_status(&self) -> Option<Status> {
        match self {
            ListFilter::DocumentStatus(_, status) => Some(*status),
            ListFilter::PatientUpcoming { status, .. }
            | ListFilter::DoctorUpcoming { status, .. } => *status,
            _ => None,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("appointment {existing_id} already exists")]
    AlreadyExists { existing_id: String },
    #[error("the appointment is {current}")]
    StatusConflict { current: Status },
    #[error("slot {0} is not available")]
    SlotUnavailable(String),
    #[error("not found")]
    NotFound,
    #[error("the cursor is not valid for this list")]
    InvalidCursor,
    /// Another save of the doctor's plan holds it or came first.
    #[error(
        "the doctor's plan is being changed by another request, or was changed since it was read"
    )]
    PlanChanged,
    #[error("storage failure: {0}")]
    Backend(String),
}

/// Appointments, patients, doctors and slots.
///
/// Every method is one key lookup, one index query or one conditional write
/// (a transaction for slot changes) in every adapter: no scans.
#[async_trait]
pub trait Store: Send + Sync {
    async fn upsert_patient(
        &self,
        country: &Country,
        patient: &Patient,
    ) -> Result<Upserted, StoreError>;
    async fn get_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<Option<Patient>, StoreError>;

    /// Stores a new appointment (which carries its creation, the first entry
    /// of its history); fails with `AlreadyExists` when the id is taken.
    async fn insert_appointment(&self, appointment: &Appointment) -> Result<(), StoreError>;
    async fn get_appointment(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Option<Appointment>, StoreError>;
    /// An appointment to show, not to change: when the store cannot be
    /// reached, an adapter may answer from a copy it read recently, marked
    /// as such. By default this is `get_appointment`.
    async fn read_appointment(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Option<(Appointment, Freshness)>, StoreError> {
        Ok(self
            .get_appointment(country, id)
            .await?
            .map(|appointment| (appointment, Freshness::Current)))
    }
    async fn list_appointments(
        &self,
        country: &'static Country,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Appointment>, StoreError>;
    /// Applies a transition, its slot changes and its history entry in one
    /// atomic write, on the condition that the stored appointment still has
    /// the expected status and revision. Fails with `NotFound`,
    /// `StatusConflict` (naming the stored status) or `SlotUnavailable`; on
    /// failure nothing is written.
    async fn transition(&self, transition: &Transition) -> Result<(), StoreError>;
    /// The history entries stored beside an appointment's changes, oldest
    /// first (its creation is on the appointment itself).
    async fn history(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Adds an entry that records something other than a change (a
    /// notification that could not be sent); idempotent for the same entry.
    /// Only while the appointment exists: `NotFound` once it is erased, so
    /// no history outlives its appointment.
    async fn add_history_note(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError>;

    /// Erases a closed appointment and its history, on the condition that
    /// it still has the revision it was read with (`StatusConflict`
    /// otherwise); `kept_as`, the anonymised copy of a completed visit,
    /// takes its place, and its slot points to the copy. The history goes
    /// first: a failure halfway leaves the appointment to find and erase
    /// again, never a history that names no appointment.
    async fn erase_appointment(
        &self,
        appointment: &Appointment,
        kept_as: Option<&Appointment>,
    ) -> Result<(), StoreError>;
    /// Deletes a patient's record; false when there was none.
    async fn delete_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<bool, StoreError>;

    /// Appointments by id, in one request where the backend allows; missing ones are left out.
    async fn get_appointments(
        &self,
        country: &'static Country,
        ids: &[AppointmentId],
    ) -> Result<Vec<Appointment>, StoreError>;

    /// Specialities a country added to the catalogue (by registering a doctor).
    async fn added_specialities(
        &self,
        country: &'static Country,
    ) -> Result<Vec<OfferedSpeciality>, StoreError>;
    /// Adds a speciality unless the country has it already (the first name stays).
    async fn add_speciality(
        &self,
        country: &'static Country,
        speciality: &OfferedSpeciality,
    ) -> Result<(), StoreError>;

    /// Registers or updates a doctor; their working plan is kept.
    async fn put_doctor(&self, doctor: &Doctor) -> Result<Upserted, StoreError>;
    async fn get_doctor(&self, id: &DoctorId) -> Result<Option<Doctor>, StoreError>;
    /// Doctors by id, in one request; missing ones are left out.
    async fn get_doctors(&self, ids: &[DoctorId]) -> Result<Vec<Doctor>, StoreError>;
    /// A page of the doctors of a speciality in a country.
    async fn list_doctors(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        page: &PageRequest,
    ) -> Result<Page<Doctor>, StoreError>;

    async fn get_availability(&self, doctor: &DoctorId)
    -> Result<Option<Availability>, StoreError>;
    /// Takes a hold on the doctor's plan for one save: on the condition
    /// that the stored plan is still at `lease.revision` (0: none stored)
    /// and nobody else holds it (or their hold lapsed before `now`). Fails
    /// with `PlanChanged` when not, `NotFound` when the doctor is not registered.
    async fn lease_plan(
        &self,
        doctor: &DoctorId,
        lease: &PlanLease,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Stores a doctor's plan and how far its slots are generated, as
    /// revision `lease.revision + 1`, and gives the hold up; `PlanChanged`
    /// unless `lease` still holds the plan.
    async fn put_availability(
        &self,
        doctor: &DoctorId,
        availability: &Availability,
        lease: &PlanLease,
    ) -> Result<(), StoreError>;
    /// Plans of a country whose slots are generated only up to a day before
    /// `through`, at most `limit` of them (the daily horizon job's work list).
    async fn availability_due(
        &self,
        country: &'static Country,
        through: Date,
        limit: usize,
    ) -> Result<Vec<(DoctorId, Availability)>, StoreError>;

    /// Writes a slot as given (seed files, tests).
    async fn put_slot(&self, slot: &Slot) -> Result<(), StoreError>;
    async fn get_slot(&self, id: &SlotId) -> Result<Option<Slot>, StoreError>;
    /// Adds free slots whose ids are not taken (a taken id, free or booked,
    /// is left as it is); returns how many were added.
    async fn add_slots(&self, slots: &[Slot]) -> Result<usize, StoreError>;
    /// Deletes a slot only while it is free: `SlotUnavailable` if booked,
    /// `NotFound` if there is no such slot.
    async fn remove_free_slot(&self, id: &SlotId) -> Result<(), StoreError>;
    /// A doctor's slots, free and booked, starting in `[from, until)`, earliest first.
    async fn doctor_slots(
        &self,
        doctor: &DoctorId,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Slot>, StoreError>;
    /// How many free slots a search holds: one counting index query (paged
    /// only past a megabyte of index), however many doctors the speciality has.
    async fn count_free_slots(&self, search: &SlotSearch) -> Result<usize, StoreError>;
    /// A page of free slots, earliest first: one index query per page, however
    /// many doctors the speciality has.
    async fn free_slots(
        &self,
        search: &SlotSearch,
        page: &PageRequest,
    ) -> Result<Page<Slot>, StoreError>;
}

/// A hold on a doctor's plan while one save (or the daily job) brings the
/// slots in line with it: plan saves of one doctor happen one at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLease {
    /// Whose hold it is: only its holder may store the plan under it.
    pub token: String,
    /// The revision of the plan read before the save.
    pub revision: u32,
    /// When a holder that never finished (it died) loses it.
    pub until: Timestamp,
}

impl PlanLease {
    /// How long a hold lasts: longer than any request runs (its deadline
    /// is 8 s), short enough that a save that died blocks the next briefly.
    pub const LASTS: jiff::SignedDuration = jiff::SignedDuration::from_secs(20);

    /// A new hold on the plan read at `revision`.
    pub fn new(revision: u32, now: Timestamp) -> Self {
        Self {
            token: uuid::Uuid::new_v4().to_string(),
            revision,
            until: now + Self::LASTS,
        }
    }
}

/// Which free slots a search walks: a speciality's (or one of its doctors')
/// starting in `[from, until)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSearch {
    pub country: &'static Country,
    pub speciality: Speciality,
    pub doctor: Option<DoctorId>,
    pub from: Timestamp,
    pub until: Timestamp,
}

impl SlotSearch {
    /// Ties a cursor to this search.
    pub fn scope(&self) -> String {
        format!(
            "{}/slots/{}/{}/{}/{}",
            self.country.code,
            self.speciality,
            self.doctor
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            self.from.as_second(),
            self.until.as_second()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not enqueue the notification: {0}")]
pub struct QueueError(pub String);

/// The per-country notification queue.
#[async_trait]
pub trait NotificationQueue: Send + Sync {
    async fn enqueue(&self, message: &Notification) -> Result<(), QueueError>;

    /// Enqueues many; returns the messages that could not be enqueued.
    /// Adapters with a batch call override this.
    /// Enqueues many messages of one country's queue.
    async fn enqueue_batch(
        &self,
        _country: &Country,
        messages: &[Notification],
    ) -> Vec<(Notification, QueueError)> {
        let mut failed = Vec::new();
        for message in messages {
            if let Err(error) = self.enqueue(message).await {
                failed.push((message.clone(), error));
            }
        }
        failed
    }
}

/// Where a notification's idempotency record stands when a consumer starts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This consumer holds the key: send, then complete (or release on failure).
    Acquired,
    /// Sent already: acknowledge without sending again.
    Completed,
    /// Another consumer is sending it right now: retry later.
    InProgress,
    /// A consumer claimed it and never said how its send ended (it was
    /// killed, or timed out): the email may or may not have gone out.
    /// `sends` counts the claims that reached the send, this one included.
    Lapsed { sends: u32 },
}

/// Records of notifications sent, in the manner of Lambda idempotency
/// utilities: a conditional write claims a key (in progress, lapsing after a
/// while so a crashed consumer's claim is noticed), then marks it completed.
/// Every record is kept `keep_for` (longer than any queue retention).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn claim(
        &self,
        key: &str,
        now: Timestamp,
        lapse_after: jiff::SignedDuration,
        keep_for: jiff::SignedDuration,
    ) -> Result<Claim, StoreError>;
    /// Takes over a lapsed claim that has reached the send `sends` times,
    /// to send once more: it is claimed again (lapsing anew) and counts
    /// `sends + 1`. False when it was no longer that lapsed claim (another
    /// consumer took it over, settled or completed it).
    async fn reclaim_lapsed(
        &self,
        key: &str,
        sends: u32,
        now: Timestamp,
        lapse_after: jiff::SignedDuration,
        keep_for: jiff::SignedDuration,
    ) -> Result<bool, StoreError>;
    /// Closes a lapsed claim as done without knowing whether it was sent, so
    /// no later delivery sends it again. False when it was no longer a lapsed
    /// claim (another consumer settled or completed it).
    async fn settle_lapsed(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: jiff::SignedDuration,
    ) -> Result<bool, StoreError>;
    async fn complete(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: jiff::SignedDuration,
    ) -> Result<(), StoreError>;
    /// Gives up a claim after a failed send, so a retry can claim it again.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
}

/// A file attached to an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// An email ready to send: both a plain-text and an HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The left part of its `Message-ID` (`<{message_id}@citas>`), derived
    /// from the notification's idempotency key: a copy sent again carries
    /// the same one, and a mailer that keeps its sends finds it by it.
    pub message_id: Option<String>,
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The provider asks us to slow down: retry later, this is not the message's fault.
    #[error("the mail provider is throttling: {0}")]
    Throttled(String),
    /// The provider refused this message; retrying will not help.
    #[error("the mail provider rejected the message: {0}")]
    Rejected(String),
    #[error("the mail provider is unavailable: {0}")]
    Unavailable(String),
}

/// Sends emails; returns the provider's message id.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<String, MailError>;
    /// Whether this email (by its `message_id`) was sent already, for a
    /// mailer that can tell: `None` when it cannot (SES keeps no such
    /// record), so a send a crash interrupted is sent again.
    async fn was_sent(&self, _email: &Email) -> Result<Option<bool>, MailError> {
        Ok(None)
    }
}

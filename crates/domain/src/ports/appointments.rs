//! Appointments with their history: a change, its slots and its history
//! entry are one transaction, the aggregate's boundary.

use async_trait::async_trait;

use super::{Freshness, Page, PageRequest, StoreError, Transition};
use crate::appointment::Appointment;
use crate::appointment::history::HistoryEntry;
use crate::appointment::status::Status;
use crate::values::country::Country;
use crate::values::document::Document;
use crate::values::ids::AppointmentId;

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
    DoctorStatus(crate::values::ids::DoctorDocument, Status),
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
        doctor: crate::values::ids::DoctorDocument,
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

/// Appointments, their changes and their history.
#[async_trait]
pub trait AppointmentStore: Send + Sync {
    /// Stores a new appointment (which carries its creation, the first entry
    /// of its history).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` when the id is taken.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn insert_appointment(&self, appointment: &Appointment) -> Result<(), StoreError>;
    /// An appointment to change: as stored now.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn get_appointment(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Option<Appointment>, StoreError>;
    /// An appointment to show, not to change: when the store cannot be
    /// reached, an adapter may answer from a copy it read recently, marked
    /// as such. By default this is `get_appointment`.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
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
    /// A page of the appointments `filter` selects, in its order.
    ///
    /// # Errors
    ///
    /// `InvalidCursor` when the page's cursor is not one of this list.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn list_appointments(
        &self,
        country: &'static Country,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Appointment>, StoreError>;
    /// Applies a transition, its slot changes and its history entry in one
    /// atomic write, on the condition that the stored appointment still has
    /// the expected status and revision; on failure nothing is written.
    ///
    /// # Errors
    ///
    /// `NotFound` when there is no such appointment; `StatusConflict` (naming the stored status) when it changed since it was read; `SlotUnavailable` when the slot to book is not free.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn transition(&self, transition: &Transition) -> Result<(), StoreError>;
    /// The history entries stored beside an appointment's changes, oldest
    /// first (its creation is on the appointment itself).
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn history(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Adds an entry that records something other than a change (a
    /// notification that could not be sent); idempotent for the same entry.
    ///
    /// # Errors
    ///
    /// `NotFound` once the appointment is erased, so no history outlives it.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn add_history_note(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError>;
    /// Erases a closed appointment and its history; `kept_as`, the
    /// anonymised copy of a completed visit, takes its place, and its slot
    /// points to the copy. Its review, if it has one, stays anonymised
    /// ([`crate::review::Review::anonymised`]), and its mark goes. The history goes first: a failure halfway leaves
    /// the appointment to find and erase again, never a history that names
    /// no appointment.
    ///
    /// # Errors
    ///
    /// `StatusConflict` when the appointment no longer has the revision it was read with.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn erase_appointment(
        &self,
        appointment: &Appointment,
        kept_as: Option<&Appointment>,
    ) -> Result<(), StoreError>;
    /// Appointments by id, in one request where the backend allows; missing ones are left out.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn get_appointments(
        &self,
        country: &'static Country,
        ids: &[AppointmentId],
    ) -> Result<Vec<Appointment>, StoreError>;
    /// Keeps the provider's meeting on a virtual visit, on the condition
    /// that the appointment still has the room `room` and no meeting yet (or,
    /// `replacing` an ended one, still that one); not a change (the revision
    /// stays). Returns the meeting now kept: this one, or the one another
    /// party's join kept first.
    ///
    /// # Errors
    ///
    /// `NotFound` when the appointment no longer has that room (it moved,
    /// was cancelled or is gone).
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn keep_meeting(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        room: &crate::meeting::RoomKey,
        replacing: Option<&str>,
        session: &str,
    ) -> Result<String, StoreError>;
}

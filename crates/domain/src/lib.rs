//! The citas domain: countries and their rules, entities, the status machine,
//! the ports (traits) adapters implement, and the use cases over them.
//! Nothing here knows about AWS or HTTP.

pub mod access;
pub mod account;
pub mod appointment;
pub mod error;
pub mod meeting;
pub mod metrics;
pub mod patient;
pub mod ports;
pub mod privacy;
pub mod review;
pub mod scheduling;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod use_cases;
pub mod values;
pub mod verification;

pub use access::{Caller, Identity, Role};
pub use appointment::history::{Actor, ActorRole, HistoryEntry};
pub use appointment::notification::{Notification, NotificationKind, Snapshot, Unsent};
pub use appointment::status::Status;
pub use appointment::{Appointment, SlotChange, Transition};
pub use error::{DomainError, Field};
pub use patient::Patient;
pub use ports::clock::{Clock, ManualClock, SystemClock};
pub use ports::{
    AppointmentStore, Attachment, CatalogueStore, Claim, DoctorStore, Email, IdempotencyStore,
    ListFilter, MailError, Mailer, NotificationQueue, Page, PageRequest, PatientStore, PlanLease,
    QueueError, SlotStore, Store, StoreError, Upserted,
};
pub use scheduling::catalogue::OfferedSpeciality;
pub use scheduling::doctor::Doctor;
pub use scheduling::plan::{SlotHorizon, WorkingPlan};
pub use scheduling::slot::Slot;
pub use values::country::{CHILE, COUNTRIES, Country, PERU};
pub use values::document::Document;
pub use values::email::EmailAddress;
pub use values::ids::{AppointmentId, DoctorDocument, DoctorId, SlotId};
pub use values::speciality::Speciality;

use std::sync::Arc;

use jiff::Timestamp;

/// What the use cases run on. Built once per process.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn ports::Store>,
    pub queue: Arc<dyn ports::NotificationQueue>,
    pub clock: Arc<dyn ports::clock::Clock>,
    /// How many local days ahead slots are generated from working plans.
    pub horizon: scheduling::plan::SlotHorizon,
    /// Sends the codes that verify patients' addresses.
    pub verifier: Arc<dyn crate::verification::Verifier>,
    /// The online meetings of virtual visits.
    pub meetings: Arc<dyn ports::Meetings>,
}

impl Services {
    pub(crate) fn now(&self) -> Timestamp {
        values::timestamp::truncate(self.clock.now())
    }
}

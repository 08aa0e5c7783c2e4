//! The citas domain: countries and their rules, entities, the status machine,
//! the ports (traits) adapters implement, and the use cases over them.
//! Nothing here knows about AWS or HTTP.

pub mod access;
pub mod appointment;
pub mod availability;
pub mod clock;
pub mod country;
pub mod cursor;
pub mod document;
pub mod error;
pub mod history;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod notification;
pub mod ports;
pub mod privacy;
pub mod scheduling;
pub mod service;
pub mod speciality;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod text;
pub mod timestamp;
pub mod verification;

pub use access::{Caller, Identity, Role};
pub use appointment::{Appointment, SlotChange, Transition};
pub use availability::{SlotHorizon, WorkingPlan};
pub use clock::{Clock, ManualClock, SystemClock};
pub use country::{CHILE, COUNTRIES, Country, PERU};
pub use document::Document;
pub use error::DomainError;
pub use history::{Actor, ActorRole, HistoryEntry};
pub use ids::{AppointmentId, DoctorDocument, DoctorId, SlotId};
pub use model::{Doctor, Patient, Slot, Status};
pub use notification::{Notification, NotificationKind, Snapshot};
pub use ports::{
    AppointmentStore, Attachment, CatalogueStore, Claim, DoctorStore, Email, IdempotencyStore,
    ListFilter, MailError, Mailer, NotificationQueue, Page, PageRequest, PatientStore, PlanLease,
    QueueError, SlotStore, Store, StoreError, Upserted,
};
pub use service::Services;
pub use speciality::OfferedSpeciality;
pub use text::{EmailAddress, Speciality};

//! The citas domain: countries and their rules, entities, the status machine,
//! the ports (traits) adapters implement, and the use cases over them.
//! Nothing here knows about AWS or HTTP.

pub mod access;
pub mod clock;
pub mod country;
pub mod cursor;
pub mod document;
pub mod error;
pub mod model;
pub mod notification;
pub mod ports;
pub mod privacy;
pub mod service;
pub mod timestamp;

pub use access::{Caller, Role};
pub use clock::{Clock, ManualClock, SystemClock};
pub use country::{CHILE, COUNTRIES, Country, PERU};
pub use error::DomainError;
pub use model::{Appointment, Doctor, Patient, Slot, Speciality, Status};
pub use notification::{Notification, NotificationKind};
pub use ports::{
    Attachment, Claim, Email, IdempotencyStore, ListFilter, MailError, Mailer, NotificationQueue,
    Page, PageRequest, QueueError, SlotChange, Store, StoreError, Transition, Upserted,
};
pub use service::Services;

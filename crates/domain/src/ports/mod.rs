//! The ports the use cases need, one per aggregate and one per outside
//! service; adapters (embedded, DynamoDB, SQS, SES, …) implement them.
//! Every store method is one key lookup, one index query or one
//! conditional write (a transaction where an aggregate's items change
//! together) in every adapter: no scans.

mod accounts;
mod appointments;
mod catalogue;
pub mod clock;
pub mod cursor;
mod doctors;
mod idempotency;
mod mail;
mod meetings;
mod patients;
mod queue;
mod reviews;
mod slots;

pub use crate::appointment::{SlotChange, Transition};
pub use crate::error::StoreError;
pub use crate::scheduling::plan::Availability;
pub use accounts::{AccountConflict, AccountStore, PasswordHasher};
pub use appointments::{AppointmentStore, ListFilter};
pub use catalogue::CatalogueStore;
pub use doctors::{DoctorStore, PlanLease};
pub use idempotency::{Claim, IdempotencyStore};
pub use mail::{Attachment, Email, MailError, Mailer};
pub use meetings::{MeetingError, Meetings};
pub use patients::PatientStore;
pub use queue::{NotificationQueue, QueueError};
pub use reviews::ReviewStore;
pub use slots::{SlotSearch, SlotStore};

/// The store ports, to glob-import (`use citas_domain::ports::stores::*`)
/// where a concrete store's methods are called.
pub mod stores {
    pub use super::{
        AppointmentStore, CatalogueStore, DoctorStore, PatientStore, ReviewStore, SlotStore, Store,
    };
}

/// Every store port: what `Services` holds. Any type with all of them is one.
pub trait Store:
    PatientStore + AppointmentStore + CatalogueStore + DoctorStore + SlotStore + ReviewStore
{
}

impl<T> Store for T where
    T: PatientStore + AppointmentStore + CatalogueStore + DoctorStore + SlotStore + ReviewStore
{
}

/// What a bounded read found: `complete` is false when it stopped at its
/// bound with more left unread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounded<T> {
    pub items: Vec<T>,
    pub complete: bool,
}

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

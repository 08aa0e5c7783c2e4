//! The embedded adapters, for a laptop without AWS: the redb store (every
//! store port, the idempotency records and the outbox of changes), the
//! in-process notification queue feeding the email pipeline, and the mailer
//! that writes `.eml` files. It links no AWS SDK: the item shapes and keys
//! come from `citas-layout`.

pub mod accounts;
pub mod outbox;
pub mod passwords;
pub mod private;
pub mod queue;
pub mod store;

pub use store::EmbeddedStore;

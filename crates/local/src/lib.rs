//! The local mode of citas: embedded adapters (a redb store, an in-process
//! queue) and a server that plays API Gateway in front of the shared handlers.

pub mod auth;
pub mod aws;
pub mod outbox;
pub mod private;
pub mod queue;
pub mod redrive;
pub mod reminders;
pub mod seed;
pub mod server;
pub mod store;

pub use server::{LocalConfig, RunningServer, StartError, start};
pub use store::EmbeddedStore;

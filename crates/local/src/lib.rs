//! The `citas` binary's library: the command line, the server that plays API
//! Gateway in front of the shared handlers (tokens, the identity provider, CORS, the local-only
//! routes), the seed loader and, with `--aws-endpoint`, the pollers that play
//! Lambda's event sources. The embedded adapters are `citas-embedded`'s.

pub mod auth;
pub mod aws;
mod gateway;
pub mod identity;
pub mod redrive;
pub mod reminders;
pub mod seed;
pub mod server;

pub use server::{LocalConfig, RunningServer, StartError, start};

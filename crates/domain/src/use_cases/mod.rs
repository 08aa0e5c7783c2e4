//! The use cases: plain async functions over the ports, each loading, asking
//! the entity what a change means, storing it and announcing it (the entity
//! decides). One file per side; callers name them all from here.

pub mod accounts;
mod appointments;
mod doctors;
mod finding;
mod meetings;
mod patients;
mod reviews;
mod search;

pub use appointments::*;
pub use doctors::*;
pub use finding::*;
pub use meetings::*;
pub use patients::*;
pub use reviews::*;
pub use search::*;

//! The values the domain is made of, each parsed once at the edge: countries
//! and their rules, documents, ids, email addresses, specialities, free text,
//! prices, places and the timestamp format every store shares.

pub mod country;
pub mod document;
pub mod email;
pub mod ids;
pub mod money;
pub mod place;
pub mod speciality;
pub mod text;
pub mod timestamp;

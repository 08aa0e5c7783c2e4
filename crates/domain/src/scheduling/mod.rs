//! The doctor's side: doctors, their working plans and the slots generated
//! from them, and the speciality catalogue.

pub mod catalogue;
pub mod doctor;
pub mod plan;
pub mod slot;

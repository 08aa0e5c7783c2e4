//! A doctor of one country and speciality.

use crate::values::email::EmailAddress;
use crate::values::ids::DoctorId;

/// A doctor; the id carries the country, the speciality and the registry number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doctor {
    pub id: DoctorId,
    pub name: String,
    pub email: Option<EmailAddress>,
    /// Bookings wait for the doctor's confirmation (the lifecycle issue acts on it).
    pub requires_confirmation: bool,
}

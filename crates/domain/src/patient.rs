//! A patient of one country, as the domain holds them: parsed values only;
//! each store and the HTTP layer map them to their own shapes.

use crate::values::document::Document;
use crate::values::email::EmailAddress;

/// A patient of one country.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    pub document: Document,
    pub name: String,
    /// Seed 000's patients have none; notifications need one.
    pub email: Option<EmailAddress>,
    /// Whether `email` is known to reach the patient: entered by staff, or
    /// confirmed with the code sent to it. Notifications go only then.
    pub email_verified: bool,
    /// The code sent to an address not verified yet.
    pub verification: Option<crate::verification::PendingVerification>,
}

impl Patient {
    /// The address notifications may go to: a verified one.
    pub fn reachable_email(&self) -> Option<&EmailAddress> {
        self.email.as_ref().filter(|_| self.email_verified)
    }
}

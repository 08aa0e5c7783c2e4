//! Verified email addresses: an address a patient gives (or changes to)
//! gets a code first, and notifications go to it only once the code comes
//! back. Staff-entered addresses count as verified. An address receives a
//! bounded number of codes a local day, whoever asks and however often
//! records are changed or erased, so codes cannot flood anyone's inbox.

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::patient::Patient;
use crate::ports::{MailError, StoreError};
use crate::values::country::Country;
use crate::values::email::EmailAddress;

/// How long a code may be used.
pub const CODE_LASTS: SignedDuration = SignedDuration::from_hours(24);
/// Codes an address may receive in one local day.
pub const CODES_PER_DAY: u16 = 3;

/// The code sent to an address not verified yet: only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingVerification {
    /// SHA-256 of the code, in hex.
    pub code_hash: String,
    pub expires_at: Timestamp,
}

/// A code to send to an address, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationEmail {
    pub country: &'static Country,
    pub name: String,
    pub to: EmailAddress,
    pub code: String,
    pub expires_at: Timestamp,
    pub purpose: CodePurpose,
}

/// What confirming the code does, which the email says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Notifications may go to the address of a patient's record.
    ContactAddress,
    /// A new account may sign in (the local identity provider's sign-up).
    SignUp,
}

/// Sends verification codes (by email, straight away: the patient waits
/// for it), and counts them per address.
#[async_trait]
pub trait Verifier: Send + Sync {
    /// Counts one more code to `to` on the local `day`; false when `limit`
    /// were counted already. Settled by conditional writes, so requests
    /// at once never count past the limit.
    ///
    /// # Errors
    /// `Backend` when the counts cannot be reached.
    async fn count_code(
        &self,
        to: &EmailAddress,
        day: Date,
        limit: u16,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Sends the code.
    ///
    /// # Errors
    /// The mailer's: throttled, rejected or unavailable.
    async fn send_code(&self, email: &VerificationEmail) -> Result<(), MailError>;
}

/// The key under which the `n`th code of a day to an address is counted:
/// the address only as a hash.
pub fn count_key(to: &EmailAddress, day: Date, n: u16) -> String {
    let address = hash(&to.to_string().to_lowercase());
    format!("verification-code#{}#{day}#{n}", &address[..32])
}

/// A record with a new code for its address, and the email to send.
#[derive(Debug)]
pub struct Issued {
    pub patient: Patient,
    pub email: VerificationEmail,
}

/// There is no address on file, or it is verified already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NothingToVerify;

/// SHA-256 of a code, in hex: what is kept of it.
pub(crate) fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Patient {
    /// A new code for the record's unverified address (any earlier one is void).
    pub fn issue_code(
        &self,
        country: &'static Country,
        now: Timestamp,
    ) -> Result<Issued, NothingToVerify> {
        let Some(to) = self.email.clone().filter(|_| !self.email_verified) else {
            return Err(NothingToVerify);
        };
        // 122 random bits: too many to guess within a code's day.
        let code = uuid::Uuid::new_v4().simple().to_string();
        let expires_at = now + CODE_LASTS;
        Ok(Issued {
            patient: Patient {
                verification: Some(PendingVerification {
                    code_hash: hash(&code),
                    expires_at,
                }),
                ..self.clone()
            },
            email: VerificationEmail {
                country,
                name: self.name.clone(),
                to,
                code,
                expires_at,
                purpose: CodePurpose::ContactAddress,
            },
        })
    }

    /// The record with its address verified, if `code` is the one sent and
    /// still good.
    pub fn verified_with(&self, code: &str, now: Timestamp) -> Option<Patient> {
        let pending = self.verification.as_ref()?;
        (self.email.is_some() && pending.expires_at > now && pending.code_hash == hash(code.trim()))
            .then(|| Patient {
                email_verified: true,
                verification: None,
                ..self.clone()
            })
    }

    /// The record after the patient (not staff) gave `email`: a new
    /// address is not verified until its own code comes back; the same
    /// mailbox (in any capitals) keeps what it had.
    pub fn with_email_given(&self, email: EmailAddress) -> Patient {
        if self.has_mailbox(&email) {
            return Patient {
                email: Some(email),
                ..self.clone()
            };
        }
        Patient {
            email: Some(email),
            email_verified: false,
            // A code sent to the old address verifies nothing.
            verification: None,
            ..self.clone()
        }
    }

    /// Whether the address on file is `email`'s mailbox.
    pub fn has_mailbox(&self, email: &EmailAddress) -> bool {
        self.email
            .as_ref()
            .is_some_and(|stored| stored.is_same_mailbox(email))
    }

    /// Whether the address waits for a code that is not on its way: none
    /// sent to it yet, or the one sent has expired.
    pub fn needs_code(&self, now: Timestamp) -> bool {
        self.email.is_some()
            && !self.email_verified
            && self
                .verification
                .as_ref()
                .is_none_or(|pending| pending.expires_at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PERU;
    use crate::testkit::patient;

    fn unverified() -> Patient {
        Patient {
            email_verified: false,
            ..patient(&PERU, "45678912")
        }
    }

    fn now() -> Timestamp {
        "2026-11-22T15:00:00Z".parse().expect("time")
    }

    #[test]
    fn the_code_sent_verifies_the_address_until_it_expires() {
        let issued = unverified().issue_code(&PERU, now()).expect("issued");
        let code = &issued.email.code;
        assert!(
            issued
                .patient
                .verified_with("not-the-code", now())
                .is_none()
        );
        let verified = issued.patient.verified_with(code, now()).expect("verified");
        assert!(verified.email_verified && verified.verification.is_none());
        assert_eq!(verified.reachable_email(), issued.patient.email.as_ref());
        assert!(
            issued
                .patient
                .verified_with(code, now() + CODE_LASTS)
                .is_none()
        );
        // Only the hash is kept.
        let pending = issued.patient.verification.expect("pending");
        assert!(!pending.code_hash.contains(code.as_str()));
    }

    #[test]
    fn a_new_code_voids_the_one_before_and_counts_by_address_and_day() {
        let first = unverified().issue_code(&PERU, now()).expect("issued");
        let second = first.patient.issue_code(&PERU, now()).expect("issued");
        assert!(
            second
                .patient
                .verified_with(&first.email.code, now())
                .is_none()
        );
        assert!(
            second
                .patient
                .verified_with(&second.email.code, now())
                .is_some()
        );
        let to = first.email.to.clone();
        let day = PERU.local_date(now());
        assert_ne!(count_key(&to, day, 1), count_key(&to, day, 2));
        assert_ne!(
            count_key(&to, day, 1),
            count_key(&to, day.tomorrow().expect("day"), 1)
        );
        // Spelt with capitals, the same address.
        let shouted = EmailAddress::parse(&to.to_string().to_uppercase()).expect("email");
        assert_eq!(count_key(&to, day, 1), count_key(&shouted, day, 1));
        assert!(!count_key(&to, day, 1).contains(&to.to_string()));
    }

    #[test]
    fn a_new_address_is_unverified_and_the_same_one_keeps_its_state() {
        let verified = patient(&PERU, "45678912");
        let same = verified.email.clone().expect("email");
        assert!(verified.with_email_given(same.clone()).email_verified);
        let shouted = EmailAddress::parse(&same.to_string().to_uppercase()).expect("email");
        let respelt = verified.with_email_given(shouted.clone());
        assert!(respelt.email_verified && respelt.email == Some(shouted));
        let other = EmailAddress::parse("otra@example.com").expect("email");
        let changed = verified.with_email_given(other);
        assert!(!changed.email_verified && changed.reachable_email().is_none());
        assert_eq!(
            verified.issue_code(&PERU, now()).err(),
            Some(NothingToVerify)
        );
    }
}

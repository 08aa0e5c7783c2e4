//! Verified email addresses: an address a patient gives (or changes to)
//! gets a code first, and notifications go to it only once the code comes
//! back. Staff-entered addresses count as verified. A patient may have a
//! bounded number of codes sent a day, so the codes cannot be turned into
//! a flood on someone else's inbox either.

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::country::Country;
use crate::model::Patient;
use crate::ports::MailError;
use crate::text::EmailAddress;

/// How long a code may be used.
pub const CODE_LASTS: SignedDuration = SignedDuration::from_hours(24);
/// Codes a patient may have sent in one local day.
pub const CODES_PER_DAY: u16 = 3;

/// The code sent to an address not verified yet: only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingVerification {
    /// SHA-256 of the code, in hex.
    pub code_hash: String,
    pub expires_at: Timestamp,
    /// The local day of the last code sent, and how many were sent that day.
    pub sent_on: Date,
    pub sends: u16,
}

/// A code to send to an address, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationEmail {
    pub country: &'static Country,
    pub name: String,
    pub to: EmailAddress,
    pub code: String,
    pub expires_at: Timestamp,
}

/// Sends verification codes (by email, straight away: the patient waits for it).
#[async_trait]
pub trait Verifier: Send + Sync {
    async fn send_code(&self, email: &VerificationEmail) -> Result<(), MailError>;
}

/// What a patient's record says of its address once a new code is issued.
#[derive(Debug)]
pub struct Issued {
    pub patient: Patient,
    pub email: VerificationEmail,
}

/// Why no code can be sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotIssued {
    /// No address on file, or it is verified already.
    NothingToVerify,
    /// The day's codes were sent; more tomorrow (local midnight).
    TooMany {
        limit: u16,
        retry_after: SignedDuration,
    },
}

fn hash(code: &str) -> String {
    Sha256::digest(code.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Patient {
    /// A new code for the record's address, counted against the day's
    /// codes (those of an earlier code of the same day included).
    pub fn issue_code(
        &self,
        country: &'static Country,
        now: Timestamp,
    ) -> Result<Issued, NotIssued> {
        let Some(to) = self.email.clone().filter(|_| !self.email_verified) else {
            return Err(NotIssued::NothingToVerify);
        };
        let today = country.local_date(now);
        let sends = match &self.verification {
            Some(pending) if pending.sent_on == today => pending.sends,
            _ => 0,
        };
        if sends >= CODES_PER_DAY {
            let midnight = country
                .local(now)
                .tomorrow()
                .and_then(|tomorrow| tomorrow.start_of_day())
                .map(|midnight| midnight.timestamp())
                .unwrap_or(now);
            return Err(NotIssued::TooMany {
                limit: CODES_PER_DAY,
                retry_after: midnight.duration_since(now),
            });
        }
        // 122 random bits: too many to guess within a code's day.
        let code = uuid::Uuid::new_v4().simple().to_string();
        let expires_at = now + CODE_LASTS;
        let patient = Patient {
            verification: Some(PendingVerification {
                code_hash: hash(&code),
                expires_at,
                sent_on: today,
                sends: sends + 1,
            }),
            ..self.clone()
        };
        Ok(Issued {
            email: VerificationEmail {
                country,
                name: self.name.clone(),
                to,
                code,
                expires_at,
            },
            patient,
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
    /// address is not verified until its code comes back; the same one
    /// keeps what it had.
    pub fn with_email_given(&self, email: EmailAddress) -> Patient {
        if self.email.as_ref() == Some(&email) {
            return Patient {
                email: Some(email),
                ..self.clone()
            };
        }
        // The day's count stays; the code sent to the old address is void.
        Patient {
            email: Some(email),
            email_verified: false,
            verification: self
                .verification
                .clone()
                .map(|pending| PendingVerification {
                    code_hash: String::new(),
                    ..pending
                }),
            ..self.clone()
        }
    }

    /// Whether the address waits for a code that is not on its way: none
    /// sent to it yet, or the one sent has expired.
    pub fn needs_code(&self, now: Timestamp) -> bool {
        self.email.is_some()
            && !self.email_verified
            && self
                .verification
                .as_ref()
                .is_none_or(|pending| pending.code_hash.is_empty() || pending.expires_at <= now)
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
    fn codes_of_a_day_are_bounded_and_the_next_day_starts_again() {
        let mut record = unverified();
        for _ in 0..CODES_PER_DAY {
            record = record.issue_code(&PERU, now()).expect("issued").patient;
        }
        assert!(matches!(
            record.issue_code(&PERU, now()),
            Err(NotIssued::TooMany { limit: CODES_PER_DAY, retry_after }) if retry_after == SignedDuration::from_hours(14)
        ));
        let tomorrow = now() + SignedDuration::from_hours(24);
        assert!(record.issue_code(&PERU, tomorrow).is_ok());
    }

    #[test]
    fn a_new_address_is_unverified_and_the_same_one_keeps_its_state() {
        let verified = patient(&PERU, "45678912");
        let same = verified.email.clone().expect("email");
        assert!(verified.with_email_given(same).email_verified);
        let other = EmailAddress::parse("otra@example.com").expect("email");
        let changed = verified.with_email_given(other);
        assert!(!changed.email_verified && changed.reachable_email().is_none());
        assert_eq!(
            verified.issue_code(&PERU, now()).err(),
            Some(NotIssued::NothingToVerify)
        );
    }
}

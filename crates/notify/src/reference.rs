//! What an email says instead of the appointment id (`YYYYMMDD-{document}`,
//! which carries the national ID): the calendar invitation's UID, which
//! calendar providers sync and keep, and a short booking reference to quote.
//! Both are a keyed hash (HMAC-SHA256) of the country and the id: stable per
//! appointment, so an update or a cancellation matches its invitation, and
//! without the key they do not lead back to the document.

use citas_domain::Appointment;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Letters of booking references: Crockford's base32 (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The secret calendar UIDs and references are derived with.
#[derive(Clone)]
pub struct CalendarKey(Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the calendar key must be at least {MIN_KEY_BYTES} bytes (got {0})")]
pub struct ShortKey(pub usize);

impl std::fmt::Debug for CalendarKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CalendarKey(…)")
    }
}

impl CalendarKey {
    pub fn new(secret: &[u8]) -> Result<Self, ShortKey> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(ShortKey(secret.len()));
        }
        Ok(Self(secret.to_vec()))
    }

    fn digest(&self, appointment: &Appointment) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            // HMAC takes keys of any length; unreachable, and a fixed answer is no leak.
            return [0; 32];
        };
        mac.update(appointment.country.code.as_bytes());
        mac.update(b"/");
        mac.update(appointment.id.to_string().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The invitation's UID: 128 bits of the hash, in hex, `@citas`.
    pub fn uid(&self, appointment: &Appointment) -> String {
        let digest = self.digest(appointment);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex}@citas")
    }

    /// A booking reference to quote: 40 bits of the hash as `XXXX-XXXX`.
    pub fn reference(&self, appointment: &Appointment) -> String {
        let digest = self.digest(appointment);
        let bits = digest[..5]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let letters: String = (0..8)
            .rev()
            .map(|n| char::from(ALPHABET[((bits >> (n * 5)) & 31) as usize]))
            .collect();
        format!("{}-{}", &letters[..4], &letters[4..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use citas_domain::testkit;
    use citas_domain::{CHILE, PERU};

    #[test]
    fn uids_and_references_are_stable_per_appointment_and_hide_the_document() {
        let key = CalendarKey::new(&[7; 32]).unwrap();
        let ana = testkit::appointment(&PERU, "45678912").build();
        let again = testkit::appointment(&PERU, "45678912").build();
        let other = testkit::appointment(&PERU, "45678913").build();
        assert_eq!(key.uid(&ana), key.uid(&again));
        assert_ne!(key.uid(&ana), key.uid(&other));
        assert!(!key.uid(&ana).contains("45678912"));
        let reference = key.reference(&ana);
        assert_eq!(reference.len(), 9, "{reference}");
        assert!(
            reference
                .chars()
                .all(|c| c == '-' || ALPHABET.contains(&(c as u8)))
        );
        assert_ne!(reference, key.reference(&other));
        // Another key, other UIDs: without it they lead nowhere.
        let stranger = CalendarKey::new(&[8; 32]).unwrap();
        assert_ne!(key.uid(&ana), stranger.uid(&ana));
        // The same id in another country is another appointment.
        let chile = testkit::appointment(&CHILE, "12345678-5").build();
        assert_ne!(key.uid(&chile), key.uid(&ana));
        assert_eq!(CalendarKey::new(b"short").err(), Some(ShortKey(5)));
    }
}

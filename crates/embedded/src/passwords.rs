//! Password hashes of the local identity provider: Argon2id with the
//! crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's minimum for
//! Argon2id), a random salt per hash, stored as a PHC string that names its
//! own parameters, so hashes made under other parameters still verify.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use citas_domain::account::Password;

/// The hash could not be made (the system's random source failed).
#[derive(Debug, thiserror::Error)]
#[error("could not hash the password: {0}")]
pub struct HashError(String);

impl HashError {
    pub(crate) fn new(why: String) -> Self {
        Self(why)
    }
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for `password`.
///
/// # Errors
/// `HashError` when no salt or hash can be made.
pub fn hash(password: &Password) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| HashError(error.to_string()))
}

/// Whether `attempt` is the password `stored` was made from. A stored value
/// that is not a PHC string matches nothing. `attempt` is raw text: a
/// sign-in is checked against the hash whatever the policy says today.
pub fn verify(attempt: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(attempt.as_bytes(), &hash)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(text: &str) -> Password {
        Password::parse(text).expect("a password that meets the policy")
    }

    #[test]
    fn a_hash_is_argon2id_salted_and_verifies_only_its_password() {
        let first = hash(&password("Secreto-2026")).expect("hashed");
        let second = hash(&password("Secreto-2026")).expect("hashed");
        assert!(first.starts_with("$argon2id$v=19$"), "{first}");
        assert!(!first.contains("Secreto-2026"));
        assert_ne!(first, second, "each hash has its own salt");
        assert!(verify("Secreto-2026", &first));
        assert!(verify("Secreto-2026", &second));
        assert!(!verify("Secreto-2027", &first));
        assert!(!verify("secreto-2026", &first));
    }

    #[test]
    fn a_stored_value_that_is_not_a_hash_matches_nothing() {
        assert!(!verify("Secreto-2026", "Secreto-2026"));
        assert!(!verify("", ""));
    }
}

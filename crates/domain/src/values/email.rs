//! An email address, checked once.

use std::fmt;

use super::text::InvalidText;

/// An email address, checked plainly: one `@`, a dotted domain, no spaces.
/// Delivery is the real test; this only stops obvious mistakes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidText> {
        let email = raw.trim();
        if email.is_empty() {
            return Err(InvalidText::Empty);
        }
        if email.len() > 254 {
            return Err(InvalidText::TooLong(254));
        }
        let valid = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && email
                        .chars()
                        .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | ','))
            }
            None => false,
        };
        if valid {
            Ok(Self(email.to_owned()))
        } else {
            Err(InvalidText::NotAnEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether both name one mailbox: mail providers do not tell capitals
    /// apart (and the address is ASCII), so `Ana@x.pe` is `ana@x.pe`.
    pub fn is_same_mailbox(&self, other: &EmailAddress) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

//! Free text a client sends, checked once: specialities (compared as slugs),
//! email addresses, names and reasons.

use std::fmt;

/// Longest free text a client may send (names, reasons).
pub const MAX_TEXT_LEN: usize = 200;
/// Longest cancellation reason.
pub const MAX_REASON_LEN: usize = 500;

/// A speciality as a slug: `"Medicina interna"` and `medicina-interna` are the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Speciality(String);

impl Speciality {
    pub fn parse(raw: &str) -> Result<Self, InvalidText> {
        let raw = raw.trim();
        if raw.chars().count() > 80 {
            return Err(InvalidText::TooLong(80));
        }
        let slug = slug::slugify(raw);
        if slug.is_empty() {
            return Err(InvalidText::Empty);
        }
        Ok(Self(slug))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Speciality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why free text (a name, a speciality, a reason, an email) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidText {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control or text-direction override characters")]
    ControlCharacters,
    #[error("is not a valid email address")]
    NotAnEmail,
}

/// Trims and checks a human-readable text field (names, reasons).
pub fn clean_text(raw: &str, max: usize) -> Result<String, InvalidText> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(InvalidText::Empty);
    }
    if text.chars().count() > max {
        return Err(InvalidText::TooLong(max));
    }
    if text
        .chars()
        .any(|c| c.is_control() || is_direction_override(c))
    {
        return Err(InvalidText::ControlCharacters);
    }
    Ok(text.to_owned())
}

/// Bidirectional embedding, override and isolate characters (U+202A–U+202E,
/// U+2066–U+2069): invisible, they make a name or reason display as
/// something other than what it is.
fn is_direction_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specialities_compare_as_slugs() {
        assert_eq!(
            Speciality::parse("Medicina interna").unwrap(),
            Speciality::parse("medicina-interna").unwrap()
        );
        assert_eq!(
            Speciality::parse("Cardiología").unwrap().as_str(),
            "cardiologia"
        );
        assert_eq!(
            Speciality::parse("  PEDIATRÍA ").unwrap().as_str(),
            "pediatria"
        );
        assert_eq!(Speciality::parse("¡¡!!"), Err(InvalidText::Empty));
        assert_eq!(
            Speciality::parse(&"a".repeat(81)),
            Err(InvalidText::TooLong(80))
        );
    }

    #[test]
    fn emails_and_texts() {
        assert_eq!(
            EmailAddress::parse(" ana@example.pe ").map(|e| e.to_string()),
            Ok("ana@example.pe".into())
        );
        for bad in [
            "", "ana", "ana@", "@x.pe", "ana@x", "a b@x.pe", "a@b@x.pe", "a@x.pe.",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(clean_text("  Ana  ", 10), Ok("Ana".into()));
        assert_eq!(
            clean_text("a\u{0}b", 10),
            Err(InvalidText::ControlCharacters)
        );
        assert_eq!(clean_text("abc", 2), Err(InvalidText::TooLong(2)));
        for hidden in ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}'] {
            assert_eq!(
                clean_text(&format!("Ana{hidden}Torres"), 50),
                Err(InvalidText::ControlCharacters),
                "{:?}",
                hidden
            );
        }
        // Accents and other letters are text, not control.
        assert_eq!(clean_text("José Ñúñez", 50), Ok("José Ñúñez".into()));
    }
}

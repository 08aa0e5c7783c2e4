//! Free text a client sends (names, reasons), checked once, and why text
//! of any kind (a speciality, an email address) is refused.

/// Longest free text a client may send (names, reasons).
pub const MAX_TEXT_LEN: usize = 200;
/// Longest cancellation reason.
pub const MAX_REASON_LEN: usize = 500;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::email::EmailAddress;

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

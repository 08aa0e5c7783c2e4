//! Patient identity documents and their per-country rules.

use std::fmt;

use crate::values::country::Country;

/// The kinds of identity document the service knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// Peru's Documento Nacional de Identidad: 8 digits.
    Dni,
    /// Peru's Carné de Extranjería: 9 digits.
    Ce,
    /// Chile's Rol Único Tributario: body and módulo-11 check digit.
    Rut,
    /// No one's: the stand-in of an erased patient on the visits kept for
    /// the doctors' records, `anon` and 32 random hex digits. Never parsed
    /// from what a client sends, only from stored appointment ids.
    Erased,
}

impl DocumentKind {
    fn describe(self) -> &'static str {
        match self {
            DocumentKind::Dni => "a DNI (8 digits)",
            DocumentKind::Ce => "a CE (9 digits)",
            DocumentKind::Rut => {
                "a RUT with its check digit, written 12.345.678-5, 12345678-5 or 123456785"
            }
            DocumentKind::Erased => "the stand-in of an erased patient",
        }
    }

    fn parse(self, raw: &str) -> Result<String, DocumentError> {
        match self {
            DocumentKind::Dni => fixed_digits(raw, 8),
            DocumentKind::Ce => fixed_digits(raw, 9),
            DocumentKind::Rut => parse_rut(raw),
            DocumentKind::Erased => match raw.strip_prefix(ERASED_PREFIX) {
                Some(hex)
                    if hex.len() == 32
                        && hex
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
                {
                    Ok(raw.to_owned())
                }
                _ => Err(DocumentError::Empty),
            },
        }
    }
}

/// A validated, normalised patient document (e.g. `45678912`, `12345678-5`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Document {
    value: String,
    kind: DocumentKind,
}

impl Document {
    pub fn as_str(&self) -> &str {
        &self.value
    }
    pub fn kind(&self) -> DocumentKind {
        self.kind
    }
    pub fn into_string(self) -> String {
        self.value
    }

    /// A new stand-in for an erased patient: random, so nothing links it
    /// to the document it replaces.
    pub fn erased() -> Self {
        Self {
            value: format!("{ERASED_PREFIX}{}", uuid::Uuid::new_v4().simple()),
            kind: DocumentKind::Erased,
        }
    }

    /// A stand-in read back from a stored id.
    pub fn parse_erased(raw: &str) -> Result<Self, DocumentError> {
        DocumentKind::Erased.parse(raw).map(|value| Self {
            value,
            kind: DocumentKind::Erased,
        })
    }

    pub fn is_erased(&self) -> bool {
        self.kind == DocumentKind::Erased
    }
}

const ERASED_PREFIX: &str = "anon";

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// Why a document was rejected; the message is meant for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the document is empty")]
    Empty,
    #[error("the document is too long (at most {MAX_RAW_LEN} characters)")]
    TooLong,
    #[error("a document for {country} must be {expected}")]
    Format {
        country: &'static str,
        expected: String,
    },
    #[error("the RUT check digit is wrong: {body} has check digit {expected}, not {given}")]
    RutCheckDigit {
        body: String,
        expected: char,
        given: char,
    },
}

const MAX_RAW_LEN: usize = 20;

/// Parses a raw document with the country's accepted kinds, in order.
pub(crate) fn parse_for(country: &Country, raw: &str) -> Result<Document, DocumentError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(DocumentError::Empty);
    }
    if raw.chars().count() > MAX_RAW_LEN {
        return Err(DocumentError::TooLong);
    }
    let mut first_specific_error = None;
    for &kind in country.documents {
        match kind.parse(raw) {
            Ok(value) => return Ok(Document { value, kind }),
            // A well-formed RUT with a wrong check digit says more than "bad format".
            Err(e @ DocumentError::RutCheckDigit { .. }) => {
                first_specific_error.get_or_insert(e);
            }
            Err(_) => {}
        }
    }
    Err(
        first_specific_error.unwrap_or_else(|| DocumentError::Format {
            country: country.name,
            expected: country
                .documents
                .iter()
                .map(|k| k.describe())
                .collect::<Vec<_>>()
                .join(" or "),
        }),
    )
}

fn format_error() -> DocumentError {
    // The caller replaces this with the country's full description.
    DocumentError::Format {
        country: "",
        expected: String::new(),
    }
}

fn fixed_digits(raw: &str, len: usize) -> Result<String, DocumentError> {
    if raw.len() == len && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(raw.to_owned())
    } else {
        Err(format_error())
    }
}

/// The módulo-11 check digit of a RUT body.
pub fn rut_check_digit(body: u32) -> char {
    let mut sum = 0u32;
    let mut factor = 2u32;
    let mut rest = body;
    while rest > 0 {
        sum += (rest % 10) * factor;
        rest /= 10;
        factor = if factor == 7 { 2 } else { factor + 1 };
    }
    match 11 - sum % 11 {
        11 => '0',
        10 => 'K',
        d => char::from_digit(d, 10).unwrap_or('0'),
    }
}

/// Accepts `12.345.678-5`, `12345678-5` and `123456785` (`k` or `K`), and
/// normalises to `12345678-5`.
fn parse_rut(raw: &str) -> Result<String, DocumentError> {
    let upper = raw.to_ascii_uppercase();
    let (body_part, check) = match upper.rsplit_once('-') {
        Some((body, check)) => (body.to_owned(), check),
        None if !upper.contains('.') => match upper.char_indices().last() {
            Some((at, _)) if at > 0 => {
                let (body, check) = upper.split_at(at);
                (body.to_owned(), check)
            }
            _ => return Err(format_error()),
        },
        None => return Err(format_error()),
    };
    let body = if body_part.contains('.') {
        undot(&body_part).ok_or_else(format_error)?
    } else {
        body_part
    };
    let mut check_chars = check.chars();
    let given = match (check_chars.next(), check_chars.next()) {
        (Some(c), None) if c.is_ascii_digit() || c == 'K' => c,
        _ => return Err(format_error()),
    };
    if body.is_empty()
        || body.len() > 8
        || body.starts_with('0')
        || !body.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format_error());
    }
    let number: u32 = body.parse().map_err(|_| format_error())?;
    let expected = rut_check_digit(number);
    if expected != given {
        return Err(DocumentError::RutCheckDigit {
            body,
            expected,
            given,
        });
    }
    Ok(format!("{body}-{given}"))
}

/// `12.345.678` → `12345678`, only when the dots group thousands exactly.
fn undot(dotted: &str) -> Option<String> {
    let groups: Vec<&str> = dotted.split('.').collect();
    let (first, rest) = groups.split_first()?;
    let first_ok = (1..=3).contains(&first.len());
    let rest_ok = rest.iter().all(|g| g.len() == 3);
    (first_ok && rest_ok && !rest.is_empty()).then(|| groups.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::country::{CHILE, PERU};
    use proptest::prelude::*;

    #[test]
    fn known_rut_check_digits() {
        assert_eq!(rut_check_digit(12_345_678), '5');
        assert_eq!(rut_check_digit(11_111_111), '1');
        assert_eq!(rut_check_digit(6_000_003), '4');
        assert_eq!(rut_check_digit(10_000_004), '0');
        assert_eq!(rut_check_digit(30_686_957), '4');
        assert_eq!(rut_check_digit(10_000_013), 'K');
        assert_eq!(rut_check_digit(1), '9');
    }

    #[test]
    fn chilean_rut_in_its_three_spellings_normalises_alike() {
        for raw in ["12.345.678-5", "12345678-5", "123456785", " 12345678-5 "] {
            assert_eq!(
                CHILE.parse_document(raw).map(Document::into_string),
                Ok("12345678-5".to_owned()),
                "{raw}"
            );
        }
        assert_eq!(
            CHILE
                .parse_document("10.000.013-k")
                .map(Document::into_string),
            Ok("10000013-K".to_owned())
        );
    }

    #[test]
    fn wrong_rut_check_digit_says_which_one_is_right() {
        let err = CHILE.parse_document("12.345.678-9").unwrap_err();
        assert_eq!(
            err,
            DocumentError::RutCheckDigit {
                body: "12345678".into(),
                expected: '5',
                given: '9'
            }
        );
        assert!(err.to_string().contains("check digit 5"));
    }

    #[test]
    fn malformed_ruts_are_format_errors() {
        for raw in [
            "12.34.5678-5",
            "1234.5678-5",
            "12.345.678",
            "12345678-55",
            "012345678-5",
            "abc",
            "-5",
            "123456789-0",
        ] {
            assert!(
                matches!(CHILE.parse_document(raw), Err(DocumentError::Format { .. })),
                "{raw}"
            );
        }
        assert_eq!(CHILE.parse_document("  "), Err(DocumentError::Empty));
        assert_eq!(
            CHILE.parse_document("1234567890123456789012"),
            Err(DocumentError::TooLong)
        );
    }

    #[test]
    fn peru_accepts_dni_and_ce_only() {
        let dni = PERU.parse_document("45678912").unwrap();
        assert_eq!((dni.as_str(), dni.kind()), ("45678912", DocumentKind::Dni));
        let ce = PERU.parse_document("123456789").unwrap();
        assert_eq!(ce.kind(), DocumentKind::Ce);
        for raw in [
            "1234567",
            "1234567890",
            "4567891a",
            "45.678.912",
            "12345678-5",
        ] {
            let err = PERU.parse_document(raw).unwrap_err();
            assert_eq!(
                err.to_string(),
                "a document for Perú must be a DNI (8 digits) or a CE (9 digits)",
                "{raw}"
            );
        }
    }

    fn dotted(body: u32) -> String {
        let digits = body.to_string();
        let mut groups = Vec::new();
        let mut end = digits.len();
        while end > 3 {
            groups.push(&digits[end - 3..end]);
            end -= 3;
        }
        groups.push(&digits[..end]);
        groups.reverse();
        groups.join(".")
    }

    proptest! {
        #[test]
        fn any_rut_with_its_check_digit_is_accepted_in_every_spelling(body in 1u32..100_000_000) {
            let dv = rut_check_digit(body);
            let canonical = format!("{body}-{dv}");
            for raw in [canonical.clone(), format!("{body}{dv}"), format!("{}-{dv}", dotted(body)), canonical.to_lowercase()] {
                if raw.len() < 2 { continue; }
                let doc = CHILE.parse_document(&raw);
                prop_assert_eq!(doc.map(Document::into_string), Ok(canonical.clone()), "{}", raw);
            }
        }

        #[test]
        fn any_other_check_digit_is_rejected(body in 1u32..100_000_000, wrong in "[0-9K]") {
            let dv = rut_check_digit(body);
            let wrong = wrong.chars().next().unwrap_or('0');
            prop_assume!(wrong != dv);
            let result = CHILE.parse_document(&format!("{body}-{wrong}"));
            let is_check_digit_error = matches!(result, Err(DocumentError::RutCheckDigit { .. }));
            prop_assert!(is_check_digit_error);
        }

        #[test]
        fn peruvian_documents_are_exactly_eight_or_nine_digits(raw in "[0-9]{1,12}") {
            let result = PERU.parse_document(&raw);
            match raw.len() {
                8 => prop_assert_eq!(result.map(|d| d.kind()), Ok(DocumentKind::Dni)),
                9 => prop_assert_eq!(result.map(|d| d.kind()), Ok(DocumentKind::Ce)),
                _ => prop_assert!(result.is_err()),
            }
        }

        /// A document is stored as its text alone: two kinds of one country
        /// that accepted the same text would give two people one id.
        #[test]
        fn no_two_kinds_of_a_country_accept_the_same_text(raw in "[0-9]{1,12}|[0-9]{1,8}-?[0-9kK]") {
            for country in crate::COUNTRIES {
                let accepting: Vec<DocumentKind> = country
                    .documents
                    .iter()
                    .copied()
                    .filter(|kind| kind.parse(&raw).is_ok())
                    .collect();
                prop_assert!(accepting.len() <= 1, "{}: {} is {:?}", country.code, raw, accepting);
            }
        }

        /// An appointment's id is `{day}-{document}` and its notifications'
        /// idempotency keys are made of it in one table for every country: two
        /// countries must never store the same document text.
        #[test]
        fn no_two_countries_store_the_same_document(raw in "[0-9]{1,12}|[0-9]{1,8}-?[0-9kK]") {
            let stored: Vec<(&str, String)> = crate::COUNTRIES
                .iter()
                .filter_map(|c| c.parse_document(&raw).ok().map(|d| (c.code, d.into_string())))
                .collect();
            for (i, (code, text)) in stored.iter().enumerate() {
                for (other, same) in &stored[i + 1..] {
                    prop_assert_ne!(text, same, "{} and {} both store {}", code, other, raw);
                }
            }
        }

        #[test]
        fn parsing_never_panics(raw in "\\PC{0,40}") {
            let _ = PERU.parse_document(&raw);
            let _ = CHILE.parse_document(&raw);
        }
    }
}

//! A speciality, compared as a slug.

use std::fmt;

use super::text::InvalidText;

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
}

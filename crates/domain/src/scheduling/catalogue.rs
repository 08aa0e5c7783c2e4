//! The specialities a country offers: a catalogue every country starts with
//! (slugs and proper Spanish names), plus those added by registering a doctor
//! of a speciality the catalogue lacks.

use crate::{values::speciality::Speciality, values::text::MAX_TEXT_LEN, values::text::clean_text};

/// Slugs and display names every country offers from the start. Seed 000's
/// example only knows slugs (`medicina-interna`); their names come from here.
const CATALOGUE: &[(&str, &str)] = &[
    ("cardiologia", "Cardiología"),
    ("cirugia-general", "Cirugía general"),
    ("dermatologia", "Dermatología"),
    ("endocrinologia", "Endocrinología"),
    ("gastroenterologia", "Gastroenterología"),
    ("geriatria", "Geriatría"),
    ("ginecologia", "Ginecología"),
    ("medicina-familiar", "Medicina familiar"),
    ("medicina-general", "Medicina general"),
    ("medicina-interna", "Medicina interna"),
    ("nefrologia", "Nefrología"),
    ("neumologia", "Neumología"),
    ("neurologia", "Neurología"),
    ("nutricion", "Nutrición"),
    ("obstetricia", "Obstetricia"),
    ("odontologia", "Odontología"),
    ("oftalmologia", "Oftalmología"),
    ("oncologia", "Oncología"),
    ("otorrinolaringologia", "Otorrinolaringología"),
    ("pediatria", "Pediatría"),
    ("psicologia", "Psicología"),
    ("psiquiatria", "Psiquiatría"),
    ("reumatologia", "Reumatología"),
    ("traumatologia", "Traumatología"),
    ("urologia", "Urología"),
];

/// A speciality a country offers: its slug and how it is named to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedSpeciality {
    pub slug: Speciality,
    pub name: String,
}

impl OfferedSpeciality {
    /// A speciality named by whoever registers a doctor of it: the slug comes
    /// from the name, and the catalogue's spelling wins for a known slug.
    pub fn named(raw: &str) -> Result<Self, crate::values::text::InvalidText> {
        let slug = Speciality::parse(raw)?;
        let name = match catalogue_name(&slug) {
            Some(name) => name.to_owned(),
            None => clean_text(raw, MAX_TEXT_LEN)?,
        };
        Ok(Self { slug, name })
    }

    /// A speciality known only by its slug (seed items, stored appointments).
    pub fn from_slug(slug: Speciality) -> Self {
        let name = display_name(&slug);
        Self { slug, name }
    }
}

/// The catalogue every country starts with.
pub fn catalogue() -> impl Iterator<Item = OfferedSpeciality> {
    CATALOGUE.iter().map(|(slug, name)| OfferedSpeciality {
        slug: Speciality::parse(slug).unwrap_or_else(|_| unreachable!("catalogue slugs are slugs")),
        name: (*name).to_owned(),
    })
}

fn catalogue_name(slug: &Speciality) -> Option<&'static str> {
    CATALOGUE
        .binary_search_by(|(known, _)| (*known).cmp(slug.as_str()))
        .ok()
        .map(|index| CATALOGUE[index].1)
}

/// The name of a speciality for people: the catalogue's, else the slug as words
/// (`medicina-deportiva` → `Medicina deportiva`).
pub fn display_name(slug: &Speciality) -> String {
    if let Some(name) = catalogue_name(slug) {
        return name.to_owned();
    }
    let words = slug.as_str().replace('-', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The catalogue plus `added` (a country's own), sorted by slug, without repeats.
pub fn offered(added: Vec<OfferedSpeciality>) -> Vec<OfferedSpeciality> {
    let mut all: Vec<OfferedSpeciality> = catalogue().collect();
    for speciality in added {
        if !all.iter().any(|known| known.slug == speciality.slug) {
            all.push(speciality);
        }
    }
    all.sort_by(|a, b| a.slug.cmp(&b.slug));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_sorted_by_slug_and_its_slugs_are_the_names_slugs() {
        assert!(CATALOGUE.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (slug, name) in CATALOGUE {
            assert_eq!(Speciality::parse(name).unwrap().as_str(), *slug);
        }
    }

    #[test]
    fn names_are_proper_spanish_for_known_slugs_and_as_given_for_new_ones() {
        let slug = |raw| Speciality::parse(raw).unwrap();
        assert_eq!(display_name(&slug("cardiologia")), "Cardiología");
        assert_eq!(display_name(&slug("medicina-interna")), "Medicina interna");
        assert_eq!(
            display_name(&slug("medicina-deportiva")),
            "Medicina deportiva"
        );
        let added = OfferedSpeciality::named("  Medicina Deportiva ").unwrap();
        assert_eq!(added.slug.as_str(), "medicina-deportiva");
        assert_eq!(added.name, "Medicina Deportiva");
        assert_eq!(
            OfferedSpeciality::named("CARDIOLOGIA").unwrap().name,
            "Cardiología"
        );
    }

    #[test]
    fn offered_adds_a_countrys_own_once() {
        let added = OfferedSpeciality::named("Medicina deportiva").unwrap();
        let all = offered(vec![
            added.clone(),
            added.clone(),
            OfferedSpeciality::named("Pediatría").unwrap(),
        ]);
        assert_eq!(all.len(), CATALOGUE.len() + 1);
        assert!(all.contains(&added));
    }
}

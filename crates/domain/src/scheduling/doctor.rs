//! A doctor of one country and speciality.

use crate::values::email::EmailAddress;
use crate::values::ids::DoctorId;
use crate::values::money::Price;
use crate::values::place::Coordinates;

/// A doctor; the id carries the country, the speciality and the registry number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doctor {
    pub id: DoctorId,
    pub name: String,
    pub email: Option<EmailAddress>,
    /// Bookings wait for the doctor's confirmation (the lifecycle issue acts on it).
    pub requires_confirmation: bool,
    pub profile: DoctorProfile,
    /// Their shown reviews, as the store keeps it: only a review (or staff
    /// hiding one) changes it, never a registration.
    pub rating: crate::review::Rating,
}

/// How a doctor sees patients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Modality {
    #[default]
    InPerson,
    Virtual,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InPerson => "in_person",
            Self::Virtual => "virtual",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "in_person" => Some(Self::InPerson),
            "virtual" => Some(Self::Virtual),
            _ => None,
        }
    }
}

/// Where a doctor sees patients in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The clinic's name.
    pub name: String,
    pub address: String,
    pub district: String,
    pub coordinates: Coordinates,
}

/// What a patient sees of a doctor before booking (issue 26). Doctors
/// registered before have none of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DoctorProfile {
    /// One consultation, in the country's currency.
    pub price: Option<Price>,
    /// Sorted, without repeats.
    pub modalities: Vec<Modality>,
    pub place: Option<Place>,
    pub languages: Vec<String>,
    pub bio: Option<String>,
}

/// A profile that does not hold together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidProfile {
    #[error("a doctor who sees patients in person has a place (name, address, district, lat, lon)")]
    PlaceNeeded,
}

impl DoctorProfile {
    /// A profile from its parts: modalities sorted and without repeats.
    ///
    /// # Errors
    /// `PlaceNeeded` when `in_person` comes without a place.
    pub fn new(
        price: Option<Price>,
        mut modalities: Vec<Modality>,
        place: Option<Place>,
        languages: Vec<String>,
        bio: Option<String>,
    ) -> Result<Self, InvalidProfile> {
        modalities.sort();
        modalities.dedup();
        if modalities.contains(&Modality::InPerson) && place.is_none() {
            return Err(InvalidProfile::PlaceNeeded);
        }
        Ok(Self {
            price,
            modalities,
            place,
            languages,
            bio,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lima() -> Place {
        Place {
            name: "Clínica San Felipe".into(),
            address: "Av. Gregorio Escobedo 650".into(),
            district: "Jesús María".into(),
            coordinates: Coordinates::new(-12.0806, -77.0500).expect("in range"),
        }
    }

    #[test]
    fn in_person_needs_a_place_and_modalities_are_a_set() {
        assert_eq!(
            DoctorProfile::new(None, vec![Modality::InPerson], None, vec![], None),
            Err(InvalidProfile::PlaceNeeded)
        );
        let profile = DoctorProfile::new(
            None,
            vec![Modality::Virtual, Modality::InPerson, Modality::Virtual],
            Some(lima()),
            vec![],
            None,
        )
        .expect("a profile");
        assert_eq!(profile.modalities, [Modality::InPerson, Modality::Virtual]);
        assert!(DoctorProfile::new(None, vec![Modality::Virtual], None, vec![], None).is_ok());
        for modality in [Modality::InPerson, Modality::Virtual] {
            assert_eq!(Modality::parse(modality.as_str()), Some(modality));
        }
        assert_eq!(Modality::parse("presencial"), None);
    }
}

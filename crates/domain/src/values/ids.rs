//! The ids of seed 000's tables, parsed once into their parts:
//! an appointment is `YYYYMMDD-{document}`, a doctor `{country}-{speciality}-{registry}`,
//! a slot `{doctor id}-{epoch seconds of its local start}`.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::values::country::Country;
use crate::values::document::Document;
use crate::values::speciality::Speciality;

/// An appointment id: `YYYYMMDD-{document}`, the day of the request in the country's local time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppointmentId {
    pub day: Date,
    pub document: Document,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an appointment id (YYYYMMDD-document)")]
pub struct InvalidAppointmentId(pub String);

impl AppointmentId {
    /// The id of the appointment a patient requests at `at`.
    pub fn for_request(country: &Country, document: Document, at: Timestamp) -> Self {
        Self {
            day: country.local_date(at),
            document,
        }
    }

    /// Only the normalised spelling names a stored appointment.
    pub fn parse(country: &Country, raw: &str) -> Result<Self, InvalidAppointmentId> {
        let invalid = || InvalidAppointmentId(raw.chars().take(64).collect());
        let (day, document) = raw.split_once('-').ok_or_else(invalid)?;
        if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let day = Date::strptime("%Y%m%d", day).map_err(|_| invalid())?;
        // The document in any spelling the country accepts (a RUT's `k` or
        // dots): one appointment, one normal form.
        let document = country
            .parse_document(document)
            .or_else(|_| Document::parse_erased(document))
            .map_err(|_| invalid())?;
        Ok(Self { day, document })
    }
}

impl fmt::Display for AppointmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.day.strftime("%Y%m%d"), self.document)
    }
}

/// A doctor's professional registry number (seed 000's `9999234`): digits, not a patient document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DoctorDocument(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a doctor's document is their professional registry number: 1 to {max} digits", max = DoctorDocument::MAX_DIGITS)]
pub struct InvalidDoctorDocument;

impl DoctorDocument {
    pub const MAX_DIGITS: usize = 15;

    pub fn parse(raw: &str) -> Result<Self, InvalidDoctorDocument> {
        let raw = raw.trim();
        if !raw.is_empty()
            && raw.len() <= Self::MAX_DIGITS
            && raw.bytes().all(|b| b.is_ascii_digit())
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidDoctorDocument)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DoctorDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A doctor id: `{country}-{speciality}-{document}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DoctorId {
    pub country: &'static Country,
    pub speciality: Speciality,
    pub document: DoctorDocument,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a doctor id ({{country}}-{{speciality}}-{{registry number}})")]
pub struct InvalidDoctorId(pub String);

impl DoctorId {
    pub fn new(
        country: &'static Country,
        speciality: Speciality,
        document: DoctorDocument,
    ) -> Self {
        Self {
            country,
            speciality,
            document,
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidDoctorId> {
        let invalid = || InvalidDoctorId(raw.chars().take(120).collect());
        let (code, rest) = raw.split_once('-').ok_or_else(invalid)?;
        let (speciality, document) = rest.rsplit_once('-').ok_or_else(invalid)?;
        let country = Country::from_code(code).map_err(|_| invalid())?;
        let speciality = Speciality::parse(speciality)
            .ok()
            .filter(|s| s.as_str() == speciality)
            .ok_or_else(invalid)?;
        let document = DoctorDocument::parse(document)
            .ok()
            .filter(|d| d.as_str() == document)
            .ok_or_else(invalid)?;
        Ok(Self::new(country, speciality, document))
    }
}

impl fmt::Display for DoctorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{}",
            self.country.code, self.speciality, self.document
        )
    }
}

/// A slot id: `{doctor id}-{epoch seconds of the local start}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlotId {
    pub doctor: DoctorId,
    pub starts_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a slot id ({{doctor id}}-{{epoch seconds}})")]
pub struct InvalidSlotId(pub String);

impl SlotId {
    pub fn new(doctor: DoctorId, starts_at: Timestamp) -> Self {
        Self { doctor, starts_at }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidSlotId> {
        let invalid = || InvalidSlotId(raw.chars().take(120).collect());
        if raw.len() > 160 {
            return Err(invalid());
        }
        let (doctor, epoch) = raw.rsplit_once('-').ok_or_else(invalid)?;
        if epoch.is_empty() || epoch.len() > 12 || !epoch.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let seconds: i64 = epoch.parse().map_err(|_| invalid())?;
        let starts_at = Timestamp::from_second(seconds).map_err(|_| invalid())?;
        let doctor = DoctorId::parse(doctor).map_err(|_| invalid())?;
        let id = Self { doctor, starts_at };
        // `0900` and `900` are not two spellings of one slot.
        if id.to_string() != raw {
            return Err(invalid());
        }
        Ok(id)
    }

    pub fn country(&self) -> &'static Country {
        self.doctor.country
    }
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.doctor, self.starts_at.as_second())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::country::{CHILE, PERU};
    use proptest::prelude::*;

    #[test]
    fn appointment_id_uses_the_local_day_of_the_request() {
        let doc = CHILE.parse_document("12.345.678-5").unwrap();
        // 2027-01-15 02:30 UTC is still the 14th in Santiago.
        let at: Timestamp = "2027-01-15T02:30:00Z".parse().unwrap();
        let id = AppointmentId::for_request(&CHILE, doc, at);
        assert_eq!(id.to_string(), "20270114-12345678-5");
        assert_eq!(AppointmentId::parse(&CHILE, "20270114-12345678-5"), Ok(id));
    }

    #[test]
    fn appointment_ids_are_read_in_their_normal_form() {
        for (raw, normal) in [
            ("20270114-17000003-k", "20270114-17000003-K"),
            ("20270114-17000003-K", "20270114-17000003-K"),
            ("20270114-17.000.003-K", "20270114-17000003-K"),
            ("20270114-17000003k", "20270114-17000003-K"),
        ] {
            assert_eq!(
                AppointmentId::parse(&CHILE, raw).map(|id| id.to_string()),
                Ok(normal.to_owned()),
                "{raw}"
            );
        }
        for raw in [
            "2027011-45678912",
            "20271314-45678912",
            "20270114_45678912",
            "20270114-4567891",
            "",
        ] {
            assert!(AppointmentId::parse(&PERU, raw).is_err(), "{raw}");
        }
        assert!(AppointmentId::parse(&PERU, "20270114-45678912").is_ok());
    }

    #[test]
    fn doctor_ids_have_a_country_a_speciality_and_a_registry_number() {
        let id = DoctorId::parse("pe-medicina-interna-9999234").unwrap();
        assert_eq!(id.country, &PERU);
        assert_eq!(id.speciality.as_str(), "medicina-interna");
        assert_eq!(id.document.as_str(), "9999234");
        assert_eq!(id.to_string(), "pe-medicina-interna-9999234");
        for raw in [
            "xx-cardiologia-1",
            "pe-cardiologia",
            "pe--1",
            "pe-Cardiologia-1",
            "pe-cardiologia-1-x",
            "pe-cardiologia-1a",
            "pe-cardiologia-",
        ] {
            assert!(DoctorId::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn slot_ids_carry_their_doctor_and_start() {
        let id = SlotId::parse("pe-medicina-interna-9999234-1732629600").unwrap();
        assert_eq!(id.doctor.to_string(), "pe-medicina-interna-9999234");
        assert_eq!(id.starts_at.as_second(), 1_732_629_600);
        assert_eq!(id.country(), &PERU);
        for raw in [
            "nodash",
            "doctor-",
            "-123",
            "pe-cardiologia-1-12a",
            "pe-cardiologia-1-99999999999999999999",
            "pe-cardiologia-1-01732629600",
            "doctor-1732629600",
        ] {
            assert!(SlotId::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn doctor_documents_are_registry_numbers() {
        assert!(DoctorDocument::parse("20000000").is_ok());
        assert_eq!(
            DoctorDocument::parse(" 9999234 ").unwrap().as_str(),
            "9999234"
        );
        for raw in ["", "12345678-5", "1234567890123456", "abc"] {
            assert!(DoctorDocument::parse(raw).is_err(), "{raw}");
        }
    }

    proptest! {
        #[test]
        fn appointment_ids_round_trip(y in 2000i16..2100, m in 1i8..=12, d in 1i8..=28, dni in 10_000_000u32..99_999_999) {
            let doc = PERU.parse_document(&dni.to_string()).unwrap();
            let id = AppointmentId { day: jiff::civil::date(y, m, d), document: doc };
            let text = id.to_string();
            prop_assert_eq!(text.len(), 17);
            prop_assert_eq!(AppointmentId::parse(&PERU, &text), Ok(id));
        }

        #[test]
        fn slot_ids_round_trip(speciality in "[a-z]{1,12}(-[a-z]{1,8}){0,2}", registry in "[0-9]{1,15}", seconds in 0i64..4_000_000_000) {
            let doctor = DoctorId::new(&CHILE, Speciality::parse(&speciality).unwrap(), DoctorDocument::parse(&registry).unwrap());
            let id = SlotId::new(doctor, Timestamp::from_second(seconds).unwrap());
            prop_assert_eq!(SlotId::parse(&id.to_string()), Ok(id));
        }

        #[test]
        fn parsing_ids_never_panics(raw in "\\PC{0,60}") {
            let _ = SlotId::parse(&raw);
            let _ = DoctorId::parse(&raw);
            let _ = AppointmentId::parse(&CHILE, &raw);
        }
    }
}

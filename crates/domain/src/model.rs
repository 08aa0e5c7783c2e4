//! Entities, with the attribute names of seed 000's tables, and their ids.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};

use crate::country::Country;
use crate::document::Document;

/// Longest free text a client may send (names, reasons).
pub const MAX_TEXT_LEN: usize = 200;

/// A speciality as a slug: `"Medicina interna"` and `medicina-interna` are the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
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
    #[error("must not contain control characters")]
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
    if text.chars().any(char::is_control) {
        return Err(InvalidText::ControlCharacters);
    }
    Ok(text.to_owned())
}

/// A deliberately plain email check: one `@`, a dotted domain, no spaces.
/// Delivery is the real test; this only stops obvious mistakes.
pub fn clean_email(raw: &str) -> Result<String, InvalidText> {
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
        Ok(email.to_owned())
    } else {
        Err(InvalidText::NotAnEmail)
    }
}

/// `pe-patient` / `cl-patient` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    pub document: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `doctor` item; `id` is `{country}-{speciality}-{document}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doctor {
    pub id: String,
    pub country: String,
    pub document: String,
    pub name: String,
    pub speciality: String,
}

impl Doctor {
    pub fn id_for(country: &Country, speciality: &Speciality, document: &str) -> String {
        format!("{}-{}-{}", country.code, speciality, document)
    }
}

/// `appointment-doctor` item: a doctor's bookable slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// `{doctor id}-{epoch seconds of the local date and time}`.
    pub id: String,
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    /// The doctor's id.
    pub doctor: String,
    #[serde(rename = "isAvailable")]
    pub is_available: bool,
    /// Local time, `HH:MM`.
    pub time: String,
}

impl Slot {
    /// A new, available slot for a doctor at a local date and time of the doctor's country.
    pub fn new(
        country: &Country,
        doctor_id: &str,
        date: Date,
        time: Time,
    ) -> Result<Self, jiff::Error> {
        let at = country.instant_of(date, time)?;
        Ok(Self {
            id: SlotId::format(doctor_id, at),
            date: date.strftime("%Y-%m-%d").to_string(),
            doctor: doctor_id.to_owned(),
            is_available: true,
            time: time.strftime("%H:%M").to_string(),
        })
    }

    /// When the slot starts, from the epoch seconds in its id.
    pub fn starts_at(&self) -> Option<Timestamp> {
        SlotId::parse(&self.id).ok().map(|s| s.starts_at)
    }
}

/// A parsed slot id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotId {
    pub doctor: String,
    pub starts_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a slot id ({{doctor id}}-{{epoch seconds}})")]
pub struct InvalidSlotId(pub String);

impl SlotId {
    pub fn format(doctor_id: &str, at: Timestamp) -> String {
        format!("{doctor_id}-{}", at.as_second())
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidSlotId> {
        let invalid = || InvalidSlotId(raw.chars().take(120).collect());
        if raw.len() > 160 {
            return Err(invalid());
        }
        let (doctor, epoch) = raw.rsplit_once('-').ok_or_else(invalid)?;
        if doctor.is_empty() || epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let seconds: i64 = epoch.parse().map_err(|_| invalid())?;
        let starts_at = Timestamp::from_second(seconds).map_err(|_| invalid())?;
        Ok(Self {
            doctor: doctor.to_owned(),
            starts_at,
        })
    }
}

/// Where an appointment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Registered,
    Assigned,
    Completed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Registered,
        Status::Assigned,
        Status::Completed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Registered => "registered",
            Status::Assigned => "assigned",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Open appointments can still be cancelled.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Registered | Status::Assigned)
    }

    /// The status machine: registered → assigned → completed; cancelled from any open state.
    pub fn can_become(self, next: Status) -> bool {
        matches!(
            (self, next),
            (Status::Registered, Status::Assigned)
                | (Status::Assigned, Status::Completed)
                | (Status::Registered | Status::Assigned, Status::Cancelled)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status '{0}'; expected one of registered, assigned, completed, cancelled")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.chars().take(32).collect()))
    }
}

/// `pe-appointment` / `cl-appointment` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    /// `YYYYMMDD-{document}`, the day of the request in the country's local time.
    pub id: String,
    pub country: String,
    pub document: String,
    /// The patient's name.
    pub patient: String,
    pub speciality: String,
    pub status: Status,
    #[serde(with = "crate::timestamp")]
    pub created_at: Timestamp,
    /// Id of the booked `appointment-doctor` slot, once assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(with = "crate::timestamp")]
    pub update_at: Timestamp,
    /// The doctor of the booked slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor: Option<String>,
    /// When the booked slot starts.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::timestamp::option"
    )]
    pub starts_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
}

impl Appointment {
    /// The local day of the booked slot, while the appointment is assigned:
    /// the key reminders look appointments up by.
    pub fn assigned_day(&self, country: &Country) -> Option<Date> {
        match (self.status, self.starts_at) {
            (Status::Assigned, Some(at)) => Some(country.local_date(at)),
            _ => None,
        }
    }
}

/// An appointment id: `YYYYMMDD-{document}`.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    pub fn parse(country: &Country, raw: &str) -> Result<Self, InvalidAppointmentId> {
        let invalid = || InvalidAppointmentId(raw.chars().take(64).collect());
        let (day, document) = raw.split_once('-').ok_or_else(invalid)?;
        if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let day = Date::strptime("%Y%m%d", day).map_err(|_| invalid())?;
        let document = country.parse_document(document).map_err(|_| invalid())?;
        // Only the normalised spelling names a stored appointment.
        if format!("{}-{}", day.strftime("%Y%m%d"), document) != raw {
            return Err(invalid());
        }
        Ok(Self { day, document })
    }
}

impl fmt::Display for AppointmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.day.strftime("%Y%m%d"), self.document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::country::{CHILE, PERU};
    use proptest::prelude::*;

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
    fn appointment_id_uses_the_local_day_of_the_request() {
        let doc = CHILE.parse_document("12.345.678-5").unwrap();
        // 2027-01-15 02:30 UTC is still the 14th in Santiago.
        let at: Timestamp = "2027-01-15T02:30:00Z".parse().unwrap();
        let id = AppointmentId::for_request(&CHILE, doc, at);
        assert_eq!(id.to_string(), "20270114-12345678-5");
        assert_eq!(AppointmentId::parse(&CHILE, "20270114-12345678-5"), Ok(id));
    }

    #[test]
    fn appointment_ids_must_be_canonical() {
        for raw in [
            "20270114-12.345.678-5",
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
    fn slot_ids_round_trip_and_match_the_seed() {
        let slot = Slot::new(
            &PERU,
            "pe-medicina-interna-9999234",
            jiff::civil::date(2024, 11, 26),
            jiff::civil::time(10, 0, 0, 0),
        )
        .unwrap();
        assert_eq!(slot.id, "pe-medicina-interna-9999234-1732633200");
        assert_eq!(slot.date, "2024-11-26");
        assert_eq!(slot.time, "10:00");
        let parsed = SlotId::parse(&slot.id).unwrap();
        assert_eq!(parsed.doctor, "pe-medicina-interna-9999234");
        assert_eq!(parsed.starts_at.as_second(), 1_732_633_200);
        for raw in [
            "nodash",
            "doctor-",
            "-123",
            "doctor-12a",
            "doctor-99999999999999999999",
        ] {
            assert!(SlotId::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn chile_slots_follow_the_dst_change() {
        // Chile leaves DST on the first Sunday of April 2027 (UTC-3 → UTC-4).
        let before = Slot::new(
            &CHILE,
            "cl-x-1",
            jiff::civil::date(2027, 4, 2),
            jiff::civil::time(9, 0, 0, 0),
        )
        .unwrap();
        let after = Slot::new(
            &CHILE,
            "cl-x-1",
            jiff::civil::date(2027, 4, 5),
            jiff::civil::time(9, 0, 0, 0),
        )
        .unwrap();
        let utc_hour = |s: &Slot| {
            s.starts_at()
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .hour()
        };
        assert_eq!(utc_hour(&before), 12);
        assert_eq!(utc_hour(&after), 13);
    }

    #[test]
    fn status_machine() {
        use Status::*;
        let allowed: Vec<(Status, Status)> = Status::ALL
            .into_iter()
            .flat_map(|a| Status::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Registered, Assigned),
                (Registered, Cancelled),
                (Assigned, Completed),
                (Assigned, Cancelled)
            ]
        );
        assert_eq!("assigned".parse::<Status>(), Ok(Assigned));
        assert!("Asignado".parse::<Status>().is_err());
    }

    #[test]
    fn emails_and_texts() {
        assert_eq!(clean_email(" ana@example.pe "), Ok("ana@example.pe".into()));
        for bad in [
            "", "ana", "ana@", "@x.pe", "ana@x", "a b@x.pe", "a@b@x.pe", "a@x.pe.",
        ] {
            assert!(clean_email(bad).is_err(), "{bad}");
        }
        assert_eq!(clean_text("  Ana  ", 10), Ok("Ana".into()));
        assert_eq!(
            clean_text("a\u{0}b", 10),
            Err(InvalidText::ControlCharacters)
        );
        assert_eq!(clean_text("abc", 2), Err(InvalidText::TooLong(2)));
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
        fn slot_ids_round_trip_any_local_time(day in 0i32..3650, minutes in 0i32..(24 * 60)) {
            let date = jiff::civil::date(2025, 1, 1).checked_add(jiff::Span::new().days(day)).unwrap();
            let time = jiff::civil::time((minutes / 60) as i8, (minutes % 60) as i8, 0, 0);
            for country in [&PERU, &CHILE] {
                let slot = Slot::new(country, "cl-pediatria-1", date, time).unwrap();
                let parsed = SlotId::parse(&slot.id).unwrap();
                prop_assert_eq!(parsed.doctor.as_str(), "cl-pediatria-1");
                // The local wall clock of the start is the slot's date and time,
                // except inside a DST gap, where the clock jumps forward.
                let local = country.local(parsed.starts_at);
                if local.date() == date {
                    prop_assert!(local.time() >= time);
                }
            }
        }
    }
}

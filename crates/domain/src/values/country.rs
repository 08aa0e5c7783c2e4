//! Countries are values carrying their own rules: adding one means adding a
//! `Country` value here (plus its tables and queues in template.yaml).

use std::fmt;
use std::sync::OnceLock;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::values::document::{Document, DocumentError, DocumentKind};

/// A supported country and its rules.
pub struct Country {
    /// Lower-case ISO 3166-1 alpha-2 code, as used in paths and table names.
    pub code: &'static str,
    /// Name in Spanish, for messages and emails.
    pub name: &'static str,
    /// IANA time zone name; resolved against jiff's bundled tz database.
    pub time_zone_name: &'static str,
    /// Accepted patient documents, tried in order.
    pub documents: &'static [DocumentKind],
    /// How dates are written to patients (strftime), e.g. `25/11/2026`.
    pub date_format: &'static str,
    /// How the local time is named to patients, e.g. `hora de Lima`.
    pub time_zone_label: &'static str,
    /// Until when before the start a patient may still change a booking.
    pub change_policy: ChangePolicy,
    /// What consultations are priced in.
    pub currency: &'static crate::values::money::Currency,
    /// How long an online visit's meeting lasts, and how early it opens.
    pub meeting: crate::meeting::MeetingRule,
    time_zone: OnceLock<TimeZone>,
}

/// How late a patient may cancel or move a booked appointment; the doctor and
/// admins are not bound by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangePolicy {
    /// A patient's change must come at least this long before the start.
    pub patient_notice: jiff::SignedDuration,
    /// A slot the service chooses for a patient (`assign {}`,
    /// `reschedule {}`) starts at least this long ahead, so the choice
    /// never locks them in: the patient's change window by default.
    pub automatic_notice: jiff::SignedDuration,
    /// Changes a patient may make to one appointment on one local day
    /// (bookings, moves, cancellations: each emails them): a bound on the
    /// emails one caller can cause, staff not bound.
    pub patient_changes_per_day: u16,
}

impl ChangePolicy {
    /// The earliest start the service may choose for a patient, at `now`.
    pub fn earliest_automatic_start(&self, now: Timestamp) -> Timestamp {
        now.checked_add(self.automatic_notice)
            .unwrap_or(Timestamp::MAX)
    }

    /// The last instant a patient may change an appointment starting at `starts_at`.
    pub fn patient_deadline(&self, starts_at: Timestamp) -> Timestamp {
        starts_at
            .checked_sub(self.patient_notice)
            .unwrap_or(Timestamp::MIN)
    }
}

/// Seeds 003/004: a 50-minute meeting, entered from 10 minutes before the start.
const ONLINE_VISIT: crate::meeting::MeetingRule = crate::meeting::MeetingRule {
    length: jiff::SignedDuration::from_mins(50),
    opens_before: jiff::SignedDuration::from_mins(10),
};

pub static PERU: Country = Country {
    code: "pe",
    name: "Perú",
    time_zone_name: "America/Lima",
    documents: &[DocumentKind::Dni, DocumentKind::Ce],
    date_format: "%d/%m/%Y",
    time_zone_label: "hora de Lima",
    change_policy: ChangePolicy {
        patient_notice: jiff::SignedDuration::from_hours(24),
        automatic_notice: jiff::SignedDuration::from_hours(24),
        patient_changes_per_day: 5,
    },
    currency: &crate::values::money::PEN,
    meeting: ONLINE_VISIT,
    time_zone: OnceLock::new(),
};

pub static CHILE: Country = Country {
    code: "cl",
    name: "Chile",
    time_zone_name: "America/Santiago",
    documents: &[DocumentKind::Rut],
    date_format: "%d-%m-%Y",
    time_zone_label: "hora de Santiago",
    change_policy: ChangePolicy {
        patient_notice: jiff::SignedDuration::from_hours(48),
        automatic_notice: jiff::SignedDuration::from_hours(48),
        patient_changes_per_day: 5,
    },
    currency: &crate::values::money::CLP,
    meeting: ONLINE_VISIT,
    time_zone: OnceLock::new(),
};

/// Every supported country, in the order they are listed to clients.
pub static COUNTRIES: &[&Country] = &[&PERU, &CHILE];

/// The path named a country the service does not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("country '{requested}' is not supported; supported countries: {}", supported_codes().join(", "))]
pub struct UnsupportedCountry {
    pub requested: String,
}

/// Codes of every supported country.
pub fn supported_codes() -> Vec<&'static str> {
    COUNTRIES.iter().map(|c| c.code).collect()
}

impl Country {
    /// Looks a country up by its path code (`pe`, `cl`), case-sensitively as in
    /// the deployed routes.
    pub fn from_code(code: &str) -> Result<&'static Country, UnsupportedCountry> {
        COUNTRIES
            .iter()
            .copied()
            .find(|c| c.code == code)
            .ok_or_else(|| UnsupportedCountry {
                requested: code.chars().take(16).collect(),
            })
    }

    /// The country's time zone. The bundled database always has the names used
    /// above (a unit test checks it); UTC is only a defensive fallback.
    pub fn time_zone(&self) -> &TimeZone {
        self.time_zone
            .get_or_init(|| TimeZone::get(self.time_zone_name).unwrap_or(TimeZone::UTC))
    }

    /// The instant seen on a wall clock in this country.
    pub fn local(&self, at: Timestamp) -> Zoned {
        at.to_zoned(self.time_zone().clone())
    }

    /// The local calendar day of an instant.
    pub fn local_date(&self, at: Timestamp) -> Date {
        self.local(at).date()
    }

    /// The instant a local wall-clock date and time names: none when that
    /// time does not exist that day (skipped by a change to daylight saving
    /// time), the first of the two when it happens twice.
    pub fn instant_of(&self, date: Date, time: Time) -> Option<Timestamp> {
        let ambiguous = self
            .time_zone()
            .to_ambiguous_timestamp(DateTime::from_parts(date, time));
        match ambiguous.offset() {
            jiff::tz::AmbiguousOffset::Gap { .. } => None,
            _ => ambiguous.earlier().ok(),
        }
    }

    /// When a local day begins (midnight, or the first instant after a change
    /// of time that skips it).
    pub fn start_of_day(&self, date: Date) -> Timestamp {
        date.to_zoned(self.time_zone().clone())
            .and_then(|day| day.start_of_day())
            .map(|start| start.timestamp())
            .unwrap_or(Timestamp::MAX)
    }

    /// How long until the next local midnight: when a day's limits start again.
    pub fn until_midnight(&self, now: Timestamp) -> jiff::SignedDuration {
        let next = self
            .local_date(now)
            .tomorrow()
            .map(|tomorrow| self.start_of_day(tomorrow))
            .unwrap_or(now);
        next.duration_since(now)
    }

    /// Parses a patient document with this country's rules and normalises it.
    pub fn parse_document(&self, raw: &str) -> Result<Document, DocumentError> {
        crate::values::document::parse_for(self, raw)
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Country").field(&self.code).finish()
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl PartialEq for Country {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
    }
}
impl Eq for Country {}

impl std::hash::Hash for Country {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.code.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_time_zone_is_in_the_bundled_database() {
        for country in COUNTRIES {
            assert!(
                TimeZone::get(country.time_zone_name).is_ok(),
                "{} missing",
                country.time_zone_name
            );
            assert_ne!(country.time_zone(), &TimeZone::UTC);
        }
    }

    #[test]
    fn codes_resolve_and_unknown_codes_name_the_supported_ones() {
        assert_eq!(Country::from_code("pe").map(|c| c.code), Ok("pe"));
        assert_eq!(Country::from_code("cl").map(|c| c.code), Ok("cl"));
        // ZZ is user-assigned in ISO 3166: never a country's code.
        let err = Country::from_code("zz").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "country 'zz' is not supported; supported countries: {}",
                supported_codes().join(", ")
            )
        );
        assert_eq!(supported_codes()[..2], ["pe", "cl"]);
        assert!(Country::from_code("PE").is_err());
    }

    #[test]
    fn patients_change_up_to_a_day_before_in_peru_and_two_in_chile() {
        let start: Timestamp = "2027-03-10T14:00:00Z".parse().unwrap();
        assert_eq!(
            PERU.change_policy.patient_deadline(start),
            "2027-03-09T14:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            CHILE.change_policy.patient_deadline(start),
            "2027-03-08T14:00:00Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn lima_is_utc_minus_five_all_year() {
        for (y, m) in [(2026, 1), (2026, 7)] {
            let at = jiff::civil::date(y, m, 15)
                .at(12, 0, 0, 0)
                .to_zoned(TimeZone::UTC)
                .unwrap()
                .timestamp();
            assert_eq!(PERU.local(at).offset().seconds(), -5 * 3600);
        }
    }

    #[test]
    fn santiago_observes_daylight_saving_time() {
        let summer = jiff::civil::date(2027, 1, 15).at(12, 0, 0, 0);
        let winter = jiff::civil::date(2027, 7, 15).at(12, 0, 0, 0);
        let offset = |dt: DateTime| {
            CHILE
                .local(dt.to_zoned(TimeZone::UTC).unwrap().timestamp())
                .offset()
                .seconds()
        };
        assert_eq!(offset(summer), -3 * 3600);
        assert_eq!(offset(winter), -4 * 3600);
    }

    #[test]
    fn seed_slot_id_epoch_is_nine_in_the_morning_in_lima() {
        // Seed 000: pe-medicina-interna-9999234-1732629600 is 2024-11-26 09:00 in Lima.
        let at = PERU
            .instant_of(
                jiff::civil::date(2024, 11, 26),
                jiff::civil::time(9, 0, 0, 0),
            )
            .unwrap();
        assert_eq!(at.as_second(), 1_732_629_600);
    }

    #[test]
    fn santiagos_missing_hour_names_no_instant_and_its_repeated_hour_the_first() {
        // 2027-09-05 00:30 does not exist (00:00 → 01:00).
        assert_eq!(
            CHILE.instant_of(
                jiff::civil::date(2027, 9, 5),
                jiff::civil::time(0, 30, 0, 0)
            ),
            None
        );
        // 2027-04-03 23:30 happens at UTC−3 and again at UTC−4: the first is 02:30 UTC.
        let first = CHILE
            .instant_of(
                jiff::civil::date(2027, 4, 3),
                jiff::civil::time(23, 30, 0, 0),
            )
            .unwrap();
        assert_eq!(first, "2027-04-04T02:30:00Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn local_day_around_midnight_in_santiago_during_dst() {
        // 2027-01-15 02:30 UTC is 2027-01-14 23:30 in Santiago (UTC-3).
        let at: Timestamp = "2027-01-15T02:30:00Z".parse().unwrap();
        assert_eq!(CHILE.local_date(at), jiff::civil::date(2027, 1, 14));
        // 2027-01-15 03:30 UTC is already the 15th there.
        let at: Timestamp = "2027-01-15T03:30:00Z".parse().unwrap();
        assert_eq!(CHILE.local_date(at), jiff::civil::date(2027, 1, 15));
        // In July (UTC-4) 03:30 UTC is still the 14th.
        let at: Timestamp = "2027-07-15T03:30:00Z".parse().unwrap();
        assert_eq!(CHILE.local_date(at), jiff::civil::date(2027, 7, 14));
    }
}

//! A doctor's bookable slot, generated from their working plan.

use jiff::Timestamp;
use jiff::civil::{Date, Time};

use crate::scheduling::doctor::Modality;
use crate::values::ids::{AppointmentId, DoctorId, SlotId};

/// A doctor's bookable slot (`appointment-doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub id: SlotId,
    pub available: bool,
    /// The appointment holding a booked slot (unknown for booked seed items).
    pub booked_by: Option<AppointmentId>,
    /// How long the visit lasts: the plan's slot length when it was made.
    pub minutes: u16,
    /// In person or online: the plan's range it was made from (in person
    /// for slots stored before slots kept one).
    pub modality: Modality,
}

/// The length of a slot stored before slots kept theirs (seed 000's items):
/// seed 000's half-hour visits.
pub const DEFAULT_SLOT_MINUTES: u16 = 30;

/// When a visit of `minutes` starting at `starts_at` ends.
pub fn ends_at(starts_at: Timestamp, minutes: u16) -> Timestamp {
    starts_at + jiff::SignedDuration::from_mins(i64::from(minutes))
}

impl Slot {
    /// A new, free slot of `minutes` for a doctor at a local date and time of
    /// the doctor's country; none if that local time does not exist that day.
    pub fn at_local(
        doctor: &DoctorId,
        date: Date,
        time: Time,
        minutes: u16,
        modality: Modality,
    ) -> Option<Self> {
        let at = doctor.country.instant_of(date, time)?;
        Some(Self {
            id: SlotId::new(doctor.clone(), at),
            available: true,
            booked_by: None,
            minutes,
            modality,
        })
    }

    pub fn ends_at(&self) -> Timestamp {
        ends_at(self.id.starts_at, self.minutes)
    }

    /// Whether the two slots share any minute.
    pub fn overlaps(&self, other: &Slot) -> bool {
        self.starts_at() < other.ends_at() && other.starts_at() < self.ends_at()
    }

    pub fn doctor(&self) -> &DoctorId {
        &self.id.doctor
    }

    pub fn starts_at(&self) -> Timestamp {
        self.id.starts_at
    }

    /// The local date and wall-clock time of the start, in the doctor's country.
    pub fn local_start(&self) -> (Date, Time) {
        let local = self.id.country().local(self.id.starts_at);
        (local.date(), local.time())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn doctor(raw: &str) -> DoctorId {
        DoctorId::parse(raw).unwrap()
    }

    #[test]
    fn slot_ids_round_trip_and_match_the_seed() {
        let slot = Slot::at_local(
            &doctor("pe-medicina-interna-9999234"),
            jiff::civil::date(2024, 11, 26),
            jiff::civil::time(10, 0, 0, 0),
            30,
            Modality::InPerson,
        )
        .unwrap();
        assert_eq!(
            slot.id.to_string(),
            "pe-medicina-interna-9999234-1732633200"
        );
        assert_eq!(
            slot.local_start(),
            (
                jiff::civil::date(2024, 11, 26),
                jiff::civil::time(10, 0, 0, 0)
            )
        );
        assert_eq!(slot.starts_at().as_second(), 1_732_633_200);
    }

    #[test]
    fn chile_slots_follow_the_dst_change() {
        // Chile leaves DST on the first Sunday of April 2027 (UTC-3 → UTC-4).
        let at = |day| {
            Slot::at_local(
                &doctor("cl-x-1"),
                jiff::civil::date(2027, 4, day),
                jiff::civil::time(9, 0, 0, 0),
                30,
                Modality::InPerson,
            )
            .unwrap()
        };
        let utc_hour = |s: &Slot| s.starts_at().to_zoned(jiff::tz::TimeZone::UTC).hour();
        assert_eq!(utc_hour(&at(2)), 12);
        assert_eq!(utc_hour(&at(5)), 13);
    }

    proptest! {
        #[test]
        fn slot_starts_are_the_local_wall_clock(day in 0i32..3650, minutes in 0i32..(24 * 60)) {
            let date = jiff::civil::date(2025, 1, 1).checked_add(jiff::Span::new().days(day)).unwrap();
            let time = jiff::civil::time((minutes / 60) as i8, (minutes % 60) as i8, 0, 0);
            for country in crate::COUNTRIES {
                let Some(slot) = Slot::at_local(&doctor(&format!("{}-pediatria-1", country.code)), date, time, 30, Modality::InPerson) else {
                    // Only a local time skipped by a change of time has no slot.
                    let zoned = date.to_datetime(time).to_zoned(country.time_zone().clone()).unwrap();
                    prop_assert_ne!(zoned.datetime(), date.to_datetime(time));
                    continue;
                };
                let parsed = SlotId::parse(&slot.id.to_string()).unwrap();
                prop_assert_eq!(&parsed, &slot.id);
                // The local wall clock of the start is the slot's date and time.
                prop_assert_eq!(slot.local_start(), (date, time));
            }
        }
    }
}

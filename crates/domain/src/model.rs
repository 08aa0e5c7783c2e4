//! The entities besides the appointment: patients, doctors, their slots, and
//! the statuses an appointment goes through. They hold parsed values only;
//! each store and the HTTP layer map them to their own shapes.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, Time};

use crate::document::Document;
use crate::ids::{AppointmentId, DoctorId, SlotId};
use crate::text::EmailAddress;

/// A patient of one country.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    pub document: Document,
    pub name: String,
    /// Seed 000's patients have none; notifications need one.
    pub email: Option<EmailAddress>,
    /// Whether `email` is known to reach the patient: entered by staff, or
    /// confirmed with the code sent to it. Notifications go only then.
    pub email_verified: bool,
    /// The code sent to an address not verified yet.
    pub verification: Option<crate::verification::PendingVerification>,
}

impl Patient {
    /// The address notifications may go to: a verified one.
    pub fn reachable_email(&self) -> Option<&EmailAddress> {
        self.email.as_ref().filter(|_| self.email_verified)
    }
}

/// A doctor; the id carries the country, the speciality and the registry number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doctor {
    pub id: DoctorId,
    pub name: String,
    pub email: Option<EmailAddress>,
    /// Bookings wait for the doctor's confirmation (the lifecycle issue acts on it).
    pub requires_confirmation: bool,
}

/// A doctor's bookable slot (`appointment-doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub id: SlotId,
    pub available: bool,
    /// The appointment holding a booked slot (unknown for booked seed items).
    pub booked_by: Option<AppointmentId>,
    /// How long the visit lasts: the plan's slot length when it was made.
    pub minutes: u16,
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
    pub fn at_local(doctor: &DoctorId, date: Date, time: Time, minutes: u16) -> Option<Self> {
        let at = doctor.country.instant_of(date, time)?;
        Some(Self {
            id: SlotId::new(doctor.clone(), at),
            available: true,
            booked_by: None,
            minutes,
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

/// Where an appointment is in its life (DESIGN.md, "Status machine (second version)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The request is in; no slot yet.
    Registered,
    /// A slot is booked and waits for the doctor's confirmation.
    Pending,
    /// The slot is booked and confirmed.
    Assigned,
    Completed,
    /// The patient did not come.
    NoShow,
    /// Cancelled with a reason; the slot is free again.
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Registered,
        Status::Pending,
        Status::Assigned,
        Status::Completed,
        Status::NoShow,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Registered => "registered",
            Status::Pending => "pending",
            Status::Assigned => "assigned",
            Status::Completed => "completed",
            Status::NoShow => "no_show",
            Status::Cancelled => "cancelled",
        }
    }

    /// FHIR R4 `Appointment.status` for integrators.
    pub fn fhir(self) -> &'static str {
        match self {
            Status::Registered => "proposed",
            Status::Pending => "pending",
            Status::Assigned => "booked",
            Status::Completed => "fulfilled",
            Status::NoShow => "noshow",
            Status::Cancelled => "cancelled",
        }
    }

    /// Open appointments can still be cancelled.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::Registered | Status::Pending | Status::Assigned
        )
    }

    /// Holding a booked slot.
    pub fn holds_slot(self) -> bool {
        matches!(self, Status::Pending | Status::Assigned)
    }

    /// The status machine: assign registered → pending or assigned; confirm
    /// pending → assigned; refuse pending/assigned → registered; reschedule
    /// keeps pending/assigned; complete and no-show from assigned; cancel from
    /// any open state; a cancelled request of a day is re-opened (registered)
    /// when the patient asks again that day.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Registered, Pending | Assigned)
                | (Pending, Assigned)
                | (Pending | Assigned, Registered)
                | (Pending, Pending)
                | (Assigned, Assigned)
                | (Assigned, Completed | NoShow)
                | (Registered | Pending | Assigned, Cancelled)
                | (Cancelled, Registered)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown status '{0}'; expected one of registered, pending, assigned, completed, no_show, cancelled"
)]
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
            )
            .unwrap()
        };
        let utc_hour = |s: &Slot| s.starts_at().to_zoned(jiff::tz::TimeZone::UTC).hour();
        assert_eq!(utc_hour(&at(2)), 12);
        assert_eq!(utc_hour(&at(5)), 13);
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
                (Registered, Pending),
                (Registered, Assigned),
                (Registered, Cancelled),
                (Pending, Registered),
                (Pending, Pending),
                (Pending, Assigned),
                (Pending, Cancelled),
                (Assigned, Registered),
                (Assigned, Assigned),
                (Assigned, Completed),
                (Assigned, NoShow),
                (Assigned, Cancelled),
                (Cancelled, Registered)
            ]
        );
        assert_eq!("no_show".parse::<Status>(), Ok(NoShow));
        assert_eq!(NoShow.fhir(), "noshow");
        assert_eq!("assigned".parse::<Status>(), Ok(Assigned));
        assert!("Asignado".parse::<Status>().is_err());
    }

    proptest! {
        #[test]
        fn slot_starts_are_the_local_wall_clock(day in 0i32..3650, minutes in 0i32..(24 * 60)) {
            let date = jiff::civil::date(2025, 1, 1).checked_add(jiff::Span::new().days(day)).unwrap();
            let time = jiff::civil::time((minutes / 60) as i8, (minutes % 60) as i8, 0, 0);
            for code in ["pe", "cl"] {
                let Some(slot) = Slot::at_local(&doctor(&format!("{code}-pediatria-1")), date, time, 30) else {
                    // A local time skipped by a change of time has no slot.
                    prop_assert_eq!(code, "cl");
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

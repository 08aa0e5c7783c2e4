//! A doctor's working plan: weekly hours in the country's local time, a slot
//! length, a validity range and exceptions (days off, other hours). Bookable
//! slots are generated from it; the same generator serves the API, the daily
//! horizon job and `citas slots`.

use crate::error::Field;
use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::{Date, Time, Weekday};

use crate::scheduling::doctor::Modality;
use crate::scheduling::slot::Slot;
use crate::values::ids::DoctorId;

/// Shortest and longest slot a plan may have, in minutes.
pub const SLOT_MINUTES: std::ops::RangeInclusive<u16> = 5..=480;
/// Most weekly ranges and exceptions a plan may have.
pub const MAX_WEEKLY_RANGES: usize = 70;
pub const MAX_EXCEPTIONS: usize = 400;
/// How many local days ahead slots are generated from working plans
/// (`SLOT_HORIZON_DAYS`, `citas serve --slot-horizon-days`): 1 to 366, 56 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotHorizon(u16);

impl SlotHorizon {
    pub const DEFAULT_DAYS: u16 = 56;
    pub const MAX_DAYS: u16 = 366;

    pub fn days(days: u16) -> Result<Self, String> {
        if (1..=Self::MAX_DAYS).contains(&days) {
            Ok(Self(days))
        } else {
            Err(format!(
                "the slot horizon must be from 1 to {} days",
                Self::MAX_DAYS
            ))
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.trim()
            .parse::<u16>()
            .map_err(|_| format!("'{raw}' is not a number of days"))
            .and_then(Self::days)
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// The last local day slots are generated for, counted from `today`.
    pub fn end(self, today: Date) -> Date {
        today
            .checked_add(jiff::Span::new().days(i64::from(self.0) - 1))
            .unwrap_or(today)
    }
}

impl Default for SlotHorizon {
    fn default() -> Self {
        Self(Self::DEFAULT_DAYS)
    }
}

/// Local working hours of one day, `from` included, `to` excluded, and how
/// the doctor sees patients in them (in person unless a plan says `virtual`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeRange {
    pub from: Time,
    pub to: Time,
    pub modality: Modality,
}

/// Hours worked every week on one weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyRange {
    pub weekday: Weekday,
    pub range: TimeRange,
}

/// A date that does not follow the weekly plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayException {
    Off,
    /// Works these hours instead of the weekly ones.
    Ranges(Vec<TimeRange>),
}

/// Why a plan cannot be used; `field` names the JSON field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidPlan {
    pub field: Field,
    pub message: String,
}

fn invalid(field: Field, message: impl Into<String>) -> InvalidPlan {
    InvalidPlan {
        field,
        message: message.into(),
    }
}

/// A doctor's working plan, checked: ranges are ordered, at least one slot
/// long, and never overlap on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingPlan {
    slot_minutes: u16,
    weekly: Vec<WeeklyRange>,
    valid_from: Date,
    valid_until: Option<Date>,
    exceptions: BTreeMap<Date, DayException>,
}

impl WorkingPlan {
    pub fn new(
        slot_minutes: u16,
        weekly: Vec<WeeklyRange>,
        valid_from: Date,
        valid_until: Option<Date>,
        exceptions: BTreeMap<Date, DayException>,
    ) -> Result<Self, InvalidPlan> {
        if !SLOT_MINUTES.contains(&slot_minutes) {
            return Err(invalid(
                Field::SlotMinutes,
                format!(
                    "slot_minutes must be from {} to {}",
                    SLOT_MINUTES.start(),
                    SLOT_MINUTES.end()
                ),
            ));
        }
        if weekly.len() > MAX_WEEKLY_RANGES {
            return Err(invalid(
                Field::Weekly,
                format!("at most {MAX_WEEKLY_RANGES} weekly ranges"),
            ));
        }
        if exceptions.len() > MAX_EXCEPTIONS {
            return Err(invalid(
                Field::Exceptions,
                format!("at most {MAX_EXCEPTIONS} exceptions"),
            ));
        }
        if let Some(until) = valid_until
            && until < valid_from
        {
            return Err(invalid(
                Field::ValidUntil,
                "valid_until must not be before valid_from",
            ));
        }
        let slot = jiff::SignedDuration::from_mins(i64::from(slot_minutes));
        let check_day = |field: Field, ranges: &mut Vec<TimeRange>| {
            ranges.sort();
            for range in ranges.iter() {
                if range.from >= range.to {
                    return Err(invalid(
                        field,
                        format!("{} must end after it starts", show(range)),
                    ));
                }
                if range.to.duration_since(range.from) < slot {
                    return Err(invalid(
                        field,
                        format!("{} is shorter than one slot", show(range)),
                    ));
                }
            }
            if let Some(pair) = ranges.windows(2).find(|pair| pair[1].from < pair[0].to) {
                return Err(invalid(
                    field,
                    format!("{} overlaps {}", show(&pair[0]), show(&pair[1])),
                ));
            }
            Ok(())
        };
        for weekday in WEEKDAYS {
            let mut ranges: Vec<TimeRange> = weekly
                .iter()
                .filter(|w| w.weekday == weekday)
                .map(|w| w.range)
                .collect();
            check_day(Field::Weekly, &mut ranges)?;
        }
        let mut exceptions = exceptions;
        for change in exceptions.values_mut() {
            if let DayException::Ranges(ranges) = change {
                check_day(Field::Exceptions, ranges)?;
            }
        }
        let mut weekly = weekly;
        weekly.sort_by_key(|w| (w.weekday.to_monday_zero_offset(), w.range));
        Ok(Self {
            slot_minutes,
            weekly,
            valid_from,
            valid_until,
            exceptions,
        })
    }

    pub fn slot_minutes(&self) -> u16 {
        self.slot_minutes
    }
    pub fn weekly(&self) -> &[WeeklyRange] {
        &self.weekly
    }
    pub fn valid_from(&self) -> Date {
        self.valid_from
    }
    pub fn valid_until(&self) -> Option<Date> {
        self.valid_until
    }
    pub fn exceptions(&self) -> &BTreeMap<Date, DayException> {
        &self.exceptions
    }

    /// Whether the plan covers `date` at all.
    pub fn is_valid_on(&self, date: Date) -> bool {
        date >= self.valid_from && self.valid_until.is_none_or(|until| date <= until)
    }

    /// The local wall-clock starts of the slots of `date`, earliest first.
    pub fn local_starts(&self, date: Date) -> Vec<Time> {
        self.local_slot_starts(date)
            .into_iter()
            .map(|(time, _)| time)
            .collect()
    }

    /// The local wall-clock starts of the slots of `date`, earliest first,
    /// each with the modality of the range it is in.
    pub fn local_slot_starts(&self, date: Date) -> Vec<(Time, Modality)> {
        if !self.is_valid_on(date) {
            return Vec::new();
        }
        let weekly: Vec<TimeRange>;
        let ranges: &[TimeRange] = match self.exceptions.get(&date) {
            Some(DayException::Off) => &[],
            Some(DayException::Ranges(ranges)) => ranges,
            None => {
                weekly = self
                    .weekly
                    .iter()
                    .filter(|w| w.weekday == date.weekday())
                    .map(|w| w.range)
                    .collect();
                &weekly
            }
        };
        let step = jiff::SignedDuration::from_mins(i64::from(self.slot_minutes));
        let mut starts = Vec::new();
        for range in ranges {
            let mut start = range.from;
            // A slot must end by the end of its range.
            while let Ok(end) = start.checked_add(step) {
                if end > range.to || end <= start {
                    break;
                }
                starts.push((start, range.modality));
                start = end;
            }
        }
        starts
    }

    /// The plan's slots for `doctor` on the local dates `from..=until`,
    /// earliest first: a local time that does not exist that day (a change
    /// of daylight saving time) is skipped; one that happens twice is offered once.
    pub fn slots(&self, doctor: &DoctorId, from: Date, until: Date) -> Vec<Slot> {
        let mut slots = Vec::new();
        let mut date = from.max(self.valid_from);
        let last = self.valid_until.map_or(until, |valid| valid.min(until));
        while date <= last {
            for (time, modality) in self.local_slot_starts(date) {
                if let Some(slot) = Slot::at_local(doctor, date, time, self.slot_minutes, modality)
                {
                    slots.push(slot);
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        slots
    }
}

/// A doctor's stored plan and the last local day its slots are generated for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub plan: WorkingPlan,
    pub generated_until: Date,
    /// How many times the plan was saved (by the doctor or the daily job):
    /// each save is conditioned on it, so two cannot interleave. 0 on a
    /// plan not yet stored; the store sets it.
    pub revision: u32,
}

impl Availability {
    /// Whether the daily job still has days to generate: an open-ended plan
    /// always, a plan with an end until it is generated to that end.
    pub fn is_open(&self) -> bool {
        self.plan
            .valid_until()
            .is_none_or(|until| until > self.generated_until)
    }
}

/// Monday first, as plans are written.
pub const WEEKDAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

/// `mon` … `sun`, as plans name weekdays.
pub fn weekday_code(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "mon",
        Weekday::Tuesday => "tue",
        Weekday::Wednesday => "wed",
        Weekday::Thursday => "thu",
        Weekday::Friday => "fri",
        Weekday::Saturday => "sat",
        Weekday::Sunday => "sun",
    }
}

/// Parses `mon` … `sun` (any case).
pub fn parse_weekday(raw: &str) -> Option<Weekday> {
    let raw = raw.trim().to_ascii_lowercase();
    WEEKDAYS.into_iter().find(|day| weekday_code(*day) == raw)
}

/// Parses a plan's `HH:MM`.
pub fn parse_time(raw: &str) -> Option<Time> {
    let (hours, minutes) = raw.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: i8 = hours.parse().ok()?;
    let minutes: i8 = minutes.parse().ok()?;
    Time::new(hours, minutes, 0, 0).ok()
}

/// `HH:MM`.
pub fn format_time(time: Time) -> String {
    time.strftime("%H:%M").to_string()
}

fn show(range: &TimeRange) -> String {
    let online = match range.modality {
        Modality::Virtual => " (virtual)",
        Modality::InPerson => "",
    };
    format!(
        "{}–{}{online}",
        format_time(range.from),
        format_time(range.to)
    )
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&show(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};
    use proptest::prelude::*;

    fn range(from: (i8, i8), to: (i8, i8)) -> TimeRange {
        TimeRange {
            from: time(from.0, from.1, 0, 0),
            to: time(to.0, to.1, 0, 0),
            modality: Modality::InPerson,
        }
    }

    fn weekly(weekday: Weekday, from: (i8, i8), to: (i8, i8)) -> WeeklyRange {
        WeeklyRange {
            weekday,
            range: range(from, to),
        }
    }

    fn doctor(raw: &str) -> DoctorId {
        DoctorId::parse(raw).unwrap()
    }

    /// The example plan.
    fn example() -> WorkingPlan {
        WorkingPlan::new(
            30,
            vec![
                weekly(Weekday::Monday, (9, 0), (13, 0)),
                weekly(Weekday::Monday, (15, 0), (18, 0)),
                weekly(Weekday::Wednesday, (9, 0), (13, 0)),
            ],
            date(2027, 1, 4),
            Some(date(2027, 12, 31)),
            BTreeMap::from([
                (date(2027, 1, 6), DayException::Off),
                (
                    date(2027, 1, 11),
                    DayException::Ranges(vec![range((10, 0), (12, 0))]),
                ),
            ]),
        )
        .unwrap()
    }

    #[test]
    fn weekly_hours_exceptions_and_validity_make_the_days_slots() {
        let plan = example();
        // Monday 4 January: 8 morning and 6 afternoon slots.
        assert_eq!(plan.local_starts(date(2027, 1, 4)).len(), 14);
        assert_eq!(plan.local_starts(date(2027, 1, 4))[8], time(15, 0, 0, 0));
        // Wednesday 6 January is a day off; Tuesday is not worked.
        assert!(plan.local_starts(date(2027, 1, 6)).is_empty());
        assert!(plan.local_starts(date(2027, 1, 5)).is_empty());
        // Monday 11 January works 10–12 only.
        assert_eq!(
            plan.local_starts(date(2027, 1, 11)),
            vec![
                time(10, 0, 0, 0),
                time(10, 30, 0, 0),
                time(11, 0, 0, 0),
                time(11, 30, 0, 0)
            ]
        );
        // Outside the validity range nothing is generated.
        assert!(plan.local_starts(date(2026, 12, 28)).is_empty());
        assert!(plan.local_starts(date(2028, 1, 3)).is_empty());
        let slots = plan.slots(
            &doctor("pe-cardiologia-1"),
            date(2027, 1, 1),
            date(2027, 1, 13),
        );
        // 14 (4th) + 14 (11th… no: 4 on the 11th) + 8 (13th).
        assert_eq!(slots.len(), 14 + 4 + 8);
        assert!(
            slots
                .windows(2)
                .all(|pair| pair[0].starts_at() < pair[1].starts_at())
        );
    }

    #[test]
    fn a_slot_ends_within_its_range() {
        let plan = WorkingPlan::new(
            45,
            vec![weekly(Weekday::Friday, (9, 0), (11, 0))],
            date(2027, 1, 1),
            None,
            BTreeMap::new(),
        )
        .unwrap();
        // 09:00, 09:45; 10:30 would end at 11:15.
        assert_eq!(plan.local_starts(date(2027, 1, 1)).len(), 2);
    }

    #[test]
    fn plans_that_cannot_be_worked_are_refused_naming_the_field() {
        let plan = |minutes, weekly_ranges, until| {
            WorkingPlan::new(
                minutes,
                weekly_ranges,
                date(2027, 1, 4),
                until,
                BTreeMap::new(),
            )
        };
        let field = |result: Result<WorkingPlan, InvalidPlan>| result.unwrap_err().field.as_str();
        assert_eq!(field(plan(0, vec![], None)), "slot_minutes");
        assert_eq!(
            field(plan(
                30,
                vec![weekly(Weekday::Monday, (13, 0), (9, 0))],
                None
            )),
            "weekly"
        );
        assert_eq!(
            field(plan(
                30,
                vec![
                    weekly(Weekday::Monday, (9, 0), (13, 0)),
                    weekly(Weekday::Monday, (12, 0), (14, 0))
                ],
                None
            )),
            "weekly"
        );
        assert_eq!(
            field(plan(
                60,
                vec![weekly(Weekday::Monday, (9, 0), (9, 30))],
                None
            )),
            "weekly"
        );
        assert_eq!(
            field(plan(30, vec![], Some(date(2027, 1, 3)))),
            "valid_until"
        );
    }

    #[test]
    fn santiago_skips_the_missing_hour_and_offers_the_repeated_one_once() {
        // 2027-09-05: clocks jump from 00:00 to 01:00 (UTC−4 → UTC−3).
        // 2027-04-03/04: at 24:00 clocks go back to 23:00 (UTC−3 → UTC−4).
        let plan = WorkingPlan::new(
            30,
            WEEKDAYS
                .into_iter()
                .map(|day| weekly(day, (0, 0), (2, 0)))
                .chain(
                    WEEKDAYS
                        .into_iter()
                        .map(|day| weekly(day, (22, 0), (23, 59))),
                )
                .collect(),
            date(2027, 1, 1),
            None,
            BTreeMap::new(),
        )
        .unwrap();
        let doctor = doctor("cl-pediatria-1");
        let local = |slots: &[Slot]| -> Vec<String> {
            slots
                .iter()
                .map(|s| {
                    let (d, t) = s.local_start();
                    format!("{d} {}", format_time(t))
                })
                .collect()
        };
        let spring = plan.slots(&doctor, date(2027, 9, 5), date(2027, 9, 5));
        assert_eq!(
            local(&spring)[..2],
            ["2027-09-05 01:00", "2027-09-05 01:30"]
        );
        assert_eq!(spring.len(), 2 + 3);
        let autumn = plan.slots(&doctor, date(2027, 4, 3), date(2027, 4, 3));
        // 23:00 and 23:30 happen twice that night; each is offered once.
        assert_eq!(autumn.len(), 4 + 3);
        let mut ids: Vec<_> = autumn.iter().map(|s| s.id.clone()).collect();
        ids.dedup();
        assert_eq!(ids.len(), autumn.len());
    }

    #[test]
    fn the_slot_horizon_is_one_to_366_days_counted_from_today() {
        assert_eq!(SlotHorizon::default().get(), 56);
        assert!(SlotHorizon::days(0).is_err());
        assert!(SlotHorizon::days(367).is_err());
        assert_eq!(SlotHorizon::parse(" 14 ").map(SlotHorizon::get), Ok(14));
        assert!(SlotHorizon::parse("two weeks").is_err());
        let today = date(2027, 1, 4);
        assert_eq!(SlotHorizon::days(1).unwrap().end(today), today);
        assert_eq!(SlotHorizon::default().end(today), date(2027, 2, 28));
        // A plan generated to its last day has nothing left for the daily job.
        let ended = Availability {
            plan: example(),
            generated_until: date(2027, 12, 31),
            revision: 0,
        };
        assert!(!ended.is_open());
        assert!(
            Availability {
                generated_until: date(2027, 12, 30),
                ..ended
            }
            .is_open()
        );
    }

    #[test]
    fn slots_take_the_modality_of_their_range() {
        let online = TimeRange {
            modality: Modality::Virtual,
            ..range((15, 0), (16, 0))
        };
        let plan = WorkingPlan::new(
            30,
            vec![
                weekly(Weekday::Monday, (9, 0), (10, 0)),
                WeeklyRange {
                    weekday: Weekday::Monday,
                    range: online,
                },
            ],
            date(2027, 1, 4),
            None,
            BTreeMap::from([(date(2027, 1, 11), DayException::Ranges(vec![online]))]),
        )
        .unwrap();
        let modalities = |day| {
            plan.slots(&doctor("pe-pediatria-1"), day, day)
                .iter()
                .map(|slot| slot.modality)
                .collect::<Vec<_>>()
        };
        use Modality::{InPerson, Virtual};
        assert_eq!(
            modalities(date(2027, 1, 4)),
            vec![InPerson, InPerson, Virtual, Virtual]
        );
        assert_eq!(modalities(date(2027, 1, 11)), vec![Virtual, Virtual]);
        assert_eq!(online.to_string(), "15:00–16:00 (virtual)");
    }

    #[test]
    fn weekdays_and_times_parse_as_plans_write_them() {
        assert_eq!(parse_weekday("Mon"), Some(Weekday::Monday));
        assert_eq!(parse_weekday("monday"), None);
        assert_eq!(parse_time("09:30"), Some(time(9, 30, 0, 0)));
        for bad in ["9:30", "24:00", "09:60", "0930", "09:3a"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    prop_compose! {
        fn any_range()(start in 0i32..(23 * 60), length in 5i32..240, online in any::<bool>()) -> TimeRange {
            let end = (start + length).min(23 * 60 + 59);
            TimeRange {
                from: time((start / 60) as i8, (start % 60) as i8, 0, 0),
                to: time((end / 60) as i8, (end % 60) as i8, 0, 0),
                modality: if online { Modality::Virtual } else { Modality::InPerson },
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Across Santiago's April and September 2027 changes of time, every
        /// generated slot starts at a local wall-clock time the plan lists for
        /// that day, each listed time that exists that day is there once, and
        /// the rest are exactly the times that do not exist.
        #[test]
        fn santiago_slots_are_exactly_the_plans_local_times(
            days in proptest::collection::vec((0usize..7, any_range()), 1..6),
            minutes in prop_oneof![Just(15u16), Just(20), Just(30), Just(45), Just(60)],
            spring in any::<bool>(),
        ) {
            let weekly_ranges: Vec<WeeklyRange> = days
                .iter()
                .map(|(day, range)| WeeklyRange { weekday: WEEKDAYS[*day], range: *range })
                .collect();
            let Ok(plan) = WorkingPlan::new(minutes, weekly_ranges, date(2027, 1, 1), None, BTreeMap::new()) else {
                // Overlapping or too-short random ranges are refused; that is tested above.
                return Ok(());
            };
            let doctor = doctor("cl-pediatria-1");
            let (from, until) = if spring {
                (date(2027, 9, 1), date(2027, 9, 10))
            } else {
                (date(2027, 3, 30), date(2027, 4, 8))
            };
            let slots = plan.slots(&doctor, from, until);
            let zone = crate::values::country::CHILE.time_zone();
            let mut expected = Vec::new();
            let mut day = from;
            while day <= until {
                for start in plan.local_starts(day) {
                    let ambiguous = zone.to_ambiguous_timestamp(day.to_datetime(start));
                    if !matches!(ambiguous.offset(), jiff::tz::AmbiguousOffset::Gap { .. }) {
                        expected.push((day, start));
                    }
                }
                day = day.tomorrow().unwrap();
            }
            let got: Vec<(Date, Time)> = slots.iter().map(Slot::local_start).collect();
            prop_assert_eq!(got, expected);
            // Each slot has the modality of the range it was cut from.
            for slot in &slots {
                let (day, start) = slot.local_start();
                prop_assert!(plan.local_slot_starts(day).contains(&(start, slot.modality)));
            }
        }
    }
}

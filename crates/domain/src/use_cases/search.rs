//! Finding a time: free-slot search, a month's free days, the candidates an
//! automatic choice walks, and a doctor's agenda.

use crate::error::Field;
use std::collections::HashSet;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use super::doctors::{offered_speciality, schedule_of};
use crate::Services;
use crate::access::{Access, Caller, authorize};
use crate::appointment::Appointment;
use crate::error::DomainError;
use crate::ports::{Page, PageRequest, SlotSearch};
use crate::values::country::Country;
use crate::values::ids::{DoctorId, SlotId};
use crate::values::speciality::Speciality;
use crate::{scheduling::doctor::Doctor, scheduling::slot::Slot};

/// Longest date range a slot search may cover, in days.
pub const MAX_SEARCH_DAYS: i64 = 366;
/// How far ahead auto-assignment looks for a free slot.
pub(super) const ASSIGN_LOOKAHEAD: SignedDuration = SignedDuration::from_hours(24 * 366 * 2);
/// Slots auto-assignment reads per index page.
const ASSIGN_CANDIDATES: usize = 25;
/// Booking attempts auto-assignment makes before answering "busy, retry".
const ASSIGN_ATTEMPTS: usize = 30;

/// `GET /{country}/slot`, parsed: local dates, both included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotQuery {
    pub speciality: Speciality,
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub doctor: Option<DoctorId>,
    /// Only in-person or only virtual slots.
    pub modality: Option<crate::scheduling::doctor::Modality>,
    pub page: PageRequest,
}

/// `GET /{country}/slot/days`, parsed: a month of local days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaysQuery {
    pub speciality: Speciality,
    /// The first day of the month.
    pub month: Date,
    pub doctor: Option<DoctorId>,
    /// Only in-person or only virtual slots.
    pub modality: Option<crate::scheduling::doctor::Modality>,
}

/// How many free future slots one local day has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeDay {
    pub date: Date,
    pub free: usize,
}

/// Days counted at once by the month view.
const DAYS_IN_FLIGHT: usize = 8;

/// A free slot with its doctor, as a search shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeSlot {
    pub slot: Slot,
    /// None for a slot whose doctor is not registered (pasted data).
    pub doctor: Option<Doctor>,
}

/// One slot of a doctor's day, with the appointment holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaEntry {
    pub slot: Slot,
    pub appointment: Option<Appointment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agenda {
    pub doctor: Doctor,
    /// The local days it covers, both included.
    pub from: Date,
    pub to: Date,
    pub entries: Vec<AgendaEntry>,
}

/// Most local days one agenda request covers (a month view).
pub const MAX_AGENDA_DAYS: i32 = 31;

/// Free future slots of a speciality, earliest first, with their doctors.
pub async fn search_slots(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    query: SlotQuery,
) -> Result<Page<FreeSlot>, DomainError> {
    authorize(caller, country, Access::Browse)?;
    crate::metrics::count(crate::metrics::SLOT_SEARCHES, country, 1);
    let invalid = |field: Field, message: &str| DomainError::InvalidInput {
        field,
        message: message.to_owned(),
    };
    if let Some(doctor) = &query.doctor
        && (doctor.country != country || doctor.speciality != query.speciality)
    {
        return Err(invalid(
            Field::Doctor,
            "the doctor is not of this country and speciality",
        ));
    }
    let now = services.now();
    let today = country.local_date(now);
    let from = query.from.unwrap_or(today);
    let to = query.to.unwrap_or_else(|| services.horizon.end(today));
    if to < from {
        return Err(invalid(Field::To, "'to' must not be before 'from'"));
    }
    if (to - from).get_days() >= MAX_SEARCH_DAYS as i32 {
        return Err(invalid(
            Field::To,
            &format!("a search covers at most {MAX_SEARCH_DAYS} days"),
        ));
    }
    offered_speciality(services, country, &query.speciality).await?;
    let until = to
        .tomorrow()
        .map(|next| country.start_of_day(next))
        .unwrap_or(Timestamp::MAX);
    let search = SlotSearch {
        country,
        speciality: query.speciality,
        doctor: query.doctor,
        modality: query.modality,
        // Started slots are not offered.
        from: country
            .start_of_day(from)
            .max(now + SignedDuration::from_secs(1)),
        until,
    };
    let page = services.store.free_slots(&search, &query.page).await?;
    let doctors = doctors_of(services, &page.items).await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|slot| FreeSlot {
                doctor: doctors.iter().find(|d| &d.id == slot.doctor()).cloned(),
                slot,
            })
            .collect(),
        next_cursor: page.next_cursor,
    })
}

/// Each local day of a month with how many free future slots it has: one
/// counting query per day still to come (past days are 0 without asking),
/// so at most 31 requests however many doctors or slots there are.
pub async fn free_days(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    query: DaysQuery,
) -> Result<Vec<FreeDay>, DomainError> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    authorize(caller, country, Access::Browse)?;
    if let Some(doctor) = &query.doctor
        && (doctor.country != country || doctor.speciality != query.speciality)
    {
        return Err(DomainError::InvalidInput {
            field: Field::Doctor,
            message: "the doctor is not of this country and speciality".into(),
        });
    }
    offered_speciality(services, country, &query.speciality).await?;
    let now = services.now();
    let today = country.local_date(now);
    let days: Vec<Date> = (0..query.month.days_in_month())
        .filter_map(|offset| query.month.checked_add(jiff::Span::new().days(offset)).ok())
        .collect();
    let counted: Vec<FreeDay> = stream::iter(days)
        .map(|date| {
            let query = &query;
            async move {
                if date < today {
                    return Ok(FreeDay { date, free: 0 });
                }
                let until = date
                    .tomorrow()
                    .map(|next| country.start_of_day(next))
                    .unwrap_or(Timestamp::MAX);
                let search = SlotSearch {
                    modality: query.modality,
                    country,
                    speciality: query.speciality.clone(),
                    doctor: query.doctor.clone(),
                    // Started slots are not offered.
                    from: country
                        .start_of_day(date)
                        .max(now + SignedDuration::from_secs(1)),
                    until,
                };
                let free = services.store.count_free_slots(&search).await?;
                Ok::<_, DomainError>(FreeDay { date, free })
            }
        })
        .buffered(DAYS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(counted)
}

/// The doctors of some slots (a page's few), in one store request.
async fn doctors_of(services: &Services, slots: &[Slot]) -> Result<Vec<Doctor>, DomainError> {
    let mut ids: Vec<DoctorId> = Vec::new();
    for slot in slots {
        if !ids.contains(slot.doctor()) {
            ids.push(slot.doctor().clone());
        }
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(services.store.get_doctors(&ids).await?)
}

/// Free slots auto-assignment tries, from `now`. The first try is the
/// earliest free slot; after each loss the request reads the earliest free
/// slots again and picks one of a window that doubles with each loss
/// (`CROWD_WINDOW`, then twice that, up to a page), at a place drawn from
/// the appointment's id. A crowd that arrives at once therefore spreads over
/// the earliest slots instead of chasing one after another: each request
/// loses a few times (about the logarithm of the crowd), not once per
/// winner ahead of it, and never tries a slot it lost again.
pub(crate) struct Candidates<'a> {
    services: &'a Services,
    search: SlotSearch,
    /// Where this request's picks fall inside each window.
    spread: u64,
    lost: HashSet<SlotId>,
    pub(crate) attempts: usize,
}

/// The window of the second try, among the earliest free slots.
const CROWD_WINDOW: usize = 8;

impl<'a> Candidates<'a> {
    /// Candidates starting after `earliest`.
    pub(crate) fn new(
        services: &'a Services,
        appointment: &Appointment,
        earliest: Timestamp,
    ) -> Candidates<'a> {
        let spread = appointment
            .id
            .to_string()
            .bytes()
            .fold(1_469_598_103_934_665_603u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(1_099_511_628_211)
            });
        Candidates {
            services,
            search: SlotSearch {
                modality: Default::default(),
                country: appointment.country,
                speciality: appointment.speciality.clone(),
                doctor: None,
                from: earliest + SignedDuration::from_secs(1),
                until: earliest + ASSIGN_LOOKAHEAD,
            },
            spread,
            lost: HashSet::new(),
            attempts: 0,
        }
    }

    /// How many of the earliest free slots the next try picks among.
    fn window(&self) -> usize {
        match self.attempts {
            0 => 1,
            n => CROWD_WINDOW
                .saturating_mul(1 << (n - 1).min(8))
                .min(ASSIGN_CANDIDATES),
        }
    }

    /// Which of `len` candidates the try picks: a mix of the request's
    /// spread and the try's number, so two requests of a crowd rarely agree.
    fn pick(&self, len: usize) -> usize {
        let mut mixed = self
            .spread
            .wrapping_add((self.attempts as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^= mixed >> 31;
        (mixed % len as u64) as usize
    }

    /// The booking of `slot` was lost to another request: it is not tried again.
    pub(crate) fn lost(&mut self, slot: &Slot) {
        self.lost.insert(slot.id.clone());
    }

    /// The next slot to try, with its doctor; `None` when no free slot is
    /// left (none that this request has not lost already).
    pub(crate) async fn next(&mut self) -> Result<Option<(Slot, Option<Doctor>)>, DomainError> {
        if self.attempts >= ASSIGN_ATTEMPTS {
            return Err(DomainError::Contended);
        }
        let window = self.window();
        let mut cursor = None;
        let mut open: Vec<Slot> = Vec::with_capacity(window);
        // Pages past the lost slots until the window is full or no slot is left.
        loop {
            let page = self
                .services
                .store
                .free_slots(
                    &self.search,
                    &PageRequest {
                        limit: (window + self.lost.len()).min(ASSIGN_CANDIDATES),
                        cursor,
                    },
                )
                .await?;
            open.extend(
                page.items
                    .into_iter()
                    .filter(|slot| !self.lost.contains(&slot.id)),
            );
            cursor = page.next_cursor;
            if open.len() >= window || cursor.is_none() {
                break;
            }
        }
        open.truncate(window);
        if open.is_empty() {
            return Ok(None);
        }
        let slot = open.swap_remove(self.pick(open.len()));
        let doctor = self.services.store.get_doctor(slot.doctor()).await?;
        self.attempts += 1;
        Ok(Some((slot, doctor)))
    }
}

/// Every slot of a doctor's local days `from` to `to` (both included, at
/// most [`MAX_AGENDA_DAYS`]), free or booked, with the appointments.
pub async fn agenda(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &DoctorId,
    from: Date,
    to: Date,
) -> Result<Agenda, DomainError> {
    let doctor = schedule_of(services, caller, country, id).await?;
    if to < from {
        return Err(DomainError::InvalidInput {
            field: Field::To,
            message: "'to' must not be before 'from'".into(),
        });
    }
    if (to - from).get_days() >= MAX_AGENDA_DAYS {
        return Err(DomainError::InvalidInput {
            field: Field::To,
            message: format!("an agenda covers at most {MAX_AGENDA_DAYS} days"),
        });
    }
    let until = to
        .tomorrow()
        .map(|next| country.start_of_day(next))
        .unwrap_or(Timestamp::MAX);
    let slots = services
        .store
        .doctor_slots(&doctor.id, country.start_of_day(from), until)
        .await?;
    let booked: Vec<_> = slots
        .iter()
        .filter(|slot| !slot.available)
        .filter_map(|slot| slot.booked_by.clone())
        .collect();
    let appointments = if booked.is_empty() {
        Vec::new()
    } else {
        services.store.get_appointments(country, &booked).await?
    };
    let entries = slots
        .into_iter()
        .map(|slot| {
            // Only an appointment still holding the slot is shown on it.
            let appointment = appointments
                .iter()
                .find(|a| {
                    Some(&a.id) == slot.booked_by.as_ref()
                        && a.slot.as_ref() == Some(&slot.id)
                        && a.status.is_open()
                })
                .cloned();
            AgendaEntry { slot, appointment }
        })
        .collect();
    Ok(Agenda {
        doctor,
        from,
        to,
        entries,
    })
}

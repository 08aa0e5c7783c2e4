//! The doctor's side: specialities, doctors, their working plans and the
//! slots made from them, and the daily job that extends every plan.

use crate::scheduling::doctor::Modality;
use std::collections::HashSet;

use jiff::Timestamp;
use jiff::civil::Date;

use super::search::ASSIGN_LOOKAHEAD;
use crate::Services;
use crate::access::{Access, Caller, authorize};
use crate::error::DomainError;
use crate::ports::{PlanLease, StoreError, Upserted};
use crate::scheduling::catalogue::{self, OfferedSpeciality};
use crate::scheduling::plan::{Availability, WorkingPlan};
use crate::values::country::Country;
use crate::values::ids::{DoctorDocument, DoctorId, SlotId};
use crate::{scheduling::doctor::Doctor, scheduling::slot::Slot};
use crate::{values::email::EmailAddress, values::speciality::Speciality};

/// Plans the daily job reads per store request.
const DUE_BATCH: usize = 50;

/// Most slots a working plan may make up to the horizon: a full-time doctor's
/// 15-minute slots, 10 hours a day, 6 days a week, for 8 weeks is 1,920.
pub const MAX_PLAN_SLOTS: usize = 3_000;

/// `POST /{country}/doctor`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDoctor {
    pub document: DoctorDocument,
    pub name: String,
    pub speciality: OfferedSpeciality,
    pub email: Option<EmailAddress>,
    pub requires_confirmation: bool,
    pub profile: crate::scheduling::doctor::DoctorProfile,
}

/// What applying a plan changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanApplied {
    pub availability: Availability,
    pub added: usize,
    pub removed: usize,
    /// Booked slots the new plan no longer has: their appointments need moving.
    pub booked_outside_plan: Vec<Slot>,
}

/// What the daily horizon job did for a country.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HorizonReport {
    pub plans: usize,
    pub slots_added: usize,
    /// Plans left to a save of the doctor's that held them.
    pub skipped: usize,
}

/// The catalogue plus what the country added, sorted by slug.
pub async fn specialities(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
) -> Result<Vec<OfferedSpeciality>, DomainError> {
    authorize(caller, country, Access::Browse)?;
    Ok(catalogue::offered(
        services.store.added_specialities(country).await?,
    ))
}

/// The speciality as the country offers it, or `UnknownSpeciality` listing
/// the offered ones. Catalogue specialities cost no store request.
pub async fn offered_speciality(
    services: &Services,
    country: &'static Country,
    slug: &Speciality,
) -> Result<OfferedSpeciality, DomainError> {
    if let Some(known) = catalogue::catalogue().find(|known| &known.slug == slug) {
        return Ok(known);
    }
    let added = services.store.added_specialities(country).await?;
    if let Some(found) = added.iter().find(|added| &added.slug == slug) {
        return Ok(found.clone());
    }
    Err(DomainError::UnknownSpeciality {
        speciality: slug.to_string(),
        offered: catalogue::offered(added)
            .into_iter()
            .map(|offered| (offered.slug.to_string(), offered.name))
            .collect(),
    })
}

/// A doctor's records in a country, one per speciality they are registered
/// in: one batch read of the offered specialities' ids, however many doctors.
pub async fn doctor_records(
    services: &Services,
    country: &'static Country,
    registry_number: &DoctorDocument,
) -> Result<Vec<Doctor>, DomainError> {
    let ids: Vec<DoctorId> = catalogue::offered(services.store.added_specialities(country).await?)
        .into_iter()
        .map(|offered| DoctorId::new(country, offered.slug, registry_number.clone()))
        .collect();
    Ok(services.store.get_doctors(&ids).await?)
}

/// Registers or updates a doctor; a speciality the country lacks is added.
pub async fn register_doctor(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    input: NewDoctor,
) -> Result<(Doctor, Upserted), DomainError> {
    authorize(caller, country, Access::RegisterDoctors)?;
    if !catalogue::catalogue().any(|known| known.slug == input.speciality.slug) {
        services
            .store
            .add_speciality(country, &input.speciality)
            .await?;
    }
    let doctor = Doctor {
        id: DoctorId::new(country, input.speciality.slug, input.document),
        name: input.name,
        email: input.email,
        requires_confirmation: input.requires_confirmation,
        profile: input.profile,
        rating: Default::default(),
    };
    let upserted = services.store.put_doctor(&doctor).await?;
    tracing::info!(country = country.code, doctor = %doctor.id, ?upserted, "doctor registered");
    // A registration keeps the doctor's rating; the answer shows it.
    let rating = match upserted {
        Upserted::Created => doctor.rating,
        Upserted::Updated => services
            .store
            .get_doctor(&doctor.id)
            .await?
            .map_or(doctor.rating, |stored| stored.rating),
    };
    Ok((Doctor { rating, ..doctor }, upserted))
}

pub async fn get_doctor(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &DoctorId,
) -> Result<Doctor, DomainError> {
    authorize(caller, country, Access::Browse)?;
    existing_doctor(services, of_country(country, id)?).await
}

/// Another country's doctor is not found here.
fn of_country<'a>(country: &Country, id: &'a DoctorId) -> Result<&'a DoctorId, DomainError> {
    if id.country == country {
        Ok(id)
    } else {
        Err(DomainError::DoctorNotFound { id: id.to_string() })
    }
}

async fn existing_doctor(services: &Services, id: &DoctorId) -> Result<Doctor, DomainError> {
    services
        .store
        .get_doctor(id)
        .await?
        .ok_or_else(|| DomainError::DoctorNotFound { id: id.to_string() })
}

/// The doctor of a path id, if the caller may manage their schedule.
pub(super) async fn schedule_of(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &DoctorId,
) -> Result<Doctor, DomainError> {
    crate::access::require_country(caller, country)?;
    let id = of_country(country, id)?;
    authorize(caller, country, Access::DoctorsSchedule { doctor: id })?;
    existing_doctor(services, id).await
}

/// Whether the plan lists this slot: its local start is one of its day's
/// starts, in a range of its modality, and it lasts the plan's slot length.
fn plan_has(plan: &WorkingPlan, slot: &Slot) -> bool {
    let (date, time) = slot.local_start();
    slot.minutes == plan.slot_minutes()
        && plan
            .local_slot_starts(date)
            .contains(&(time, slot.modality))
        && Slot::at_local(slot.doctor(), date, time, slot.minutes, slot.modality)
            .is_some_and(|own| own.id == slot.id)
}

/// Stores a doctor's plan and brings their future slots in line with it:
/// new free slots up to the horizon are added, free slots the plan no longer
/// has are removed (only while still free), booked ones are kept and reported.
///
/// Saves of one doctor's plan happen one at a time: a save holds the plan
/// (a conditional write on the revision it read) while it changes the
/// slots, and stores the plan as it lets go; a save that finds it held, or
/// changed since it was read, is `PlanChanged` and changes nothing. A save
/// that fails halfway leaves its hold to lapse ([`PlanLease::LASTS`]); the
/// next save then brings every future slot in line with its own plan.
pub async fn set_availability(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &DoctorId,
    plan: WorkingPlan,
) -> Result<PlanApplied, DomainError> {
    let doctor = schedule_of(services, caller, country, id).await?;
    let now = services.now();
    let today = country.local_date(now);
    let through = services.horizon.end(today);
    // Bounded before anything is written: one save is at most this many slot writes.
    let slots = plan.slots(&doctor.id, today, through).len();
    if slots > MAX_PLAN_SLOTS {
        return Err(DomainError::TooManySlots {
            slots,
            limit: MAX_PLAN_SLOTS,
        });
    }
    let stored = services.store.get_availability(&doctor.id).await?;
    let unchanged = stored
        .as_ref()
        .is_some_and(|stored| stored.plan == plan && stored.generated_until == through);
    if let Some(stored) = stored.as_ref().filter(|_| unchanged) {
        let changes = plan_slot_changes(services, &doctor.id, &plan, now, today, through).await?;
        if changes.is_empty() {
            // The same plan again, its slots in line: nothing to write.
            return Ok(PlanApplied {
                availability: stored.clone(),
                added: 0,
                removed: 0,
                booked_outside_plan: changes.booked_outside_plan,
            });
        }
    }
    let lease = PlanLease::new(stored.as_ref().map_or(0, |s| s.revision), now);
    hold_plan(services, &doctor.id, &lease, now).await?;
    // Read under the hold: no other save changes these slots meanwhile.
    let changes = plan_slot_changes(services, &doctor.id, &plan, now, today, through).await?;
    let (added, removed, booked_outside_plan) = apply_slot_changes(services, changes).await?;
    let availability = Availability {
        plan,
        generated_until: through,
        revision: lease.revision + 1,
    };
    services
        .store
        .put_availability(&doctor.id, &availability, &lease)
        .await
        .map_err(|error| match error {
            StoreError::NotFound => DomainError::DoctorNotFound {
                id: doctor.id.to_string(),
            },
            other => other.into(),
        })?;
    tracing::info!(
        country = country.code,
        doctor = %doctor.id,
        added,
        removed,
        booked_outside_plan = booked_outside_plan.len(),
        revision = availability.revision,
        "working plan applied"
    );
    Ok(PlanApplied {
        availability,
        added,
        removed,
        booked_outside_plan,
    })
}

/// Takes the hold on a doctor's plan for a save.
async fn hold_plan(
    services: &Services,
    doctor: &DoctorId,
    lease: &PlanLease,
    now: Timestamp,
) -> Result<(), DomainError> {
    services
        .store
        .lease_plan(doctor, lease, now)
        .await
        .map_err(|error| match error {
            StoreError::NotFound => DomainError::DoctorNotFound {
                id: doctor.to_string(),
            },
            other => other.into(),
        })
}

/// What bringing a doctor's future slots in line with a plan takes.
struct SlotChanges {
    to_add: Vec<Slot>,
    /// Free slots the plan no longer has.
    to_remove: Vec<Slot>,
    booked_outside_plan: Vec<Slot>,
}

impl SlotChanges {
    fn is_empty(&self) -> bool {
        self.to_add.is_empty() && self.to_remove.is_empty()
    }
}

async fn plan_slot_changes(
    services: &Services,
    doctor: &DoctorId,
    plan: &WorkingPlan,
    now: Timestamp,
    today: Date,
    through: Date,
) -> Result<SlotChanges, DomainError> {
    let wanted: Vec<Slot> = plan
        .slots(doctor, today, through)
        .into_iter()
        .filter(|slot| slot.starts_at() > now)
        .collect();
    let existing = services
        .store
        .doctor_slots(doctor, now, now + ASSIGN_LOOKAHEAD)
        .await?;
    // A slot of another length or modality at the same start is replaced
    // (removed, then added).
    let existing_ids: HashSet<(String, u16, Modality)> = existing
        .iter()
        .map(|slot| (slot.id.to_string(), slot.minutes, slot.modality))
        .collect();
    // A booked slot stays as it is: no new slot may share its time.
    let booked: Vec<&Slot> = existing.iter().filter(|slot| !slot.available).collect();
    let to_add = wanted
        .into_iter()
        .filter(|slot| !existing_ids.contains(&(slot.id.to_string(), slot.minutes, slot.modality)))
        .filter(|slot| !booked.iter().any(|kept| kept.overlaps(slot)))
        .collect();
    let (mut to_remove, mut booked_outside_plan) = (Vec::new(), Vec::new());
    for slot in existing.into_iter().filter(|slot| !plan_has(plan, slot)) {
        if slot.available {
            to_remove.push(slot);
        } else {
            booked_outside_plan.push(slot);
        }
    }
    Ok(SlotChanges {
        to_add,
        to_remove,
        booked_outside_plan,
    })
}

/// Adds and removes slots; returns how many were added and removed, and
/// the booked slots the plan no longer has (some may have been booked meanwhile).
async fn apply_slot_changes(
    services: &Services,
    changes: SlotChanges,
) -> Result<(usize, usize, Vec<Slot>), DomainError> {
    // Removed first: a slot whose length changed is removed, then added anew.
    let mut removed = 0;
    let mut booked_outside_plan = changes.booked_outside_plan;
    for slot in changes.to_remove {
        match services.store.remove_free_slot(&slot.id).await {
            Ok(()) => removed += 1,
            // Booked since it was read: it stays, and is reported.
            Err(StoreError::SlotUnavailable(_)) => booked_outside_plan.push(Slot {
                available: false,
                ..slot
            }),
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
    }
    // Nor a slot found booked on the way.
    let to_add: Vec<Slot> = changes
        .to_add
        .into_iter()
        .filter(|slot| !booked_outside_plan.iter().any(|kept| kept.overlaps(slot)))
        .collect();
    let added = if to_add.is_empty() {
        0
    } else {
        services.store.add_slots(&to_add).await?
    };
    Ok((added, removed, booked_outside_plan))
}

pub async fn get_availability(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &DoctorId,
) -> Result<Availability, DomainError> {
    let doctor = schedule_of(services, caller, country, id).await?;
    services
        .store
        .get_availability(&doctor.id)
        .await?
        .ok_or_else(|| DomainError::AvailabilityNotFound {
            doctor: doctor.id.to_string(),
        })
}

/// Takes one free slot out of a doctor's schedule.
pub async fn remove_slot(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    doctor: &DoctorId,
    slot: &SlotId,
) -> Result<(), DomainError> {
    let doctor = schedule_of(services, caller, country, doctor).await?;
    let not_found = || DomainError::SlotNotFound {
        slot: slot.to_string(),
    };
    if slot.doctor != doctor.id {
        return Err(not_found());
    }
    match services.store.remove_free_slot(slot).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(StoreError::SlotUnavailable(_)) => Err(DomainError::SlotBooked {
            slot: slot.to_string(),
        }),
        Err(other) => Err(other.into()),
    }
}

/// The daily job: generates every open plan of the country up to the horizon.
pub async fn extend_horizons(
    services: &Services,
    country: &'static Country,
) -> Result<HorizonReport, DomainError> {
    let now = services.now();
    let through = services.horizon.end(country.local_date(now));
    let mut report = HorizonReport::default();
    loop {
        let due = services
            .store
            .availability_due(country, through, DUE_BATCH)
            .await?;
        if due.is_empty() {
            return Ok(report);
        }
        let batch = due.len();
        let skipped_before = report.skipped;
        for (doctor, availability) in due {
            // One save at a time here too: a plan being saved is left to
            // that save, which generates it to the horizon itself.
            // Each hold is taken as of its own moment: a long run's holds do not lapse at once.
            let held_at = services.now();
            let lease = PlanLease::new(availability.revision, held_at);
            match services.store.lease_plan(&doctor, &lease, held_at).await {
                Ok(()) => {}
                Err(StoreError::PlanChanged | StoreError::NotFound) => {
                    report.skipped += 1;
                    continue;
                }
                Err(other) => return Err(other.into()),
            }
            let from = availability
                .generated_until
                .tomorrow()
                .unwrap_or(availability.generated_until);
            let slots: Vec<Slot> = availability
                .plan
                .slots(&doctor, from, through)
                .into_iter()
                .filter(|slot| slot.starts_at() > now)
                .collect();
            if !slots.is_empty() {
                report.slots_added += services.store.add_slots(&slots).await?;
            }
            let stored = services
                .store
                .put_availability(
                    &doctor,
                    &Availability {
                        generated_until: through,
                        revision: availability.revision + 1,
                        ..availability
                    },
                    &lease,
                )
                .await;
            match stored {
                Ok(()) => report.plans += 1,
                // A save took the plan over: it generates to the horizon itself.
                Err(StoreError::PlanChanged) => report.skipped += 1,
                Err(other) => return Err(other.into()),
            }
        }
        // A batch of plans all held by saves would come back as it is.
        if batch < DUE_BATCH || report.skipped - skipped_before == batch {
            tracing::info!(
                country = country.code,
                plans = report.plans,
                slots_added = report.slots_added,
                skipped = report.skipped,
                "slot horizon extended"
            );
            return Ok(report);
        }
    }
}

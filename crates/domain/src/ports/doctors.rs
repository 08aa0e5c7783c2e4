//! Doctors with their working plans: a plan is saved one save at a time
//! (a hold on it), and the daily job finds the plans still to extend.

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;

use std::collections::BTreeSet;

use super::{Availability, Bounded, Page, PageRequest, StoreError, Upserted};
use crate::scheduling::doctor::Doctor;
use crate::values::country::Country;
use crate::values::ids::DoctorId;
use crate::values::speciality::Speciality;

/// Doctors and their plans.
#[async_trait]
pub trait DoctorStore: Send + Sync {
    /// Registers or updates a doctor; their working plan is kept.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn put_doctor(&self, doctor: &Doctor) -> Result<Upserted, StoreError>;
    /// A doctor, if registered.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn get_doctor(&self, id: &DoctorId) -> Result<Option<Doctor>, StoreError>;
    /// Doctors by id, in one request; missing ones are left out.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn get_doctors(&self, ids: &[DoctorId]) -> Result<Vec<Doctor>, StoreError>;
    /// A page of the doctors of a speciality in a country.
    ///
    /// # Errors
    ///
    /// `InvalidCursor` when the page's cursor is not one of this list.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn list_doctors(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        page: &PageRequest,
    ) -> Result<Page<Doctor>, StoreError>;
    /// The doctors of a speciality whose place is in one of `cells`
    /// (geohashes of [`crate::values::place::CELL_PRECISION`] characters),
    /// at most `per_cell` of each cell: one index query per cell, however
    /// many doctors the speciality has elsewhere.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn doctors_in_cells(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        cells: &BTreeSet<String>,
        per_cell: usize,
    ) -> Result<Bounded<Doctor>, StoreError>;
    /// A doctor's working plan and how far its slots are generated, if saved.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn get_availability(&self, doctor: &DoctorId)
    -> Result<Option<Availability>, StoreError>;
    /// Takes a hold on the doctor's plan for one save: on the condition
    /// that the stored plan is still at `lease.revision` (0: none stored)
    /// and nobody else holds it (or their hold lapsed before `now`).
    ///
    /// # Errors
    ///
    /// `PlanChanged` when the plan moved on or another save holds it; `NotFound` when the doctor is not registered.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn lease_plan(
        &self,
        doctor: &DoctorId,
        lease: &PlanLease,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Stores a doctor's plan and how far its slots are generated, as
    /// revision `lease.revision + 1`, and gives the hold up.
    ///
    /// # Errors
    ///
    /// `PlanChanged` unless `lease` still holds the plan.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn put_availability(
        &self,
        doctor: &DoctorId,
        availability: &Availability,
        lease: &PlanLease,
    ) -> Result<(), StoreError>;
    /// Plans of a country whose slots are generated only up to a day before
    /// `through`, at most `limit` of them (the daily horizon job's work list).
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn availability_due(
        &self,
        country: &'static Country,
        through: Date,
        limit: usize,
    ) -> Result<Vec<(DoctorId, Availability)>, StoreError>;
}

/// A hold on a doctor's plan while one save (or the daily job) brings the
/// slots in line with it: plan saves of one doctor happen one at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLease {
    /// Whose hold it is: only its holder may store the plan under it.
    pub token: String,
    /// The revision of the plan read before the save.
    pub revision: u32,
    /// When a holder that never finished (it died) loses it.
    pub until: Timestamp,
}

impl PlanLease {
    /// How long a hold lasts: longer than any request runs (its deadline
    /// is 8 s), short enough that a save that died blocks the next briefly.
    pub const LASTS: jiff::SignedDuration = jiff::SignedDuration::from_secs(20);

    /// A new hold on the plan read at `revision`.
    pub fn new(revision: u32, now: Timestamp) -> Self {
        Self {
            token: uuid::Uuid::new_v4().to_string(),
            revision,
            until: now + Self::LASTS,
        }
    }
}

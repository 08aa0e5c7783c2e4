//! Doctors' bookable slots: free ones are found by speciality in one
//! index, however many doctors it has; booking one is a condition on it.

use async_trait::async_trait;
use jiff::Timestamp;

use super::{Page, PageRequest, StoreError};
use crate::scheduling::slot::Slot;
use crate::values::country::Country;
use crate::values::ids::{DoctorId, SlotId};
use crate::values::speciality::Speciality;

/// Slots, free and booked.
#[async_trait]
pub trait SlotStore: Send + Sync {
    /// Writes a slot as given (seed files, tests).
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn put_slot(&self, slot: &Slot) -> Result<(), StoreError>;
    /// A slot, if there is one.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn get_slot(&self, id: &SlotId) -> Result<Option<Slot>, StoreError>;
    /// Adds free slots whose ids are not taken (a taken id, free or booked,
    /// is left as it is); returns how many were added.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn add_slots(&self, slots: &[Slot]) -> Result<usize, StoreError>;
    /// Deletes a slot only while it is free.
    ///
    /// # Errors
    ///
    /// `SlotUnavailable` when it is booked; `NotFound` when there is no such slot.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn remove_free_slot(&self, id: &SlotId) -> Result<(), StoreError>;
    /// A doctor's slots, free and booked, starting in `[from, until)`, earliest first.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn doctor_slots(
        &self,
        doctor: &DoctorId,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Slot>, StoreError>;
    /// A doctor's earliest free slot starting in `[from, until)`: their
    /// slots in time order, read in pages until a free one.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn next_free_slot(
        &self,
        doctor: &DoctorId,
        from: Timestamp,
        until: Timestamp,
        modality: Option<crate::scheduling::doctor::Modality>,
    ) -> Result<Option<Slot>, StoreError>;
    /// How many free slots a search holds: one counting index query (paged
    /// only past a megabyte of index), however many doctors the speciality has.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn count_free_slots(&self, search: &SlotSearch) -> Result<usize, StoreError>;
    /// A page of free slots, earliest first: one index query per page, however
    /// many doctors the speciality has.
    ///
    /// # Errors
    ///
    /// `InvalidCursor` when the page's cursor is not one of this search.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn free_slots(
        &self,
        search: &SlotSearch,
        page: &PageRequest,
    ) -> Result<Page<Slot>, StoreError>;
}

/// Which free slots a search walks: a speciality's (or one of its doctors')
/// starting in `[from, until)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSearch {
    pub country: &'static Country,
    pub speciality: Speciality,
    pub doctor: Option<DoctorId>,
    /// Only slots of this modality (a filter: pages may come back short).
    pub modality: Option<crate::scheduling::doctor::Modality>,
    pub from: Timestamp,
    pub until: Timestamp,
}

impl SlotSearch {
    /// Ties a cursor to this search.
    pub fn scope(&self) -> String {
        format!(
            "{}/slots/{}/{}/{}/{}/{}",
            self.country.code,
            self.speciality,
            self.doctor
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            self.modality.map(|m| m.as_str()).unwrap_or_default(),
            self.from.as_second(),
            self.until.as_second()
        )
    }
}

//! The key and index formats of the stored items: which global secondary
//! index an item is in, under which partition. The DynamoDB adapter writes
//! these attributes, the embedded store keeps the same partitions in its
//! index tables, and the bench counts writes per partition from them, so
//! the three cannot drift.

use citas_domain::{Appointment, Country, DoctorDocument, Slot, SlotId, Speciality, Status};

/// Index names, as template.yaml declares them.
pub mod index {
    /// Appointments by `status_shard` (`{status}#{n}`), newest `created_at` first.
    pub const BY_STATUS: &str = "by-status";
    /// Appointments by `document`, newest `created_at` first.
    pub const BY_DOCUMENT: &str = "by-document";
    /// Assigned appointments by `assigned_day` (local day of the slot), earliest `starts_at` first.
    pub const BY_ASSIGNED_DAY: &str = "by-assigned-day";
    /// A doctor's appointments by `doctor_status` (`{registry number}#{status}`), newest `created_at` first.
    pub const BY_DOCTOR_STATUS: &str = "by-doctor-status";
    /// A patient's visits to come by `open_document` (present only while
    /// pending or assigned), earliest `starts_at` first.
    pub const BY_DOCUMENT_UPCOMING: &str = "by-document-upcoming";
    /// A doctor's visits to come by `open_doctor` (their registry number,
    /// present only while pending or assigned), earliest `starts_at` first.
    pub const BY_DOCTOR_UPCOMING: &str = "by-doctor-upcoming";
    /// Doctors by `speciality` and `country` (seed 000's attributes).
    pub const DOCTOR_BY_SPECIALITY: &str = "by-speciality";
    /// Slots by `doctor`, ordered by `id` (`{doctor}-{epoch}`: time order).
    pub const SLOT_BY_DOCTOR: &str = "by-doctor";
    /// Free slots by `free` (`{country}-{speciality}`, present only while
    /// free), ordered by `starts` (UTC RFC 3339): a speciality's free slots
    /// earliest first in one query, however many doctors it has.
    pub const FREE_SLOTS: &str = "by-free-speciality";
    /// Doctors whose plan still has days to generate, by `plan_due` (their
    /// country) and `generated_until`: the daily horizon job's work list.
    pub const PLAN_DUE: &str = "by-plan-due";
    /// Doctors with a place by `geo_cell` (`{country}-{speciality}#{geohash}`),
    /// ordered by `id`: a search near a point queries the few cells that
    /// cover its circle, however many doctors the speciality has elsewhere.
    pub const DOCTOR_BY_GEO_CELL: &str = "by-geo-cell";
    /// Shown reviews by `shown_doctor` (the doctor's id, present only while
    /// the review is shown), newest `created_at` first.
    pub const REVIEW_BY_DOCTOR: &str = "by-shown-doctor";
}

/// Attributes added to items for their indexes (beside seed 000's).
pub mod attribute {
    pub const STATUS_SHARD: &str = "status_shard";
    pub const DOCUMENT: &str = "document";
    pub const ASSIGNED_DAY: &str = "assigned_day";
    pub const DOCTOR_STATUS: &str = "doctor_status";
    pub const OPEN_DOCUMENT: &str = "open_document";
    pub const OPEN_DOCTOR: &str = "open_doctor";
    /// A slot's doctor (seed 000's attribute).
    pub const DOCTOR: &str = "doctor";
    /// A free slot's `{country}-{speciality}`.
    pub const FREE: &str = "free";
    /// A slot's start (UTC RFC 3339), the free-slot index's sort key.
    pub const STARTS: &str = "starts";
    /// A doctor's country while their plan has days to generate.
    pub const PLAN_DUE: &str = "plan_due";
    /// The last day a doctor's slots are generated for, the plan-due index's sort key.
    pub const GENERATED_UNTIL: &str = "generated_until";
    /// A doctor's geohash cell, when they have a place.
    pub const GEO_CELL: &str = "geo_cell";
    /// A shown review's doctor.
    pub const SHOWN_DOCTOR: &str = "shown_doctor";
    /// When a review was written, the review index's sort key.
    pub const CREATED_AT: &str = "created_at";
    /// On a reviewed appointment: its review's id.
    pub const REVIEWED: &str = "reviewed";
}

/// Geohash characters of a doctor's cell (the domain's search picks the cells).
pub const GEO_PRECISION: usize = citas_domain::values::place::CELL_PRECISION;

/// `{country}-{speciality}#{geohash}`: the cell of the search index a
/// doctor's place is in.
pub fn geo_cell(country: &Country, speciality: &Speciality, geohash: &str) -> String {
    format!("{}-{speciality}#{geohash}", country.code)
}

/// How many partitions each status is spread over in the `by-status` index,
/// so no single index partition takes every write of a busy status.
pub const STATUS_SHARDS: u32 = 4;

/// `{status}#{n}`, n derived from the id so an appointment keeps its shard.
pub fn status_shard(status: Status, id: &str) -> String {
    let hash = id.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    format!("{status}#{}", hash % STATUS_SHARDS)
}

/// `{registry number}#{status}`: a doctor's appointments with a status.
pub fn doctor_status(doctor: &DoctorDocument, status: Status) -> String {
    format!("{doctor}#{status}")
}

/// `{country}-{speciality}`: where a free slot is indexed for searches.
pub fn free_slot_partition(country: &Country, speciality: &Speciality) -> String {
    format!("{}-{}", country.code, speciality)
}

/// Where an item is in one index: the index, the attribute that holds its
/// partition key, and the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub index: &'static str,
    pub attribute: &'static str,
    pub partition: String,
}

impl IndexEntry {
    fn new(index: &'static str, attribute: &'static str, partition: String) -> Self {
        Self {
            index,
            attribute,
            partition,
        }
    }
}

/// Every index an appointment item is in, as it stands.
pub fn appointment_index_entries(appointment: &Appointment) -> Vec<IndexEntry> {
    let mut entries = vec![
        IndexEntry::new(
            index::BY_STATUS,
            attribute::STATUS_SHARD,
            status_shard(appointment.status, &appointment.id.to_string()),
        ),
        IndexEntry::new(
            index::BY_DOCUMENT,
            attribute::DOCUMENT,
            appointment.document().to_string(),
        ),
    ];
    if let Some(day) = appointment.assigned_day() {
        entries.push(IndexEntry::new(
            index::BY_ASSIGNED_DAY,
            attribute::ASSIGNED_DAY,
            day.to_string(),
        ));
    }
    if let Some(doctor) = appointment.doctor() {
        entries.push(IndexEntry::new(
            index::BY_DOCTOR_STATUS,
            attribute::DOCTOR_STATUS,
            doctor_status(&doctor.document, appointment.status),
        ));
        // Visits to come: only while the appointment holds its slot.
        if appointment.status.holds_slot() {
            entries.push(IndexEntry::new(
                index::BY_DOCUMENT_UPCOMING,
                attribute::OPEN_DOCUMENT,
                appointment.document().to_string(),
            ));
            entries.push(IndexEntry::new(
                index::BY_DOCTOR_UPCOMING,
                attribute::OPEN_DOCTOR,
                doctor.document.to_string(),
            ));
        }
    }
    entries
}

/// Every index a slot may be in, free or booked: its doctor's, and the
/// speciality's free slots (the ones booking or freeing it writes).
pub fn slot_indexes(id: &SlotId) -> [IndexEntry; 2] {
    let doctor = &id.doctor;
    [
        IndexEntry::new(index::SLOT_BY_DOCTOR, attribute::DOCTOR, doctor.to_string()),
        IndexEntry::new(
            index::FREE_SLOTS,
            attribute::FREE,
            free_slot_partition(doctor.country, &doctor.speciality),
        ),
    ]
}

/// Every index a slot item is in as it stands: the free slots' only while free.
pub fn slot_index_entries(slot: &Slot) -> Vec<IndexEntry> {
    slot_indexes(&slot.id)
        .into_iter()
        .filter(|entry| slot.available || entry.index != index::FREE_SLOTS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shards_spread_and_stay() {
        let id = "20261122-45678912";
        assert_eq!(
            status_shard(Status::Registered, id),
            status_shard(Status::Registered, id)
        );
        let shards: std::collections::BTreeSet<String> = (0..64)
            .map(|n| status_shard(Status::Registered, &format!("20261122-{n:08}")))
            .collect();
        assert_eq!(shards.len(), STATUS_SHARDS as usize, "{shards:?}");
    }
}

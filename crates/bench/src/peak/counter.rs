//! The counting adapter: the store, recording the DynamoDB partition (of the
//! table and of every index, from `citas-layout`'s keys) each read and write
//! would land on, and the capacity units it would take.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use citas_domain::ports::stores::*;
use citas_domain::ports::{
    Availability, ListFilter, Page, PageRequest, SlotSearch, StoreError, Transition, Upserted,
};
use citas_domain::{
    Appointment, AppointmentId, Country, Doctor, DoctorId, OfferedSpeciality, Patient, Slot,
    SlotId, Speciality,
};
use citas_layout::keys::{self};

/// Item sizes (bytes) of each table's items, as stored: capacity units follow them.
pub(crate) const IDEMPOTENCY_BYTES: f64 = 110.0;
pub(super) const SLOT_BYTES: f64 = 230.0;
pub(super) const APPOINTMENT_BYTES: f64 = 450.0;
const HISTORY_BYTES: f64 = 200.0;
pub(super) const DOCTOR_BYTES: f64 = 170.0;
const PATIENT_BYTES: f64 = 130.0;

/// Read capacity units of reading `bytes` (4 KB units; eventually consistent halves it).
fn read_units(bytes: f64, consistent: bool) -> f64 {
    let units = (bytes / 4096.0).ceil().max(1.0);
    if consistent { units } else { units / 2.0 }
}

/// Write capacity units of writing one item of `bytes` (1 KB units).
fn write_units(bytes: f64) -> f64 {
    (bytes / 1024.0).ceil().max(1.0)
}

#[derive(Default)]
pub(super) struct Load {
    /// (table or index partition, second) → units.
    pub(super) reads: HashMap<(String, i64), f64>,
    pub(super) writes: HashMap<(String, i64), f64>,
}

/// The store, counting where each request would land in DynamoDB: the
/// partition of the table and of each index an item is in, for the data
/// layout of `citas_aws::DynamoStore`.
pub(crate) struct PartitionCounter {
    inner: Arc<dyn Store>,
    pub(super) load: Mutex<Load>,
    pub(super) second: AtomicI64,
    pub(super) recording: AtomicBool,
}

impl PartitionCounter {
    pub(crate) fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            load: Mutex::new(Load::default()),
            second: AtomicI64::new(0),
            recording: AtomicBool::new(false),
        }
    }
    pub(crate) fn record(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }
    /// Read and write capacity units recorded so far, over every partition.
    pub(crate) fn totals(&self) -> (f64, f64) {
        self.load
            .lock()
            .map(|load| (load.reads.values().sum(), load.writes.values().sum()))
            .unwrap_or_default()
    }
    /// Units written outside the store port (the idempotency records).
    pub(crate) fn wrote(&self, partition: String, bytes: f64) {
        self.write(partition, write_units(bytes));
    }
    fn read(&self, partition: String, units: f64) {
        self.add(true, partition, units);
    }
    fn write(&self, partition: String, units: f64) {
        self.add(false, partition, units);
    }
    fn add(&self, read: bool, partition: String, units: f64) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let second = self.second.load(Ordering::Relaxed);
        if let Ok(mut load) = self.load.lock() {
            let map = if read {
                &mut load.reads
            } else {
                &mut load.writes
            };
            *map.entry((partition, second)).or_default() += units;
        }
    }
    /// An appointment item's partitions: the table's and its indexes', as
    /// the DynamoDB adapter writes them (the same key layout).
    fn appointment_partitions(appointment: &Appointment) -> Vec<String> {
        let code = appointment.country.code;
        std::iter::once(format!("{code}-appointment {}", appointment.id))
            .chain(
                keys::appointment_index_entries(appointment)
                    .into_iter()
                    .map(|entry| {
                        format!("{code}-appointment[{}] {}", entry.index, entry.partition)
                    }),
            )
            .collect()
    }
}

#[async_trait]
impl PatientStore for PartitionCounter {
    async fn upsert_patient(
        &self,
        country: &Country,
        patient: &Patient,
    ) -> Result<Upserted, StoreError> {
        self.write(
            format!("{}-patient {}", country.code, patient.document),
            write_units(PATIENT_BYTES),
        );
        self.inner.upsert_patient(country, patient).await
    }

    async fn get_patient(
        &self,
        country: &Country,
        document: &citas_domain::Document,
    ) -> Result<Option<Patient>, StoreError> {
        self.read(
            format!("{}-patient {document}", country.code),
            read_units(PATIENT_BYTES, false),
        );
        self.inner.get_patient(country, document).await
    }

    async fn delete_patient(
        &self,
        country: &Country,
        document: &citas_domain::Document,
    ) -> Result<bool, StoreError> {
        self.inner.delete_patient(country, document).await
    }
}

#[async_trait]
impl AppointmentStore for PartitionCounter {
    async fn insert_appointment(&self, appointment: &Appointment) -> Result<(), StoreError> {
        for partition in Self::appointment_partitions(appointment) {
            self.write(partition, write_units(APPOINTMENT_BYTES));
        }
        self.inner.insert_appointment(appointment).await
    }

    async fn keep_meeting(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        room: &citas_domain::meeting::RoomKey,
        replacing: Option<&str>,
        session: &str,
    ) -> Result<String, StoreError> {
        self.write(
            format!("{}-appointment {id}", country.code),
            write_units(APPOINTMENT_BYTES),
        );
        self.inner
            .keep_meeting(country, id, room, replacing, session)
            .await
    }

    async fn get_appointment(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Option<Appointment>, StoreError> {
        self.read(
            format!("{}-appointment {id}", country.code),
            read_units(APPOINTMENT_BYTES, true),
        );
        self.inner.get_appointment(country, id).await
    }

    async fn list_appointments(
        &self,
        country: &'static Country,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Appointment>, StoreError> {
        let found = self.inner.list_appointments(country, filter, page).await?;
        // An index query reads the page (and one more item), eventually consistent.
        let bytes = (found.items.len() + 1) as f64 * APPOINTMENT_BYTES;
        let index = match filter {
            ListFilter::Status(_) => "by-status",
            ListFilter::Document(_) | ListFilter::DocumentStatus(..) => "by-document",
            ListFilter::AssignedOn(_) => "by-assigned-day",
            ListFilter::DoctorStatus(..) => "by-doctor-status",
            ListFilter::PatientUpcoming { .. } => "by-document-upcoming",
            ListFilter::DoctorUpcoming { .. } => "by-doctor-upcoming",
        };
        self.read(
            format!(
                "{}-appointment[{index}] {}",
                country.code,
                filter.scope(country)
            ),
            read_units(bytes, false),
        );
        Ok(found)
    }

    async fn transition(&self, transition: &Transition) -> Result<(), StoreError> {
        // A transaction costs two units per item written; each index it changes, one.
        let next = &transition.appointment;
        let code = next.country.code;
        self.write(
            format!("{code}-appointment {}", next.id),
            2.0 * write_units(APPOINTMENT_BYTES),
        );
        let before = Appointment {
            status: transition.expected,
            ..next.clone()
        };
        for partition in Self::appointment_partitions(&before)
            .into_iter()
            .chain(Self::appointment_partitions(next))
            .filter(|p| !p.starts_with(&format!("{code}-appointment ")))
        {
            self.write(partition, write_units(APPOINTMENT_BYTES));
        }
        self.write(
            format!("appointment-history {code}#{}", next.id),
            2.0 * write_units(HISTORY_BYTES),
        );
        for slot in transition
            .slots
            .book
            .iter()
            .chain(transition.slots.release.iter())
        {
            self.write(
                format!("appointment-doctor {slot}"),
                2.0 * write_units(SLOT_BYTES),
            );
            for entry in keys::slot_indexes(slot) {
                self.write(
                    format!("appointment-doctor[{}] {}", entry.index, entry.partition),
                    write_units(SLOT_BYTES),
                );
            }
        }
        self.inner.transition(transition).await
    }

    async fn history(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Vec<citas_domain::HistoryEntry>, StoreError> {
        self.inner.history(country, id).await
    }

    async fn add_history_note(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        entry: &citas_domain::HistoryEntry,
    ) -> Result<(), StoreError> {
        self.inner.add_history_note(country, id, entry).await
    }

    async fn erase_appointment(
        &self,
        appointment: &Appointment,
        kept_as: Option<&Appointment>,
    ) -> Result<(), StoreError> {
        self.inner.erase_appointment(appointment, kept_as).await
    }

    async fn get_appointments(
        &self,
        country: &'static Country,
        ids: &[AppointmentId],
    ) -> Result<Vec<Appointment>, StoreError> {
        for id in ids {
            self.read(
                format!("{}-appointment {id}", country.code),
                read_units(APPOINTMENT_BYTES, false),
            );
        }
        self.inner.get_appointments(country, ids).await
    }
}

#[async_trait]
impl CatalogueStore for PartitionCounter {
    async fn added_specialities(
        &self,
        country: &'static Country,
    ) -> Result<Vec<OfferedSpeciality>, StoreError> {
        self.read(
            format!("speciality {}", country.code),
            read_units(100.0, false),
        );
        self.inner.added_specialities(country).await
    }

    async fn add_speciality(
        &self,
        country: &'static Country,
        speciality: &OfferedSpeciality,
    ) -> Result<(), StoreError> {
        self.inner.add_speciality(country, speciality).await
    }
}

#[async_trait]
impl DoctorStore for PartitionCounter {
    async fn put_doctor(&self, doctor: &Doctor) -> Result<Upserted, StoreError> {
        self.inner.put_doctor(doctor).await
    }

    async fn get_doctor(&self, id: &DoctorId) -> Result<Option<Doctor>, StoreError> {
        self.read(format!("doctor {id}"), read_units(DOCTOR_BYTES, false));
        self.inner.get_doctor(id).await
    }

    async fn get_doctors(&self, ids: &[DoctorId]) -> Result<Vec<Doctor>, StoreError> {
        for id in ids {
            self.read(format!("doctor {id}"), read_units(DOCTOR_BYTES, false));
        }
        self.inner.get_doctors(ids).await
    }

    async fn list_doctors(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        page: &PageRequest,
    ) -> Result<Page<Doctor>, StoreError> {
        self.inner.list_doctors(country, speciality, page).await
    }

    async fn doctors_in_cells(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        cells: &std::collections::BTreeSet<String>,
        per_cell: usize,
    ) -> Result<citas_domain::ports::Bounded<Doctor>, StoreError> {
        self.inner
            .doctors_in_cells(country, speciality, cells, per_cell)
            .await
    }

    async fn get_availability(
        &self,
        doctor: &DoctorId,
    ) -> Result<Option<Availability>, StoreError> {
        self.inner.get_availability(doctor).await
    }

    async fn lease_plan(
        &self,
        doctor: &DoctorId,
        lease: &citas_domain::PlanLease,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.lease_plan(doctor, lease, now).await
    }

    async fn put_availability(
        &self,
        doctor: &DoctorId,
        availability: &Availability,
        lease: &citas_domain::PlanLease,
    ) -> Result<(), StoreError> {
        self.inner
            .put_availability(doctor, availability, lease)
            .await
    }

    async fn availability_due(
        &self,
        country: &'static Country,
        through: jiff::civil::Date,
        limit: usize,
    ) -> Result<Vec<(DoctorId, Availability)>, StoreError> {
        self.inner.availability_due(country, through, limit).await
    }
}

/// Reviews are not part of the peak's traffic: passed through uncounted.
#[async_trait]
impl ReviewStore for PartitionCounter {
    async fn add_review(
        &self,
        review: &citas_domain::review::Review,
        of: &AppointmentId,
    ) -> Result<(), StoreError> {
        self.inner.add_review(review, of).await
    }

    async fn get_review(
        &self,
        id: &citas_domain::review::ReviewId,
    ) -> Result<Option<citas_domain::review::Review>, StoreError> {
        self.inner.get_review(id).await
    }

    async fn hide_review(&self, hidden: &citas_domain::review::Review) -> Result<(), StoreError> {
        self.inner.hide_review(hidden).await
    }

    async fn doctor_reviews(
        &self,
        doctor: &DoctorId,
        page: &PageRequest,
    ) -> Result<Page<citas_domain::review::Review>, StoreError> {
        self.inner.doctor_reviews(doctor, page).await
    }
}

#[async_trait]
impl SlotStore for PartitionCounter {
    async fn put_slot(&self, slot: &Slot) -> Result<(), StoreError> {
        self.inner.put_slot(slot).await
    }

    async fn get_slot(&self, id: &SlotId) -> Result<Option<Slot>, StoreError> {
        self.read(
            format!("appointment-doctor {id}"),
            read_units(SLOT_BYTES, true),
        );
        self.inner.get_slot(id).await
    }

    async fn add_slots(&self, slots: &[Slot]) -> Result<usize, StoreError> {
        self.inner.add_slots(slots).await
    }

    async fn remove_free_slot(&self, id: &SlotId) -> Result<(), StoreError> {
        self.inner.remove_free_slot(id).await
    }

    async fn doctor_slots(
        &self,
        doctor: &DoctorId,
        from: jiff::Timestamp,
        until: jiff::Timestamp,
    ) -> Result<Vec<Slot>, StoreError> {
        self.inner.doctor_slots(doctor, from, until).await
    }

    async fn next_free_slot(
        &self,
        doctor: &DoctorId,
        from: jiff::Timestamp,
        until: jiff::Timestamp,
        modality: Option<citas_domain::scheduling::doctor::Modality>,
    ) -> Result<Option<Slot>, StoreError> {
        self.inner
            .next_free_slot(doctor, from, until, modality)
            .await
    }

    async fn count_free_slots(&self, search: &SlotSearch) -> Result<usize, StoreError> {
        self.inner.count_free_slots(search).await
    }

    async fn free_slots(
        &self,
        search: &SlotSearch,
        page: &PageRequest,
    ) -> Result<Page<Slot>, StoreError> {
        let found = self.inner.free_slots(search, page).await?;
        // The query reads the page and one more item (to know whether more follow).
        let bytes = (found.items.len() + 1) as f64 * SLOT_BYTES;
        let partition = match &search.doctor {
            Some(doctor) => format!(
                "appointment-doctor[{}] {doctor}",
                keys::index::SLOT_BY_DOCTOR
            ),
            None => format!(
                "appointment-doctor[{}] {}",
                keys::index::FREE_SLOTS,
                keys::free_slot_partition(search.country, &search.speciality)
            ),
        };
        self.read(partition, read_units(bytes, false));
        Ok(found)
    }
}

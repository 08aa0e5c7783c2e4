//! The embedded store: redb, a transactional, crash-safe key-value store in
//! one file. Each DynamoDB access pattern has a table keyed for it here too
//! (secondary indexes are tables maintained in the same transaction), so
//! nothing walks a whole table. redb runs one write transaction at a time,
//! which settles races the way DynamoDB's conditions do: the loser sees the
//! winner's write and fails its condition. Records are the JSON of seed 000's
//! items (`citas_layout::items`), the one storage mapping of the entities.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use citas_domain::cursor;
use citas_domain::ports::{
    Availability, ListFilter, Page, PageRequest, PlanLease, SlotSearch, Store, StoreError,
    Transition, Upserted,
};
use citas_domain::{
    Appointment, AppointmentId, Claim, Country, Doctor, DoctorId, Document, HistoryEntry,
    IdempotencyStore, OfferedSpeciality, Patient, Slot, SlotId, Speciality,
};
use citas_layout::items::{
    AppointmentItem, AvailabilityItem, DoctorItem, HistoryItem, PatientItem, SlotItem,
    SpecialityItem, history_partition,
};
use jiff::Timestamp;
use jiff::civil::Date;
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// (country, document) → patient JSON.
const PATIENTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("patients");
/// (country, id) → appointment JSON.
const APPOINTMENTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("appointments");
/// (country, status, created_at ms, id): list by status, newest first.
const BY_STATUS: TableDefinition<(&str, &str, i64, &str), ()> =
    TableDefinition::new("appointments_by_status");
/// (country, document, created_at ms, id): a patient's appointments, newest first.
const BY_DOCUMENT: TableDefinition<(&str, &str, i64, &str), ()> =
    TableDefinition::new("appointments_by_document");
/// (country, local day of the slot, slot start epoch seconds, id): assigned appointments only.
const BY_ASSIGNED_DAY: TableDefinition<(&str, &str, i64, &str), ()> =
    TableDefinition::new("appointments_by_assigned_day");
/// (country, `{registry number}#{status}`, created_at ms, id): a doctor's appointments.
const BY_DOCTOR_STATUS: TableDefinition<(&str, &str, i64, &str), ()> =
    TableDefinition::new("appointments_by_doctor_status");
/// (country, `patient/{document}` or `doctor/{registry number}`, slot start
/// ms, id): visits to come, pending or assigned only.
const UPCOMING: TableDefinition<(&str, &str, i64, &str), ()> =
    TableDefinition::new("appointments_upcoming");
/// (`{country}#{id}`, entry sort key) → history entry JSON (`HistoryItem`).
const HISTORY: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("appointment_history");
/// sequence → a committed change's history entry (`HistoryItem`) whose
/// messages are not yet handled: the transactional outbox, written in the
/// change's own transaction and emptied by the local dispatcher.
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// id → doctor JSON.
const DOCTORS: TableDefinition<&str, &[u8]> = TableDefinition::new("doctors");
/// (country, speciality, doctor id).
const DOCTORS_BY_SPECIALITY: TableDefinition<(&str, &str, &str), ()> =
    TableDefinition::new("doctors_by_speciality");
/// (country, slug) → display name: specialities a country added.
const SPECIALITIES: TableDefinition<(&str, &str), &str> = TableDefinition::new("specialities");
/// doctor id → working plan JSON (`AvailabilityItem`).
const PLANS: TableDefinition<&str, &[u8]> = TableDefinition::new("plans");
/// (country, generated_until, doctor id): plans with days left to generate.
const PLANS_DUE: TableDefinition<(&str, &str, &str), ()> = TableDefinition::new("plans_due");
/// doctor id → the revision of their plan and the hold of a save in
/// progress (`PlanHold`): saves of one plan happen one at a time.
const PLAN_HOLDS: TableDefinition<&str, &[u8]> = TableDefinition::new("plan_holds");
/// id → slot JSON.
const SLOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("slots");
/// (doctor id, start epoch seconds, slot id): every slot of a doctor.
const DOCTOR_SLOTS: TableDefinition<(&str, i64, &str), ()> = TableDefinition::new("doctor_slots");
/// (`{country}-{speciality}`, start epoch seconds, slot id): free slots only.
const FREE_SLOTS: TableDefinition<(&str, i64, &str), ()> = TableDefinition::new("free_slots");
/// idempotency key → (status, expires_at epoch seconds) JSON.
const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("notification_idempotency");
/// Store-wide facts, e.g. whether the seed was loaded.
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// Sorts after every id and document we store (all ASCII).
const MAX_KEY: &str = "\u{10FFFF}";

/// Why an embedded operation failed: a condition (the caller's business) or the database.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Outcome(#[from] StoreError),
    #[error("database: {0}")]
    Database(#[from] redb::Error),
    #[error("stored data is not readable: {0}")]
    Data(#[from] serde_json::Error),
}

macro_rules! redb_failure {
    ($($error:ty),*) => {$(
        impl From<$error> for Failure {
            fn from(error: $error) -> Self {
                Failure::Database(error.into())
            }
        }
    )*};
}
redb_failure!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Outcome(error) => error,
            other => StoreError::Backend(other.to_string()),
        }
    }
}

/// Errors opening the store.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Database { path: String, source: redb::Error },
}

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    /// Wakes the outbox's dispatcher after a change is committed.
    outbox_written: Arc<tokio::sync::Notify>,
}

impl EmbeddedStore {
    /// Opens (or creates) `store.redb` under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, OpenError> {
        crate::private::create_dir(data_dir).map_err(|source| OpenError::Directory {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join("store.redb");
        let database_error = |source: redb::Error| OpenError::Database {
            path: path.display().to_string(),
            source,
        };
        let db = Database::create(&path).map_err(|e| database_error(e.into()))?;
        crate::private::restrict_file(&path).map_err(|source| OpenError::Directory {
            path: path.display().to_string(),
            source,
        })?;
        // Create every table up front so readers never meet a missing one.
        let txn = db.begin_write().map_err(|e| database_error(e.into()))?;
        create_tables(&txn).map_err(database_error)?;
        reindex_slots_once(&txn)
            .and_then(|()| index_doctor_lists_once(&txn))
            .and_then(|()| index_upcoming_once(&txn))
            .map_err(|e| database_error(redb::Error::Corrupted(e.to_string())))?;
        txn.commit().map_err(|e| database_error(e.into()))?;
        Ok(Self {
            db: Arc::new(db),
            outbox_written: Arc::new(tokio::sync::Notify::new()),
        })
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read()?;
            work(&txn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
        .map_err(StoreError::from)
    }

    /// Runs `work` in one write transaction, committed only if it succeeds.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write()?;
            match work(&txn) {
                Ok(value) => {
                    txn.commit()?;
                    Ok(value)
                }
                Err(failure) => {
                    txn.abort()?;
                    Err(failure)
                }
            }
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
        .map_err(StoreError::from)
    }

    /// The oldest committed changes whose messages are not handled yet, at
    /// most `limit`, by sequence.
    pub async fn outbox(&self, limit: usize) -> Result<Vec<(u64, HistoryItem)>, StoreError> {
        self.read(move |txn| {
            let table = txn.open_table(OUTBOX)?;
            let mut entries = Vec::new();
            for entry in table.iter()?.take(limit) {
                let (sequence, value) = entry?;
                entries.push((sequence.value(), decode(value.value())?));
            }
            Ok(entries)
        })
        .await
    }

    /// Takes a change out of the outbox once its messages are handled.
    pub async fn outbox_done(&self, sequence: u64) -> Result<(), StoreError> {
        self.write(move |txn| {
            txn.open_table(OUTBOX)?.remove(sequence)?;
            Ok(())
        })
        .await
    }

    /// Resolves when a change may have been added to the outbox.
    pub fn outbox_written(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_written.clone()
    }

    /// Whether the seed data has been loaded into this store.
    pub async fn is_seeded(&self) -> Result<bool, StoreError> {
        self.read(|txn| Ok(txn.open_table(META)?.get("seeded")?.is_some()))
            .await
    }

    pub async fn mark_seeded(&self) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(META)?.insert("seeded", "true")?;
            Ok(())
        })
        .await
    }
}

fn create_tables(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(PATIENTS)?;
    txn.open_table(APPOINTMENTS)?;
    txn.open_table(BY_STATUS)?;
    txn.open_table(BY_DOCUMENT)?;
    txn.open_table(BY_ASSIGNED_DAY)?;
    txn.open_table(BY_DOCTOR_STATUS)?;
    txn.open_table(UPCOMING)?;
    txn.open_table(HISTORY)?;
    txn.open_table(OUTBOX)?;
    txn.open_table(DOCTORS)?;
    txn.open_table(DOCTORS_BY_SPECIALITY)?;
    txn.open_table(SLOTS)?;
    txn.open_table(SPECIALITIES)?;
    txn.open_table(PLANS)?;
    txn.open_table(PLANS_DUE)?;
    txn.open_table(PLAN_HOLDS)?;
    txn.open_table(DOCTOR_SLOTS)?;
    txn.open_table(FREE_SLOTS)?;
    txn.open_table(IDEMPOTENCY)?;
    txn.open_table(META)?;
    Ok(())
}

/// Data directories written before slots had a doctor and a free-slot index
/// (one table of available slots by doctor) get those indexes, once.
fn reindex_slots_once(txn: &WriteTransaction) -> Result<(), Failure> {
    once(txn, "slot_indexes", reindex_slots)
}

fn reindex_slots(txn: &WriteTransaction) -> Result<(), Failure> {
    let mut slots = Vec::new();
    for entry in txn.open_table(SLOTS)?.iter()? {
        let (_, bytes) = entry?;
        let item: SlotItem = decode(bytes.value())?;
        slots.push(item.into_domain()?);
    }
    for slot in &slots {
        index_slot(txn, &slot.id, Some(slot.available))?;
    }
    let old: TableDefinition<(&str, i64, &str), ()> = TableDefinition::new("available_slots");
    txn.delete_table(old).map_err(redb::Error::from)?;
    Ok(())
}

/// Runs a one-off upgrade of the data unless `META` records it was done.
fn once(
    txn: &WriteTransaction,
    marker: &str,
    upgrade: impl FnOnce(&WriteTransaction) -> Result<(), Failure>,
) -> Result<(), Failure> {
    if txn.open_table(META)?.get(marker)?.is_some() {
        return Ok(());
    }
    upgrade(txn)?;
    txn.open_table(META)?.insert(marker, "done")?;
    Ok(())
}

/// Data directories written before doctors' lists had their own index get
/// it, once: every booked appointment's entry.
fn index_doctor_lists_once(txn: &WriteTransaction) -> Result<(), Failure> {
    once(txn, "doctor_status_index", index_doctor_lists)
}

fn index_doctor_lists(txn: &WriteTransaction) -> Result<(), Failure> {
    let mut entries = Vec::new();
    for entry in txn.open_table(APPOINTMENTS)?.iter()? {
        let (key, bytes) = entry?;
        let (code, _) = key.value();
        let item: AppointmentItem = decode(bytes.value())?;
        if let Ok(country) = Country::from_code(code) {
            entries.push((country.code, IndexEntries::of(&item.into_domain(country)?)));
        }
    }
    for (code, entries) in entries {
        if let Some(key) = &entries.doctor_status {
            txn.open_table(BY_DOCTOR_STATUS)?.insert(
                (code, key.as_str(), entries.created_ms, entries.id.as_str()),
                (),
            )?;
        }
    }
    Ok(())
}

/// Data directories written before visits to come had their own index get
/// it, once: every pending or assigned appointment's entries.
fn index_upcoming_once(txn: &WriteTransaction) -> Result<(), Failure> {
    once(txn, "upcoming_index", |txn| {
        let mut entries = Vec::new();
        for entry in txn.open_table(APPOINTMENTS)?.iter()? {
            let (key, bytes) = entry?;
            let (code, _) = key.value();
            let item: AppointmentItem = decode(bytes.value())?;
            if let Ok(country) = Country::from_code(code) {
                entries.push((country.code, IndexEntries::of(&item.into_domain(country)?)));
            }
        }
        let mut upcoming = txn.open_table(UPCOMING)?;
        for (code, entries) in entries {
            for (key, start) in &entries.upcoming {
                upcoming.insert((code, key.as_str(), *start, entries.id.as_str()), ())?;
            }
        }
        Ok(())
    })
}

/// The embedded upcoming index's partition of a patient's visits to come.
fn upcoming_of_patient(document: &Document) -> String {
    format!("patient/{document}")
}

/// The embedded upcoming index's partition of a doctor's visits to come.
fn upcoming_of_doctor(doctor: &citas_domain::DoctorDocument) -> String {
    format!("doctor/{doctor}")
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>, Failure> {
    Ok(serde_json::to_vec(value)?)
}

/// Hands entries to `keep` until it says it has enough.
fn walk<E>(
    entries: impl Iterator<Item = E>,
    keep: &mut impl FnMut(E) -> Result<bool, Failure>,
) -> Result<(), Failure> {
    for entry in entries {
        if keep(entry)? {
            break;
        }
    }
    Ok(())
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    Ok(serde_json::from_slice(bytes)?)
}

fn get_json<K, T>(
    table: &impl ReadableTable<K, &'static [u8]>,
    key: K::SelfType<'_>,
) -> Result<Option<T>, Failure>
where
    K: redb::Key + 'static,
    T: DeserializeOwned,
{
    match table.get(key)? {
        Some(guard) => Ok(Some(decode(guard.value())?)),
        None => Ok(None),
    }
}

fn get_slot_in(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<Slot>, Failure> {
    match get_json::<&str, SlotItem>(table, id)? {
        Some(item) => Ok(Some(item.into_domain()?)),
        None => Ok(None),
    }
}

/// Writes a slot and its index entries (all derived from its id and state).
fn put_slot_in(txn: &WriteTransaction, slot: &Slot) -> Result<(), Failure> {
    let mut slots = txn.open_table(SLOTS)?;
    slots.insert(
        slot.id.to_string().as_str(),
        encode(&SlotItem::from_domain(slot))?.as_slice(),
    )?;
    index_slot(txn, &slot.id, Some(slot.available))
}

/// Rewrites a slot's index entries: `None` removes them (a deleted slot).
fn index_slot(txn: &WriteTransaction, id: &SlotId, free: Option<bool>) -> Result<(), Failure> {
    let mut by_doctor = txn.open_table(DOCTOR_SLOTS)?;
    let mut free_slots = txn.open_table(FREE_SLOTS)?;
    let (text, doctor) = (id.to_string(), id.doctor.to_string());
    let partition =
        citas_layout::keys::free_slot_partition(id.doctor.country, &id.doctor.speciality);
    let start = id.starts_at.as_second();
    free_slots.remove((partition.as_str(), start, text.as_str()))?;
    match free {
        None => {
            by_doctor.remove((doctor.as_str(), start, text.as_str()))?;
        }
        Some(free) => {
            by_doctor.insert((doctor.as_str(), start, text.as_str()), ())?;
            if free {
                free_slots.insert((partition.as_str(), start, text.as_str()), ())?;
            }
        }
    }
    Ok(())
}

fn put_history_in(txn: &WriteTransaction, item: &HistoryItem) -> Result<(), Failure> {
    txn.open_table(HISTORY)?.insert(
        (item.appointment.as_str(), item.entry.as_str()),
        encode(item)?.as_slice(),
    )?;
    Ok(())
}

fn get_appointment_in(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    country: &'static Country,
    id: &str,
) -> Result<Option<Appointment>, Failure> {
    match get_json::<(&str, &str), AppointmentItem>(table, (country.code, id))? {
        Some(item) => Ok(Some(item.into_domain(country)?)),
        None => Ok(None),
    }
}

/// The entries an appointment has in the secondary index tables: derived
/// here only, and rewritten together with the appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexEntries {
    id: String,
    status: &'static str,
    document: String,
    /// Newest first in status and patient lists.
    created_ms: i64,
    /// (local day of the slot, start epoch seconds) while assigned.
    assigned_day: Option<(String, i64)>,
    /// `{registry number}#{status}` once booked on a doctor's slot.
    doctor_status: Option<String>,
    /// The patient's and the doctor's upcoming partitions, with the slot's
    /// start in ms, while pending or assigned.
    upcoming: Vec<(String, i64)>,
}

impl IndexEntries {
    fn of(appointment: &Appointment) -> Self {
        Self {
            id: appointment.id.to_string(),
            status: appointment.status.as_str(),
            document: appointment.document().to_string(),
            created_ms: appointment.created_at.as_millisecond(),
            assigned_day: appointment
                .assigned_day()
                .zip(appointment.starts_at())
                .map(|(day, at)| (day.to_string(), at.as_second())),
            doctor_status: appointment.doctor().map(|doctor| {
                citas_layout::keys::doctor_status(&doctor.document, appointment.status)
            }),
            upcoming: match (appointment.doctor(), appointment.starts_at()) {
                (Some(doctor), Some(at)) if appointment.status.holds_slot() => vec![
                    (
                        upcoming_of_patient(appointment.document()),
                        at.as_millisecond(),
                    ),
                    (upcoming_of_doctor(&doctor.document), at.as_millisecond()),
                ],
                _ => Vec::new(),
            },
        }
    }

    /// Takes these entries out of the index tables.
    fn remove(&self, txn: &WriteTransaction, code: &str) -> Result<(), Failure> {
        let id = self.id.as_str();
        let mut upcoming = txn.open_table(UPCOMING)?;
        for (key, start) in &self.upcoming {
            upcoming.remove((code, key.as_str(), *start, id))?;
        }
        if let Some(key) = &self.doctor_status {
            txn.open_table(BY_DOCTOR_STATUS)?
                .remove((code, key.as_str(), self.created_ms, id))?;
        }
        txn.open_table(BY_STATUS)?
            .remove((code, self.status, self.created_ms, id))?;
        txn.open_table(BY_DOCUMENT)?
            .remove((code, self.document.as_str(), self.created_ms, id))?;
        if let Some((day, start)) = &self.assigned_day {
            txn.open_table(BY_ASSIGNED_DAY)?
                .remove((code, day.as_str(), *start, id))?;
        }
        Ok(())
    }

    /// Replaces `before`'s entries (none for a new appointment) with these.
    fn rewrite(
        &self,
        txn: &WriteTransaction,
        code: &str,
        before: Option<&IndexEntries>,
    ) -> Result<(), Failure> {
        if let Some(old) = before {
            old.remove(txn, code)?;
        }
        let mut by_status = txn.open_table(BY_STATUS)?;
        let mut by_document = txn.open_table(BY_DOCUMENT)?;
        let mut by_day = txn.open_table(BY_ASSIGNED_DAY)?;
        let mut by_doctor = txn.open_table(BY_DOCTOR_STATUS)?;
        let mut upcoming = txn.open_table(UPCOMING)?;
        by_status.insert((code, self.status, self.created_ms, self.id.as_str()), ())?;
        by_document.insert(
            (
                code,
                self.document.as_str(),
                self.created_ms,
                self.id.as_str(),
            ),
            (),
        )?;
        if let Some((day, start)) = &self.assigned_day {
            by_day.insert((code, day.as_str(), *start, self.id.as_str()), ())?;
        }
        if let Some(key) = &self.doctor_status {
            by_doctor.insert((code, key.as_str(), self.created_ms, self.id.as_str()), ())?;
        }
        for (key, start) in &self.upcoming {
            upcoming.insert((code, key.as_str(), *start, self.id.as_str()), ())?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn upsert_patient(
        &self,
        country: &Country,
        patient: &Patient,
    ) -> Result<Upserted, StoreError> {
        let (code, item) = (country.code, PatientItem::from_domain(patient));
        self.write(move |txn| {
            let mut table = txn.open_table(PATIENTS)?;
            let previous =
                table.insert((code, item.document.as_str()), encode(&item)?.as_slice())?;
            Ok(if previous.is_some() {
                Upserted::Updated
            } else {
                Upserted::Created
            })
        })
        .await
    }

    async fn get_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<Option<Patient>, StoreError> {
        let (code, document) = (country.code, document.to_string());
        let item: Option<PatientItem> = self
            .read(move |txn| get_json(&txn.open_table(PATIENTS)?, (code, document.as_str())))
            .await?;
        item.map(|item| item.into_domain(country)).transpose()
    }

    async fn insert_appointment(&self, appointment: &Appointment) -> Result<(), StoreError> {
        let code = appointment.country.code;
        let item = AppointmentItem::from_domain(appointment);
        let entries = IndexEntries::of(appointment);
        self.write(move |txn| {
            let mut table = txn.open_table(APPOINTMENTS)?;
            let key = (code, item.id.as_str());
            if table.get(key)?.is_some() {
                return Err(StoreError::AlreadyExists {
                    existing_id: item.id.clone(),
                }
                .into());
            }
            table.insert(key, encode(&item)?.as_slice())?;
            entries.rewrite(txn, code, None)
        })
        .await
    }

    async fn get_appointment(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Option<Appointment>, StoreError> {
        let id = id.to_string();
        self.read(move |txn| get_appointment_in(&txn.open_table(APPOINTMENTS)?, country, &id))
            .await
    }

    async fn list_appointments(
        &self,
        country: &'static Country,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Appointment>, StoreError> {
        let scope = filter.scope(country);
        // The position is the last (created_at ms, id) returned.
        let after: Option<(i64, String)> = match &page.cursor {
            Some(raw) => {
                let position = cursor::decode(&scope, raw)?;
                Some(serde_json::from_value(position).map_err(|_| StoreError::InvalidCursor)?)
            }
            None => None,
        };
        let (code, filter, limit) = (country.code, filter.clone(), page.limit);
        self.read(move |txn| {
            // Status and patient lists are newest first; a day's list is earliest first.
            let (table, partition, newest_first) = match &filter {
                ListFilter::Status(status) => {
                    (txn.open_table(BY_STATUS)?, status.as_str().to_owned(), true)
                }
                ListFilter::Document(document) | ListFilter::DocumentStatus(document, _) => {
                    (txn.open_table(BY_DOCUMENT)?, document.to_string(), true)
                }
                ListFilter::AssignedOn(day) => {
                    (txn.open_table(BY_ASSIGNED_DAY)?, day.to_string(), false)
                }
                ListFilter::DoctorStatus(doctor, status) => (
                    txn.open_table(BY_DOCTOR_STATUS)?,
                    citas_layout::keys::doctor_status(doctor, *status),
                    true,
                ),
                ListFilter::PatientUpcoming { document, .. } => (
                    txn.open_table(UPCOMING)?,
                    upcoming_of_patient(document),
                    false,
                ),
                ListFilter::DoctorUpcoming { doctor, .. } => {
                    (txn.open_table(UPCOMING)?, upcoming_of_doctor(doctor), false)
                }
            };
            let partition = partition.as_str();
            // Visits to come start after the list's moment.
            let from = match &filter {
                ListFilter::PatientUpcoming { after, .. }
                | ListFilter::DoctorUpcoming { after, .. } => after.as_millisecond() + 1,
                _ => i64::MIN,
            };
            let first = (code, partition, from, "");
            let last = (code, partition, i64::MAX, MAX_KEY);
            // A list with a status over an index of several: the others are passed over.
            let wanted_status = filter.only_status();
            let appointments = txn.open_table(APPOINTMENTS)?;
            let mut ids: Vec<(i64, String)> = Vec::with_capacity(limit + 1);
            // Keeps an entry (unless its status is not the one asked for);
            // true once the page and one more are kept.
            let mut collect = |entry: Result<
                (
                    redb::AccessGuard<'_, (&str, &str, i64, &str)>,
                    redb::AccessGuard<'_, ()>,
                ),
                redb::StorageError,
            >|
             -> Result<bool, Failure> {
                let (key, _) = entry?;
                let (_, _, order, id) = key.value();
                if let Some(status) = wanted_status {
                    let stored = get_appointment_in(&appointments, country, id)?;
                    if stored.is_none_or(|a| a.status != status) {
                        return Ok(false);
                    }
                }
                ids.push((order, id.to_owned()));
                Ok(ids.len() > limit)
            };
            match (&after, newest_first) {
                (None, true) => walk(table.range(first..=last)?.rev(), &mut collect)?,
                (None, false) => walk(table.range(first..=last)?, &mut collect)?,
                (Some((order, id)), true) => walk(
                    table
                        .range(first..(code, partition, *order, id.as_str()))?
                        .rev(),
                    &mut collect,
                )?,
                // A position before the list's moment (a hand-made cursor) reads from it.
                (Some((order, _)), false) if *order < from => {
                    walk(table.range(first..=last)?, &mut collect)?
                }
                (Some((order, id)), false) => {
                    let start = (code, partition, *order, id.as_str());
                    walk(
                        table.range(start..=last)?.skip_while(
                            |entry| matches!(entry, Ok((key, _)) if key.value() == start),
                        ),
                        &mut collect,
                    )?
                }
            }
            let more = ids.len() > limit;
            let mut items = Vec::with_capacity(limit);
            for (_, id) in ids.iter().take(limit) {
                if let Some(appointment) = get_appointment_in(&appointments, country, id)? {
                    items.push(appointment);
                }
            }
            let next_cursor = match ids.get(limit.saturating_sub(1)) {
                Some((order, id)) if more => Some(cursor::encode(&scope, json!([order, id]))),
                _ => None,
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn transition(&self, transition: &Transition) -> Result<(), StoreError> {
        let transition = transition.clone();
        self.write(move |txn| {
            let next = &transition.appointment;
            let (country, id) = (next.country, next.id.to_string());
            let mut appointments = txn.open_table(APPOINTMENTS)?;
            let current =
                get_appointment_in(&appointments, country, &id)?.ok_or(StoreError::NotFound)?;
            if current.status != transition.expected
                || current.revision != transition.expected_revision
            {
                return Err(StoreError::StatusConflict {
                    current: current.status,
                }
                .into());
            }
            let slots = txn.open_table(SLOTS)?;
            let booked = match &transition.slots.book {
                None => None,
                Some(slot_id) => match get_slot_in(&slots, &slot_id.to_string())? {
                    Some(slot) if slot.available => Some(Slot {
                        available: false,
                        booked_by: Some(next.id.clone()),
                        ..slot
                    }),
                    _ => return Err(StoreError::SlotUnavailable(slot_id.to_string()).into()),
                },
            };
            // A slot that no longer exists has nothing to give back.
            let released = match &transition.slots.release {
                None => None,
                Some(slot_id) => get_slot_in(&slots, &slot_id.to_string())?.map(|slot| Slot {
                    available: true,
                    booked_by: None,
                    ..slot
                }),
            };
            drop(slots);
            for slot in released.iter().chain(booked.iter()) {
                put_slot_in(txn, slot)?;
            }
            appointments.insert(
                (country.code, id.as_str()),
                encode(&AppointmentItem::from_domain(next))?.as_slice(),
            )?;
            drop(appointments);
            let history = HistoryItem::from_domain(country, &next.id, &transition.entry);
            put_history_in(txn, &history)?;
            let mut outbox = txn.open_table(OUTBOX)?;
            let sequence = match outbox.last()? {
                Some((last, _)) => last.value() + 1,
                None => 1,
            };
            outbox.insert(sequence, encode(&history)?.as_slice())?;
            drop(outbox);
            IndexEntries::of(next).rewrite(txn, country.code, Some(&IndexEntries::of(&current)))
        })
        .await?;
        self.outbox_written.notify_one();
        Ok(())
    }

    async fn history(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let partition = history_partition(country, id);
        let items: Vec<HistoryItem> = self
            .read(move |txn| {
                let table = txn.open_table(HISTORY)?;
                let mut items = Vec::new();
                for entry in
                    table.range((partition.as_str(), "")..=(partition.as_str(), MAX_KEY))?
                {
                    let (_, value) = entry?;
                    items.push(decode(value.value())?);
                }
                Ok(items)
            })
            .await?;
        items.into_iter().map(HistoryItem::into_domain).collect()
    }

    async fn add_history_note(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError> {
        let item = HistoryItem::from_domain(country, id, entry);
        let id = id.to_string();
        self.write(move |txn| {
            if get_appointment_in(&txn.open_table(APPOINTMENTS)?, country, &id)?.is_none() {
                return Err(StoreError::NotFound.into());
            }
            put_history_in(txn, &item)
        })
        .await
    }

    async fn erase_appointment(
        &self,
        appointment: &Appointment,
        kept_as: Option<&Appointment>,
    ) -> Result<(), StoreError> {
        let (erased, kept) = (appointment.clone(), kept_as.cloned());
        self.write(move |txn| {
            let (country, id) = (erased.country, erased.id.to_string());
            let mut appointments = txn.open_table(APPOINTMENTS)?;
            let current =
                get_appointment_in(&appointments, country, &id)?.ok_or(StoreError::NotFound)?;
            if current.revision != erased.revision || current.status != erased.status {
                return Err(StoreError::StatusConflict {
                    current: current.status,
                }
                .into());
            }
            appointments.remove((country.code, id.as_str()))?;
            if let Some(kept) = &kept {
                appointments.insert(
                    (country.code, kept.id.to_string().as_str()),
                    encode(&AppointmentItem::from_domain(kept))?.as_slice(),
                )?;
            }
            drop(appointments);
            IndexEntries::of(&current).remove(txn, country.code)?;
            if let Some(kept) = &kept {
                IndexEntries::of(kept).rewrite(txn, country.code, None)?;
            }
            // A completed or missed visit's slot stays booked and names it.
            if let Some(slot_id) = &current.slot {
                let slot = get_slot_in(&txn.open_table(SLOTS)?, &slot_id.to_string())?;
                if let Some(slot) = slot.filter(|slot| slot.booked_by.as_ref() == Some(&current.id))
                {
                    put_slot_in(
                        txn,
                        &Slot {
                            booked_by: kept.as_ref().map(|kept| kept.id.clone()),
                            ..slot
                        },
                    )?;
                }
            }
            let partition = history_partition(country, &current.id);
            let mut history = txn.open_table(HISTORY)?;
            let keys: Vec<String> = history
                .range((partition.as_str(), "")..=(partition.as_str(), MAX_KEY))?
                .map(|entry| entry.map(|(key, _)| key.value().1.to_owned()))
                .collect::<Result<_, _>>()?;
            for key in keys {
                history.remove((partition.as_str(), key.as_str()))?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<bool, StoreError> {
        let (code, document) = (country.code, document.to_string());
        self.write(move |txn| {
            let removed = txn
                .open_table(PATIENTS)?
                .remove((code, document.as_str()))?
                .is_some();
            Ok(removed)
        })
        .await
    }

    async fn get_appointments(
        &self,
        country: &'static Country,
        ids: &[AppointmentId],
    ) -> Result<Vec<Appointment>, StoreError> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.read(move |txn| {
            let table = txn.open_table(APPOINTMENTS)?;
            let mut found = Vec::with_capacity(ids.len());
            for id in &ids {
                found.extend(get_appointment_in(&table, country, id)?);
            }
            Ok(found)
        })
        .await
    }

    async fn added_specialities(
        &self,
        country: &'static Country,
    ) -> Result<Vec<OfferedSpeciality>, StoreError> {
        let items: Vec<SpecialityItem> = self
            .read(move |txn| {
                let table = txn.open_table(SPECIALITIES)?;
                let mut items = Vec::new();
                for entry in table.range((country.code, "")..=(country.code, MAX_KEY))? {
                    let (key, name) = entry?;
                    items.push(SpecialityItem {
                        country: country.code.to_owned(),
                        slug: key.value().1.to_owned(),
                        name: name.value().to_owned(),
                    });
                }
                Ok(items)
            })
            .await?;
        items.into_iter().map(SpecialityItem::into_domain).collect()
    }

    async fn add_speciality(
        &self,
        country: &'static Country,
        speciality: &OfferedSpeciality,
    ) -> Result<(), StoreError> {
        let item = SpecialityItem::from_domain(country, speciality);
        self.write(move |txn| {
            let mut table = txn.open_table(SPECIALITIES)?;
            let key = (item.country.as_str(), item.slug.as_str());
            // The first name given stays.
            if table.get(key)?.is_none() {
                table.insert(key, item.name.as_str())?;
            }
            Ok(())
        })
        .await
    }

    async fn put_doctor(&self, doctor: &Doctor) -> Result<Upserted, StoreError> {
        let item = DoctorItem::from_domain(doctor);
        self.write(move |txn| {
            let mut doctors = txn.open_table(DOCTORS)?;
            let mut by_speciality = txn.open_table(DOCTORS_BY_SPECIALITY)?;
            let previous = get_json::<&str, DoctorItem>(&doctors, item.id.as_str())?;
            if let Some(previous) = &previous {
                by_speciality.remove((
                    previous.country.as_str(),
                    previous.speciality.as_str(),
                    previous.id.as_str(),
                ))?;
            }
            doctors.insert(item.id.as_str(), encode(&item)?.as_slice())?;
            by_speciality.insert(
                (
                    item.country.as_str(),
                    item.speciality.as_str(),
                    item.id.as_str(),
                ),
                (),
            )?;
            Ok(if previous.is_some() {
                Upserted::Updated
            } else {
                Upserted::Created
            })
        })
        .await
    }

    async fn get_doctor(&self, id: &DoctorId) -> Result<Option<Doctor>, StoreError> {
        let id = id.to_string();
        let item: Option<DoctorItem> = self
            .read(move |txn| get_json(&txn.open_table(DOCTORS)?, id.as_str()))
            .await?;
        item.map(DoctorItem::into_domain).transpose()
    }

    async fn get_doctors(&self, ids: &[DoctorId]) -> Result<Vec<Doctor>, StoreError> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let items: Vec<DoctorItem> = self
            .read(move |txn| {
                let table = txn.open_table(DOCTORS)?;
                let mut found = Vec::with_capacity(ids.len());
                for id in &ids {
                    found.extend(get_json::<&str, DoctorItem>(&table, id.as_str())?);
                }
                Ok(found)
            })
            .await?;
        items.into_iter().map(DoctorItem::into_domain).collect()
    }

    async fn list_doctors(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        page: &PageRequest,
    ) -> Result<Page<Doctor>, StoreError> {
        let scope = format!("{}/doctors/{speciality}", country.code);
        let after: Option<String> = match &page.cursor {
            Some(raw) => Some(
                serde_json::from_value(cursor::decode(&scope, raw)?)
                    .map_err(|_| StoreError::InvalidCursor)?,
            ),
            None => None,
        };
        let (code, speciality, limit) = (country.code, speciality.to_string(), page.limit);
        let (items, next): (Vec<DoctorItem>, Option<String>) = self
            .read(move |txn| {
                let index = txn.open_table(DOCTORS_BY_SPECIALITY)?;
                let doctors = txn.open_table(DOCTORS)?;
                let partition = speciality.as_str();
                let first = after.as_deref().unwrap_or("");
                let mut ids = Vec::with_capacity(limit + 1);
                for entry in index.range((code, partition, first)..=(code, partition, MAX_KEY))? {
                    let (key, _) = entry?;
                    let id = key.value().2;
                    if after.as_deref() == Some(id) {
                        continue;
                    }
                    ids.push(id.to_owned());
                    if ids.len() > limit {
                        break;
                    }
                }
                let more = ids.len() > limit;
                ids.truncate(limit);
                let mut items = Vec::with_capacity(ids.len());
                for id in &ids {
                    items.extend(get_json::<&str, DoctorItem>(&doctors, id.as_str())?);
                }
                Ok((items, if more { ids.last().cloned() } else { None }))
            })
            .await?;
        Ok(Page {
            items: items
                .into_iter()
                .map(DoctorItem::into_domain)
                .collect::<Result<_, _>>()?,
            next_cursor: next.map(|id| cursor::encode(&scope, json!(id))),
        })
    }

    async fn get_availability(
        &self,
        doctor: &DoctorId,
    ) -> Result<Option<Availability>, StoreError> {
        let id = doctor.to_string();
        let found: Option<(AvailabilityItem, u32)> = self
            .read(move |txn| {
                let item: Option<AvailabilityItem> =
                    get_json(&txn.open_table(PLANS)?, id.as_str())?;
                let hold: Option<PlanHold> = get_json(&txn.open_table(PLAN_HOLDS)?, id.as_str())?;
                Ok(item.map(|item| (item, hold.map_or(0, |h| h.revision))))
            })
            .await?;
        found
            .map(|(item, revision)| {
                item.into_domain().map(|availability| Availability {
                    revision,
                    ..availability
                })
            })
            .transpose()
    }

    async fn lease_plan(
        &self,
        doctor: &DoctorId,
        lease: &PlanLease,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (id, lease) = (doctor.to_string(), lease.clone());
        self.write(move |txn| {
            if txn.open_table(DOCTORS)?.get(id.as_str())?.is_none() {
                return Err(StoreError::NotFound.into());
            }
            let mut holds = txn.open_table(PLAN_HOLDS)?;
            let hold: PlanHold = get_json(&holds, id.as_str())?.unwrap_or_default();
            let held = hold.until.is_some_and(|until| until > now.as_second());
            if hold.revision != lease.revision || held {
                return Err(StoreError::PlanChanged.into());
            }
            let hold = PlanHold {
                revision: hold.revision,
                token: Some(lease.token),
                until: Some(lease.until.as_second()),
            };
            holds.insert(id.as_str(), encode(&hold)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn put_availability(
        &self,
        doctor: &DoctorId,
        availability: &Availability,
        lease: &PlanLease,
    ) -> Result<(), StoreError> {
        let (id, code) = (doctor.to_string(), doctor.country.code);
        let item = AvailabilityItem::from_domain(availability);
        let open = availability.is_open();
        let lease = lease.clone();
        self.write(move |txn| {
            let mut holds = txn.open_table(PLAN_HOLDS)?;
            let hold: PlanHold = get_json(&holds, id.as_str())?.unwrap_or_default();
            if hold.token.as_deref() != Some(lease.token.as_str()) {
                return Err(StoreError::PlanChanged.into());
            }
            let released = PlanHold {
                revision: lease.revision + 1,
                token: None,
                until: None,
            };
            holds.insert(id.as_str(), encode(&released)?.as_slice())?;
            let mut plans = txn.open_table(PLANS)?;
            let mut due = txn.open_table(PLANS_DUE)?;
            if let Some(previous) = get_json::<&str, AvailabilityItem>(&plans, id.as_str())? {
                due.remove((code, previous.generated_until.as_str(), id.as_str()))?;
            }
            plans.insert(id.as_str(), encode(&item)?.as_slice())?;
            if open {
                due.insert((code, item.generated_until.as_str(), id.as_str()), ())?;
            }
            Ok(())
        })
        .await
    }

    async fn availability_due(
        &self,
        country: &'static Country,
        through: Date,
        limit: usize,
    ) -> Result<Vec<(DoctorId, Availability)>, StoreError> {
        let (code, through) = (country.code, through.to_string());
        let found: Vec<(String, AvailabilityItem, u32)> = self
            .read(move |txn| {
                let due = txn.open_table(PLANS_DUE)?;
                let plans = txn.open_table(PLANS)?;
                let holds = txn.open_table(PLAN_HOLDS)?;
                let mut found = Vec::new();
                for entry in due
                    .range((code, "", "")..(code, through.as_str(), ""))?
                    .take(limit)
                {
                    let (key, _) = entry?;
                    let id = key.value().2;
                    if let Some(item) = get_json::<&str, AvailabilityItem>(&plans, id)? {
                        let hold: Option<PlanHold> = get_json(&holds, id)?;
                        found.push((id.to_owned(), item, hold.map_or(0, |h| h.revision)));
                    }
                }
                Ok(found)
            })
            .await?;
        found
            .into_iter()
            .map(|(id, item, revision)| {
                let doctor = DoctorId::parse(&id)
                    .map_err(|e| StoreError::Backend(format!("a plan's doctor id: {e}")))?;
                Ok((
                    doctor,
                    Availability {
                        revision,
                        ..item.into_domain()?
                    },
                ))
            })
            .collect()
    }

    async fn put_slot(&self, slot: &Slot) -> Result<(), StoreError> {
        let slot = slot.clone();
        self.write(move |txn| put_slot_in(txn, &slot)).await
    }

    async fn get_slot(&self, id: &SlotId) -> Result<Option<Slot>, StoreError> {
        let id = id.to_string();
        self.read(move |txn| get_slot_in(&txn.open_table(SLOTS)?, &id))
            .await
    }

    async fn add_slots(&self, slots: &[Slot]) -> Result<usize, StoreError> {
        let slots = slots.to_vec();
        self.write(move |txn| {
            let mut added = 0;
            for slot in &slots {
                let taken = txn
                    .open_table(SLOTS)?
                    .get(slot.id.to_string().as_str())?
                    .is_some();
                if !taken {
                    put_slot_in(txn, slot)?;
                    added += 1;
                }
            }
            Ok(added)
        })
        .await
    }

    async fn remove_free_slot(&self, id: &SlotId) -> Result<(), StoreError> {
        let id = id.clone();
        self.write(move |txn| {
            let text = id.to_string();
            let mut slots = txn.open_table(SLOTS)?;
            match get_slot_in(&slots, &text)? {
                None => Err(StoreError::NotFound.into()),
                Some(slot) if !slot.available => Err(StoreError::SlotUnavailable(text).into()),
                Some(_) => {
                    slots.remove(text.as_str())?;
                    drop(slots);
                    index_slot(txn, &id, None)
                }
            }
        })
        .await
    }

    async fn doctor_slots(
        &self,
        doctor: &DoctorId,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Slot>, StoreError> {
        let doctor = doctor.to_string();
        let (from, until) = (from.as_second(), until.as_second());
        self.read(move |txn| {
            let index = txn.open_table(DOCTOR_SLOTS)?;
            let slots = txn.open_table(SLOTS)?;
            let mut found = Vec::new();
            for entry in index.range((doctor.as_str(), from, "")..(doctor.as_str(), until, ""))? {
                let (key, _) = entry?;
                found.extend(get_slot_in(&slots, key.value().2)?);
            }
            Ok(found)
        })
        .await
    }

    async fn count_free_slots(&self, search: &SlotSearch) -> Result<usize, StoreError> {
        // As `free_slots` walks them: a doctor's slots (the free ones), or the
        // speciality's free-slot index.
        let (table, partition, only_free) = match &search.doctor {
            Some(doctor) => (DOCTOR_SLOTS, doctor.to_string(), true),
            None => (
                FREE_SLOTS,
                citas_layout::keys::free_slot_partition(search.country, &search.speciality),
                false,
            ),
        };
        let (from, until) = (search.from.as_second(), search.until.as_second());
        self.read(move |txn| {
            let index = txn.open_table(table)?;
            let slots = txn.open_table(SLOTS)?;
            let partition = partition.as_str();
            let mut count = 0;
            for entry in index.range((partition, from, "")..(partition, until, ""))? {
                let (key, _) = entry?;
                let (_, _, id) = key.value();
                if !only_free || get_slot_in(&slots, id)?.is_some_and(|slot| slot.available) {
                    count += 1;
                }
            }
            Ok(count)
        })
        .await
    }

    async fn free_slots(
        &self,
        search: &SlotSearch,
        page: &PageRequest,
    ) -> Result<Page<Slot>, StoreError> {
        let scope = search.scope();
        // The position is the last (start epoch seconds, id) returned.
        let after: Option<(i64, String)> = match &page.cursor {
            Some(raw) => Some(
                serde_json::from_value(cursor::decode(&scope, raw)?)
                    .map_err(|_| StoreError::InvalidCursor)?,
            ),
            None => None,
        };
        // A doctor's slots are walked and the booked ones skipped; a
        // speciality's free slots have their own index.
        let (table, partition, only_free) = match &search.doctor {
            Some(doctor) => (DOCTOR_SLOTS, doctor.to_string(), true),
            None => (
                FREE_SLOTS,
                citas_layout::keys::free_slot_partition(search.country, &search.speciality),
                false,
            ),
        };
        let (from, until, limit) = (
            search.from.as_second(),
            search.until.as_second(),
            page.limit,
        );
        let (items, more) = self
            .read(move |txn| {
                let index = txn.open_table(table)?;
                let slots = txn.open_table(SLOTS)?;
                let partition = partition.as_str();
                let start = match &after {
                    Some((start, _)) => (*start).max(from),
                    None => from,
                };
                let mut items = Vec::with_capacity(limit + 1);
                for entry in index.range((partition, start, "")..(partition, until, ""))? {
                    let (key, _) = entry?;
                    let (_, at, id) = key.value();
                    if after
                        .as_ref()
                        .is_some_and(|(last_at, last_id)| (at, id) <= (*last_at, last_id.as_str()))
                    {
                        continue;
                    }
                    let Some(slot) = get_slot_in(&slots, id)? else {
                        continue;
                    };
                    if only_free && !slot.available {
                        continue;
                    }
                    items.push(slot);
                    if items.len() > limit {
                        break;
                    }
                }
                let more = items.len() > limit;
                items.truncate(limit);
                Ok((items, more))
            })
            .await?;
        let next_cursor = match items.last() {
            Some(last) if more => Some(cursor::encode(
                &scope,
                json!([last.starts_at().as_second(), last.id.to_string()]),
            )),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }
}

/// A plan's revision and the hold of the save in progress, if any.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct PlanHold {
    revision: u32,
    #[serde(default)]
    token: Option<String>,
    /// Epoch seconds after which the hold lapses.
    #[serde(default)]
    until: Option<i64>,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct IdempotencyRecord {
    completed: bool,
    /// Epoch seconds after which the record is forgotten.
    expires_at: i64,
    /// Epoch seconds after which an in-progress claim is taken as abandoned.
    #[serde(default)]
    lapses_at: Option<i64>,
    /// Closed without knowing whether its email went out.
    #[serde(default)]
    uncertain: bool,
    /// How many claims of the key reached the send.
    #[serde(default = "one_send")]
    sends: u32,
}

fn one_send() -> u32 {
    1
}

impl IdempotencyRecord {
    /// An in-progress claim whose consumer never said how its send ended.
    fn lapsed(&self, now: Timestamp) -> bool {
        !self.completed && self.lapses_at.is_some_and(|at| at <= now.as_second())
    }
}

impl EmbeddedStore {
    /// Marks every claim still in progress as lapsed at `now`: at start, no
    /// consumer of this store is sending (redb lets one process open it), so
    /// such claims belong to a run that died. Returns how many there were.
    pub async fn lapse_claims_of_earlier_runs(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let mut open = Vec::new();
            for entry in table.iter()? {
                let (key, value) = entry?;
                let record: IdempotencyRecord = decode(value.value())?;
                if !record.completed && record.lapses_at.is_some_and(|at| at > now.as_second()) {
                    open.push((key.value().to_owned(), record));
                }
            }
            for (key, record) in &open {
                let lapsed = IdempotencyRecord {
                    lapses_at: Some(now.as_second()),
                    ..record.clone()
                };
                table.insert(key.as_str(), encode(&lapsed)?.as_slice())?;
            }
            Ok(open.len())
        })
        .await
    }
}

#[async_trait]
impl IdempotencyStore for EmbeddedStore {
    async fn claim(
        &self,
        key: &str,
        now: Timestamp,
        lapse_after: jiff::SignedDuration,
        keep_for: jiff::SignedDuration,
    ) -> Result<Claim, StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            match existing {
                Some(record) if record.expires_at > now.as_second() => {
                    return Ok(if record.completed {
                        Claim::Completed
                    } else if record.lapsed(now) {
                        Claim::Lapsed {
                            sends: record.sends,
                        }
                    } else {
                        Claim::InProgress
                    });
                }
                _ => {}
            }
            let record = IdempotencyRecord {
                completed: false,
                expires_at: (now + keep_for).as_second(),
                lapses_at: Some((now + lapse_after).as_second()),
                uncertain: false,
                sends: 1,
            };
            table.insert(key.as_str(), encode(&record)?.as_slice())?;
            Ok(Claim::Acquired)
        })
        .await
    }

    async fn reclaim_lapsed(
        &self,
        key: &str,
        sends: u32,
        now: Timestamp,
        lapse_after: jiff::SignedDuration,
        keep_for: jiff::SignedDuration,
    ) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            let Some(record) = existing.filter(|r| r.lapsed(now) && r.sends == sends) else {
                return Ok(false);
            };
            let record = IdempotencyRecord {
                expires_at: (now + keep_for).as_second(),
                lapses_at: Some((now + lapse_after).as_second()),
                sends: sends + 1,
                ..record
            };
            table.insert(key.as_str(), encode(&record)?.as_slice())?;
            Ok(true)
        })
        .await
    }

    async fn settle_lapsed(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: jiff::SignedDuration,
    ) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            let Some(record) = existing.filter(|r| r.lapsed(now)) else {
                return Ok(false);
            };
            let record = IdempotencyRecord {
                completed: true,
                expires_at: (now + keep_for).as_second(),
                lapses_at: None,
                uncertain: true,
                ..record
            };
            table.insert(key.as_str(), encode(&record)?.as_slice())?;
            Ok(true)
        })
        .await
    }

    async fn complete(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: jiff::SignedDuration,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            let record = IdempotencyRecord {
                completed: true,
                expires_at: (now + keep_for).as_second(),
                lapses_at: None,
                uncertain: false,
                sends: existing.map_or(1, |r| r.sends),
            };
            table.insert(key.as_str(), encode(&record)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            if existing.is_some_and(|r| !r.completed) {
                table.remove(key.as_str())?;
            }
            Ok(())
        })
        .await
    }
}

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
use citas_domain::ports::cursor;
use citas_domain::ports::{
    AppointmentStore, Availability, CatalogueStore, DoctorStore, ListFilter, Page, PageRequest,
    PatientStore, PlanLease, SlotSearch, SlotStore, StoreError, Transition, Upserted,
};
use citas_domain::{
    Appointment, AppointmentId, Claim, Country, Doctor, DoctorId, Document, HistoryEntry,
    IdempotencyStore, OfferedSpeciality, Patient, Slot, SlotId, Speciality,
};
use citas_layout::items::{
    AppointmentItem, AvailabilityItem, DoctorItem, HistoryItem, PatientItem, ReviewItem, SlotItem,
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

mod appointments;
mod catalogue;
mod doctors;
mod idempotency;
mod indexes;
mod patients;
mod reviews;
mod slots;
mod upgrades;

use indexes::*;
use upgrades::*;

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
/// (`{country}-{speciality}#{geohash}`, doctor id): doctors by their place's cell.
const DOCTORS_BY_GEO_CELL: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("doctors_by_geo_cell");

/// review id → review JSON (`ReviewItem`).
const REVIEWS: TableDefinition<&str, &[u8]> = TableDefinition::new("reviews");

/// (country, appointment id) → its review's id: one review per visit, the
/// mark DynamoDB keeps on the appointment's item (erased with it).
const REVIEWED: TableDefinition<(&str, &str), &str> = TableDefinition::new("reviewed_appointments");

/// (doctor id, written at ms, review id): shown reviews only.
const REVIEWS_BY_DOCTOR: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("reviews_by_doctor");

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
            .and_then(|()| index_geo_cells_once(&txn))
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
    txn.open_table(DOCTORS_BY_GEO_CELL)?;
    txn.open_table(REVIEWS)?;
    txn.open_table(REVIEWED)?;
    txn.open_table(REVIEWS_BY_DOCTOR)?;
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

//! The embedded store: redb, a transactional, crash-safe key-value store in
//! one file. Each DynamoDB access pattern has a table keyed for it here too
//! (secondary indexes are tables maintained in the same transaction), so
//! nothing walks a whole table. redb runs one write transaction at a time,
//! which settles races the way DynamoDB's conditions do: the loser sees the
//! winner's write and fails its condition. Records are the JSON of seed 000's
//! items (`citas_aws::items`), the one storage mapping of the entities.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use citas_aws::items::{AppointmentItem, DoctorItem, PatientItem, SlotItem};
use citas_domain::cursor;
use citas_domain::ports::{
    ListFilter, Page, PageRequest, SlotChange, Store, StoreError, Transition, Upserted,
};
use citas_domain::{
    Appointment, AppointmentId, Claim, Country, Doctor, DoctorId, Document, IdempotencyStore,
    Patient, Slot, SlotId, Speciality,
};
use jiff::Timestamp;
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
/// id → doctor JSON.
const DOCTORS: TableDefinition<&str, &[u8]> = TableDefinition::new("doctors");
/// (country, speciality, doctor id).
const DOCTORS_BY_SPECIALITY: TableDefinition<(&str, &str, &str), ()> =
    TableDefinition::new("doctors_by_speciality");
/// id → slot JSON.
const SLOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("slots");
/// (doctor id, start epoch seconds, slot id): available slots only.
const AVAILABLE_SLOTS: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("available_slots");
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
}

impl EmbeddedStore {
    /// Opens (or creates) `store.redb` under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::Directory {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join("store.redb");
        let database_error = |source: redb::Error| OpenError::Database {
            path: path.display().to_string(),
            source,
        };
        let db = Database::create(&path).map_err(|e| database_error(e.into()))?;
        // Create every table up front so readers never meet a missing one.
        let txn = db.begin_write().map_err(|e| database_error(e.into()))?;
        create_tables(&txn).map_err(database_error)?;
        txn.commit().map_err(|e| database_error(e.into()))?;
        Ok(Self { db: Arc::new(db) })
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
    txn.open_table(DOCTORS)?;
    txn.open_table(DOCTORS_BY_SPECIALITY)?;
    txn.open_table(SLOTS)?;
    txn.open_table(AVAILABLE_SLOTS)?;
    txn.open_table(IDEMPOTENCY)?;
    txn.open_table(META)?;
    Ok(())
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>, Failure> {
    Ok(serde_json::to_vec(value)?)
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

fn put_slot_in(txn: &WriteTransaction, slot: &Slot) -> Result<(), Failure> {
    let mut slots = txn.open_table(SLOTS)?;
    let mut available = txn.open_table(AVAILABLE_SLOTS)?;
    let (id, doctor) = (slot.id.to_string(), slot.doctor().to_string());
    let start = slot.starts_at().as_second();
    available.remove((doctor.as_str(), start, id.as_str()))?;
    slots.insert(
        id.as_str(),
        encode(&SlotItem::from_domain(slot))?.as_slice(),
    )?;
    if slot.available {
        available.insert((doctor.as_str(), start, id.as_str()), ())?;
    }
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
        }
    }

    /// Replaces `before`'s entries (none for a new appointment) with these.
    fn rewrite(
        &self,
        txn: &WriteTransaction,
        code: &str,
        before: Option<&IndexEntries>,
    ) -> Result<(), Failure> {
        let mut by_status = txn.open_table(BY_STATUS)?;
        let mut by_document = txn.open_table(BY_DOCUMENT)?;
        let mut by_day = txn.open_table(BY_ASSIGNED_DAY)?;
        if let Some(old) = before {
            by_status.remove((code, old.status, old.created_ms, old.id.as_str()))?;
            by_document.remove((code, old.document.as_str(), old.created_ms, old.id.as_str()))?;
            if let Some((day, start)) = &old.assigned_day {
                by_day.remove((code, day.as_str(), *start, old.id.as_str()))?;
            }
        }
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
                ListFilter::Document(document) => {
                    (txn.open_table(BY_DOCUMENT)?, document.to_string(), true)
                }
                ListFilter::AssignedOn(day) => {
                    (txn.open_table(BY_ASSIGNED_DAY)?, day.to_string(), false)
                }
            };
            let partition = partition.as_str();
            let first = (code, partition, i64::MIN, "");
            let last = (code, partition, i64::MAX, MAX_KEY);
            let mut ids: Vec<(i64, String)> = Vec::with_capacity(limit + 1);
            let mut collect = |entry: Result<
                (
                    redb::AccessGuard<'_, (&str, &str, i64, &str)>,
                    redb::AccessGuard<'_, ()>,
                ),
                redb::StorageError,
            >|
             -> Result<(), Failure> {
                let (key, _) = entry?;
                let (_, _, order, id) = key.value();
                ids.push((order, id.to_owned()));
                Ok(())
            };
            match (&after, newest_first) {
                (None, true) => table
                    .range(first..=last)?
                    .rev()
                    .take(limit + 1)
                    .try_for_each(&mut collect)?,
                (None, false) => table
                    .range(first..=last)?
                    .take(limit + 1)
                    .try_for_each(&mut collect)?,
                (Some((order, id)), true) => table
                    .range(first..(code, partition, *order, id.as_str()))?
                    .rev()
                    .take(limit + 1)
                    .try_for_each(&mut collect)?,
                (Some((order, id)), false) => {
                    let start = (code, partition, *order, id.as_str());
                    table
                        .range(start..=last)?
                        .skip_while(|entry| matches!(entry, Ok((key, _)) if key.value() == start))
                        .take(limit + 1)
                        .try_for_each(&mut collect)?
                }
            }
            let more = ids.len() > limit;
            let appointments = txn.open_table(APPOINTMENTS)?;
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
            if current.status != transition.expected {
                return Err(StoreError::StatusConflict {
                    current: current.status,
                }
                .into());
            }
            let slots = txn.open_table(SLOTS)?;
            let slot_change = match &transition.slot {
                SlotChange::None => None,
                SlotChange::Book(slot_id) => match get_slot_in(&slots, &slot_id.to_string())? {
                    Some(slot) if slot.available => Some(Slot {
                        available: false,
                        ..slot
                    }),
                    _ => return Err(StoreError::SlotUnavailable(slot_id.to_string()).into()),
                },
                // A slot that no longer exists has nothing to give back.
                SlotChange::Release(slot_id) => {
                    get_slot_in(&slots, &slot_id.to_string())?.map(|slot| Slot {
                        available: true,
                        ..slot
                    })
                }
            };
            drop(slots);
            if let Some(slot) = slot_change {
                put_slot_in(txn, &slot)?;
            }
            appointments.insert(
                (country.code, id.as_str()),
                encode(&AppointmentItem::from_domain(next))?.as_slice(),
            )?;
            IndexEntries::of(next).rewrite(txn, country.code, Some(&IndexEntries::of(&current)))
        })
        .await
    }

    async fn put_doctor(&self, doctor: &Doctor) -> Result<(), StoreError> {
        let item = DoctorItem::from_domain(doctor);
        self.write(move |txn| {
            let mut doctors = txn.open_table(DOCTORS)?;
            let mut by_speciality = txn.open_table(DOCTORS_BY_SPECIALITY)?;
            if let Some(previous) = get_json::<&str, DoctorItem>(&doctors, item.id.as_str())? {
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
            Ok(())
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

    async fn doctors_by_speciality(
        &self,
        country: &'static Country,
        speciality: &Speciality,
    ) -> Result<Vec<Doctor>, StoreError> {
        let (code, speciality) = (country.code, speciality.to_string());
        self.read(move |txn| {
            let index = txn.open_table(DOCTORS_BY_SPECIALITY)?;
            let doctors = txn.open_table(DOCTORS)?;
            let mut found = Vec::new();
            for entry in index
                .range((code, speciality.as_str(), "")..=(code, speciality.as_str(), MAX_KEY))?
            {
                let (key, _) = entry?;
                let (_, _, id) = key.value();
                if let Some(item) = get_json::<&str, DoctorItem>(&doctors, id)? {
                    found.push(item.into_domain()?);
                }
            }
            Ok(found)
        })
        .await
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

    async fn next_available_slot(
        &self,
        doctor: &DoctorId,
        after: Timestamp,
    ) -> Result<Option<Slot>, StoreError> {
        let doctor = doctor.to_string();
        let after = after.as_second();
        self.read(move |txn| {
            let available = txn.open_table(AVAILABLE_SLOTS)?;
            let first = available
                .range(
                    (doctor.as_str(), after.saturating_add(1), "")
                        ..=(doctor.as_str(), i64::MAX, MAX_KEY),
                )?
                .next();
            match first {
                Some(entry) => {
                    let (key, _) = entry?;
                    let (_, _, id) = key.value();
                    get_slot_in(&txn.open_table(SLOTS)?, id)
                }
                None => Ok(None),
            }
        })
        .await
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IdempotencyRecord {
    completed: bool,
    expires_at: i64,
}

#[async_trait]
impl IdempotencyStore for EmbeddedStore {
    async fn claim(
        &self,
        key: &str,
        now: Timestamp,
        lapse_after: jiff::SignedDuration,
    ) -> Result<Claim, StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            match existing {
                Some(record) if record.expires_at > now.as_second() => {
                    return Ok(if record.completed {
                        Claim::Completed
                    } else {
                        Claim::InProgress
                    });
                }
                _ => {}
            }
            let record = IdempotencyRecord {
                completed: false,
                expires_at: (now + lapse_after).as_second(),
            };
            table.insert(key.as_str(), encode(&record)?.as_slice())?;
            Ok(Claim::Acquired)
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
            let record = IdempotencyRecord {
                completed: true,
                expires_at: (now + keep_for).as_second(),
            };
            txn.open_table(IDEMPOTENCY)?
                .insert(key.as_str(), encode(&record)?.as_slice())?;
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

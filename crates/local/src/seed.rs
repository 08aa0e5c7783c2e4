//! Seed files in the exact `aws dynamodb batch-write-item --request-items`
//! format: read them into the embedded store, and write new slot files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use citas_domain::scheduling::plan::{TimeRange, WeeklyRange, format_time};
use citas_domain::{
    Appointment, Country, Doctor, DoctorId, Patient, Slot, Store, StoreError, WorkingPlan,
};
use citas_layout::items::{AppointmentItem, DoctorItem, PatientItem, SlotItem};
use jiff::civil::{Date, Time, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// DynamoDB's limit of requests in one `BatchWriteItem` call.
pub const MAX_REQUESTS_PER_FILE: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("storing seed data: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Slots(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct WriteRequest {
    #[serde(rename = "PutRequest")]
    put_request: PutRequest,
}

#[derive(Debug, Serialize, Deserialize)]
struct PutRequest {
    #[serde(rename = "Item")]
    item: Map<String, Value>,
}

/// One item of a seed file, in the shape of the table it goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum SeedItem {
    Doctor(Box<DoctorItem>),
    Slot(SlotItem),
    Patient(&'static Country, PatientItem),
    Appointment(&'static Country, Box<AppointmentItem>),
}

/// Reads one batch-write-item file.
pub fn read_file(path: &Path) -> Result<Vec<SeedItem>, SeedError> {
    let file_error = |message: String| SeedError::File {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let tables: BTreeMap<String, Vec<WriteRequest>> = serde_json::from_str(&text)
        .map_err(|e| file_error(format!("not a batch-write-item file: {e}")))?;
    let count: usize = tables.values().map(Vec::len).sum();
    if count > MAX_REQUESTS_PER_FILE {
        return Err(file_error(format!(
            "{count} requests; batch-write-item takes at most {MAX_REQUESTS_PER_FILE}"
        )));
    }
    let mut items = Vec::with_capacity(count);
    for (table, requests) in tables {
        for request in requests {
            let plain = from_attribute_map(&request.put_request.item).map_err(&file_error)?;
            items.push(typed(&table, plain).map_err(&file_error)?);
        }
    }
    Ok(items)
}

fn typed(table: &str, mut item: Value) -> Result<SeedItem, String> {
    let bad = |e: serde_json::Error| format!("an item of table {table} does not fit it: {e}");
    match table {
        "doctor" => Ok(SeedItem::Doctor(Box::new(
            serde_json::from_value(item).map_err(bad)?,
        ))),
        "appointment-doctor" => Ok(SeedItem::Slot(serde_json::from_value(item).map_err(bad)?)),
        _ => {
            let (code, kind) = table
                .split_once('-')
                .ok_or_else(|| format!("unknown table {table}"))?;
            let country = Country::from_code(code).map_err(|e| format!("table {table}: {e}"))?;
            match kind {
                "patient" => Ok(SeedItem::Patient(
                    country,
                    serde_json::from_value(item).map_err(bad)?,
                )),
                "appointment" => {
                    if let Value::Object(map) = &mut item {
                        map.entry("country")
                            .or_insert_with(|| Value::String(code.to_owned()));
                    }
                    Ok(SeedItem::Appointment(
                        country,
                        serde_json::from_value(item).map_err(bad)?,
                    ))
                }
                _ => Err(format!("unknown table {table}")),
            }
        }
    }
}

/// DynamoDB's typed JSON (`{"S": "x"}`, `{"BOOL": true}`, …) → plain JSON.
fn from_attribute_map(item: &Map<String, Value>) -> Result<Value, String> {
    item.iter()
        .map(|(name, value)| Ok((name.clone(), from_attribute(value)?)))
        .collect::<Result<Map<_, _>, String>>()
        .map(Value::Object)
}

fn from_attribute(value: &Value) -> Result<Value, String> {
    let object = value.as_object().filter(|o| o.len() == 1);
    let Some((kind, inner)) = object.and_then(|o| o.iter().next()) else {
        return Err(format!("{value} is not a DynamoDB attribute value"));
    };
    match (kind.as_str(), inner) {
        ("S", Value::String(_)) | ("BOOL", Value::Bool(_)) => Ok(inner.clone()),
        ("NULL", Value::Bool(true)) => Ok(Value::Null),
        ("N", Value::String(n)) => serde_json::from_str::<serde_json::Number>(n)
            .map(Value::Number)
            .map_err(|_| format!("{n} is not a number")),
        ("M", Value::Object(map)) => from_attribute_map(map),
        ("L", Value::Array(list)) => list
            .iter()
            .map(from_attribute)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        ("SS", Value::Array(list)) => Ok(Value::Array(list.clone())),
        _ => Err(format!("unsupported attribute value {value}")),
    }
}

/// The `*.json` files of a directory, in name order.
pub fn seed_files(dir: &Path) -> Result<Vec<PathBuf>, SeedError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SeedError::File {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// Loads every seed file of `dir` into the store; returns the count of items
/// stored. An item the domain cannot hold (a Chilean patient whose document
/// is not a RUT, say) is skipped with a warning: no request could reach it.
pub async fn load_dir(store: &dyn Store, dir: &Path) -> Result<usize, SeedError> {
    let mut count = 0;
    for path in seed_files(dir)? {
        for item in read_file(&path)? {
            match item.into_entity() {
                Ok(entity) => {
                    entity.store_in(store).await?;
                    count += 1;
                }
                Err(error) => {
                    // The error may quote the document: details at debug level only.
                    tracing::warn!(file = %path.display(), "seed item skipped: its values do not fit the domain");
                    tracing::debug!(%error, "seed item skipped");
                }
            }
        }
    }
    Ok(count)
}

/// A seed item as the domain holds it.
enum Entity {
    Doctor(Doctor),
    Slot(Slot),
    Patient(&'static Country, Patient),
    Appointment(Box<Appointment>),
}

impl SeedItem {
    fn into_entity(self) -> Result<Entity, StoreError> {
        Ok(match self {
            SeedItem::Doctor(doctor) => Entity::Doctor(doctor.into_domain()?),
            SeedItem::Slot(slot) => Entity::Slot(slot.into_domain()?),
            SeedItem::Patient(country, patient) => {
                Entity::Patient(country, patient.into_domain(country)?)
            }
            SeedItem::Appointment(country, appointment) => {
                Entity::Appointment(Box::new(appointment.into_domain(country)?))
            }
        })
    }
}

impl Entity {
    async fn store_in(&self, store: &dyn Store) -> Result<(), StoreError> {
        match self {
            Entity::Doctor(doctor) => store.put_doctor(doctor).await.map(|_| ()),
            Entity::Slot(slot) => store.put_slot(slot).await,
            Entity::Patient(country, patient) => {
                store.upsert_patient(country, patient).await.map(|_| ())
            }
            // Loading twice keeps what the first load stored.
            Entity::Appointment(appointment) => match store.insert_appointment(appointment).await {
                Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
                Err(other) => Err(other),
            },
        }
    }
}

/// What `citas slots` generates: the same weekly working plan the API takes,
/// with one slot of `minutes` at each of `times` on each of `weekdays`.
#[derive(Debug, Clone)]
pub struct SlotPlan {
    pub doctors: Vec<DoctorId>,
    pub from: Date,
    pub to: Date,
    pub times: Vec<Time>,
    pub weekdays: Vec<Weekday>,
    pub minutes: u16,
}

impl SlotPlan {
    fn working_plan(&self) -> Result<WorkingPlan, SeedError> {
        if self.to < self.from {
            return Err(SeedError::Slots("--to is before --from".into()));
        }
        let length = jiff::SignedDuration::from_mins(i64::from(self.minutes));
        let mut weekly = Vec::new();
        for &weekday in &self.weekdays {
            for &from in &self.times {
                let to = from
                    .checked_add(length)
                    .ok()
                    .filter(|to| *to > from)
                    .ok_or_else(|| {
                        SeedError::Slots(format!(
                            "a {}-minute slot at {} would end after midnight",
                            self.minutes,
                            format_time(from)
                        ))
                    })?;
                weekly.push(WeeklyRange {
                    weekday,
                    range: TimeRange {
                        from,
                        to,
                        modality: citas_domain::scheduling::doctor::Modality::InPerson,
                    },
                });
            }
        }
        WorkingPlan::new(
            self.minutes,
            weekly,
            self.from,
            Some(self.to),
            Default::default(),
        )
        .map_err(|e| SeedError::Slots(format!("--{}: {e}", e.field.as_str().replace('_', "-"))))
    }
}

/// Every slot of the plan, in order, generated as working plans are: a
/// local time that does not exist that day (a change to daylight saving
/// time) has no slot.
pub fn plan_slots(plan: &SlotPlan) -> Result<Vec<Slot>, SeedError> {
    let working = plan.working_plan()?;
    Ok(plan
        .doctors
        .iter()
        .flat_map(|doctor| working.slots(doctor, plan.from, plan.to))
        .collect())
}

/// Fails naming the doctors no seed file of `dir` registers: slots of an
/// unknown doctor could be loaded but never shown with a name or managed.
pub fn require_seeded_doctors(dir: &Path, doctors: &[DoctorId]) -> Result<(), SeedError> {
    let mut known = std::collections::HashSet::new();
    if dir.is_dir() {
        for path in seed_files(dir)? {
            for item in read_file(&path)? {
                if let SeedItem::Doctor(doctor) = item {
                    known.insert(doctor.id);
                }
            }
        }
    }
    let unknown: Vec<String> = doctors
        .iter()
        .map(ToString::to_string)
        .filter(|id| !known.contains(id))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(SeedError::Slots(format!(
            "no seed file in {} registers doctor {}; add the doctor first (a 'doctor' item, or POST /{{country}}/doctor)",
            dir.display(),
            unknown.join(", ")
        )))
    }
}

/// Writes slots as batch-write-item files of at most 25 requests each:
/// `<dir>/<name>-001.json`, `-002`, …; returns the paths written.
pub fn write_slot_files(slots: &[Slot], dir: &Path, name: &str) -> Result<Vec<PathBuf>, SeedError> {
    std::fs::create_dir_all(dir).map_err(|e| SeedError::File {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut written = Vec::new();
    for (index, chunk) in slots.chunks(MAX_REQUESTS_PER_FILE).enumerate() {
        let requests: Vec<Value> = chunk.iter().map(slot_request).collect();
        let file = serde_json::json!({ "appointment-doctor": requests });
        let path = dir.join(format!("{name}-{:03}.json", index + 1));
        let text =
            serde_json::to_string_pretty(&file).map_err(|e| SeedError::Slots(e.to_string()))?;
        std::fs::write(&path, text + "\n").map_err(|e| SeedError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        written.push(path);
    }
    Ok(written)
}

fn slot_request(slot: &Slot) -> Value {
    let item = SlotItem::from_domain(slot);
    serde_json::json!({
        "PutRequest": {
            "Item": {
                "id": { "S": item.id },
                "date": { "S": item.date },
                "doctor": { "S": item.doctor },
                "isAvailable": { "BOOL": item.is_available },
                "time": { "S": item.time },
                "minutes": { "N": slot.minutes.to_string() },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seed 000's example `data.json` block, kept in the repository as the
    /// specification shows it (`tests/fixtures/seed-000-data.json`, copied
    /// from the ```json block of `shared/seeds/000_*.txt`, the product
    /// owner's seed 000), so the comparison holds on any clone.
    fn seed_000_example() -> Value {
        let kept =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/seed-000-data.json");
        serde_json::from_str(&std::fs::read_to_string(kept).unwrap()).unwrap()
    }

    /// The same block read from seed 000 itself, where `../shared/seeds`
    /// is beside the checkout (a developer's machine, not a bare clone).
    fn seed_000_original() -> Option<Value> {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seeds");
        let spec = std::fs::read_dir(&seeds)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("000"))
            })?;
        let text = std::fs::read_to_string(spec).ok()?;
        let start = text.find("```json\n{\n  \"doctor\"")? + "```json\n".len();
        let end = start + text[start..].find("```")?;
        Some(serde_json::from_str(&text[start..end]).unwrap())
    }

    #[test]
    fn the_example_seed_file_is_seed_000_verbatim() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../seed/000-seed-example.json");
        let ours: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(ours, seed_000_example());
        if let Some(original) = seed_000_original() {
            assert_eq!(
                original,
                seed_000_example(),
                "the kept copy drifted from seed 000"
            );
        }
        assert_eq!(read_file(&path).unwrap().len(), 13);
    }

    /// The doctors' file carries each place's search cell, so items pasted
    /// with `aws dynamodb batch-write-item` are found near their place too.
    #[test]
    fn seeded_doctors_carry_the_cell_of_their_place() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../seed/010-doctors.json");
        let mut placed = 0;
        for item in read_file(&path).unwrap() {
            if let SeedItem::Doctor(item) = item {
                let derived = DoctorItem::from_domain(&item.clone().into_domain().unwrap());
                assert_eq!(item.geo_cell, derived.geo_cell, "{}", item.id);
                placed += usize::from(item.geo_cell.is_some());
            }
        }
        assert!(placed >= 5, "{placed}");
    }

    #[test]
    fn attribute_values_become_plain_json() {
        let item = serde_json::json!({
            "id": {"S": "x"}, "n": {"N": "3"}, "b": {"BOOL": false}, "z": {"NULL": true},
            "m": {"M": {"a": {"S": "b"}}}, "l": {"L": [{"N": "1.5"}]}
        });
        let plain = from_attribute_map(item.as_object().unwrap()).unwrap();
        assert_eq!(
            plain,
            serde_json::json!({"id": "x", "n": 3, "b": false, "z": null, "m": {"a": "b"}, "l": [1.5]})
        );
        assert!(from_attribute(&serde_json::json!({"S": 1})).is_err());
        assert!(from_attribute(&serde_json::json!({"S": "a", "N": "1"})).is_err());
    }

    #[test]
    fn written_slot_files_read_back_and_hold_at_most_25_requests() {
        let plan = SlotPlan {
            doctors: vec![DoctorId::parse("cl-pediatria-15000000").unwrap()],
            from: jiff::civil::date(2027, 4, 1),
            to: jiff::civil::date(2027, 4, 9),
            times: vec![
                jiff::civil::time(9, 0, 0, 0),
                jiff::civil::time(15, 30, 0, 0),
            ],
            weekdays: vec![
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
            ],
            minutes: 30,
        };
        let slots = plan_slots(&plan).unwrap();
        assert_eq!(slots.len(), 7 * 2);
        let dir = tempfile::tempdir().unwrap();
        let more: Vec<Slot> = slots.iter().cycle().take(30).cloned().collect();
        let files = write_slot_files(&more, dir.path(), "slots").unwrap();
        assert_eq!(files.len(), 2);
        let back: Vec<SeedItem> = files.iter().flat_map(|f| read_file(f).unwrap()).collect();
        assert_eq!(back.len(), 30);
        assert_eq!(back[0], SeedItem::Slot(SlotItem::from_domain(&slots[0])));
    }
}

//! The DynamoDB store. Every call is a `GetItem`, a `Query` on a key or a
//! global secondary index, or a conditional write (`TransactWriteItems` when
//! a slot changes hands); races are settled by conditions, never by reading first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use citas_domain::ports::{
    Availability, Freshness, ListFilter, Page, PageRequest, PlanLease, SlotSearch, Store,
    StoreError, Transition, Upserted,
};
use citas_domain::timestamp;
use citas_domain::{
    Appointment, AppointmentId, Country, Doctor, DoctorId, Document, HistoryEntry,
    OfferedSpeciality, Patient, Slot, SlotId, Speciality, Status,
};
use futures::stream::{self, StreamExt};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::errors::{backend, is_condition_failure};
use crate::pager::{Item, ShardedIndex};
use crate::settings::{TableNames, index};
use citas_layout::items::{
    AppointmentItem, AvailabilityItem, DoctorItem, HistoryItem, PatientItem, SlotItem,
    SpecialityItem, history_partition,
};
use citas_layout::keys::{self, attribute, doctor_status, free_slot_partition};

/// The id of the change that last wrote an appointment item (see `transition`).
const CHANGE: &str = "change_id";
/// Attributes of a doctor item beside seed 000's: the plan, and its index keys.
const AVAILABILITY: &str = "availability";
const GENERATED_UNTIL: &str = "generated_until";
const PLAN_DUE: &str = "plan_due";
/// How many times the plan was saved; every save is conditioned on it.
const PLAN_REVISION: &str = "plan_revision";
/// The hold of the save in progress (its token) and when it lapses (epoch seconds).
const PLAN_LEASE: &str = "plan_lease";
const PLAN_LEASE_UNTIL: &str = "plan_lease_until";
/// Slots written concurrently when a plan is applied.
const SLOT_WRITES_IN_FLIGHT: usize = 16;
/// A history longer than this is cut (no appointment comes near it).
const MAX_HISTORY_ENTRIES: usize = 1000;
/// Keys per `BatchGetItem` request (DynamoDB's limit).
const BATCH_GET_KEYS: usize = 100;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    /// Appointments this instance read lately, shown (marked) while DynamoDB
    /// cannot be reached; none unless asked for.
    recent: Option<Arc<RecentReads>>,
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            tables,
            recent: None,
        }
    }

    /// Keeps the appointments it reads for `RECENT_FOR`, to answer
    /// `read_appointment` from while DynamoDB cannot be reached.
    pub fn remembering_reads(self) -> Self {
        Self {
            recent: Some(Arc::default()),
            ..self
        }
    }
}

/// How long a read appointment may be shown from this instance's copy.
pub const RECENT_FOR: std::time::Duration = std::time::Duration::from_secs(60);
/// Appointments kept at most (per instance).
const RECENT_READS: usize = 1000;

#[derive(Debug, Default)]
struct RecentReads {
    entries: Mutex<HashMap<String, (Appointment, std::time::Instant)>>,
}

impl RecentReads {
    fn key(country: &Country, id: &AppointmentId) -> String {
        format!("{}#{id}", country.code)
    }

    fn remember(&self, appointment: &Appointment) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= RECENT_READS {
            entries.retain(|_, (_, at)| at.elapsed() < RECENT_FOR);
            if entries.len() >= RECENT_READS {
                entries.clear();
            }
        }
        entries.insert(
            Self::key(appointment.country, &appointment.id),
            (appointment.clone(), std::time::Instant::now()),
        );
    }

    fn recall(&self, country: &Country, id: &AppointmentId) -> Option<(Appointment, Freshness)> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (appointment, at) = entries.get(&Self::key(country, id))?;
        let age = at.elapsed();
        (age < RECENT_FOR).then(|| {
            (
                appointment.clone(),
                Freshness::PossiblyStale {
                    age: jiff::SignedDuration::try_from(age).unwrap_or_default(),
                },
            )
        })
    }
}

/// A history item as a table's stream record shows it.
pub fn history_from_image(image: Item) -> Result<HistoryItem, StoreError> {
    serde_dynamo::from_item(image).map_err(|e| citas_layout::items::corrupt("history", e))
}

fn to_item(value: &impl Serialize) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(backend)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(backend)
}

fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn appointment_item(appointment: &Appointment) -> Result<Item, StoreError> {
    let mut item = to_item(&AppointmentItem::from_domain(appointment))?;
    for entry in keys::appointment_index_entries(appointment) {
        item.insert(entry.attribute.into(), s(entry.partition));
    }
    Ok(item)
}

/// The slot attributes its indexes read: their partitions, and `starts`.
pub fn slot_index_attributes(slot: &Slot) -> Vec<(&'static str, AttributeValue)> {
    let mut attributes = vec![(attribute::STARTS, s(timestamp::format(slot.starts_at())))];
    for entry in keys::slot_index_entries(slot) {
        attributes.push((entry.attribute, s(entry.partition)));
    }
    attributes
}

/// A slot item with seed 000's attributes and the free-slot index's.
pub fn slot_item(slot: &Slot) -> Result<Item, StoreError> {
    let mut item = to_item(&SlotItem::from_domain(slot))?;
    for (name, value) in slot_index_attributes(slot) {
        item.insert(name.to_owned(), value);
    }
    Ok(item)
}

fn slot_from(item: Item) -> Result<Slot, StoreError> {
    from_item::<SlotItem>(item)?.into_domain()
}

fn appointment_from(country: &'static Country, item: Item) -> Result<Appointment, StoreError> {
    from_item::<AppointmentItem>(item)?.into_domain(country)
}

/// The reasons of a cancelled transaction, if that is what failed.
fn cancelled_reasons(
    error: &SdkError<TransactWriteItemsError>,
) -> Option<Vec<aws_sdk_dynamodb::types::CancellationReason>> {
    match error {
        SdkError::ServiceError(service) => match service.err() {
            TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                Some(cancelled.cancellation_reasons().to_vec())
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether a transaction's cancellation names a failed condition at `index`.
fn cancelled_at(
    reasons: &[aws_sdk_dynamodb::types::CancellationReason],
    index: usize,
) -> Option<&aws_sdk_dynamodb::types::CancellationReason> {
    reasons
        .get(index)
        .filter(|r| r.code().is_some_and(|code| code != "None"))
}

#[async_trait]
impl Store for DynamoStore {
    async fn upsert_patient(
        &self,
        country: &Country,
        patient: &Patient,
    ) -> Result<Upserted, StoreError> {
        let output = self
            .client
            .put_item()
            .table_name(self.tables.patient(country))
            .set_item(Some(to_item(&PatientItem::from_domain(patient))?))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        Ok(match output.attributes() {
            Some(old) if !old.is_empty() => Upserted::Updated,
            _ => Upserted::Created,
        })
    }

    async fn get_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<Option<Patient>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.patient(country))
            .key("document", s(document.as_str()))
            .send()
            .await
            .map_err(backend)?;
        output
            .item
            .map(|item| from_item::<PatientItem>(item)?.into_domain(country))
            .transpose()
    }

    async fn insert_appointment(&self, appointment: &Appointment) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(self.tables.appointment(appointment.country))
            .set_item(Some(appointment_item(appointment)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => Err(StoreError::AlreadyExists {
                existing_id: appointment.id.to_string(),
            }),
            Err(error) => Err(backend(error)),
        }
    }

    async fn get_appointment(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Option<Appointment>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.appointment(country))
            .key("id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let appointment = output
            .item
            .map(|item| appointment_from(country, item))
            .transpose()?;
        if let (Some(recent), Some(appointment)) = (&self.recent, &appointment) {
            recent.remember(appointment);
        }
        Ok(appointment)
    }

    async fn read_appointment(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Option<(Appointment, Freshness)>, StoreError> {
        match self.get_appointment(country, id).await {
            Ok(found) => Ok(found.map(|appointment| (appointment, Freshness::Current))),
            Err(StoreError::Backend(cause)) => match self
                .recent
                .as_ref()
                .and_then(|recent| recent.recall(country, id))
            {
                Some(copy) => {
                    tracing::warn!(%cause, "DynamoDB unreachable: answering from this instance's recent copy");
                    Ok(Some(copy))
                }
                None => Err(StoreError::Backend(cause)),
            },
            Err(other) => Err(other),
        }
    }

    async fn list_appointments(
        &self,
        country: &'static Country,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Appointment>, StoreError> {
        let only_where = filter
            .only_status()
            .map(|status| ("status", s(status.as_str())));
        let sort_between = match filter {
            ListFilter::PatientUpcoming { after, .. }
            | ListFilter::DoctorUpcoming { after, .. } => Some((
                timestamp::format(*after + jiff::SignedDuration::from_millis(1)),
                "9999-12-31T23:59:59.999Z".to_owned(),
            )),
            _ => None,
        };
        let (index, partition_attribute, sort_attribute, forward, partitions) = match filter {
            ListFilter::Status(status) => (
                index::BY_STATUS,
                attribute::STATUS_SHARD,
                "created_at",
                false,
                (0..keys::STATUS_SHARDS)
                    .map(|n| format!("{status}#{n}"))
                    .collect(),
            ),
            ListFilter::Document(document) | ListFilter::DocumentStatus(document, _) => (
                index::BY_DOCUMENT,
                "document",
                "created_at",
                false,
                vec![document.to_string()],
            ),
            ListFilter::AssignedOn(day) => (
                index::BY_ASSIGNED_DAY,
                attribute::ASSIGNED_DAY,
                "starts_at",
                true,
                vec![day.to_string()],
            ),
            ListFilter::DoctorStatus(doctor, status) => (
                index::BY_DOCTOR_STATUS,
                attribute::DOCTOR_STATUS,
                "created_at",
                false,
                vec![doctor_status(doctor, *status)],
            ),
            ListFilter::PatientUpcoming { document, .. } => (
                index::BY_DOCUMENT_UPCOMING,
                attribute::OPEN_DOCUMENT,
                "starts_at",
                true,
                vec![document.to_string()],
            ),
            ListFilter::DoctorUpcoming { doctor, .. } => (
                index::BY_DOCTOR_UPCOMING,
                attribute::OPEN_DOCTOR,
                "starts_at",
                true,
                vec![doctor.to_string()],
            ),
        };
        let page = ShardedIndex {
            client: &self.client,
            table: self.tables.appointment(country),
            index,
            partition_attribute,
            sort_attribute,
            partitions,
            forward,
            scope: filter.scope(country),
            sort_between,
            only_where,
        }
        .page(page)
        .await?;
        page_of(page, |item| appointment_from(country, item))
    }

    async fn transition(&self, transition: &Transition) -> Result<(), StoreError> {
        // Unique to this call: an attempt the SDK timed out on and sent again
        // is recognised by it if the first one was applied after all.
        let change = uuid::Uuid::new_v4().to_string();
        self.transact(transition, &change, true).await
    }

    async fn history(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.tables.history())
                .key_condition_expression("appointment = :appointment")
                .expression_attribute_values(":appointment", s(history_partition(country, id)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            for item in output.items.unwrap_or_default() {
                entries.push(from_item::<HistoryItem>(item)?.into_domain()?);
            }
            match output.last_evaluated_key {
                Some(key) if entries.len() < MAX_HISTORY_ENTRIES => start = Some(key),
                _ => return Ok(entries),
            }
        }
    }

    async fn add_history_note(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError> {
        let exists = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(self.tables.appointment(country))
            .key("id", s(id.to_string()))
            .condition_expression("attribute_exists(id)")
            .build()
            .map_err(backend)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(exists).build())
            .transact_items(self.history_put(country, id, entry)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match cancelled_reasons(&error) {
                Some(reasons) if cancelled_at(&reasons, 0).is_some() => Err(StoreError::NotFound),
                _ => Err(backend(error)),
            },
        }
    }

    async fn erase_appointment(
        &self,
        appointment: &Appointment,
        kept_as: Option<&Appointment>,
    ) -> Result<(), StoreError> {
        let country = appointment.country;
        self.delete_history(country, &appointment.id).await?;
        // A completed or missed visit's slot stays booked and names it.
        let slot = match &appointment.slot {
            Some(slot) if !appointment.status.holds_slot() => self
                .get_slot(slot)
                .await?
                .filter(|slot| slot.booked_by.as_ref() == Some(&appointment.id)),
            _ => None,
        };
        let mut delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(self.tables.appointment(country))
            .key("id", s(appointment.id.to_string()))
            .expression_attribute_names("#revision", "revision")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        delete = if appointment.revision == 0 {
            delete.condition_expression("attribute_exists(id) AND attribute_not_exists(#revision)")
        } else {
            delete
                .condition_expression("#revision = :revision")
                .expression_attribute_values(
                    ":revision",
                    AttributeValue::N(appointment.revision.to_string()),
                )
        };
        let mut request = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .delete(delete.build().map_err(backend)?)
                .build(),
        );
        if let Some(kept) = kept_as {
            let put = Put::builder()
                .table_name(self.tables.appointment(country))
                .set_item(Some(appointment_item(kept)?))
                .condition_expression("attribute_not_exists(id)")
                .build()
                .map_err(backend)?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        if let Some(slot) = &slot {
            let update = Update::builder()
                .table_name(self.tables.slot())
                .key("id", s(slot.id.to_string()))
                .condition_expression("appointment = :erased")
                .expression_attribute_values(":erased", s(appointment.id.to_string()));
            let update = match kept_as {
                Some(kept) => update
                    .update_expression("SET appointment = :kept")
                    .expression_attribute_values(":kept", s(kept.id.to_string())),
                None => update.update_expression("REMOVE appointment"),
            };
            request = request.transact_items(
                TransactWriteItem::builder()
                    .update(update.build().map_err(backend)?)
                    .build(),
            );
        }
        let error = match request.send().await {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        match cancelled_reasons(&error) {
            Some(reasons) if cancelled_at(&reasons, 0).is_some() => {
                match self.get_appointment(country, &appointment.id).await? {
                    Some(current) => Err(StoreError::StatusConflict {
                        current: current.status,
                    }),
                    None => Err(StoreError::NotFound),
                }
            }
            // The slot changed hands meanwhile: the caller reads and tries again.
            Some(_) => Err(StoreError::StatusConflict {
                current: appointment.status,
            }),
            None => Err(backend(error)),
        }
    }

    async fn delete_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(self.tables.patient(country))
            .key("document", s(document.as_str()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        Ok(output.attributes().is_some_and(|old| !old.is_empty()))
    }

    async fn get_appointments(
        &self,
        country: &'static Country,
        ids: &[AppointmentId],
    ) -> Result<Vec<Appointment>, StoreError> {
        let keys = ids.iter().map(|id| ("id", id.to_string())).collect();
        self.batch_get(&self.tables.appointment(country), keys)
            .await?
            .into_iter()
            .map(|item| appointment_from(country, item))
            .collect()
    }

    async fn added_specialities(
        &self,
        country: &'static Country,
    ) -> Result<Vec<OfferedSpeciality>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.tables.speciality())
            .key_condition_expression("country = :country")
            .expression_attribute_values(":country", s(country.code));
        query_all(query)
            .await?
            .into_iter()
            .map(|item| from_item::<SpecialityItem>(item)?.into_domain())
            .collect()
    }

    async fn add_speciality(
        &self,
        country: &'static Country,
        speciality: &OfferedSpeciality,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(self.tables.speciality())
            .set_item(Some(to_item(&SpecialityItem::from_domain(
                country, speciality,
            ))?))
            .condition_expression("attribute_not_exists(slug)")
            .send()
            .await;
        match result {
            // The first name given stays.
            Err(error) if !is_condition_failure(&error) => Err(backend(error)),
            _ => Ok(()),
        }
    }

    async fn put_doctor(&self, doctor: &Doctor) -> Result<Upserted, StoreError> {
        // An update, not a put: the plan stored beside the doctor stays.
        let mut item = to_item(&DoctorItem::from_domain(doctor))?;
        item.remove("id");
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut set = Vec::new();
        for (n, (name, value)) in item.into_iter().enumerate() {
            names.insert(format!("#a{n}"), name);
            values.insert(format!(":a{n}"), value);
            set.push(format!("#a{n} = :a{n}"));
        }
        let mut remove = Vec::new();
        for optional in ["email", "requires_confirmation"] {
            if !names.values().any(|name| name == optional) {
                let placeholder = format!("#r{}", remove.len());
                remove.push(placeholder.clone());
                names.insert(placeholder, optional.to_owned());
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let output = self
            .client
            .update_item()
            .table_name(self.tables.doctor())
            .key("id", s(doctor.id.to_string()))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await
            .map_err(backend)?;
        Ok(match output.attributes() {
            Some(old) if !old.is_empty() => Upserted::Updated,
            _ => Upserted::Created,
        })
    }

    async fn get_doctor(&self, id: &DoctorId) -> Result<Option<Doctor>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.doctor())
            .key("id", s(id.to_string()))
            .send()
            .await
            .map_err(backend)?;
        output
            .item
            .map(|item| from_item::<DoctorItem>(item)?.into_domain())
            .transpose()
    }

    async fn get_doctors(&self, ids: &[DoctorId]) -> Result<Vec<Doctor>, StoreError> {
        let keys = ids.iter().map(|id| ("id", id.to_string())).collect();
        self.batch_get(&self.tables.doctor(), keys)
            .await?
            .into_iter()
            .map(|item| from_item::<DoctorItem>(item)?.into_domain())
            .collect()
    }

    async fn list_doctors(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        page: &PageRequest,
    ) -> Result<Page<Doctor>, StoreError> {
        let page = ShardedIndex {
            client: &self.client,
            table: self.tables.doctor(),
            index: index::DOCTOR_BY_SPECIALITY,
            partition_attribute: "speciality",
            sort_attribute: "country",
            partitions: vec![speciality.to_string()],
            forward: true,
            scope: format!("{}/doctors/{speciality}", country.code),
            sort_between: Some((country.code.to_owned(), country.code.to_owned())),
            only_where: None,
        }
        .page(page)
        .await?;
        page_of(page, |item| from_item::<DoctorItem>(item)?.into_domain())
    }

    async fn get_availability(
        &self,
        doctor: &DoctorId,
    ) -> Result<Option<Availability>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.doctor())
            .key("id", s(doctor.to_string()))
            .projection_expression("#plan, #revision")
            .expression_attribute_names("#plan", AVAILABILITY)
            .expression_attribute_names("#revision", PLAN_REVISION)
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item.and_then(availability_of).transpose()
    }

    async fn lease_plan(
        &self,
        doctor: &DoctorId,
        lease: &PlanLease,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.tables.doctor())
            .key("id", s(doctor.to_string()))
            .update_expression("SET #lease = :token, #until = :until")
            // The plan read is still the stored one, and nobody holds it.
            .condition_expression(format!(
                "attribute_exists(id) AND {} AND (attribute_not_exists(#until) OR #until <= :now)",
                if lease.revision == 0 {
                    // A plan never saved has no revision yet (or one of 0).
                    "(attribute_not_exists(#revision) OR #revision = :revision)"
                } else {
                    "#revision = :revision"
                }
            ))
            .expression_attribute_names("#lease", PLAN_LEASE)
            .expression_attribute_names("#until", PLAN_LEASE_UNTIL)
            .expression_attribute_names("#revision", PLAN_REVISION)
            .expression_attribute_values(":token", s(&lease.token))
            .expression_attribute_values(":until", n(lease.until.as_second()))
            .expression_attribute_values(":revision", n(lease.revision))
            .expression_attribute_values(":now", n(now.as_second()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Err(if failed.item().is_some() {
                        StoreError::PlanChanged
                    } else {
                        StoreError::NotFound
                    })
                }
                _ => Err(backend(error)),
            },
        }
    }

    async fn put_availability(
        &self,
        doctor: &DoctorId,
        availability: &Availability,
        lease: &PlanLease,
    ) -> Result<(), StoreError> {
        let stored = serde_dynamo::to_attribute_value(AvailabilityItem::from_domain(availability))
            .map_err(backend)?;
        let mut values = HashMap::from([
            (":plan".to_owned(), stored),
            (
                ":until".to_owned(),
                s(availability.generated_until.to_string()),
            ),
            (":revision".to_owned(), n(lease.revision + 1)),
            (":token".to_owned(), s(&lease.token)),
        ]);
        // Only plans with days left to generate are in the daily job's index.
        let expression = if availability.is_open() {
            values.insert(":due".to_owned(), s(doctor.country.code));
            "SET #plan = :plan, #until = :until, #due = :due, #revision = :revision REMOVE #lease, #lease_until"
        } else {
            "SET #plan = :plan, #until = :until, #revision = :revision REMOVE #due, #lease, #lease_until"
        };
        let result = self
            .client
            .update_item()
            .table_name(self.tables.doctor())
            .key("id", s(doctor.to_string()))
            .update_expression(expression)
            .condition_expression("#lease = :token")
            .expression_attribute_names("#plan", AVAILABILITY)
            .expression_attribute_names("#until", GENERATED_UNTIL)
            .expression_attribute_names("#due", PLAN_DUE)
            .expression_attribute_names("#revision", PLAN_REVISION)
            .expression_attribute_names("#lease", PLAN_LEASE)
            .expression_attribute_names("#lease_until", PLAN_LEASE_UNTIL)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => Err(StoreError::PlanChanged),
            Err(error) => Err(backend(error)),
        }
    }

    async fn availability_due(
        &self,
        country: &'static Country,
        through: Date,
        limit: usize,
    ) -> Result<Vec<(DoctorId, Availability)>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(self.tables.doctor())
            .index_name(index::PLAN_DUE)
            .key_condition_expression("#due = :country AND #until < :through")
            .expression_attribute_names("#due", PLAN_DUE)
            .expression_attribute_names("#until", GENERATED_UNTIL)
            .expression_attribute_values(":country", s(country.code))
            .expression_attribute_values(":through", s(through.to_string()))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(backend)?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let doctor = item
                    .get("id")
                    .and_then(|id| id.as_s().ok())
                    .and_then(|id| DoctorId::parse(id).ok())
                    .ok_or_else(|| StoreError::Backend("a plan's doctor id is not valid".into()))?;
                let availability = availability_of(item)
                    .transpose()?
                    .ok_or_else(|| StoreError::Backend("a due plan has no availability".into()))?;
                Ok((doctor, availability))
            })
            .collect()
    }

    async fn put_slot(&self, slot: &Slot) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.tables.slot())
            .set_item(Some(slot_item(slot)?))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_slot(&self, id: &SlotId) -> Result<Option<Slot>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.slot())
            .key("id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item.map(slot_from).transpose()
    }

    async fn add_slots(&self, slots: &[Slot]) -> Result<usize, StoreError> {
        let table = self.tables.slot();
        let writes: Vec<_> = slots
            .iter()
            .map(|slot| self.put_new_slot(&table, slot))
            .collect();
        let results: Vec<Result<usize, StoreError>> = stream::iter(writes)
            .buffer_unordered(SLOT_WRITES_IN_FLIGHT)
            .collect()
            .await;
        results.into_iter().sum()
    }

    async fn remove_free_slot(&self, id: &SlotId) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(self.tables.slot())
            .key("id", s(id.to_string()))
            .condition_expression("isAvailable = :free")
            .expression_attribute_values(":free", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The delete already failed; this read only says why.
            Err(error) if is_condition_failure(&error) => match self.get_slot(id).await? {
                Some(_) => Err(StoreError::SlotUnavailable(id.to_string())),
                None => Err(StoreError::NotFound),
            },
            Err(error) => Err(backend(error)),
        }
    }

    async fn doctor_slots(
        &self,
        doctor: &DoctorId,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Slot>, StoreError> {
        let (low, high) = slot_id_range(doctor, from, until);
        let query = self
            .client
            .query()
            .table_name(self.tables.slot())
            .index_name(index::SLOT_BY_DOCTOR)
            .key_condition_expression("doctor = :doctor AND id BETWEEN :low AND :high")
            .expression_attribute_values(":doctor", s(doctor.to_string()))
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(high));
        query_all(query).await?.into_iter().map(slot_from).collect()
    }

    async fn count_free_slots(&self, search: &SlotSearch) -> Result<usize, StoreError> {
        self.free_slot_index(search).count().await
    }

    async fn free_slots(
        &self,
        search: &SlotSearch,
        page: &PageRequest,
    ) -> Result<Page<Slot>, StoreError> {
        let page = self.free_slot_index(search).page(page).await?;
        page_of(page, slot_from)
    }
}

impl DynamoStore {
    /// Where a search's free slots are: a doctor's slots (the booked ones
    /// filtered out), or the speciality's free-slot index.
    fn free_slot_index(&self, search: &SlotSearch) -> ShardedIndex<'_> {
        match &search.doctor {
            // One doctor: their slots in time order, the booked ones filtered out.
            Some(doctor) => ShardedIndex {
                client: &self.client,
                table: self.tables.slot(),
                index: index::SLOT_BY_DOCTOR,
                partition_attribute: "doctor",
                sort_attribute: "id",
                partitions: vec![doctor.to_string()],
                forward: true,
                scope: search.scope(),
                sort_between: Some(slot_id_range(doctor, search.from, search.until)),
                only_where: Some(("isAvailable", AttributeValue::Bool(true))),
            },
            None => ShardedIndex {
                client: &self.client,
                table: self.tables.slot(),
                index: index::FREE_SLOTS,
                partition_attribute: attribute::FREE,
                sort_attribute: attribute::STARTS,
                partitions: vec![free_slot_partition(search.country, &search.speciality)],
                forward: true,
                scope: search.scope(),
                sort_between: Some((
                    timestamp::format(search.from),
                    timestamp::format(search.until - jiff::SignedDuration::from_millis(1)),
                )),
                only_where: None,
            },
        }
    }
}

/// The slot ids of a doctor starting in `[from, until)`, as an inclusive id range.
fn slot_id_range(doctor: &DoctorId, from: Timestamp, until: Timestamp) -> (String, String) {
    let last = until - jiff::SignedDuration::from_secs(1);
    (
        SlotId::new(doctor.clone(), from).to_string(),
        SlotId::new(doctor.clone(), last.max(from)).to_string(),
    )
}

/// A doctor item's plan, with the revision it is stored under.
fn availability_of(mut item: Item) -> Option<Result<Availability, StoreError>> {
    let revision = item
        .get(PLAN_REVISION)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let plan = item.remove(AVAILABILITY)?;
    Some(
        serde_dynamo::from_attribute_value::<_, AvailabilityItem>(plan)
            .map_err(backend)
            .and_then(AvailabilityItem::into_domain)
            .map(|availability| Availability {
                revision,
                ..availability
            }),
    )
}

/// A page of items as a page of entities, keeping its cursor.
fn page_of<T>(
    page: Page<Item>,
    entity: impl Fn(Item) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(entity)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    })
}

/// Every item a query finds, page after page. Only for queries bounded by
/// their key (a country's added specialities, a doctor's slots in a range).
async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(backend)?;
        start = output.last_evaluated_key().cloned();
        items.extend(output.items.unwrap_or_default());
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// Whether a stored appointment item was written by the change `change`.
fn is_change(stored: &Item, change: &str) -> bool {
    stored
        .get(CHANGE)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        == Some(change)
}

fn current_status(item: &Item) -> Result<Status, StoreError> {
    item.get("status")
        .and_then(|v| v.as_s().ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::Backend("stored appointment has no valid status".into()))
}

impl DynamoStore {
    /// Adds the free-slot index's attributes to a slot item written without
    /// them (seed 000's items, pasted with `aws dynamodb batch-write-item`),
    /// given the item as a stream record shows it. Returns whether it wrote.
    /// The write holds only while `isAvailable` is still what the image says,
    /// so a booking made meanwhile is never undone (its own record follows).
    pub async fn complete_slot_index(&self, image: Item) -> Result<bool, StoreError> {
        let present = |name: &str| image.get(name).and_then(|v| v.as_s().ok()).cloned();
        let (free, starts) = (present(attribute::FREE), present(attribute::STARTS));
        let slot = slot_from(image)?;
        let wanted: HashMap<&str, AttributeValue> =
            slot_index_attributes(&slot).into_iter().collect();
        let wanted_text = |name: &str| wanted.get(name).and_then(|v| v.as_s().ok()).cloned();
        if wanted_text(attribute::FREE) == free && wanted_text(attribute::STARTS) == starts {
            return Ok(false);
        }
        let mut values = HashMap::from([
            (":seen".to_owned(), AttributeValue::Bool(slot.available)),
            (":starts".to_owned(), s(timestamp::format(slot.starts_at()))),
        ]);
        let expression = match wanted.get(attribute::FREE) {
            Some(partition) => {
                values.insert(":free".to_owned(), partition.clone());
                "SET #starts = :starts, #free = :free"
            }
            None => "SET #starts = :starts REMOVE #free",
        };
        let result = self
            .client
            .update_item()
            .table_name(self.tables.slot())
            .key("id", s(slot.id.to_string()))
            .update_expression(expression)
            .condition_expression("isAvailable = :seen")
            .expression_attribute_names("#starts", attribute::STARTS)
            .expression_attribute_names("#free", attribute::FREE)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // Changed or deleted since: the newer record settles it.
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(backend(error)),
        }
    }

    /// Puts a slot unless its id is taken (free or booked: left as it is); 1 if written.
    async fn put_new_slot(&self, table: &str, slot: &Slot) -> Result<usize, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(slot_item(slot)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(1),
            Err(error) if is_condition_failure(&error) => Ok(0),
            Err(error) => Err(backend(error)),
        }
    }

    /// Items by key in `BatchGetItem` requests of up to 100 keys, asking again
    /// for any keys DynamoDB leaves unprocessed.
    async fn batch_get(
        &self,
        table: &str,
        keys: Vec<(&'static str, String)>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        let mut unique: Vec<(&'static str, String)> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        for chunk in unique.chunks(BATCH_GET_KEYS) {
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk
                        .iter()
                        .map(|(name, value)| {
                            HashMap::from([((*name).to_owned(), s(value.clone()))])
                        })
                        .collect(),
                ))
                .build()
                .map_err(backend)?;
            for attempt in 0.. {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(table, request)
                    .send()
                    .await
                    .map_err(backend)?;
                if let Some(mut responses) = output.responses {
                    found.extend(responses.remove(table).unwrap_or_default());
                }
                match output
                    .unprocessed_keys
                    .and_then(|mut unprocessed| unprocessed.remove(table))
                {
                    Some(rest) if !rest.keys().is_empty() => {
                        if attempt >= 5 {
                            return Err(StoreError::Backend(
                                "BatchGetItem kept keys unprocessed".into(),
                            ));
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                        request = rest;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// The history entry's put, for a transaction.
    /// Deletes every history entry of an appointment, a key at a time (a
    /// history is short; a transaction would cap it at 100).
    async fn delete_history(
        &self,
        country: &Country,
        id: &AppointmentId,
    ) -> Result<(), StoreError> {
        let partition = history_partition(country, id);
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.tables.history())
                .key_condition_expression("appointment = :appointment")
                .expression_attribute_values(":appointment", s(&partition))
                .projection_expression("appointment, entry")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            let deletes = output.items.unwrap_or_default().into_iter().map(|key| {
                self.client
                    .delete_item()
                    .table_name(self.tables.history())
                    .set_key(Some(key))
                    .send()
            });
            let results: Vec<_> = stream::iter(deletes).buffer_unordered(8).collect().await;
            for result in results {
                result.map_err(backend)?;
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(()),
            }
        }
    }

    fn history_put(
        &self,
        country: &Country,
        id: &AppointmentId,
        entry: &HistoryEntry,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(self.tables.history())
            .set_item(Some(to_item(&HistoryItem::from_domain(
                country, id, entry,
            ))?))
            .build()
            .map_err(backend)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The transition as one `TransactWriteItems`: the appointment (on the
    /// condition of its status and revision), its history entry, the slot
    /// given back and the slot booked. `with_release` is false on the second
    /// try when the slot to give back no longer exists.
    async fn transact(
        &self,
        transition: &Transition,
        change: &str,
        with_release: bool,
    ) -> Result<(), StoreError> {
        let appointment = &transition.appointment;
        let mut item = appointment_item(appointment)?;
        item.insert(CHANGE.into(), s(change));
        let revision_condition = if transition.expected_revision == 0 {
            "(attribute_not_exists(#revision) OR #revision = :revision)"
        } else {
            "#revision = :revision"
        };
        let put = Put::builder()
            .table_name(self.tables.appointment(appointment.country))
            .set_item(Some(item))
            .condition_expression(format!("#status = :expected AND {revision_condition}"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#revision", "revision")
            .expression_attribute_values(":expected", s(transition.expected.as_str()))
            .expression_attribute_values(
                ":revision",
                AttributeValue::N(transition.expected_revision.to_string()),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(backend)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(self.history_put(
                appointment.country,
                &appointment.id,
                &transition.entry,
            )?);
        let release = transition.slots.release.as_ref().filter(|_| with_release);
        let mut release_at = None;
        let mut book_at = None;
        let mut position = 2;
        if let Some(slot) = release {
            request = request.transact_items(self.slot_update(slot, None)?);
            release_at = Some(position);
            position += 1;
        }
        if let Some(slot) = &transition.slots.book {
            request = request.transact_items(self.slot_update(slot, Some(&appointment.id))?);
            book_at = Some(position);
        }
        let error = match request.send().await {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let Some(reasons) = cancelled_reasons(&error) else {
            return Err(backend(error));
        };
        if let Some(reason) = cancelled_at(&reasons, 0) {
            return match reason.item() {
                Some(old) if is_change(old, change) => Ok(()),
                Some(old) => Err(StoreError::StatusConflict {
                    current: current_status(old)?,
                }),
                // A conflict with a concurrent transaction, or no such appointment: look.
                None => self.explain_failed_condition(appointment, change).await,
            };
        }
        if let Some(slot) = transition.slots.book.as_ref()
            && book_at.is_some_and(|at| cancelled_at(&reasons, at).is_some())
        {
            return Err(StoreError::SlotUnavailable(slot.to_string()));
        }
        if release_at.is_some_and(|at| cancelled_at(&reasons, at).is_some()) {
            // The slot no longer exists: there is nothing to give back.
            return Box::pin(self.transact(transition, change, false)).await;
        }
        Err(backend(error))
    }

    /// Booking takes the slot out of the free-slot index and records who
    /// holds it (on the condition that it is free); giving it back puts it in
    /// again (completing pasted items too).
    fn slot_update(
        &self,
        slot_id: &SlotId,
        booked_by: Option<&AppointmentId>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.tables.slot())
            .key("id", s(slot_id.to_string()))
            .expression_attribute_names("#free", attribute::FREE);
        let update = match booked_by {
            Some(appointment) => update
                .update_expression(
                    "SET isAvailable = :next, appointment = :appointment REMOVE #free",
                )
                .condition_expression("isAvailable = :current")
                .expression_attribute_values(":next", AttributeValue::Bool(false))
                .expression_attribute_values(":current", AttributeValue::Bool(true))
                .expression_attribute_values(":appointment", s(appointment.to_string())),
            None => update
                .update_expression(
                    "SET isAvailable = :next, #free = :free, #starts = :starts REMOVE appointment",
                )
                .condition_expression("attribute_exists(id)")
                .expression_attribute_names("#starts", attribute::STARTS)
                .expression_attribute_values(":next", AttributeValue::Bool(true))
                .expression_attribute_values(
                    ":free",
                    s(free_slot_partition(
                        slot_id.doctor.country,
                        &slot_id.doctor.speciality,
                    )),
                )
                .expression_attribute_values(":starts", s(timestamp::format(slot_id.starts_at))),
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(backend)?)
            .build())
    }

    /// After a lost condition without the old item: report what is stored now.
    /// (The write already failed; this read only explains why, or finds that
    /// a retried attempt had been applied.)
    async fn explain_failed_condition(
        &self,
        target: &Appointment,
        change: &str,
    ) -> Result<(), StoreError> {
        let stored = self
            .client
            .get_item()
            .table_name(self.tables.appointment(target.country))
            .key("id", s(target.id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?
            .item;
        match stored {
            Some(current) if is_change(&current, change) => Ok(()),
            Some(current) => Err(StoreError::StatusConflict {
                current: current_status(&current)?,
            }),
            None => Err(StoreError::NotFound),
        }
    }
}

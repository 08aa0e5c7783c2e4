//! The DynamoDB store. Every call is a `GetItem`, a `Query` on a key or a
//! global secondary index, or a conditional write (`TransactWriteItems` when
//! a slot changes hands); races are settled by conditions, never by reading first.

mod appointments;
mod catalogue;
mod doctors;
mod patients;
mod recent;
mod reviews;
mod slots;
mod stream_completion;
mod transact;

pub use recent::RECENT_FOR;
use recent::RecentReads;

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
    AppointmentStore, Availability, CatalogueStore, DoctorStore, Freshness, ListFilter, Page,
    PageRequest, PatientStore, PlanLease, SlotSearch, SlotStore, StoreError, Transition, Upserted,
};
use citas_domain::values::timestamp;
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
use crate::pager::{Filter, Item, ShardedIndex};
use crate::settings::{TableNames, index};
use citas_layout::items::{
    AppointmentItem, AvailabilityItem, DoctorItem, HistoryItem, PatientItem, ReviewItem, SlotItem,
    SpecialityItem, history_partition,
};
use citas_layout::keys::attribute::{self, GENERATED_UNTIL, PLAN_DUE};
use citas_layout::keys::{self, doctor_status, free_slot_partition};

/// The id of the change that last wrote an appointment item (see `transition`).
const CHANGE: &str = "change_id";
/// The plan, an attribute of a doctor item beside seed 000's (its index keys are the layout's).
const AVAILABILITY: &str = "availability";
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

impl DynamoStore {
    /// Items by key in `BatchGetItem` requests of up to 100 keys, asking again
    /// for any keys DynamoDB leaves unprocessed.
    pub(super) async fn batch_get(
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
}

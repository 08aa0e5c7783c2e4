//! The DynamoDB store. Every call is a `GetItem`, a `Query` on a key or a
//! global secondary index, or a conditional write (`TransactWriteItems` when
//! a slot changes hands); races are settled by conditions, never by reading first.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use citas_domain::cursor;
use citas_domain::model::SlotId;
use citas_domain::ports::{
    ListFilter, Page, PageRequest, SlotChange, Store, StoreError, Transition, Upserted,
};
use citas_domain::{Appointment, Country, Doctor, Patient, Slot, Status};
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::settings::{TableNames, index};

type Item = HashMap<String, AttributeValue>;

/// How many partitions each status is spread over in the `by-status` index,
/// so no single index partition takes every write of a busy status.
pub const STATUS_SHARDS: u32 = 4;

/// Attributes the adapter adds to appointment items for its indexes.
const STATUS_SHARD: &str = "status_shard";
const ASSIGNED_DAY: &str = "assigned_day";

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self { client, tables }
    }
}

fn backend<E: std::error::Error + 'static>(error: E) -> StoreError {
    StoreError::Backend(DisplayErrorContext(error).to_string())
}

fn to_item(value: &impl Serialize) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(backend)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(backend)
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// `{status}#{n}`, n derived from the id so an appointment keeps its shard.
pub fn status_shard(status: Status, id: &str) -> String {
    let hash = id.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    format!("{status}#{}", hash % STATUS_SHARDS)
}

fn appointment_item(country: &Country, appointment: &Appointment) -> Result<Item, StoreError> {
    let mut item = to_item(appointment)?;
    item.insert(
        STATUS_SHARD.into(),
        s(status_shard(appointment.status, &appointment.id)),
    );
    if let Some(day) = appointment.assigned_day(country) {
        item.insert(ASSIGNED_DAY.into(), s(day.to_string()));
    }
    Ok(item)
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

/// One partition of an index, walked in sort-key order.
struct IndexQuery<'a> {
    table: String,
    index: &'static str,
    partition_attribute: &'static str,
    partition: String,
    forward: bool,
    limit: usize,
    start: Option<Item>,
    client: &'a Client,
}

impl IndexQuery<'_> {
    async fn run(self) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let limit = i32::try_from(self.limit).unwrap_or(i32::MAX);
        let output = self
            .client
            .query()
            .table_name(self.table)
            .index_name(self.index)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", self.partition_attribute)
            .expression_attribute_values(":p", s(self.partition))
            .scan_index_forward(self.forward)
            .limit(limit)
            .set_exclusive_start_key(self.start)
            .send()
            .await
            .map_err(backend)?;
        let last = output.last_evaluated_key().cloned();
        Ok((output.items.unwrap_or_default(), last))
    }
}

/// Where a list left off in one index partition.
#[derive(Debug, Clone, PartialEq)]
enum Position {
    Start,
    After(Item),
    Done,
}

/// The key of an index entry, as a cursor keeps it: `id`, partition and sort attributes.
fn index_key(item: &Item, partition_attribute: &str, sort_attribute: &str) -> Item {
    ["id", partition_attribute, sort_attribute]
        .into_iter()
        .filter_map(|name| item.get(name).map(|v| (name.to_owned(), v.clone())))
        .collect()
}

fn position_to_json(position: &Position) -> Value {
    match position {
        Position::Start => Value::Null,
        Position::Done => json!("done"),
        Position::After(key) => Value::Object(
            key.iter()
                .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), json!(v))))
                .collect(),
        ),
    }
}

/// A position from a cursor, accepted only if it is a key of the expected partition.
fn position_from_json(
    value: &Value,
    partition_attribute: &str,
    partition: &str,
    sort_attribute: &str,
) -> Result<Position, StoreError> {
    match value {
        Value::Null => Ok(Position::Start),
        Value::String(done) if done == "done" => Ok(Position::Done),
        Value::Object(map) => {
            let mut expected = ["id", partition_attribute, sort_attribute];
            expected.sort_unstable();
            let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
            names.sort_unstable();
            if names != expected || map.get(partition_attribute) != Some(&json!(partition)) {
                return Err(StoreError::InvalidCursor);
            }
            map.iter()
                .map(|(k, v)| match v {
                    Value::String(text) if text.len() <= 256 => Ok((k.clone(), s(text.clone()))),
                    _ => Err(StoreError::InvalidCursor),
                })
                .collect::<Result<Item, _>>()
                .map(Position::After)
        }
        _ => Err(StoreError::InvalidCursor),
    }
}

fn sort_text(item: &Item, attribute: &str) -> String {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    format!("{}\u{0}{}", text(attribute), text("id"))
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
            .set_item(Some(to_item(patient)?))
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
        document: &str,
    ) -> Result<Option<Patient>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.patient(country))
            .key("document", s(document))
            .send()
            .await
            .map_err(backend)?;
        output.item.map(from_item).transpose()
    }

    async fn insert_appointment(
        &self,
        country: &Country,
        appointment: &Appointment,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(self.tables.appointment(country))
            .set_item(Some(appointment_item(country, appointment)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::AlreadyExists {
                    existing_id: appointment.id.clone(),
                })
            }
            Err(error) => Err(backend(error)),
        }
    }

    async fn get_appointment(
        &self,
        country: &Country,
        id: &str,
    ) -> Result<Option<Appointment>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.appointment(country))
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item.map(from_item).transpose()
    }

    async fn list_appointments(
        &self,
        country: &Country,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Appointment>, StoreError> {
        let scope = filter.scope(country);
        let (index, partition_attribute, sort_attribute, forward, partitions) = match filter {
            ListFilter::Status(status) => (
                index::BY_STATUS,
                STATUS_SHARD,
                "created_at",
                false,
                (0..STATUS_SHARDS)
                    .map(|n| format!("{status}#{n}"))
                    .collect::<Vec<_>>(),
            ),
            ListFilter::Document(document) => (
                index::BY_DOCUMENT,
                "document",
                "created_at",
                false,
                vec![document.clone()],
            ),
            ListFilter::AssignedOn(day) => (
                index::BY_ASSIGNED_DAY,
                ASSIGNED_DAY,
                "starts_at",
                true,
                vec![day.to_string()],
            ),
        };
        let positions: Vec<Position> = match &page.cursor {
            None => vec![Position::Start; partitions.len()],
            Some(raw) => match cursor::decode(&scope, raw)? {
                Value::Array(values) if values.len() == partitions.len() => values
                    .iter()
                    .zip(&partitions)
                    .map(|(v, p)| position_from_json(v, partition_attribute, p, sort_attribute))
                    .collect::<Result<_, _>>()?,
                _ => return Err(StoreError::InvalidCursor),
            },
        };

        // One query per partition still in play, each asking one item more than
        // the page so the page knows whether anything follows.
        let limit = page.limit;
        let mut streams: Vec<(Vec<Item>, bool)> = Vec::with_capacity(partitions.len());
        for (partition, position) in partitions.iter().zip(&positions) {
            let start = match position {
                Position::Done => {
                    streams.push((Vec::new(), false));
                    continue;
                }
                Position::Start => None,
                Position::After(key) => Some(key.clone()),
            };
            let (items, last) = IndexQuery {
                table: self.tables.appointment(country),
                index,
                partition_attribute,
                partition: partition.clone(),
                forward,
                limit: limit + 1,
                start,
                client: &self.client,
            }
            .run()
            .await?;
            let more_in_partition = items.len() > limit || last.is_some();
            streams.push((items, more_in_partition));
        }

        // Merge the partitions' streams, each already in index order.
        let mut heads = vec![0usize; streams.len()];
        let mut picked: Vec<Item> = Vec::with_capacity(limit);
        while picked.len() < limit {
            let next = streams
                .iter()
                .enumerate()
                .filter_map(|(n, (items, _))| {
                    items
                        .get(heads[n])
                        .map(|item| (n, sort_text(item, sort_attribute)))
                })
                .reduce(|best, candidate| {
                    let better = if forward {
                        candidate.1 < best.1
                    } else {
                        candidate.1 > best.1
                    };
                    if better { candidate } else { best }
                });
            let Some((n, _)) = next else { break };
            picked.push(streams[n].0[heads[n]].clone());
            heads[n] += 1;
        }

        let mut next_positions = Vec::with_capacity(streams.len());
        let mut anything_left = false;
        for (n, (items, more_in_partition)) in streams.iter().enumerate() {
            let consumed = heads[n];
            // A finished partition reads no items and reports nothing more, so it stays done.
            let position = if consumed == items.len() && !more_in_partition {
                Position::Done
            } else if consumed > 0 {
                Position::After(index_key(
                    &items[consumed - 1],
                    partition_attribute,
                    sort_attribute,
                ))
            } else {
                positions[n].clone()
            };
            anything_left |= position != Position::Done;
            next_positions.push(position_to_json(&position));
        }
        let next_cursor =
            anything_left.then(|| cursor::encode(&scope, Value::Array(next_positions)));
        let items = picked
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<Appointment>, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn transition(&self, transition: &Transition) -> Result<(), StoreError> {
        let country = transition.country;
        let table = self.tables.appointment(country);
        let item = appointment_item(country, &transition.appointment)?;
        let put = Put::builder()
            .table_name(&table)
            .set_item(Some(item.clone()))
            .condition_expression("#status = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":expected", s(transition.expected.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(backend)?;
        let (slot_id, available) = match &transition.slot {
            SlotChange::None => return self.put_conditionally(put).await,
            SlotChange::Book(slot) => (slot, false),
            SlotChange::Release(slot) => (slot, true),
        };
        let slot_update = Update::builder()
            .table_name(self.tables.slot())
            .key("id", s(slot_id))
            .update_expression("SET isAvailable = :next")
            .condition_expression(if available {
                "attribute_exists(id)"
            } else {
                "isAvailable = :current"
            })
            .set_expression_attribute_values(Some(if available {
                HashMap::from([(":next".to_owned(), AttributeValue::Bool(true))])
            } else {
                HashMap::from([
                    (":next".to_owned(), AttributeValue::Bool(false)),
                    (":current".to_owned(), AttributeValue::Bool(true)),
                ])
            }))
            .build()
            .map_err(backend)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(slot_update).build())
            .transact_items(TransactWriteItem::builder().put(put.clone()).build())
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let reasons = match &error {
            SdkError::ServiceError(service) => match service.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    cancelled.cancellation_reasons().to_vec()
                }
                _ => return Err(backend(error)),
            },
            _ => return Err(backend(error)),
        };
        if let Some(reason) = cancelled_at(&reasons, 1) {
            return match reason.item() {
                Some(old) => Err(StoreError::StatusConflict {
                    current: current_status(old)?,
                }),
                // A conflict with a concurrent transaction, or no such appointment: look.
                None => Err(self
                    .explain_failed_condition(country, &transition.appointment.id)
                    .await),
            };
        }
        if cancelled_at(&reasons, 0).is_some() {
            if available {
                // The slot no longer exists: there is nothing to give back.
                return self.put_conditionally(put).await;
            }
            return Err(StoreError::SlotUnavailable(slot_id.clone()));
        }
        Err(backend(error))
    }

    async fn put_doctor(&self, doctor: &Doctor) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.tables.doctor())
            .set_item(Some(to_item(doctor)?))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_doctor(&self, id: &str) -> Result<Option<Doctor>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.doctor())
            .key("id", s(id))
            .send()
            .await
            .map_err(backend)?;
        output.item.map(from_item).transpose()
    }

    async fn doctors_by_speciality(
        &self,
        country: &Country,
        speciality: &str,
    ) -> Result<Vec<Doctor>, StoreError> {
        let mut doctors = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.tables.doctor())
                .index_name(index::DOCTOR_BY_SPECIALITY)
                .key_condition_expression("speciality = :speciality AND country = :country")
                .expression_attribute_values(":speciality", s(speciality))
                .expression_attribute_values(":country", s(country.code))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            start = output.last_evaluated_key().cloned();
            for item in output.items.unwrap_or_default() {
                doctors.push(from_item(item)?);
            }
            if start.is_none() {
                return Ok(doctors);
            }
        }
    }

    async fn put_slot(&self, slot: &Slot) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.tables.slot())
            .set_item(Some(to_item(slot)?))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_slot(&self, id: &str) -> Result<Option<Slot>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.slot())
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item.map(from_item).transpose()
    }

    async fn next_available_slot(
        &self,
        doctor_id: &str,
        after: Timestamp,
    ) -> Result<Option<Slot>, StoreError> {
        // Slot ids are `{doctor}-{epoch seconds}` with ten-digit epochs, so id order is time order.
        let after_id = SlotId::format(doctor_id, after);
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.tables.slot())
                .index_name(index::SLOT_BY_DOCTOR)
                .key_condition_expression("doctor = :doctor AND id > :after")
                .filter_expression("isAvailable = :available")
                .expression_attribute_values(":doctor", s(doctor_id))
                .expression_attribute_values(":after", s(after_id.clone()))
                .expression_attribute_values(":available", AttributeValue::Bool(true))
                .limit(50)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            start = output.last_evaluated_key().cloned();
            if let Some(item) = output.items.unwrap_or_default().into_iter().next() {
                return from_item(item).map(Some);
            }
            if start.is_none() {
                return Ok(None);
            }
        }
    }
}

fn current_status(item: &Item) -> Result<Status, StoreError> {
    item.get("status")
        .and_then(|v| v.as_s().ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::Backend("stored appointment has no valid status".into()))
}

impl DynamoStore {
    /// A single conditional put of an appointment's new state.
    async fn put_conditionally(&self, put: Put) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(put.table_name())
            .set_item(Some(put.item().clone()))
            .set_condition_expression(put.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(put.expression_attribute_names().cloned())
            .set_expression_attribute_values(put.expression_attribute_values().cloned())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.as_service_error() {
                Some(e) if e.is_conditional_check_failed_exception() => {
                    let old = match e {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item(),
                        _ => None,
                    };
                    match old {
                        Some(old) => Err(StoreError::StatusConflict {
                            current: current_status(old)?,
                        }),
                        None => Err(StoreError::NotFound),
                    }
                }
                _ => Err(backend(error)),
            },
        }
    }

    /// After a lost condition without the old item: report what is stored now.
    /// (The write already failed; this read only explains why.)
    async fn explain_failed_condition(&self, country: &Country, id: &str) -> StoreError {
        match self.get_appointment(country, id).await {
            Ok(Some(current)) => StoreError::StatusConflict {
                current: current.status,
            },
            Ok(None) => StoreError::NotFound,
            Err(error) => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(
            status_shard(Status::Registered, "20261122-45678912"),
            status_shard(Status::Registered, "20261122-45678912")
        );
        let mut seen = std::collections::HashSet::new();
        for n in 0..200 {
            seen.insert(status_shard(
                Status::Assigned,
                &format!("20261122-{:08}", 10_000_000 + n),
            ));
        }
        assert_eq!(seen.len(), STATUS_SHARDS as usize);
    }

    #[test]
    fn cursor_positions_must_belong_to_their_partition() {
        let key = json!({ "id": "20261122-45678912", "status_shard": "registered#1", "created_at": "2026-11-22T15:00:00.000Z" });
        assert!(matches!(
            position_from_json(&key, STATUS_SHARD, "registered#1", "created_at"),
            Ok(Position::After(_))
        ));
        assert_eq!(
            position_from_json(&key, STATUS_SHARD, "registered#2", "created_at"),
            Err(StoreError::InvalidCursor)
        );
        let extra = json!({ "id": "x", "status_shard": "registered#1", "created_at": "t", "document": "y" });
        assert_eq!(
            position_from_json(&extra, STATUS_SHARD, "registered#1", "created_at"),
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            position_from_json(&json!(5), STATUS_SHARD, "registered#1", "created_at"),
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            position_from_json(&json!("done"), STATUS_SHARD, "registered#1", "created_at"),
            Ok(Position::Done)
        );
    }
}

//! The DynamoDB store. Every call is a `GetItem`, a `Query` on a key or a
//! global secondary index, or a conditional write (`TransactWriteItems` when
//! a slot changes hands); races are settled by conditions, never by reading first.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use citas_domain::ports::{
    ListFilter, Page, PageRequest, SlotChange, Store, StoreError, Transition, Upserted,
};
use citas_domain::{
    Appointment, AppointmentId, Country, Doctor, DoctorId, Document, Patient, Slot, SlotId,
    Speciality, Status,
};
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::errors::{backend, is_condition_failure};
use crate::items::{AppointmentItem, DoctorItem, PatientItem, SlotItem};
use crate::pager::{Item, ShardedIndex};
use crate::settings::{TableNames, index};

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

fn appointment_item(appointment: &Appointment) -> Result<Item, StoreError> {
    let mut item = to_item(&AppointmentItem::from_domain(appointment))?;
    item.insert(
        STATUS_SHARD.into(),
        s(status_shard(
            appointment.status,
            &appointment.id.to_string(),
        )),
    );
    if let Some(day) = appointment.assigned_day() {
        item.insert(ASSIGNED_DAY.into(), s(day.to_string()));
    }
    Ok(item)
}

fn appointment_from(country: &'static Country, item: Item) -> Result<Appointment, StoreError> {
    from_item::<AppointmentItem>(item)?.into_domain(country)
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
        output
            .item
            .map(|item| appointment_from(country, item))
            .transpose()
    }

    async fn list_appointments(
        &self,
        country: &'static Country,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Appointment>, StoreError> {
        let (index, partition_attribute, sort_attribute, forward, partitions) = match filter {
            ListFilter::Status(status) => (
                index::BY_STATUS,
                STATUS_SHARD,
                "created_at",
                false,
                (0..STATUS_SHARDS)
                    .map(|n| format!("{status}#{n}"))
                    .collect(),
            ),
            ListFilter::Document(document) => (
                index::BY_DOCUMENT,
                "document",
                "created_at",
                false,
                vec![document.to_string()],
            ),
            ListFilter::AssignedOn(day) => (
                index::BY_ASSIGNED_DAY,
                ASSIGNED_DAY,
                "starts_at",
                true,
                vec![day.to_string()],
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
        }
        .page(page)
        .await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|item| appointment_from(country, item))
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        })
    }

    async fn transition(&self, transition: &Transition) -> Result<(), StoreError> {
        let appointment = &transition.appointment;
        let table = self.tables.appointment(appointment.country);
        let put = Put::builder()
            .table_name(&table)
            .set_item(Some(appointment_item(appointment)?))
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
            .key("id", s(slot_id.to_string()))
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
                    .explain_failed_condition(appointment.country, &appointment.id)
                    .await),
            };
        }
        if cancelled_at(&reasons, 0).is_some() {
            if available {
                // The slot no longer exists: there is nothing to give back.
                return self.put_conditionally(put).await;
            }
            return Err(StoreError::SlotUnavailable(slot_id.to_string()));
        }
        Err(backend(error))
    }

    async fn put_doctor(&self, doctor: &Doctor) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.tables.doctor())
            .set_item(Some(to_item(&DoctorItem::from_domain(doctor))?))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
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

    async fn doctors_by_speciality(
        &self,
        country: &'static Country,
        speciality: &Speciality,
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
                .expression_attribute_values(":speciality", s(speciality.as_str()))
                .expression_attribute_values(":country", s(country.code))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            start = output.last_evaluated_key().cloned();
            for item in output.items.unwrap_or_default() {
                doctors.push(from_item::<DoctorItem>(item)?.into_domain()?);
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
            .set_item(Some(to_item(&SlotItem::from_domain(slot))?))
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
        output
            .item
            .map(|item| from_item::<SlotItem>(item)?.into_domain())
            .transpose()
    }

    async fn next_available_slot(
        &self,
        doctor: &DoctorId,
        after: Timestamp,
    ) -> Result<Option<Slot>, StoreError> {
        // Slot ids are `{doctor}-{epoch seconds}` with ten-digit epochs, so id order is time order.
        let after_id = SlotId::new(doctor.clone(), after).to_string();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.tables.slot())
                .index_name(index::SLOT_BY_DOCTOR)
                .key_condition_expression("doctor = :doctor AND id > :after")
                .filter_expression("isAvailable = :available")
                .expression_attribute_values(":doctor", s(doctor.to_string()))
                .expression_attribute_values(":after", s(after_id.clone()))
                .expression_attribute_values(":available", AttributeValue::Bool(true))
                .limit(50)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            start = output.last_evaluated_key().cloned();
            if let Some(item) = output.items.unwrap_or_default().into_iter().next() {
                return from_item::<SlotItem>(item)?.into_domain().map(Some);
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
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
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
    async fn explain_failed_condition(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> StoreError {
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
}

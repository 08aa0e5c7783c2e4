//! Idempotency records of sent notifications in DynamoDB: a conditional put
//! claims a key, so two consumers of one message never both send it.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use citas_domain::{Claim, IdempotencyStore, StoreError};
use jiff::{SignedDuration, Timestamp};

use crate::errors::{backend, is_condition_failure};
use crate::settings::TableNames;

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";
/// Epoch seconds after which an in-progress claim is taken as abandoned.
const LAPSES_AT: &str = "lapses_at";
/// How many claims of the key reached the send.
const SENDS: &str = "sends";

#[derive(Debug, Clone)]
pub struct DynamoIdempotency {
    client: Client,
    table: String,
}

impl DynamoIdempotency {
    pub fn new(client: Client, tables: &TableNames) -> Self {
        Self {
            client,
            table: tables.idempotency(),
        }
    }
}

fn record(
    key: &str,
    status: &str,
    expires_at: Timestamp,
) -> std::collections::HashMap<String, AttributeValue> {
    [
        ("key", AttributeValue::S(key.to_owned())),
        ("status", AttributeValue::S(status.to_owned())),
        // Epoch seconds: the table's TTL attribute.
        ("expires_at", epoch_seconds(expires_at)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn epoch_seconds(at: Timestamp) -> AttributeValue {
    AttributeValue::N(at.as_second().to_string())
}

/// Where a record that refused a claim stands.
fn refused_claim(
    item: Option<&std::collections::HashMap<String, AttributeValue>>,
    now: Timestamp,
) -> Claim {
    let text = |name: &str| item.and_then(|i| i.get(name)).and_then(|v| v.as_s().ok());
    let seconds = |name: &str| {
        item.and_then(|i| i.get(name))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    if text("status").is_some_and(|s| s == COMPLETED) {
        Claim::Completed
    } else if seconds(LAPSES_AT).is_some_and(|at| at <= now.as_second()) {
        Claim::Lapsed {
            sends: seconds(SENDS).map_or(1, |n| n.clamp(1, i64::from(u32::MAX)) as u32),
        }
    } else {
        Claim::InProgress
    }
}

#[async_trait]
impl IdempotencyStore for DynamoIdempotency {
    async fn claim(
        &self,
        key: &str,
        now: Timestamp,
        lapse_after: SignedDuration,
        keep_for: SignedDuration,
    ) -> Result<Claim, StoreError> {
        // The claim is kept as long as a sent key (the TTL never frees a
        // lapsed claim); when it lapses is its own attribute.
        let mut item = record(key, IN_PROGRESS, now + keep_for);
        item.insert(LAPSES_AT.to_owned(), epoch_seconds(now + lapse_after));
        item.insert(SENDS.to_owned(), AttributeValue::N("1".to_owned()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // Free, or a record whose time is up (TTL deletes lazily).
            .condition_expression("attribute_not_exists(#key) OR expires_at <= :now")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":now", epoch_seconds(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(refused_claim(failed.item(), now))
                }
                _ => Err(backend(error)),
            },
        }
    }

    async fn reclaim_lapsed(
        &self,
        key: &str,
        sends: u32,
        now: Timestamp,
        lapse_after: SignedDuration,
        keep_for: SignedDuration,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", AttributeValue::S(key.to_owned()))
            .update_expression("SET lapses_at = :lapses, sends = :next, expires_at = :keep")
            // Records from before sends were counted have reached the send once.
            .condition_expression(if sends == 1 {
                "#status = :in_progress AND lapses_at <= :now AND (sends = :seen OR attribute_not_exists(sends))"
            } else {
                "#status = :in_progress AND lapses_at <= :now AND sends = :seen"
            })
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.to_owned()))
            .expression_attribute_values(":lapses", epoch_seconds(now + lapse_after))
            .expression_attribute_values(":next", AttributeValue::N((sends + 1).to_string()))
            .expression_attribute_values(":seen", AttributeValue::N(sends.to_string()))
            .expression_attribute_values(":keep", epoch_seconds(now + keep_for))
            .expression_attribute_values(":now", epoch_seconds(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(backend(error)),
        }
    }

    async fn settle_lapsed(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: SignedDuration,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", AttributeValue::S(key.to_owned()))
            .update_expression(
                "SET #status = :completed, uncertain = :yes, expires_at = :keep REMOVE lapses_at",
            )
            .condition_expression("#status = :in_progress AND lapses_at <= :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", AttributeValue::S(COMPLETED.to_owned()))
            .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.to_owned()))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":keep", epoch_seconds(now + keep_for))
            .expression_attribute_values(":now", epoch_seconds(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(backend(error)),
        }
    }

    async fn complete(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: SignedDuration,
    ) -> Result<(), StoreError> {
        // An update, not a put: the record keeps how many sends it took.
        self.client
            .update_item()
            .table_name(&self.table)
            .key("key", AttributeValue::S(key.to_owned()))
            .update_expression("SET #status = :completed, expires_at = :keep REMOVE lapses_at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", AttributeValue::S(COMPLETED.to_owned()))
            .expression_attribute_values(":keep", epoch_seconds(now + keep_for))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("key", AttributeValue::S(key.to_owned()))
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Completed meanwhile (or gone): nothing to release.
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(backend(error)),
        }
    }
}

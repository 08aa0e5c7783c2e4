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
        (
            "expires_at",
            AttributeValue::N(expires_at.as_second().to_string()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[async_trait]
impl IdempotencyStore for DynamoIdempotency {
    async fn claim(
        &self,
        key: &str,
        now: Timestamp,
        lapse_after: SignedDuration,
    ) -> Result<Claim, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record(key, IN_PROGRESS, now + lapse_after)))
            // Free, or a record whose time is up (TTL deletes lazily).
            .condition_expression("attribute_not_exists(#key) OR expires_at < :now")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":now", AttributeValue::N(now.as_second().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let completed = failed
                        .item()
                        .and_then(|item| item.get("status"))
                        .and_then(|s| s.as_s().ok())
                        .is_some_and(|s| s == COMPLETED);
                    Ok(if completed {
                        Claim::Completed
                    } else {
                        Claim::InProgress
                    })
                }
                _ => Err(backend(error)),
            },
        }
    }

    async fn complete(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: SignedDuration,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record(key, COMPLETED, now + keep_for)))
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

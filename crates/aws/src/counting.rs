//! SDK interceptors that watch what a client sends, once per operation
//! (serialisation happens before, not within, the retry loop): one counts the
//! operations, so tests and benchmarks can hold each use case to its call
//! budget; one records the resources each call names, so a test can hold each
//! function's IAM policy to the calls its code makes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Counts operations by name (`PutItem`, `TransactWriteItems`, …). Clones share counts.
#[derive(Debug, Clone, Default)]
pub struct OperationCounter {
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl OperationCounter {
    /// The counts so far, and resets them.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The total so far, and resets the counts.
    pub fn take_total(&self) -> usize {
        self.take().values().sum()
    }
}

impl Intercept for OperationCounter {
    fn name(&self) -> &'static str {
        "OperationCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_else(|| "unknown".into());
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name)
            .or_default() += 1;
        Ok(())
    }
}

/// What one SDK call names in its request, as IAM sees it: the service's IAM
/// prefix, the operation and the resources (and SES sender) it touches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordedCall {
    /// IAM's service prefix: `dynamodb`, `sqs`, `ses`, `scheduler`, else the SDK's service name in lower case.
    pub service: String,
    /// The operation (`Query`, `TransactWriteItems`, `SendMessage`, `SendEmail`…).
    pub operation: String,
    pub names: Vec<Named>,
}

/// One thing a request names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Named {
    /// A table: `TableName`, or a key of `RequestItems` (batches).
    Table(String),
    /// A secondary index of a table (`TableName` with `IndexName`).
    Index { table: String, index: String },
    /// An item of a transaction: its kind (`Put`, `Update`, `Delete`,
    /// `ConditionCheck`, `Get`) and its table.
    TransactionItem { kind: String, table: String },
    /// An SQS queue by its URL.
    Queue(String),
    /// SES v2: the `FromEmailAddress` (the `ses:FromAddress` condition key).
    FromAddress(String),
    /// SES v2: `FromEmailAddressIdentityArn`, when the request names the identity.
    IdentityArn(String),
    /// SES v2: `ConfigurationSetName`.
    ConfigurationSet(String),
    /// SES v2: the kind of `Content` (`Simple`, `Raw`, `Template`), which decides IAM's action.
    EmailContent(String),
    /// Cognito: the `UserPoolId` an administrator call acts on.
    UserPool(String),
}

/// Records every call a client sends with the resources its serialized
/// request names, for the test that holds each function's IAM policy to the
/// calls its code makes. Clones share the record.
#[derive(Debug, Clone, Default)]
pub struct CallRecorder {
    calls: Arc<Mutex<Vec<RecordedCall>>>,
}

impl CallRecorder {
    /// The calls so far, in order, and forgets them.
    pub fn take(&self) -> Vec<RecordedCall> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The IAM prefix of an SDK service name (`Metadata::service()`).
fn iam_prefix(sdk_service: &str) -> String {
    match sdk_service {
        "DynamoDB" => "dynamodb".into(),
        "SQS" => "sqs".into(),
        // SES v1 and v2 share IAM's `ses` prefix.
        "SESv2" | "SES" => "ses".into(),
        "Scheduler" => "scheduler".into(),
        "Cognito Identity Provider" => "cognito-idp".into(),
        "Chime SDK Meetings" => "chime".into(),
        other => other.to_lowercase(),
    }
}

/// The resources named by a DynamoDB, SQS, Cognito (AWS JSON) or SES v2 (REST JSON) request body.
fn names_in(body: &serde_json::Value) -> Vec<Named> {
    let text = |value: &serde_json::Value, key: &str| value.get(key)?.as_str().map(str::to_owned);
    let mut names = Vec::new();
    if let Some(table) = text(body, "TableName") {
        match text(body, "IndexName") {
            Some(index) => names.push(Named::Index { table, index }),
            None => names.push(Named::Table(table)),
        }
    }
    if let Some(items) = body.get("RequestItems").and_then(|r| r.as_object()) {
        names.extend(items.keys().cloned().map(Named::Table));
    }
    for item in body
        .get("TransactItems")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
    {
        // Each item is an object of one key: its kind.
        if let Some((kind, detail)) = item.as_object().and_then(|o| o.iter().next())
            && let Some(table) = text(detail, "TableName")
        {
            names.push(Named::TransactionItem {
                kind: kind.clone(),
                table,
            });
        }
    }
    if let Some(url) = text(body, "QueueUrl") {
        names.push(Named::Queue(url));
    }
    if let Some(from) = text(body, "FromEmailAddress") {
        names.push(Named::FromAddress(from));
    }
    if let Some(arn) = text(body, "FromEmailAddressIdentityArn") {
        names.push(Named::IdentityArn(arn));
    }
    if let Some(pool) = text(body, "UserPoolId") {
        names.push(Named::UserPool(pool));
    }
    if let Some(set) = text(body, "ConfigurationSetName") {
        names.push(Named::ConfigurationSet(set));
    }
    if let Some(kind) = body
        .get("Content")
        .and_then(|c| c.as_object())
        .and_then(|c| c.keys().next())
    {
        names.push(Named::EmailContent(kind.clone()));
    }
    names
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    // After serialization, once per operation (retries do not repeat it):
    // the body is what the service, and IAM, will read.
    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (iam_prefix(m.service()), m.name().to_owned()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let body = context
            .request()
            .body()
            .bytes()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(bytes).ok())
            .unwrap_or_default();
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(RecordedCall {
                service,
                operation,
                names: names_in(&body),
            });
        Ok(())
    }
}

//! The functions not behind the API: the SQS-triggered email sender, the
//! scheduled reminder job and the daily slot-horizon job. The local server
//! calls the same handlers.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use citas_domain::{Country, Services};
use citas_notify::{EmailPipeline, ReminderReport};
use futures::future::join_all;
use serde::Deserialize;

/// Processes a batch's records concurrently and reports exactly the failed
/// ones, so SQS redelivers only those (`ReportBatchItemFailures`).
pub async fn send_emails(pipeline: &EmailPipeline, event: SqsEvent) -> SqsBatchResponse {
    let outcomes = join_all(event.records.iter().map(|record| async move {
        let id = record.message_id.clone().unwrap_or_default();
        let outcome = pipeline
            .process(record.body.as_deref().unwrap_or_default())
            .await;
        (id, outcome)
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (id, outcome) in outcomes {
        if let Err(error) = outcome {
            tracing::warn!(message_id = %id, %error, "notification not sent; it will be delivered again");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The horizon schedule's input: `{"country": "pe"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryInput {
    pub country: String,
}

/// Generates every open working plan of the country up to the slot horizon.
pub async fn extend_slots(
    services: &Services,
    input: serde_json::Value,
) -> Result<citas_domain::use_cases::HorizonReport, ReminderError> {
    let input: CountryInput =
        serde_json::from_value(input).map_err(|e| ReminderError::Input(e.to_string()))?;
    let country =
        Country::from_code(&input.country).map_err(|e| ReminderError::Input(e.to_string()))?;
    Ok(citas_domain::use_cases::extend_horizons(services, country).await?)
}

/// The scheduler's input: `{"country": "pe"}`, optionally with the local `date` to remind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderInput {
    pub country: String,
    #[serde(default)]
    pub date: Option<jiff::civil::Date>,
}

/// Why a scheduled job failed (the scheduler retries it).
#[derive(Debug, thiserror::Error)]
pub enum ReminderError {
    #[error("the reminder input is not valid: {0}")]
    Input(String),
    #[error(transparent)]
    Domain(#[from] citas_domain::DomainError),
    #[error("{failed} of {appointments} reminders could not be enqueued")]
    Incomplete { failed: usize, appointments: usize },
}

/// Enqueues the reminders of a day (by default, tomorrow in the country's time zone).
/// A partial failure is an error, so the scheduler retries; keys make retries harmless.
pub async fn send_reminders(
    services: &Services,
    input: serde_json::Value,
) -> Result<ReminderReport, ReminderError> {
    let input: ReminderInput =
        serde_json::from_value(input).map_err(|e| ReminderError::Input(e.to_string()))?;
    let country =
        Country::from_code(&input.country).map_err(|e| ReminderError::Input(e.to_string()))?;
    let day = input
        .date
        .unwrap_or_else(|| citas_notify::next_day(country, services.clock.now()));
    let report = citas_notify::remind(services, country, day).await?;
    if report.failed > 0 {
        return Err(ReminderError::Incomplete {
            failed: report.failed,
            appointments: report.appointments,
        });
    }
    Ok(report)
}

/// One change of a table as its stream shows it: the record's sequence
/// number and the item after the change (none once deleted).
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub sequence_number: String,
    pub new_image:
        Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
}

/// A table stream's records of a Lambda event, in order.
pub fn stream_records(event: aws_lambda_events::event::dynamodb::Event) -> Vec<StreamRecord> {
    event
        .records
        .into_iter()
        .map(|record| StreamRecord {
            sequence_number: record.change.sequence_number.unwrap_or_default(),
            new_image: (!record.change.new_image.is_empty())
                .then(|| record.change.new_image.into()),
        })
        .collect()
}

/// The transactional outbox's publisher: each history entry the history
/// table's stream shows is a committed change; its messages go to the
/// country's queue, keyed by the change, so a record delivered again sends
/// no second email. On a failure the rest of the batch is reported from that
/// record on, so the stream delivers it again (after retries and bisection,
/// to the on-failure destination).
pub async fn publish_notifications(
    queue: &dyn citas_domain::NotificationQueue,
    records: Vec<StreamRecord>,
) -> aws_lambda_events::event::streams::DynamoDbEventResponse {
    let mut response = aws_lambda_events::event::streams::DynamoDbEventResponse::default();
    let mut published = 0;
    for record in records {
        let Some(image) = record.new_image else {
            continue;
        };
        let messages =
            citas_aws::dynamo::history_from_image(image).and_then(|item| item.notifications());
        let messages = match messages {
            Ok(messages) => messages,
            Err(error) => {
                // Not a change this version understands: retrying will not help.
                tracing::error!(%error, sequence_number = %record.sequence_number, "history record without messages; skipped");
                continue;
            }
        };
        let mut failed = None;
        for message in &messages {
            if let Err(error) = queue.enqueue(message).await {
                failed = Some(error);
                break;
            }
        }
        if let Some(error) = failed {
            tracing::warn!(%error, sequence_number = %record.sequence_number, "notification not published; the stream delivers it again");
            let mut failure =
                aws_lambda_events::event::streams::DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(record.sequence_number);
            response.batch_item_failures.push(failure);
            break;
        }
        published += messages.len();
    }
    if published > 0 {
        tracing::info!(published, "notifications published from committed changes");
    }
    response
}

/// Completes pasted slot items (seed 000's attributes only) with what the
/// free-slot index needs, in stream order. On a failure the rest of the batch
/// is reported from that record on, so the stream delivers it again.
pub async fn index_slots(
    store: &citas_aws::DynamoStore,
    records: Vec<StreamRecord>,
) -> aws_lambda_events::event::streams::DynamoDbEventResponse {
    let mut response = aws_lambda_events::event::streams::DynamoDbEventResponse::default();
    let mut completed = 0;
    for record in records {
        let Some(image) = record.new_image else {
            continue;
        };
        match store.complete_slot_index(image).await {
            Ok(wrote) => completed += usize::from(wrote),
            Err(error) => {
                tracing::warn!(%error, sequence_number = %record.sequence_number, "slot not indexed; the stream delivers it again");
                let mut failure =
                    aws_lambda_events::event::streams::DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(record.sequence_number);
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    if completed > 0 {
        tracing::info!(completed, "pasted slots indexed for search");
    }
    response
}

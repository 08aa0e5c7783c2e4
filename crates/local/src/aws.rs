//! `citas serve --aws-endpoint URL` runs the AWS adapters (built by
//! `citas_lambda::Aws`, as the functions build them) on tables and queues
//! `citas_provision` creates from template.yaml. What Lambda's SQS event
//! source does for the email function is done here by a poller.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use citas_notify::EmailPipeline;
use tokio::sync::watch;

/// Long-polls one queue and hands each batch to the email function's handler,
/// as Lambda's SQS event source does, deleting only the records it did not
/// report as failed (the others come back after the visibility timeout).
pub async fn poll(
    sqs: aws_sdk_sqs::Client,
    url: String,
    pipeline: EmailPipeline,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let received = tokio::select! {
            received = sqs.receive_message().queue_url(&url).max_number_of_messages(10).wait_time_seconds(1).send() => received,
            _ = stopped.changed() => return,
        };
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), %url, "receive failed");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        for message in &messages {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.receipt_handle = message.receipt_handle.clone();
            record.body = message.body.clone();
            record.event_source = Some("aws:sqs".into());
            event.records.push(record);
        }
        let response = citas_lambda::jobs::send_emails(&pipeline, event).await;
        for message in messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| Some(&f.item_identifier) == message.message_id.as_ref());
            if let (false, Some(handle)) = (failed, message.receipt_handle)
                && let Err(error) = sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(handle)
                    .send()
                    .await
            {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), "delete failed");
            }
        }
    }
}

/// How often a table's stream is read when it had nothing new.
const STREAM_IDLE: std::time::Duration = std::time::Duration::from_millis(200);

/// The slot table's stream, handed to the index-slots function's handler.
pub async fn poll_slot_stream(aws: &citas_lambda::Aws, stopped: watch::Receiver<bool>) {
    let job = StreamJob::IndexSlots(aws.store());
    poll_stream(aws, &aws.settings.tables.slot(), stopped, job).await
}

/// The history table's stream, handed to the publish-notifications
/// function's handler: the transactional outbox on the AWS adapters.
pub async fn poll_history_stream(aws: &citas_lambda::Aws, stopped: watch::Receiver<bool>) {
    let job = StreamJob::Publish(aws.queue());
    poll_stream(aws, &aws.settings.tables.history(), stopped, job).await
}

/// The function a table's stream feeds.
enum StreamJob {
    IndexSlots(std::sync::Arc<citas_aws::DynamoStore>),
    Publish(std::sync::Arc<citas_aws::SqsQueue>),
}

impl StreamJob {
    async fn handle(
        &self,
        records: Vec<citas_lambda::jobs::StreamRecord>,
    ) -> aws_lambda_events::event::streams::DynamoDbEventResponse {
        match self {
            StreamJob::IndexSlots(store) => citas_lambda::jobs::index_slots(store, records).await,
            StreamJob::Publish(queue) => {
                citas_lambda::jobs::publish_notifications(queue.as_ref(), records).await
            }
        }
    }
}

/// Reads a table's stream and hands its records to a function's handler, as
/// Lambda's DynamoDB event source does: from the oldest record, shard by
/// shard, moving on only past records it accepted.
async fn poll_stream(
    aws: &citas_lambda::Aws,
    table: &str,
    mut stopped: watch::Receiver<bool>,
    job: StreamJob,
) {
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws.sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(&aws.sdk);
    // Shard id → the iterator to read next.
    let mut iterators: std::collections::HashMap<String, String> = Default::default();
    let mut rounds = 0u32;
    loop {
        // New shards appear over time: look for them every few seconds.
        if rounds.is_multiple_of(25)
            && let Err(error) = discover_shards(&dynamodb, &streams, table, &mut iterators).await
        {
            tracing::warn!(%error, %table, "the table's stream cannot be read yet");
        }
        rounds = rounds.wrapping_add(1);
        let mut busy = false;
        for (shard, iterator) in iterators.clone() {
            let output = match streams.get_records().shard_iterator(&iterator).send().await {
                Ok(output) => output,
                Err(error) => {
                    tracing::warn!(error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(error), %shard, "stream read failed");
                    iterators.remove(&shard);
                    continue;
                }
            };
            let records = stream_batch(&output);
            busy |= !records.is_empty();
            let response = job.handle(records).await;
            if response.batch_item_failures.is_empty() {
                match output.next_shard_iterator() {
                    Some(next) => iterators.insert(shard, next.to_owned()),
                    None => iterators.remove(&shard),
                };
            }
        }
        if !busy {
            tokio::select! {
                _ = tokio::time::sleep(STREAM_IDLE) => {}
                _ = stopped.changed() => return,
            }
        }
    }
}

/// Every record a table's stream holds now, shard by shard from the oldest:
/// what a stream function would be handed (tests replay them).
pub async fn stream_records_once(
    sdk: &aws_config::SdkConfig,
    table: &str,
) -> Result<Vec<citas_lambda::jobs::StreamRecord>, String> {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
    let mut iterators = std::collections::HashMap::new();
    discover_shards(&dynamodb, &streams, table, &mut iterators).await?;
    let mut records = Vec::new();
    for (_, mut iterator) in iterators {
        loop {
            let output = streams
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?;
            let batch = stream_batch(&output);
            let done = batch.is_empty();
            records.extend(batch);
            match output.next_shard_iterator() {
                Some(next) if !done => iterator = next.to_owned(),
                _ => break,
            }
        }
    }
    Ok(records)
}

/// The records of one `GetRecords` answer, as a Lambda event would carry them.
fn stream_batch(
    output: &aws_sdk_dynamodbstreams::operation::get_records::GetRecordsOutput,
) -> Vec<citas_lambda::jobs::StreamRecord> {
    output
        .records()
        .iter()
        .filter_map(|record| record.dynamodb())
        .map(|change| citas_lambda::jobs::StreamRecord {
            sequence_number: change.sequence_number().unwrap_or_default().to_owned(),
            new_image: change
                .new_image()
                .map(|image| serde_dynamo::Item::from(image.clone()).into()),
        })
        .collect()
}

/// Adds an iterator from the oldest record for every shard not read yet.
async fn discover_shards(
    dynamodb: &aws_sdk_dynamodb::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    table: &str,
    iterators: &mut std::collections::HashMap<String, String>,
) -> Result<(), String> {
    let described = dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    let Some(arn) = described.table().and_then(|t| t.latest_stream_arn()) else {
        return Err(format!("{table} has no stream"));
    };
    let stream = streams
        .describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?;
    let shards = stream
        .stream_description()
        .map(|d| d.shards().to_vec())
        .unwrap_or_default();
    for shard in shards {
        let Some(id) = shard.shard_id() else { continue };
        if iterators.contains_key(id) {
            continue;
        }
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(id)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?;
        if let Some(iterator) = iterator.shard_iterator() {
            iterators.insert(id.to_owned(), iterator.to_owned());
        }
    }
    Ok(())
}

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

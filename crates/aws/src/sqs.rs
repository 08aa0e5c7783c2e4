//! The per-country notification queues on SQS.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use citas_domain::{Country, Notification, NotificationQueue, QueueError};

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    /// Queue URL per country code.
    urls: HashMap<&'static str, String>,
}

impl SqsQueue {
    pub fn new(client: Client, urls: HashMap<&'static str, String>) -> Self {
        Self { client, urls }
    }
}

#[async_trait]
impl NotificationQueue for SqsQueue {
    async fn enqueue(&self, message: &Notification) -> Result<(), QueueError> {
        let country = message.country;
        let url = self.urls.get(country.code).ok_or_else(|| {
            QueueError(format!(
                "no queue is configured for country {}",
                country.code
            ))
        })?;
        let body = message.to_json();
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError(DisplayErrorContext(e).to_string()))?;
        tracing::info!(
            country = country.code,
            r#type = ?message.kind,
            appointment_id = %citas_domain::privacy::masked_appointment(&message.appointment_id),
            idempotency_key = %citas_domain::privacy::masked_key(&message.idempotency_key),
            "notification enqueued"
        );
        Ok(())
    }

    /// `SendMessageBatch`, ten messages a call; entries SQS reports failed are retried once.
    async fn enqueue_batch(
        &self,
        country: &Country,
        messages: &[Notification],
    ) -> Vec<(Notification, QueueError)> {
        let Some(url) = self.urls.get(country.code) else {
            let error = QueueError(format!(
                "no queue is configured for country {}",
                country.code
            ));
            return messages
                .iter()
                .map(|m| (m.clone(), error.clone()))
                .collect();
        };
        let mut failed = Vec::new();
        for chunk in messages.chunks(MAX_BATCH) {
            let mut pending: Vec<&Notification> = chunk.iter().collect();
            for attempt in 0..2 {
                let (retry, errors) = self.send_batch(url, &pending).await;
                if retry.is_empty() {
                    break;
                }
                if attempt == 1 {
                    failed.extend(retry.into_iter().zip(errors).map(|(m, e)| (m.clone(), e)));
                    break;
                }
                pending = retry;
            }
        }
        failed
    }
}

/// SQS takes at most ten entries per `SendMessageBatch`.
const MAX_BATCH: usize = 10;

impl SqsQueue {
    /// Sends one batch; returns the messages that failed, with why.
    async fn send_batch<'a>(
        &self,
        url: &str,
        messages: &[&'a Notification],
    ) -> (Vec<&'a Notification>, Vec<QueueError>) {
        let mut request = self.client.send_message_batch().queue_url(url);
        for (index, message) in messages.iter().enumerate() {
            let body = message.to_json();
            match SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(body)
                .build()
            {
                Ok(entry) => request = request.entries(entry),
                Err(e) => {
                    return (
                        messages.to_vec(),
                        vec![QueueError(e.to_string()); messages.len()],
                    );
                }
            }
        }
        match request.send().await {
            Ok(output) => output
                .failed()
                .iter()
                .filter_map(|entry| {
                    let index: usize = entry.id().parse().ok()?;
                    let message = messages.get(index)?;
                    Some((
                        *message,
                        QueueError(format!(
                            "{}: {}",
                            entry.code(),
                            entry.message().unwrap_or_default()
                        )),
                    ))
                })
                .unzip(),
            Err(error) => {
                let error = QueueError(DisplayErrorContext(error).to_string());
                (messages.to_vec(), vec![error; messages.len()])
            }
        }
    }
}

//! The per-country notification queues on SQS.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
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
    async fn enqueue(&self, country: &Country, message: &Notification) -> Result<(), QueueError> {
        let url = self.urls.get(country.code).ok_or_else(|| {
            QueueError(format!(
                "no queue is configured for country {}",
                country.code
            ))
        })?;
        let body = serde_json::to_string(message).map_err(|e| QueueError(e.to_string()))?;
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
            appointment_id = %message.appointment_id,
            idempotency_key = %message.idempotency_key,
            "notification enqueued"
        );
        Ok(())
    }
}

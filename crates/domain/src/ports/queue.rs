//! The per-country notification queues.

use async_trait::async_trait;

use crate::country::Country;
use crate::notification::Notification;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not enqueue the notification: {0}")]
pub struct QueueError(pub String);

/// The per-country notification queue.
#[async_trait]
pub trait NotificationQueue: Send + Sync {
    async fn enqueue(&self, message: &Notification) -> Result<(), QueueError>;

    /// Enqueues many; returns the messages that could not be enqueued.
    /// Adapters with a batch call override this.
    /// Enqueues many messages of one country's queue.
    async fn enqueue_batch(
        &self,
        _country: &Country,
        messages: &[Notification],
    ) -> Vec<(Notification, QueueError)> {
        let mut failed = Vec::new();
        for message in messages {
            if let Err(error) = self.enqueue(message).await {
                failed.push((message.clone(), error));
            }
        }
        failed
    }
}

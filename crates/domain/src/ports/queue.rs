//! The per-country notification queues.

use async_trait::async_trait;

use crate::appointment::notification::Notification;
use crate::values::country::Country;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not enqueue the notification: {0}")]
pub struct QueueError(pub String);

/// The per-country notification queue.
#[async_trait]
pub trait NotificationQueue: Send + Sync {
    /// Puts one message on its country's queue.
    ///
    /// # Errors
    /// `QueueError` when the queue refuses it or cannot be reached; the
    /// caller keeps the message (the outbox entry stays) to try again.
    async fn enqueue(&self, message: &Notification) -> Result<(), QueueError>;

    /// Enqueues many messages of one country's queue; answers those that
    /// could not be enqueued, each with why (never an error as a whole).
    /// Adapters with a batch call override this.
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

//! Adapters built on first use. Most functions never enqueue a notification
//! or send a verification code, so building those clients at init would only
//! lengthen every cold start (each client is a configuration, a connector
//! and its runtime plugins).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use citas_domain::ports::{NotificationQueue, QueueError, StoreError};
use citas_domain::verification::{VerificationEmail, Verifier};
use citas_domain::{Country, EmailAddress, MailError, Notification};
use jiff::Timestamp;
use jiff::civil::Date;

/// An adapter that `build` makes the first time a method is called, then keeps.
pub struct OnFirstUse<T: ?Sized> {
    built: OnceLock<Arc<T>>,
    build: Box<dyn Fn() -> Arc<T> + Send + Sync>,
}

impl<T: ?Sized> OnFirstUse<T> {
    pub fn new(build: impl Fn() -> Arc<T> + Send + Sync + 'static) -> Self {
        Self {
            built: OnceLock::new(),
            build: Box::new(build),
        }
    }

    /// Whether the adapter has been built (for the tests that hold init to this).
    pub fn is_built(&self) -> bool {
        self.built.get().is_some()
    }

    fn get(&self) -> &T {
        self.built.get_or_init(|| (self.build)())
    }
}

#[async_trait]
impl NotificationQueue for OnFirstUse<dyn NotificationQueue> {
    async fn enqueue(&self, message: &Notification) -> Result<(), QueueError> {
        self.get().enqueue(message).await
    }

    async fn enqueue_batch(
        &self,
        country: &Country,
        messages: &[Notification],
    ) -> Vec<(Notification, QueueError)> {
        self.get().enqueue_batch(country, messages).await
    }
}

#[async_trait]
impl Verifier for OnFirstUse<dyn Verifier> {
    async fn count_code(
        &self,
        to: &EmailAddress,
        day: Date,
        limit: u16,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.get().count_code(to, day, limit, now).await
    }

    async fn send_code(&self, email: &VerificationEmail) -> Result<(), MailError> {
        self.get().send_code(email).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use citas_domain::testkit::{RecordingQueue, appointment};
    use citas_domain::{NotificationKind, PERU};

    use super::*;

    #[tokio::test]
    async fn the_adapter_is_built_at_the_first_call_and_only_once() {
        let recording = Arc::new(RecordingQueue::default());
        let builds = Arc::new(AtomicUsize::new(0));
        let queue = OnFirstUse::<dyn NotificationQueue>::new({
            let recording = recording.clone();
            let builds = builds.clone();
            move || {
                builds.fetch_add(1, Ordering::SeqCst);
                recording.clone() as Arc<dyn NotificationQueue>
            }
        });
        assert!(!queue.is_built());
        assert_eq!(builds.load(Ordering::SeqCst), 0);

        let message = Notification::about(
            &appointment(&PERU, "12345678").build(),
            NotificationKind::Registered,
            "key".to_owned(),
        );
        queue.enqueue(&message).await.expect("enqueued");
        queue.enqueue(&message).await.expect("enqueued");

        assert!(queue.is_built());
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert_eq!(recording.take(), vec![message.clone(), message]);
    }
}

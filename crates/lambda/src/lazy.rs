//! Adapters built on first use. Most functions never enqueue a notification,
//! send a verification code or open a meeting, so building those clients at init would only
//! lengthen every cold start (each client is a configuration, a connector
//! and its runtime plugins).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use citas_domain::meeting::{
    Entry, JoinWindow, MeetingProvider, MeetingRoom, Participant, RoomKey,
};
use citas_domain::ports::{MeetingError, Meetings, NotificationQueue, QueueError, StoreError};
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

    /// Whether the adapter has been built yet.
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

#[async_trait]
impl Meetings for OnFirstUse<dyn Meetings> {
    fn provider(&self) -> MeetingProvider {
        self.get().provider()
    }

    fn join_link(&self, room: &RoomKey) -> String {
        self.get().join_link(room)
    }

    async fn open(
        &self,
        room: &RoomKey,
        replaces: Option<&str>,
    ) -> Result<Option<String>, MeetingError> {
        self.get().open(room, replaces).await
    }

    async fn admit(
        &self,
        room: &MeetingRoom,
        who: &Participant,
        window: JoinWindow,
    ) -> Result<Entry, MeetingError> {
        self.get().admit(room, who, window).await
    }

    async fn end(&self, room: &MeetingRoom) -> Result<(), MeetingError> {
        self.get().end(room).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use citas_domain::testkit::{RecordingQueue, RecordingVerifier, appointment};
    use citas_domain::{NotificationKind, PERU};

    use super::*;

    fn a_notification() -> Notification {
        Notification::about(
            &appointment(&PERU, "12345678").build(),
            NotificationKind::Registered,
            "key".to_owned(),
        )
    }

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

        let message = a_notification();
        queue.enqueue(&message).await.expect("enqueued");
        queue.enqueue(&message).await.expect("enqueued");

        assert!(queue.is_built());
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert_eq!(recording.take(), vec![message.clone(), message]);
    }

    /// A queue whose batch call says so, to tell a forwarded batch from the
    /// trait's default (which would call `enqueue` once per message).
    #[derive(Default)]
    struct BatchingQueue(std::sync::Mutex<Vec<&'static str>>);

    #[async_trait]
    impl NotificationQueue for BatchingQueue {
        async fn enqueue(&self, _message: &Notification) -> Result<(), QueueError> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push("one");
            Ok(())
        }

        async fn enqueue_batch(
            &self,
            _country: &Country,
            _messages: &[Notification],
        ) -> Vec<(Notification, QueueError)> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push("batch");
            Vec::new()
        }
    }

    #[tokio::test]
    async fn a_batch_reaches_the_adapters_own_batch_call() {
        let batching = Arc::new(BatchingQueue::default());
        let queue = OnFirstUse::<dyn NotificationQueue>::new({
            let batching = batching.clone();
            move || batching.clone() as Arc<dyn NotificationQueue>
        });
        let message = a_notification();
        let failed = queue
            .enqueue_batch(&PERU, &[message.clone(), message])
            .await;
        assert!(failed.is_empty());
        assert_eq!(
            *batching.0.lock().unwrap_or_else(|e| e.into_inner()),
            vec!["batch"]
        );
    }

    #[tokio::test]
    async fn the_verifier_forwards_the_count_and_the_code() {
        let recording = Arc::new(RecordingVerifier::default());
        let verifier = OnFirstUse::<dyn Verifier>::new({
            let recording = recording.clone();
            move || recording.clone() as Arc<dyn Verifier>
        });
        assert!(!verifier.is_built());
        let to = EmailAddress::parse("ana@example.com").expect("an address");
        let day = Date::constant(2026, 12, 4);
        let now = Timestamp::UNIX_EPOCH;
        assert!(
            verifier
                .count_code(&to, day, 1, now)
                .await
                .expect("counted")
        );
        assert!(
            !verifier
                .count_code(&to, day, 1, now)
                .await
                .expect("counted")
        );
        let email = VerificationEmail {
            country: &PERU,
            name: "Ana".to_owned(),
            to,
            code: "123456".to_owned(),
            expires_at: now,
            purpose: citas_domain::verification::CodePurpose::SignUp,
        };
        verifier.send_code(&email).await.expect("sent");
        assert_eq!(
            *recording.sent.lock().unwrap_or_else(|e| e.into_inner()),
            vec![email]
        );
    }
}

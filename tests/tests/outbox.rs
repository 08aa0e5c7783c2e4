//! The transactional outbox: a change and its outgoing notification are one
//! commit. Locally the embedded store's outbox is emptied by the dispatcher,
//! also after a crash; on AWS the history table's stream feeds the publisher,
//! and a record read twice still sends one email.

mod backends;

use std::sync::Arc;

use citas_aws::{OperationCounter, SqsQueue, TableNames};
use citas_domain::use_cases::{self, NewAppointment};
use citas_domain::{
    Doctor, Email, EmailAddress, MailError, Mailer, ManualClock, PERU, Patient, Services,
    SlotHorizon, Speciality,
};
use citas_e2e::callers::admin;
use citas_e2e::{NullQueue, RecordingQueue, build, read_outbox};
use citas_embedded::EmbeddedStore;
use citas_embedded::queue::InProcessQueue;
use citas_notify::process::{Done, EmailPipeline};

/// Monday 2027-01-04, 08:00 in Lima; the slot is on Wednesday.
const NOW: &str = "2027-01-04T13:00:00Z";
const WEDNESDAY: &str = "2027-01-06T14:00:00Z";

/// Services whose queue drops everything: nothing but the commit can tell anyone.
fn services(store: Arc<dyn citas_domain::Store>, clock: Arc<ManualClock>) -> Services {
    Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store,
        queue: Arc::new(NullQueue),
        clock,
        horizon: SlotHorizon::days(14).expect("horizon"),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    }
}

/// A patient with an email, a doctor with a free Wednesday slot, and the
/// patient's request booked on it (committed; nobody told yet).
async fn book(services: &Services) -> citas_domain::AppointmentId {
    let store = &services.store;
    let patient = Patient {
        email: EmailAddress::parse("ana@example.pe").ok(),
        ..build::patient(&PERU, "45678912")
    };
    store
        .upsert_patient(&PERU, &patient)
        .await
        .expect("patient");
    let doctor = Doctor {
        name: "Dra. Ríos".into(),
        ..build::doctor(&PERU, "cardiologia", "7700001")
    };
    store.put_doctor(&doctor).await.expect("doctor");
    let slot = build::slot_at(&doctor.id, WEDNESDAY);
    store.put_slot(&slot).await.expect("slot");
    let created = use_cases::create_appointment(
        services,
        &admin(),
        &PERU,
        NewAppointment {
            document: patient.document.clone(),
            speciality: Speciality::parse("cardiologia").expect("speciality"),
        },
    )
    .await
    .expect("created");
    let id = created.id.clone();
    use_cases::assign(services, &admin(), &PERU, &id, Some(slot.id))
        .await
        .expect("assigned");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_committed_before_a_crash_is_sent_at_the_next_start() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(build::at(NOW)));
    {
        // The process that commits the booking dies before anything is sent.
        let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
        book(&services(store.clone(), clock.clone())).await;
        assert_eq!(store.outbox(10).await.expect("outbox").len(), 1);
    }
    assert!(read_outbox(&dir.path().join("outbox")).is_empty());

    // The next start drains what the outbox holds.
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store reopens"));
    let (queue, dispatcher) = InProcessQueue::with_outbox(
        store.clone(),
        dir.path(),
        clock.clone(),
        citas_domain::testkit::jitsi_rooms(),
    )
    .expect("calendar key");
    drop(queue);
    dispatcher
        .await
        .expect("the dispatcher ends once the queue is gone");
    let sent = read_outbox(&dir.path().join("outbox"));
    let subjects: Vec<&str> = sent.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["Tu cita de Cardiología está confirmada"]);
    assert!(store.outbox(10).await.expect("outbox").is_empty());

    // A start after that has nothing left to send.
    let (queue, dispatcher) = InProcessQueue::with_outbox(
        store,
        dir.path(),
        clock,
        citas_domain::testkit::jitsi_rooms(),
    )
    .expect("calendar key");
    drop(queue);
    dispatcher.await.expect("ends");
    assert_eq!(read_outbox(&dir.path().join("outbox")).len(), 1);
}

/// Counts the emails it is asked to send.
#[derive(Default)]
struct Counting(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl Mailer for Counting {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let mut sent = self.0.lock().expect("lock");
        sent.push(email.subject.clone());
        Ok(format!("m-{}", sent.len()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_stream_publishes_each_change_once_even_when_read_twice() {
    let backend = backends::dynamodb().await;
    let clock = Arc::new(ManualClock::new(build::at(NOW)));
    let sqs_counter = OperationCounter::default();
    let (sqs, urls) = backends::sqs_queues(&sqs_counter).await;
    let id = book(&services(backend.store.clone(), clock.clone())).await;
    assert_eq!(sqs_counter.take_total(), 0, "the use cases call no queue");

    // The publisher reads the committed change from the history table's stream.
    let sdk = citas_provision::sdk_config(&backends::moto_endpoint()).await;
    let table = TableNames::new(backend.table_prefix.clone().expect("prefix")).history();
    let records = citas_local::aws::stream_records_once(&sdk, &table)
        .await
        .expect("the history table's stream");
    assert_eq!(records.len(), 1, "one committed change: {records:?}");
    let queue = SqsQueue::new(sqs.clone(), urls.clone());
    for _ in 0..2 {
        // The same records again, as a retried or replayed batch delivers them.
        let response = citas_lambda::jobs::publish_notifications(&queue, records.clone()).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let received = sqs
        .receive_message()
        .queue_url(&urls["pe"])
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    let bodies: Vec<citas_domain::Notification> = received
        .iter()
        .map(|m| {
            citas_domain::Notification::from_json(m.body.as_deref().unwrap_or_default())
                .expect("a notification")
        })
        .collect();
    assert_eq!(bodies.len(), 2, "published twice");
    let change = format!("{id}:appointment.assigned:r2:");
    assert!(
        bodies[0].idempotency_key.starts_with(&change)
            && bodies
                .iter()
                .all(|m| m.idempotency_key == bodies[0].idempotency_key),
        "{bodies:?}"
    );

    // The email function sends the first and acknowledges the second.
    let mailer = Arc::new(Counting::default());
    let pipeline = EmailPipeline {
        meetings: citas_domain::testkit::jitsi_rooms(),
        calendar_key: citas_notify::CalendarKey::new(&[7; 32]).expect("a 32-byte key"),
        store: backend.store.clone(),
        idempotency: backend.idempotency.clone(),
        mailer: mailer.clone(),
        clock,
        claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
        dead_letters: Arc::new(NullQueue),
    };
    let mut outcomes = Vec::new();
    for message in &bodies {
        outcomes.push(pipeline.process(&message.to_json()).await.expect("handled"));
    }
    assert!(matches!(outcomes[0], Done::Sent { .. }), "{outcomes:?}");
    assert_eq!(outcomes[1], Done::AlreadySent);
    assert_eq!(
        *mailer.0.lock().expect("lock"),
        ["Tu cita de Cardiología está confirmada"]
    );
}

/// The embedded store's idempotency records, failing to record a sent key
/// the first `failures` times.
struct ForgetfulRecords {
    inner: Arc<EmbeddedStore>,
    failures: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl citas_domain::IdempotencyStore for ForgetfulRecords {
    async fn claim(
        &self,
        key: &str,
        now: jiff::Timestamp,
        lapse_after: jiff::SignedDuration,
        keep_for: jiff::SignedDuration,
    ) -> Result<citas_domain::Claim, citas_domain::StoreError> {
        self.inner.claim(key, now, lapse_after, keep_for).await
    }
    async fn complete(
        &self,
        key: &str,
        now: jiff::Timestamp,
        keep_for: jiff::SignedDuration,
    ) -> Result<(), citas_domain::StoreError> {
        let left = self.failures.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.failures
                .store(left - 1, std::sync::atomic::Ordering::SeqCst);
            return Err(citas_domain::StoreError::Backend("throttled".into()));
        }
        self.inner.complete(key, now, keep_for).await
    }
    async fn release(&self, key: &str) -> Result<(), citas_domain::StoreError> {
        self.inner.release(key).await
    }
    async fn reclaim_lapsed(
        &self,
        key: &str,
        sends: u32,
        now: jiff::Timestamp,
        lapse_after: jiff::SignedDuration,
        keep_for: jiff::SignedDuration,
    ) -> Result<bool, citas_domain::StoreError> {
        self.inner
            .reclaim_lapsed(key, sends, now, lapse_after, keep_for)
            .await
    }
    async fn settle_lapsed(
        &self,
        key: &str,
        now: jiff::Timestamp,
        keep_for: jiff::SignedDuration,
    ) -> Result<bool, citas_domain::StoreError> {
        self.inner.settle_lapsed(key, now, keep_for).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_email_is_recorded_even_when_the_record_fails_at_first() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(build::at(NOW)));
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    book(&services(store.clone(), clock.clone())).await;
    let (_, change) = store.outbox(1).await.expect("outbox").remove(0);
    let message = change.notifications().expect("messages").remove(0);
    for (failures, recorded) in [(2, true), (usize::MAX, false)] {
        let mailer = Arc::new(Counting::default());
        let dead_letters = Arc::new(RecordingQueue::default());
        let pipeline = EmailPipeline {
            meetings: citas_domain::testkit::jitsi_rooms(),
            calendar_key: citas_notify::CalendarKey::new(&[7; 32]).expect("a 32-byte key"),
            store: store.clone(),
            idempotency: Arc::new(ForgetfulRecords {
                inner: store.clone(),
                failures: failures.into(),
            }),
            mailer: mailer.clone(),
            clock: clock.clone(),
            claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
            dead_letters: dead_letters.clone(),
        };
        let key = format!("{}-{failures}", message.idempotency_key);
        let message = citas_domain::Notification {
            idempotency_key: key,
            ..message.clone()
        };
        // Sent, and acknowledged: the record is tried again rather than the email.
        let first = pipeline.process(&message.to_json()).await;
        assert!(matches!(first, Ok(Done::Sent { .. })), "{first:?}");
        // After a couple of failures the key is recorded: a duplicate sends nothing.
        // Never recorded: the claim stands; once it lapses nobody knows
        // whether the email went out (this mailer cannot tell), so it is
        // sent once more; when that claim lapses too, it is closed: never a third.
        let again = pipeline.process(&message.to_json()).await;
        let sends = if recorded {
            assert_eq!(again, Ok(Done::AlreadySent));
            1
        } else {
            assert!(
                matches!(again, Err(citas_notify::process::Retry::InProgress)),
                "{again:?}"
            );
            clock.set(build::at(NOW) + citas_notify::CLAIM_LAPSES_AFTER);
            let lapsed = pipeline.process(&message.to_json()).await;
            assert!(matches!(lapsed, Ok(Done::SentAgain { .. })), "{lapsed:?}");
            clock.set(build::at(NOW) + citas_notify::CLAIM_LAPSES_AFTER * 2);
            let lapsed_again = pipeline.process(&message.to_json()).await;
            assert_eq!(lapsed_again, Ok(Done::GaveUpAfterSends { sends: 2 }));
            // Settled: later copies are acknowledged as sent.
            let after = pipeline.process(&message.to_json()).await;
            assert_eq!(after, Ok(Done::AlreadySent));
            2
        };
        let sent = mailer.0.lock().expect("lock").clone();
        assert_eq!(sent.len(), sends);
        assert!(
            sent.iter().all(|subject| subject == &sent[0]),
            "identical copies: {sent:?}"
        );
        assert!(dead_letters.take().is_empty());
    }
}

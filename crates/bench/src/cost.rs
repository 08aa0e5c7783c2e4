//! What one million appointment lifecycles (register, create, assign, the
//! assignment email, the reminder and its email, complete) cost on AWS at
//! public on-demand prices in us-east-1: the requests of each service are
//! counted on a replay of the lifecycle through the use cases and the email
//! pipeline, DynamoDB's capacity units by the same partition counter as the
//! peak simulation, and Lambda's billed time comes from the warm durations
//! `functions` measured. Free tiers are left out.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use citas_domain::ports::stores::*;
use citas_domain::use_cases::{self, NewAppointment, NewPatient};
use citas_domain::{
    Country, Email, EmailAddress, MailError, Mailer, ManualClock, Notification, NotificationQueue,
    PERU, QueueError, Services, Speciality, testkit,
};
use citas_embedded::EmbeddedStore;
use citas_notify::{Done, EmailPipeline};
use jiff::civil::{date, time};

use crate::Error;
use crate::peak::{IDEMPOTENCY_BYTES, PartitionCounter};

/// Public on-demand prices in us-east-1 (USD), as AWS lists them in 2026.
mod price {
    /// HTTP API, per request (first 300 million a month).
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
    /// Lambda, per request.
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// Lambda on arm64, per GB-second (first 7.5 billion a month).
    pub const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
    /// DynamoDB on-demand, per write and per read request unit.
    pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / 1e6;
    pub const DYNAMODB_READ_UNIT: f64 = 0.125 / 1e6;
    /// SQS standard queue, per request (64 KB each).
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    /// SES outbound email, per message.
    pub const SES_EMAIL: f64 = 0.10 / 1e3;
    /// Amazon Chime SDK meetings, per attendee-minute.
    pub const CHIME_ATTENDEE_MINUTE: f64 = 0.0017;
}

/// A virtual visit's meeting: its two parties for the country's meeting
/// length (a price from AWS's list, not a measurement: nothing here runs Chime).
fn virtual_visit_price() -> String {
    let minutes = citas_domain::PERU.meeting.minutes() as f64;
    let attendee_minutes = 2.0 * minutes;
    let visit = attendee_minutes * price::CHIME_ATTENDEE_MINUTE;
    // Each party's join: one HTTP API request and one join-appointment invocation.
    let joins = 2.0 * (price::HTTP_API_REQUEST + price::LAMBDA_REQUEST);
    format!(
        "\n**A virtual visit's meeting (a price, not measured).** Amazon Chime SDK meetings bill \
         each attendee for each minute in the meeting: {:.4} USD an attendee-minute (AWS's public \
         list price, 2026). A {minutes:.0}-minute visit with its patient and doctor is \
         {attendee_minutes:.0} attendee-minutes: **{visit:.2} USD a visit**, {:.0} USD a \
         million virtual visits; their two joins add {:.2} USD a million (two HTTP API requests \
         and two join-appointment invocations; the meeting's one DynamoDB update is under a \
         cent). A meeting nobody joins costs nothing (it is created at the first join). Jitsi \
         rooms on a public server cost the service nothing; a Jitsi server of its own costs \
         its instances.",
        price::CHIME_ATTENDEE_MINUTE,
        visit * 1e6,
        joins * 1e6,
    )
}

/// template.yaml's `MemorySize` of every function in the lifecycle.
const MEMORY_GB: f64 = 128.0 / 1024.0;

/// Counts the messages put on the queues, and the SQS requests that took.
#[derive(Default)]
struct CountingQueue {
    messages: std::sync::Mutex<Vec<Notification>>,
    requests: AtomicUsize,
}

#[async_trait]
impl NotificationQueue for CountingQueue {
    async fn enqueue(&self, message: &Notification) -> Result<(), QueueError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut messages) = self.messages.lock() {
            messages.push(message.clone());
        }
        Ok(())
    }
    /// As the SQS adapter: one `SendMessageBatch` per 10 messages.
    async fn enqueue_batch(
        &self,
        _country: &Country,
        batch: &[Notification],
    ) -> Vec<(Notification, QueueError)> {
        self.requests
            .fetch_add(batch.len().div_ceil(10), Ordering::Relaxed);
        if let Ok(mut messages) = self.messages.lock() {
            messages.extend_from_slice(batch);
        }
        Vec::new()
    }
}

impl CountingQueue {
    fn take(&self) -> Vec<Notification> {
        self.messages
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct CountingMailer(AtomicUsize);

#[async_trait]
impl Mailer for CountingMailer {
    async fn send(&self, _email: &Email) -> Result<String, MailError> {
        Ok(format!("m-{}", self.0.fetch_add(1, Ordering::Relaxed)))
    }
}

/// Requests of each kind over the replay.
#[derive(Default, Debug)]
struct Counted {
    api_requests: usize,
    /// Invocations by function.
    invocations: BTreeMap<&'static str, usize>,
    sqs_requests: usize,
    emails: usize,
}

impl Counted {
    fn invoked(&mut self, function: &'static str, times: usize) {
        *self.invocations.entry(function).or_default() += times;
    }
}

pub async fn report(durations: &Path, lifecycles: u32) -> Result<(), Error> {
    let measured: BTreeMap<String, f64> =
        serde_json::from_str(&std::fs::read_to_string(durations)?)?;
    let dir = tempfile::tempdir()?;
    let embedded = Arc::new(EmbeddedStore::open(dir.path())?);
    let counter = Arc::new(PartitionCounter::new(embedded.clone()));
    let clock = Arc::new(ManualClock::new("2026-11-22T15:00:00Z".parse()?));
    let queue = Arc::new(CountingQueue::default());
    let services = Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store: counter.clone(),
        queue: queue.clone(),
        clock: clock.clone(),
        horizon: Default::default(),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    };
    let mailer = Arc::new(CountingMailer::default());
    let pipeline = EmailPipeline {
        meetings: citas_domain::testkit::jitsi_rooms(),
        calendar_key: citas_notify::CalendarKey::new(&[7; 32]).expect("a 32-byte key"),
        store: counter.clone(),
        idempotency: embedded.clone(),
        mailer: mailer.clone(),
        clock: clock.clone(),
        claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
        dead_letters: queue.clone(),
    };
    let admin = citas_domain::testkit::callers::admin();
    // One cardiologist with a slot for each lifecycle on 2026-12-07 (not counted).
    let doctor = testkit::doctor(&PERU, "cardiologia", "40000001");
    counter.put_doctor(&doctor).await?;
    for n in 0..lifecycles {
        let minutes = 8 * 60 + n;
        let at = time((minutes / 60) as i8, (minutes % 60) as i8, 0, 0);
        counter
            .put_slot(&testkit::slot(&doctor.id, date(2026, 12, 7), at))
            .await?;
    }
    counter.record(true);
    let mut counted = Counted::default();
    // Each message the outbox's publisher puts on the queue, delivered to the
    // email function: one SendMessage, then its ReceiveMessage and
    // DeleteMessageBatch at batches of one (the worst case).
    let deliver = |messages: Vec<Notification>, counted: &mut Counted| {
        let pipeline = pipeline.clone();
        let mut emails = 0;
        let count = messages.len();
        counted.sqs_requests += 2 * count;
        counted.invoked("send-email", count);
        async move {
            for message in messages {
                if let Done::Sent { .. } = pipeline.process(&message.to_json()).await? {
                    emails += 1;
                }
            }
            Ok::<usize, Error>(emails)
        }
    };

    let mut ids = Vec::new();
    for n in 0..lifecycles {
        let document = PERU.parse_document(&format!("{}", 70_000_000 + n))?;
        let patient = NewPatient {
            document: document.clone(),
            name: "Paciente".into(),
            email: EmailAddress::parse("paciente@example.pe")?,
        };
        use_cases::register_patient(&services, &admin, &PERU, patient).await?;
        let request = NewAppointment {
            document,
            speciality: Speciality::parse("cardiologia")?,
        };
        let created = use_cases::create_appointment(&services, &admin, &PERU, request).await?;
        let booked = use_cases::assign(&services, &admin, &PERU, &created.id, None).await?;
        counted.api_requests += 3;
        counted.invoked("register-patient", 1);
        counted.invoked("create-appointment", 1);
        counted.invoked("assign-appointment", 1);
        // The history stream's record of the booking → the publisher → its message.
        let entries = embedded.history(&PERU, &booked.id).await?;
        let messages: Vec<Notification> = entries
            .last()
            .map(|entry| Notification::of_change(&PERU, &booked.id, entry))
            .unwrap_or_default();
        counted.invoked("publish-notifications", 1);
        counted.sqs_requests += messages.len();
        let sent = deliver(messages, &mut counted).await?;
        counted.emails += sent;
        ids.push(booked.id);
    }
    // The day before, the reminder job of the country (twice a day in all: negligible per lifecycle).
    clock.set("2026-12-06T23:00:00Z".parse()?);
    citas_notify::remind(&services, &PERU, date(2026, 12, 7)).await?;
    let reminders = queue.take();
    counted.sqs_requests += queue.requests.swap(0, Ordering::Relaxed);
    let sent = deliver(reminders, &mut counted).await?;
    counted.emails += sent;
    // After the visit, its doctor completes it (the history record reaches the publisher, no message).
    clock.set("2026-12-08T15:00:00Z".parse()?);
    for id in &ids {
        use_cases::complete(&services, &admin, &PERU, id).await?;
        counted.api_requests += 1;
        counted.invoked("close-appointment", 1);
        counted.invoked("publish-notifications", 1);
    }
    // Each email sent also recorded its key: a claim and its completion.
    for n in 0..counted.emails {
        counter.wrote(format!("notification-idempotency {n}"), IDEMPOTENCY_BYTES);
        counter.wrote(format!("notification-idempotency {n}"), IDEMPOTENCY_BYTES);
    }
    let (read_units, write_units) = counter.totals();
    let per = f64::from(lifecycles);
    let million = 1e6;

    println!("## What a million appointment lifecycles cost on AWS\n");
    println!(
        "`citas-bench cost` replays {lifecycles} lifecycles (register the patient, request, \
         auto-assign the earliest slot, the assignment email, the reminder job and its email, \
         complete) through the use cases and the email pipeline and counts each service's \
         requests; DynamoDB's read and write request units are counted per item, table and \
         index by the partition counter of the peak simulation below (items under 1 KB: one \
         unit a write, doubled in transactions, one per index the item is in or leaves; \
         eventually consistent reads half a unit per 4 KB). SQS requests are the publisher's \
         `SendMessage`, the reminder job's `SendMessageBatch` (10 a call) and, per email, the \
         email function's `ReceiveMessage` and `DeleteMessageBatch` at batches of one (the worst \
         case; the idle long polls of the event source mappings, about 0.5 million requests a \
         month per queue whatever the traffic, are not included). Lambda's billed time is each \
         invocation's warm median from the table above, rounded up to the millisecond, at 128 MB \
         on arm64. Measured: the counts and the durations; prices: AWS's public on-demand list \
         prices in us-east-1 (2026), free tiers left out; not included: CloudWatch (logs \
         ingestion, the custom metrics and alarms: fixed monthly costs), X-Ray, data transfer.\n"
    );
    let duration_of = |function: &str| measured.get(function).copied();
    let mut missing = Vec::new();
    let mut gb_seconds = 0.0;
    let mut invocations = 0usize;
    for (function, times) in &counted.invocations {
        invocations += times;
        match duration_of(function) {
            Some(ms) => gb_seconds += *times as f64 * ms.ceil() / 1000.0 * MEMORY_GB,
            None => missing.push(*function),
        }
    }
    if !missing.is_empty() {
        return Err(format!("no measured duration for {missing:?}").into());
    }
    let node_ratio = match (
        measured.get("node20-create-appointment (peer)"),
        measured.get("create-appointment"),
    ) {
        (Some(node), Some(rust)) if *rust > 0.0 => node / rust,
        _ => return Err("the durations need create-appointment and its Node.js peer".into()),
    };
    let node_gb_seconds: f64 = counted
        .invocations
        .iter()
        .filter_map(|(function, times)| {
            duration_of(function)
                .map(|ms| *times as f64 * (ms * node_ratio).ceil() / 1000.0 * MEMORY_GB)
        })
        .sum();
    // (what, quantity per lifecycle, unit price, whether the runtime's speed changes it)
    let rows = [
        (
            "API Gateway HTTP API requests",
            counted.api_requests as f64 / per,
            price::HTTP_API_REQUEST,
            false,
        ),
        (
            "Lambda requests",
            invocations as f64 / per,
            price::LAMBDA_REQUEST,
            false,
        ),
        (
            "Lambda GB-seconds (arm64, 128 MB)",
            gb_seconds / per,
            price::LAMBDA_ARM_GB_SECOND,
            true,
        ),
        (
            "DynamoDB write request units",
            write_units / per,
            price::DYNAMODB_WRITE_UNIT,
            false,
        ),
        (
            "DynamoDB read request units",
            read_units / per,
            price::DYNAMODB_READ_UNIT,
            false,
        ),
        (
            "SQS requests",
            counted.sqs_requests as f64 / per,
            price::SQS_REQUEST,
            false,
        ),
        (
            "SES emails",
            counted.emails as f64 / per,
            price::SES_EMAIL,
            false,
        ),
    ];
    println!("| per lifecycle | quantity | unit price (USD) | a million lifecycles (USD) |");
    println!("|---|---:|---:|---:|");
    let mut total = 0.0;
    let mut fixed = 0.0;
    for (what, quantity, unit, by_runtime) in rows {
        let cost = quantity * unit * million;
        total += cost;
        if !by_runtime {
            fixed += cost;
        }
        println!("| {what} | {quantity:.4} | {unit:.10} | {cost:.2} |");
    }
    println!("| **total** | | | **{total:.2}** |");
    let rust_duration = gb_seconds / per * price::LAMBDA_ARM_GB_SECOND * million;
    let node_duration = node_gb_seconds / per * price::LAMBDA_ARM_GB_SECOND * million;
    println!(
        "\nInvocations per lifecycle: {}. The same lifecycles with the Node.js 20 peer's \
         durations (its measured warm median ÷ Rust create-appointment's, {node_ratio:.1}×, \
         applied to every function, at the same 128 MB): Lambda {:.4} GB-s per lifecycle, \
         **{:.2} USD** a million lifecycles, of which Lambda duration {node_duration:.2} USD \
         (Rust: {rust_duration:.2} USD). The rest, {fixed:.2} USD, is the same for both.",
        counted
            .invocations
            .iter()
            .map(|(f, n)| format!("{f} {}", *n as f64 / per))
            .collect::<Vec<_>>()
            .join(", "),
        node_gb_seconds / per,
        fixed + node_duration,
    );
    println!("{}", virtual_visit_price());
    Ok(())
}

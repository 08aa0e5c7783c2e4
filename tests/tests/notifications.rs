//! The asynchronous half: assignment → queue → email, end to end on the local
//! server (outbox) and on moto (SQS → SES v2); failures retried or dead-lettered,
//! never sent twice; reminders for each country's next local day.

mod backends;
mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use backends::{Backend, dynamodb, moto_endpoint, unique_prefix};
use citas_aws::{DynamoIdempotency, SqsQueue, TableNames};
use citas_domain::appointment::notification::key;
use citas_domain::{
    Appointment, CHILE, Country, Doctor, Email, MailError, Mailer, ManualClock, Notification,
    NotificationKind, NotificationQueue, PERU, Patient, Services,
};
use citas_domain::{EmailAddress, SlotId};
use citas_e2e::build;
use citas_e2e::{ReceivedEmail, parse_email};
use citas_local::LocalConfig;
use citas_local::server::AwsTarget;
use citas_notify::EmailPipeline;
use citas_provision::template::Variables;
use common::TestApp;
use jiff::Timestamp;
use jiff::civil::{Date, date};
use serde_json::{Value, json};

fn at(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

/// What a patient should read: the slot's local date and time, computed here
/// from the tz database rather than by the code under test.
fn local_date_and_time(starts_at: Timestamp, zone: &str) -> (String, String) {
    let local = starts_at.in_tz(zone).expect("zone");
    // Peruvians write 07/12/2026, Chileans 07-12-2026.
    let date_format = if zone == "America/Santiago" {
        "%d-%m-%Y"
    } else {
        "%d/%m/%Y"
    };
    (
        local.strftime(date_format).to_string(),
        local.strftime("%H:%M").to_string(),
    )
}

fn assert_is_the_assignment_email(email: &ReceivedEmail, to: &str, assigned: &Value, zone: &str) {
    let starts_at = at(assigned["starts_at"].as_str().expect("starts_at"));
    let (day, time) = local_date_and_time(starts_at, zone);
    assert_eq!(email.to, to);
    assert!(
        email.subject.starts_with("Tu cita de ") && email.subject.ends_with(" está confirmada"),
        "{}",
        email.subject
    );
    for part in [&email.text, &email.html] {
        for expected in [day.as_str(), time.as_str(), "Referencia"] {
            assert!(part.contains(expected), "{expected} missing: {part}");
        }
        // A booking reference stands for the id, which carries the document.
        let id = assigned["id"].as_str().expect("id");
        assert!(!part.contains(id), "{id} in {part}");
    }
    assert!(
        !email
            .subject
            .contains(assigned["document"].as_str().expect("document"))
    );
    let [invitation] = email.attachments.as_slice() else {
        panic!("one invitation expected: {:?}", email.attachments);
    };
    assert_eq!(invitation.content_type, "text/calendar");
    let local = starts_at.in_tz(zone).expect("zone");
    let dtstart = format!("DTSTART;TZID={zone}:{}", local.strftime("%Y%m%dT%H%M%S"));
    assert!(
        invitation.content.contains(&dtstart),
        "{dtstart}: {}",
        invitation.content
    );
}

#[tokio::test]
async fn an_assignment_is_emailed_to_the_local_outbox_in_local_time() {
    let app = TestApp::spawn().await;
    app.create("cl", "11.111.111-1", "pediatria").await;
    let (status, assigned) = app
        .post("/cl/appointment/20261122-11111111-1/assign", json!({}))
        .await;
    assert_eq!(status, 200, "{assigned}");
    let emails = common::wait_for_emails(&app, 1).await;
    let email = parse_email(emails[0].as_bytes());
    assert_is_the_assignment_email(
        &email,
        "benjamin.castro@example.cl",
        &assigned,
        "America/Santiago",
    );
}

/// moto's record of what SES v2 sent to `recipient`, decoded.
async fn sent_by_moto_to(recipient: &str) -> Vec<ReceivedEmail> {
    backends::ses_sent()
        .await
        .into_iter()
        .filter(|(to, _)| to == recipient)
        .map(|(_, email)| email)
        .collect()
}

#[tokio::test]
async fn an_assignment_is_emailed_through_sqs_and_ses_on_moto() {
    let prefix = unique_prefix();
    let variables = Variables {
        table_prefix: prefix.clone(),
        stack_name: prefix.trim_end_matches('-').to_owned(),
        ..Variables::default()
    };
    let data_dir = tempfile::tempdir().expect("dir");
    let mut config = LocalConfig::new("127.0.0.1:0".parse().expect("addr"), data_dir.path().into());
    config.clock = Arc::new(ManualClock::new(at(common::NOW)));
    config.aws = Some(AwsTarget {
        endpoint: moto_endpoint(),
        variables,
    });
    let server = citas_local::start(config).await.expect("server on moto");
    let base = format!("http://{}", server.addr);
    let token = citas_local::auth::TokenAuthority::open(data_dir.path())
        .and_then(|tokens| {
            tokens.mint(&citas_local::auth::TokenRequest {
                role: citas_domain::Role::Admin,
                country: &PERU,
                document: None,
                ttl: jiff::SignedDuration::from_mins(10),
            })
        })
        .expect("token");

    // A doctor and a slot of our own in the fresh tables.
    let sdk = citas_provision::sdk_config(&moto_endpoint()).await;
    let store = citas_aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        TableNames::new(prefix.clone()),
    );
    let doctor = Doctor {
        name: "Dra. Rosa Paredes".into(),
        ..build::doctor(&PERU, "cardiologia", "40000001")
    };
    citas_domain::DoctorStore::put_doctor(&store, &doctor)
        .await
        .expect("doctor");
    let slot = build::slot(
        &doctor.id,
        date(2026, 12, 7),
        jiff::civil::time(9, 30, 0, 0),
    );
    citas_domain::SlotStore::put_slot(&store, &slot)
        .await
        .expect("slot");

    let client = reqwest::Client::new();
    let recipient = format!("{}@example.pe", prefix.trim_end_matches('-'));
    let post = |path: &str, body: Value| {
        let request = client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send();
        async move {
            let response = request.await.expect("request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let (status, _) = post(
        "/pe/patient",
        json!({ "document": "45678912", "name": "Ana Torres", "email": recipient }),
    )
    .await;
    assert_eq!(status, 201);
    let (status, created) = post(
        "/pe/appointment",
        json!({ "document": "45678912", "speciality": "Cardiología" }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, assigned) = post(
        "/pe/appointment/20261122-45678912/assign",
        json!({ "slot": slot.id.to_string() }),
    )
    .await;
    assert_eq!(status, 200, "{assigned}");

    // The committed change is read from the history table's stream and
    // published (the outbox's publisher), the queue's poller hands the batch
    // to the email handler, and SES sends it.
    let mut sent = Vec::new();
    for _ in 0..100 {
        sent = sent_by_moto_to(&recipient).await;
        if !sent.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let [email] = sent.as_slice() else {
        panic!(
            "one email expected in moto's sent mail, found {}",
            sent.len()
        );
    };
    assert_is_the_assignment_email(email, &recipient, &assigned, "America/Lima");
    assert!(email.text.contains("Dra. Rosa Paredes"), "{}", email.text);
    assert!(email.text.contains("09:30"), "{}", email.text);
    server.stop().await;
}

/// A mailer that rejects some recipients for good and throttles others a
/// given number of times before it sends to them.
#[derive(Default)]
struct FlakyMailer {
    rejects: HashSet<String>,
    throttles: Mutex<BTreeMap<String, usize>>,
    attempts: Mutex<BTreeMap<String, usize>>,
    sent: Mutex<Vec<String>>,
}

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let to = email.to.to_string();
        *self
            .attempts
            .lock()
            .expect("lock")
            .entry(to.clone())
            .or_default() += 1;
        if self.rejects.contains(&to) {
            return Err(MailError::Rejected("mailbox unavailable".into()));
        }
        if let Some(left) = self.throttles.lock().expect("lock").get_mut(&to)
            && *left > 0
        {
            *left -= 1;
            return Err(MailError::Throttled("slow down".into()));
        }
        let mut sent = self.sent.lock().expect("lock");
        sent.push(to);
        Ok(format!("sent-{}", sent.len()))
    }
}

fn assigned_appointment(
    country: &'static Country,
    document: &str,
    starts_at: Timestamp,
) -> Appointment {
    let doctor = build::doctor_id(country, "cardiologia", "40000001");
    build::appointment(country, document)
        .created_at(common::NOW)
        .assigned(&SlotId::new(doctor, starts_at))
        .build()
}

/// The dead-letter queue SQS redrives `url` to (from its RedrivePolicy).
async fn dead_letter_queue_of(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .expect("attributes");
    let policy: Value = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy))
        .and_then(|p| serde_json::from_str(p).ok())
        .expect("the queue has a redrive policy");
    let name = policy["deadLetterTargetArn"]
        .as_str()
        .and_then(|arn| arn.rsplit(':').next())
        .expect("dead-letter ARN");
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .expect("dead-letter queue")
        .queue_url()
        .expect("url")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_emails_are_retried_or_dead_lettered_and_never_sent_twice() {
    let backend = dynamodb().await;
    let counter = citas_aws::OperationCounter::default();
    let (sqs, urls) = backends::sqs_queues(&counter).await;
    let url = urls["pe"].clone();
    let dead_letters = dead_letter_queue_of(&sqs, &url).await;
    // Failed records come back at once instead of after template.yaml's 180 s.
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "0",
        )
        .send()
        .await
        .expect("visibility");

    // Twelve assigned appointments: two recipients are rejected for good,
    // three are throttled once, one is throttled four times (more than one
    // delivery's sends), the rest are healthy.
    let email_of = |n: u32| format!("paciente{n}@example.pe");
    let mut throttles: BTreeMap<String, usize> = (2..5).map(|n| (email_of(n), 1)).collect();
    throttles.insert(email_of(5), 4);
    let mailer = Arc::new(FlakyMailer {
        rejects: (0..2).map(email_of).collect(),
        throttles: Mutex::new(throttles),
        ..FlakyMailer::default()
    });
    let mut messages = Vec::new();
    for n in 0..12u32 {
        let document = format!("{}", 46_000_000 + n);
        let patient = Patient {
            name: format!("Paciente {n}"),
            email: Some(EmailAddress::parse(&email_of(n)).expect("email")),
            ..build::patient(&PERU, &document)
        };
        backend
            .store
            .upsert_patient(&PERU, &patient)
            .await
            .expect("patient");
        let appointment = assigned_appointment(&PERU, &document, at("2026-12-07T14:00:00Z"));
        backend
            .store
            .insert_appointment(&appointment)
            .await
            .expect("appointment");
        messages.push(Notification::about(
            &appointment,
            NotificationKind::Assigned,
            key::change(
                &appointment.id,
                NotificationKind::Assigned,
                appointment.revision,
                appointment.updated_at,
            ),
        ));
    }
    // At-least-once delivery: a failing, a flaky and a healthy message are enqueued twice.
    let mut enqueued = messages.clone();
    enqueued.extend([
        messages[0].clone(),
        messages[2].clone(),
        messages[7].clone(),
    ]);
    let queue = SqsQueue::new(sqs.clone(), urls.clone());
    assert!(queue.enqueue_batch(&PERU, &enqueued).await.is_empty());

    let pipeline = EmailPipeline {
        meetings: citas_domain::testkit::jitsi_rooms(),
        calendar_key: citas_notify::CalendarKey::new(&[7; 32]).expect("a 32-byte key"),
        store: backend.store.clone(),
        idempotency: Arc::new(DynamoIdempotency::new(
            aws_sdk_dynamodb::Client::new(&citas_provision::sdk_config(&moto_endpoint()).await),
            &TableNames::new(backend.table_prefix.clone().expect("prefix")),
        )),
        mailer: mailer.clone(),
        clock: Arc::new(ManualClock::new(at(common::NOW))),
        claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
        dead_letters: Arc::new(SqsQueue::new(
            sqs.clone(),
            [("pe", dead_letters.clone())].into(),
        )),
    };

    // Then the poller, as Lambda's event source would, until every message is settled.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(citas_local::aws::poll(
        sqs.clone(),
        url.clone(),
        pipeline,
        stopped,
    ));
    let healthy = 10;
    for _ in 0..600 {
        let sent = mailer.sent.lock().expect("lock").len();
        if sent >= healthy
            && backends::approximate_count(&sqs, &dead_letters).await >= 3
            && backends::approximate_count(&sqs, &url).await == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    poller.await.expect("poller stops");

    let sent = mailer.sent.lock().expect("lock").clone();
    let distinct: BTreeSet<&String> = sent.iter().collect();
    assert_eq!(distinct.len(), sent.len(), "no email sent twice: {sent:?}");
    let expected: BTreeSet<String> = (2..12).map(email_of).collect();
    assert_eq!(
        distinct,
        expected.iter().collect(),
        "every healthy and flaky message sent"
    );
    let attempts = mailer.attempts.lock().expect("lock").clone();
    // Throttled once: sent again within the same delivery (the duplicate of
    // paciente2 is acknowledged without a send).
    for n in 2..=4 {
        assert_eq!(attempts[&email_of(n)], 2, "throttled {n}: {attempts:?}");
    }
    // Throttled past one delivery's sends: reported failed, back, then sent.
    assert_eq!(attempts[&email_of(5)], 5, "{attempts:?}");

    // The rejected messages (one enqueued twice) go to the dead-letter queue at once.
    let mut dead = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&dead_letters)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        if received.messages().is_empty() {
            break;
        }
        for message in received.messages() {
            let body = Notification::from_json(message.body().unwrap_or_default())
                .expect("a notification");
            dead.push(body.idempotency_key);
            sqs.delete_message()
                .queue_url(&dead_letters)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    dead.sort();
    let mut expected_dead = vec![
        messages[0].idempotency_key.clone(),
        messages[0].idempotency_key.clone(),
        messages[1].idempotency_key.clone(),
    ];
    expected_dead.sort();
    assert_eq!(dead, expected_dead);
    assert_eq!(
        (attempts[&email_of(0)], attempts[&email_of(1)]),
        (2, 1),
        "one send per delivery, none delivered again"
    );
    assert_eq!(
        backends::approximate_count(&sqs, &url).await,
        0,
        "nothing left behind"
    );

    // Sent + dead-lettered = enqueued, message for message (duplicates are one message).
    let sent_keys: BTreeSet<String> = messages[2..]
        .iter()
        .map(|m| m.idempotency_key.clone())
        .collect();
    let dead_keys: BTreeSet<String> = dead.into_iter().collect();
    let enqueued_keys: BTreeSet<String> =
        enqueued.iter().map(|m| m.idempotency_key.clone()).collect();
    assert!(sent_keys.is_disjoint(&dead_keys));
    assert_eq!(sent.len() + dead_keys.len(), enqueued_keys.len());
    assert_eq!(&sent_keys | &dead_keys, enqueued_keys);
}

on_every_backend!(reminders_cover_the_next_local_day_across_midnight_and_daylight_saving);

async fn remind(backend: &Backend, country: &'static Country, now: &str) -> (Date, Vec<String>) {
    let queue = Arc::new(citas_e2e::RecordingQueue::default());
    let services = Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store: backend.store.clone(),
        queue: queue.clone(),
        clock: Arc::new(ManualClock::new(at(now))),
        horizon: Default::default(),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    };
    let day = citas_notify::next_day(country, at(now));
    let report = citas_notify::remind(&services, country, day)
        .await
        .expect("reminders");
    let messages = queue.take();
    assert_eq!(
        (report.appointments, report.enqueued, report.failed),
        (messages.len(), messages.len(), 0)
    );
    let mut ids = Vec::new();
    for message in messages {
        assert_eq!(message.kind, NotificationKind::Reminder);
        let reminded = services
            .store
            .get_appointment(country, &message.appointment_id)
            .await
            .expect("store")
            .expect("the reminded appointment");
        assert_eq!(message.idempotency_key, key::reminder(&reminded, day));
        ids.push(message.appointment_id.to_string());
    }
    (day, ids)
}

/// Inserts an assigned appointment starting at `starts_at` for a new document; returns its id.
async fn assigned_at(
    backend: &Backend,
    country: &'static Country,
    document: &str,
    starts_at: &str,
) -> String {
    let appointment = assigned_appointment(country, document, at(starts_at));
    backend
        .store
        .insert_appointment(&appointment)
        .await
        .expect("insert");
    appointment.id.to_string()
}

async fn reminders_cover_the_next_local_day_across_midnight_and_daylight_saving(backend: &Backend) {
    // Chile springs forward on 2026-09-06: local midnight does not exist, the day has 23 hours.
    let before = assigned_at(backend, &CHILE, "21000001-1", "2026-09-06T03:59:00Z").await; // 09-05 23:59 -04
    let first = assigned_at(backend, &CHILE, "21000002-K", "2026-09-06T04:00:00Z").await; // 09-06 01:00 -03
    let last = assigned_at(backend, &CHILE, "21000003-8", "2026-09-07T02:59:00Z").await; // 09-06 23:59 -03
    let after = assigned_at(backend, &CHILE, "21000004-6", "2026-09-07T03:00:00Z").await; // 09-07 00:00 -03
    // The schedule fires at 18:00 in Santiago on 09-05 (22:00 UTC).
    let (day, ids) = remind(backend, &CHILE, "2026-09-05T22:00:00Z").await;
    assert_eq!(day, date(2026, 9, 6));
    assert_eq!(
        ids,
        [first.clone(), last.clone()],
        "earliest first, local day only"
    );
    assert!(!ids.contains(&before) && !ids.contains(&after));
    let (_, again) = remind(backend, &CHILE, "2026-09-05T22:00:00Z").await;
    assert_eq!(again, ids, "a second run enqueues the same keys");

    // Chile falls back on 2027-04-04: 23:00–23:59 on 04-03 happens twice; both belong to 04-03.
    let twice_early = assigned_at(backend, &CHILE, "21000005-4", "2027-04-04T02:30:00Z").await; // 04-03 23:30 -03
    let twice_late = assigned_at(backend, &CHILE, "21000006-2", "2027-04-04T03:30:00Z").await; // 04-03 23:30 -04
    let new_day = assigned_at(backend, &CHILE, "21000007-0", "2027-04-04T04:00:00Z").await; // 04-04 00:00 -04
    let (day, ids) = remind(backend, &CHILE, "2027-04-02T21:00:00Z").await; // 04-02 18:00 -03
    assert_eq!(day, date(2027, 4, 3));
    assert_eq!(ids, [twice_early, twice_late]);
    let (day, ids) = remind(backend, &CHILE, "2027-04-03T21:00:00Z").await; // 04-03 18:00 -03
    assert_eq!(day, date(2027, 4, 4));
    assert_eq!(ids, [new_day]);

    // Peru keeps UTC-5 all year: 00:00 and 23:59 local are in, the neighbours are out.
    assigned_at(backend, &PERU, "30000001", "2026-12-07T04:59:00Z").await; // 12-06 23:59
    let midnight = assigned_at(backend, &PERU, "30000002", "2026-12-07T05:00:00Z").await; // 12-07 00:00
    let late = assigned_at(backend, &PERU, "30000003", "2026-12-08T04:59:00Z").await; // 12-07 23:59
    assigned_at(backend, &PERU, "30000004", "2026-12-08T05:00:00Z").await; // 12-08 00:00
    let (day, ids) = remind(backend, &PERU, "2026-12-06T23:00:00Z").await; // 12-06 18:00
    assert_eq!(day, date(2026, 12, 7));
    assert_eq!(ids, [midnight, late]);
    // One second before local midnight is still the 6th: tomorrow is the 7th. At midnight it is the 8th.
    assert_eq!(
        citas_notify::next_day(&PERU, at("2026-12-07T04:59:59Z")),
        date(2026, 12, 7)
    );
    assert_eq!(
        citas_notify::next_day(&PERU, at("2026-12-07T05:00:00Z")),
        date(2026, 12, 8)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_five_hundred_reminders_take_at_most_250_send_message_batch_calls() {
    use futures::stream::{self, StreamExt};
    let backend = dynamodb().await;
    let day = date(2026, 12, 7);
    let results: Vec<_> = stream::iter(0..2500u32)
        .map(|n| {
            let store = backend.store.clone();
            async move {
                // Spread over the local day in Lima, a minute apart per 2 appointments.
                let starts_at =
                    at("2026-12-07T05:00:00Z") + jiff::SignedDuration::from_secs(i64::from(n) * 30);
                let appointment =
                    assigned_appointment(&PERU, &format!("{}", 50_000_000 + n), starts_at);
                store.insert_appointment(&appointment).await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(results.iter().all(Result::is_ok));

    let counter = citas_aws::OperationCounter::default();
    let (sqs, urls) = backends::sqs_queues(&counter).await;
    let dynamodb_counter = backend.counter.clone().expect("counter");
    dynamodb_counter.take();
    let services = Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store: backend.store.clone(),
        queue: Arc::new(SqsQueue::new(sqs.clone(), urls.clone())),
        clock: Arc::new(ManualClock::new(at("2026-12-06T23:00:00Z"))),
        horizon: Default::default(),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    };
    let report = citas_notify::remind(&services, &PERU, day)
        .await
        .expect("reminders");
    assert_eq!(
        (report.appointments, report.enqueued, report.failed),
        (2500, 2500, 0)
    );
    let sqs_calls = counter.take();
    assert_eq!(
        sqs_calls.get("SendMessageBatch").copied().unwrap_or(0),
        250,
        "{sqs_calls:?}"
    );
    assert_eq!(sqs_calls.values().sum::<usize>(), 250, "{sqs_calls:?}");
    let dynamodb_calls = dynamodb_counter.take();
    assert!(!dynamodb_calls.contains_key("Scan"), "{dynamodb_calls:?}");
    assert_eq!(
        dynamodb_calls.keys().collect::<Vec<_>>(),
        ["Query"],
        "{dynamodb_calls:?}"
    );
    assert_eq!(backends::approximate_count(&sqs, &urls["pe"]).await, 2500);
}

//! Each function's handler, fed the event documents in tests/fixtures through
//! the types the runtime deserialises them into: API Gateway HTTP API (v2)
//! requests through lambda_http's own parser, an SQS batch, a DynamoDB
//! stream batch, and the EventBridge Scheduler input of template.yaml.

use citas_e2e::assert_problem;
use std::path::Path;
use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use citas_domain::Services;
use citas_e2e::{LocalBackend, local_backend};
use citas_embedded::outbox::OutboxMailer;
use citas_lambda::{functions, http, jobs};
use citas_notify::EmailPipeline;
use lambda_http::Body;
use serde_json::{Value, json};

fn fixture_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&fixture_text(name))
        .unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
}

async fn call(services: &Services, serves: &[citas_api::Action], name: &str) -> (u16, Value) {
    let response = http(services, serves, fixture(name))
        .await
        .expect("handler never fails");
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        other => panic!("unexpected body {other:?}"),
    };
    (status, body)
}

#[tokio::test]
async fn every_api_function_handles_its_events() {
    let dir = tempfile::tempdir().expect("dir");
    let backend = local_backend(dir.path()).await;
    let services = backend.services.clone();

    let (status, patient) = call(
        &services,
        functions::REGISTER_PATIENT,
        "apigw-register-patient.json",
    )
    .await;
    assert_eq!(
        (status, patient["document"].as_str()),
        (200, Some("41234567")),
        "seeded patient, updated"
    );

    let (status, created) = call(
        &services,
        functions::CREATE_APPOINTMENT,
        "apigw-create-appointment.json",
    )
    .await;
    assert_eq!(
        (status, created["id"].as_str()),
        (201, Some("20261122-45678912")),
        "{created}"
    );
    assert_eq!(created["status"], "registered");

    let (status, fetched) = call(
        &services,
        functions::QUERY_APPOINTMENTS,
        "apigw-get-appointment.json",
    )
    .await;
    assert_eq!((status, &fetched), (200, &created));
    let (status, page) = call(
        &services,
        functions::QUERY_APPOINTMENTS,
        "apigw-list-appointments.json",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["id"], "20261122-45678912");
    let (status, health) = call(
        &services,
        functions::QUERY_APPOINTMENTS,
        "apigw-health.json",
    )
    .await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));

    let (status, assigned) = call(
        &services,
        functions::ASSIGN_APPOINTMENT,
        "apigw-assign-appointment.json",
    )
    .await;
    assert_eq!(
        (status, assigned["status"].as_str()),
        (200, Some("assigned")),
        "{assigned}"
    );
    let (status, accepted) = call(
        &services,
        functions::NOTIFY_APPOINTMENT,
        "apigw-notify-appointment.json",
    )
    .await;
    assert_eq!(
        (status, accepted["message"]["type"].as_str()),
        (202, Some("appointment.assigned"))
    );
    // The consultation has taken place: the slot's start has passed.
    backend.clock.set(
        assigned["slot"]["starts_at"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .expect("a start")
            + jiff::SignedDuration::from_mins(30),
    );
    let (status, completed) = call(
        &services,
        functions::CLOSE_APPOINTMENT,
        "apigw-complete-appointment.json",
    )
    .await;
    assert_eq!(
        (status, completed["status"].as_str()),
        (200, Some("completed"))
    );
    let (status, problem) = call(
        &services,
        functions::CLOSE_APPOINTMENT,
        "apigw-cancel-appointment.json",
    )
    .await;
    assert_eq!(
        (status, problem["current_status"].as_str()),
        (409, Some("completed"))
    );
}

#[tokio::test]
async fn cancel_and_the_errors_a_function_answers_itself() {
    let dir = tempfile::tempdir().expect("dir");
    let services = local_backend(dir.path()).await.services;
    call(
        &services,
        functions::CREATE_APPOINTMENT,
        "apigw-create-appointment.json",
    )
    .await;
    let (status, cancelled) = call(
        &services,
        functions::CLOSE_APPOINTMENT,
        "apigw-cancel-appointment.json",
    )
    .await;
    assert_eq!(
        (status, cancelled["cancel_reason"].as_str()),
        (200, Some("viaje imprevisto"))
    );

    // An unsupported country is rejected before any store call.
    let (status, problem) = call(
        &services,
        functions::CREATE_APPOINTMENT,
        "apigw-unsupported-country.json",
    )
    .await;
    assert_problem((status, &problem), 404, "unsupported_country");
    assert_eq!(
        problem["request_id"], "Jd0qRgqGoAMEb5Q=",
        "problems quote API Gateway's request id"
    );
    // A function only serves its own routes.
    let (status, problem) = call(
        &services,
        functions::QUERY_APPOINTMENTS,
        "apigw-create-appointment.json",
    )
    .await;
    assert_problem((status, &problem), 404, "route_not_found");
}

/// The create and assign fixtures: 20261122-45678912 (Ana, Lima) assigned to the earliest slot.
async fn assigned_appointment(services: &Services) -> Value {
    let (status, _) = call(
        services,
        functions::CREATE_APPOINTMENT,
        "apigw-create-appointment.json",
    )
    .await;
    assert_eq!(status, 201);
    let (status, assigned) = call(
        services,
        functions::ASSIGN_APPOINTMENT,
        "apigw-assign-appointment.json",
    )
    .await;
    assert_eq!(status, 200, "{assigned}");
    assigned
}

#[tokio::test]
async fn the_publisher_turns_a_history_record_into_its_change_keyed_message() {
    let event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_str(&fixture_text("dynamodb-stream-history.json"))
            .expect("a DynamoDB stream event");
    let queue = citas_e2e::RecordingQueue::default();
    for _ in 0..2 {
        // A replayed record is published again under the same key (the email consumer keeps it once).
        let response =
            jobs::publish_notifications(&queue, jobs::stream_records(event.clone())).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let keys: Vec<String> = queue
        .take()
        .into_iter()
        .map(|message| message.idempotency_key)
        .collect();
    // The fixture's change: revision 2, made at 2026-11-22T14:00:00Z (in ms).
    let change = "20261122-45678912:appointment.assigned:r2:1795356000000";
    assert_eq!(
        keys, [change; 2],
        "one message per delivery of the record, keyed by the change"
    );
}

#[tokio::test]
async fn the_email_function_reports_exactly_the_records_that_failed() {
    let dir = tempfile::tempdir().expect("dir");
    let local = local_backend(dir.path()).await;
    assigned_appointment(&local.services).await;
    let outbox = dir.path().join("sqs-outbox");
    let pipeline = EmailPipeline {
        meetings: citas_domain::testkit::jitsi_rooms(),
        calendar_key: citas_notify::CalendarKey::new(&[7; 32]).expect("a 32-byte key"),
        store: local.store.clone(),
        idempotency: local.store.clone(),
        mailer: Arc::new(OutboxMailer::new(outbox.clone())),
        clock: local.clock.clone(),
        claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
        dead_letters: Arc::new(citas_embedded::queue::DeadLetterFile::new(dir.path())),
    };

    // One good record, one malformed body, one for an appointment that does not exist.
    let event: SqsEvent =
        serde_json::from_str(&fixture_text("sqs-batch.json")).expect("an SQS event");
    assert_eq!(event.records.len(), 3);
    let malformed = event.records[1].message_id.clone().expect("message id");
    let response = jobs::send_emails(&pipeline, event.clone()).await;
    assert_eq!(
        serde_json::to_value(&response).expect("serialises"),
        json!({ "batchItemFailures": [{ "itemIdentifier": malformed }] }),
        "only the malformed record is retried; the missing appointment is acknowledged"
    );
    let sent = citas_e2e::read_outbox(&outbox);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "ana.torres@example.pe");
    assert_eq!(
        sent[0].subject,
        "Tu cita de Medicina interna está confirmada"
    );
    assert!(
        sent[0].text.contains("Referencia: ") && !sent[0].text.contains("20261122-45678912"),
        "{}",
        sent[0].text
    );

    // SQS delivers the whole batch again: still only the malformed record fails, and no second email.
    let again = jobs::send_emails(&pipeline, event).await;
    assert_eq!(again.batch_item_failures.len(), 1);
    assert_eq!(again.batch_item_failures[0].item_identifier, malformed);
    assert_eq!(citas_e2e::read_outbox(&outbox).len(), 1);
}

#[tokio::test]
async fn the_reminder_function_enqueues_the_next_local_days_reminders_once() {
    let dir = tempfile::tempdir().expect("dir");
    let LocalBackend {
        services,
        clock,
        consumer,
        ..
    } = local_backend(dir.path()).await;
    let assigned = assigned_appointment(&services).await;
    let starts_at: jiff::Timestamp = assigned["starts_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("starts_at");
    let day = starts_at
        .to_zoned(jiff::tz::TimeZone::get("America/Lima").expect("tz"))
        .date();
    // The schedule fires at 18:00 in Lima the day before.
    let fires_at = day
        .yesterday()
        .expect("a day before")
        .at(18, 0, 0, 0)
        .in_tz("America/Lima")
        .expect("local time")
        .timestamp();
    clock.set(fires_at);

    let input: Value =
        serde_json::from_str(&fixture_text("scheduler-event.json")).expect("the scheduler input");
    let report = jobs::send_reminders(&services, input.clone())
        .await
        .expect("reminders enqueued");
    assert_eq!(
        (report.day.as_str(), report.appointments, report.enqueued),
        (day.to_string().as_str(), 1, 1)
    );
    // The scheduler retries or fires twice: the same reminder, sent once.
    let again = jobs::send_reminders(&services, input)
        .await
        .expect("reminders enqueued");
    assert_eq!(again, report);

    for bad in [
        json!({ "country": "xx" }),
        json!({ "country": "pe", "at": 1 }),
        json!([]),
    ] {
        assert!(
            matches!(
                jobs::send_reminders(&services, bad.clone()).await,
                Err(jobs::ReminderError::Input(_))
            ),
            "{bad}"
        );
    }

    // Dropping the queue lets its consumer finish what it holds.
    drop(services);
    consumer.await.expect("consumer ends");
    let sent = citas_e2e::read_outbox(&dir.path().join("outbox"));
    // Deliveries run concurrently: the assignment email may be written after the reminder.
    let mut subjects: Vec<&str> = sent.iter().map(|e| e.subject.as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(
        subjects,
        [
            "Recordatorio: tu cita de Medicina interna es mañana",
            "Tu cita de Medicina interna está confirmada",
        ]
    );
    let reminder = sent
        .iter()
        .find(|e| e.subject.starts_with("Recordatorio"))
        .expect("the reminder");
    assert_eq!(reminder.attachments.len(), 1);
    assert_eq!(reminder.attachments[0].content_type, "text/calendar");
    assert!(
        reminder.attachments[0]
            .content
            .contains("TZID=America/Lima")
    );
}

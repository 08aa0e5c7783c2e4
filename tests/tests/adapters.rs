//! The SQS queue and the SES v2 mailer, each on moto's real wire protocol.

mod backends;

use std::collections::HashMap;

use citas_aws::{OperationCounter, SesMailer, SqsQueue};
use citas_domain::ports::stores::*;
use citas_domain::{
    AppointmentId, Attachment, CHILE, Email, EmailAddress, Mailer, Notification, NotificationKind,
    NotificationQueue, PERU,
};
use serde_json::Value;

#[tokio::test]
async fn notifications_arrive_on_their_country_queue_as_versioned_json() {
    let counter = OperationCounter::default();
    let (client, urls) = backends::sqs_queues(&counter).await;
    let queue = SqsQueue::new(client.clone(), urls.clone());
    let message = Notification {
        kind: NotificationKind::Assigned,
        country: &CHILE,
        appointment_id: AppointmentId::parse(&CHILE, "20261122-12345678-5").expect("id"),
        idempotency_key: "k-1".into(),
        change: None,
    };
    queue.enqueue(&message).await.expect("enqueued");

    let received = client
        .receive_message()
        .queue_url(&urls["cl"])
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let bodies: Vec<Value> = received
        .messages()
        .iter()
        .filter_map(|m| m.body().and_then(|b| serde_json::from_str(b).ok()))
        .collect();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["type"], "appointment.assigned");
    assert_eq!(bodies[0]["version"], 2);
    assert_eq!(bodies[0]["appointment_id"], "20261122-12345678-5");
    let back = Notification::from_json(&bodies[0].to_string()).expect("round trip");
    assert_eq!(back, message);
    // Peru's queue got nothing.
    let peru = client
        .receive_message()
        .queue_url(&urls["pe"])
        .send()
        .await
        .expect("receive");
    assert!(peru.messages().is_empty());

    // A country with no configured queue is an error, not a silent drop.
    let without_peru = SqsQueue::new(client, HashMap::from([("cl", urls["cl"].clone())]));
    let peruvian = Notification {
        country: &PERU,
        appointment_id: AppointmentId::parse(&PERU, "20261122-45678912").expect("id"),
        ..message
    };
    assert!(without_peru.enqueue(&peruvian).await.is_err());
}

#[tokio::test]
async fn emails_are_sent_raw_through_ses_v2() {
    let config = citas_provision::sdk_config(&backends::moto_endpoint()).await;
    let client = aws_sdk_sesv2::Client::new(&config);
    let sender = format!(
        "citas-{}@example.com",
        backends::unique_prefix().trim_end_matches('-')
    );
    client
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .expect("identity");
    let mailer = SesMailer::new(client, sender.clone(), None);
    let recipient = format!("ana-{}@example.pe", std::process::id());
    let email = Email {
        message_id: Some(citas_domain::appointment::notification::key::message_id(
            "k-1",
        )),
        to: EmailAddress::parse(&recipient).expect("address"),
        subject: "Su cita fue asignada".into(),
        text: "Hola Ana".into(),
        html: "<p>Hola Ana</p>".into(),
        attachments: vec![Attachment {
            filename: "cita.ics".into(),
            content_type: "text/calendar".into(),
            content: b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".to_vec(),
        }],
    };
    let id = mailer.send(&email).await.expect("sent");
    assert!(!id.is_empty());

    let data: Value = backends::moto_data().await;
    let sent = data["ses"]["RawMessage"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["id"] == id.as_str()))
        .cloned()
        .expect("the message is in moto's sent mail");
    assert!(
        sent["destinations"]
            .as_array()
            .is_some_and(|d| d.iter().all(|to| *to == recipient.as_str()))
    );
    let raw = sent["raw_data"].as_str().unwrap_or_default();
    for part in [
        "Subject: Su cita fue asignada",
        "text/plain",
        "text/html",
        "text/calendar",
        "cita.ics",
        // What SES is given; SES itself may put its own in its place.
        &format!(
            "Message-ID: <{}@citas>",
            citas_domain::appointment::notification::key::message_id("k-1")
        ),
    ] {
        assert!(raw.contains(part), "{part} missing from the raw message");
    }

    // An unverified sender is rejected, not retried.
    let config = citas_provision::sdk_config(&backends::moto_endpoint()).await;
    let stranger = SesMailer::new(
        aws_sdk_sesv2::Client::new(&config),
        "nobody@unverified.example".into(),
        None,
    );
    assert!(matches!(
        stranger.send(&email).await,
        Err(citas_domain::MailError::Rejected(_))
    ));
}

/// The subsegments the X-Ray interceptor sent to a stand-in daemon.
fn subsegments(daemon: &std::net::UdpSocket) -> Vec<Value> {
    let mut documents = Vec::new();
    let mut buffer = [0u8; 65_536];
    while let Ok(size) = daemon.recv(&mut buffer) {
        let text = String::from_utf8_lossy(&buffer[..size]).to_string();
        let (header, document) = text
            .split_once('\n')
            .expect("header line, then the document");
        assert_eq!(header, r#"{"format": "json", "version": 1}"#);
        documents.push(serde_json::from_str(document).expect("a JSON subsegment"));
    }
    documents
}

/// Reads the appointment through `store` (a traced call) and finds nothing.
async fn assert_absent(store: &citas_aws::DynamoStore, id: &AppointmentId) {
    assert!(
        store
            .get_appointment(&PERU, id)
            .await
            .expect("get")
            .is_none()
    );
}

#[tokio::test]
async fn each_sdk_call_of_a_sampled_trace_is_an_xray_subsegment_naming_its_table() {
    let daemon = std::net::UdpSocket::bind("127.0.0.1:0").expect("a stand-in daemon");
    daemon
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .expect("timeout");
    let (trace, parent) = ("1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8");
    let sampled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let header = {
        let sampled = sampled.clone();
        std::sync::Arc::new(move || {
            let flag = u8::from(sampled.load(std::sync::atomic::Ordering::SeqCst));
            Some(format!("Root={trace};Parent={parent};Sampled={flag}"))
        })
    };
    let backend = backends::dynamodb().await;
    let prefix = backend.table_prefix.clone().expect("prefix");
    let config = citas_provision::sdk_config(&backends::moto_endpoint()).await;
    let traced = |prefix: &str, header: citas_aws::xray::TraceHeader| {
        let xray = citas_aws::XrayInterceptor::new(daemon.local_addr().expect("address"), header)
            .expect("interceptor");
        citas_aws::DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&config)
                    .interceptor(xray)
                    .build(),
            ),
            citas_aws::TableNames::new(prefix),
        )
    };
    let store = traced(&prefix, header);
    let patient = citas_e2e::build::patient(&PERU, "45678912");
    store.upsert_patient(&PERU, &patient).await.expect("put");
    let missing = AppointmentId::parse(&PERU, "20261122-45678912").expect("id");
    assert_absent(&store, &missing).await;

    let documents = subsegments(&daemon);
    let operations: Vec<(&str, &str)> = documents
        .iter()
        .map(|d| {
            (
                d["aws"]["operation"].as_str().expect("operation"),
                d["aws"]["table_name"].as_str().expect("table"),
            )
        })
        .collect();
    let (patients, appointments) = (
        format!("{prefix}pe-patient"),
        format!("{prefix}pe-appointment"),
    );
    assert!(
        operations.contains(&("GetItem", appointments.as_str())),
        "{operations:?}"
    );
    assert!(
        operations.iter().any(|(_, table)| *table == patients),
        "{operations:?}"
    );
    for document in &documents {
        assert_eq!(document["name"], "DynamoDB");
        assert_eq!(document["type"], "subsegment");
        assert_eq!(document["namespace"], "aws");
        assert_eq!(document["trace_id"], trace);
        assert_eq!(document["parent_id"], parent);
        assert_eq!(document["http"]["response"]["status"], 200);
        assert_eq!(document["aws"]["region"], "us-east-1");
        assert!(document["id"].as_str().is_some_and(|id| id.len() == 16));
        let (start, end) = (
            document["start_time"].as_f64().expect("start"),
            document["end_time"].as_f64().expect("end"),
        );
        assert!(start > 1.7e9 && start <= end, "{document}");
    }
    // A call to a table that does not exist is recorded as an error.
    let absent = traced(
        "absent-",
        std::sync::Arc::new(move || Some(format!("Root={trace};Parent={parent};Sampled=1"))),
    );
    assert!(absent.get_appointment(&PERU, &missing).await.is_err());
    let failed = subsegments(&daemon);
    assert!(!failed.is_empty());
    assert!(
        failed
            .iter()
            .all(|d| d["error"] == true && d["http"]["response"]["status"] == 400)
    );
    // An invocation that is not sampled sends nothing.
    sampled.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_absent(&store, &missing).await;
    assert!(subsegments(&daemon).is_empty());
}

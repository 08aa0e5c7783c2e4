//! The SQS queue and the SES v2 mailer, each on moto's real wire protocol.

mod backends;

use std::collections::HashMap;

use citas_aws::{OperationCounter, SesMailer, SqsQueue};
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
    assert_eq!(bodies[0]["version"], 1);
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

    let data: Value = reqwest::get(format!("{}/moto-api/data.json", backends::moto_endpoint()))
        .await
        .expect("moto data")
        .json()
        .await
        .expect("json");
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

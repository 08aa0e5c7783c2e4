//! One way to turn an [`Email`] into bytes on the wire: an RFC 5322 message
//! with a multipart/alternative body (text and HTML) and its attachments.
//! SES receives it raw; the local server writes it as a `.eml` file.

use citas_domain::Email;
use mail_builder::MessageBuilder;

/// The sender of local runs: in the embedded outbox and, registered as an
/// identity, with an emulator's SES.
pub const LOCAL_SENDER: &str = "citas@example.com";

/// Renders the email as a MIME message from `from`.
pub fn to_mime(email: &Email, from: &str) -> Result<Vec<u8>, std::io::Error> {
    let mut message = MessageBuilder::new()
        .from(from)
        .to(email.to.as_str())
        .subject(email.subject.as_str())
        .text_body(email.text.as_str())
        .html_body(email.html.as_str());
    if let Some(id) = &email.message_id {
        message = message.message_id(format!("{id}@citas"));
    }
    for attachment in &email.attachments {
        message = message.attachment(
            attachment.content_type.as_str(),
            attachment.filename.as_str(),
            attachment.content.as_slice(),
        );
    }
    message.write_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use citas_domain::Attachment;

    #[test]
    fn text_html_and_attachments_are_all_in_the_message() {
        let email = Email {
            message_id: Some("6f1c4d2e-0000-5000-8000-000000000000".into()),
            to: citas_domain::EmailAddress::parse("ana@example.pe").unwrap(),
            subject: "Cita asignada".into(),
            text: "Hola Ana".into(),
            html: "<p>Hola Ana</p>".into(),
            attachments: vec![Attachment {
                filename: "cita.ics".into(),
                content_type: "text/calendar".into(),
                content: b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".to_vec(),
            }],
        };
        let mime = String::from_utf8(to_mime(&email, "citas@example.com").unwrap()).unwrap();
        for expected in [
            "From: <citas@example.com>",
            "To: <ana@example.pe>",
            "Subject: Cita asignada",
            "multipart/alternative",
            "text/plain",
            "text/html",
            "text/calendar",
            "cita.ics",
            "Message-ID: <6f1c4d2e-0000-5000-8000-000000000000@citas>",
        ] {
            assert!(mime.contains(expected), "{expected} missing from:\n{mime}");
        }
    }
}

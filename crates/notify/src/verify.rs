//! The email that carries a verification code, sent through the same
//! mailer as the notifications.

use std::sync::Arc;

use async_trait::async_trait;
use citas_domain::EmailAddress;
use citas_domain::ports::{Claim, Email, IdempotencyStore, MailError, Mailer, StoreError};
use citas_domain::verification::{CodePurpose, VerificationEmail, Verifier, count_key};
use jiff::Timestamp;
use jiff::civil::Date;

use crate::render::when;

/// Sends codes by email, straight away, and counts them in the
/// notifications' idempotency records (a conditional write per code).
pub struct MailVerifier {
    mailer: Arc<dyn Mailer>,
    counts: Arc<dyn IdempotencyStore>,
}

impl MailVerifier {
    pub fn new(mailer: Arc<dyn Mailer>, counts: Arc<dyn IdempotencyStore>) -> Self {
        Self { mailer, counts }
    }
}

/// A count is kept past its day (and its time zone's).
const COUNTS_KEPT: jiff::SignedDuration = jiff::SignedDuration::from_hours(48);

/// The email of a code: the code, until when it may be used, and that
/// nothing is sent to the address until it is used.
pub fn render_code(email: &VerificationEmail) -> Email {
    let until = when(email.country, email.expires_at);
    let (subject, lead, after) = match email.purpose {
        CodePurpose::ContactAddress => (
            "Confirma tu correo para recibir los avisos de tus citas",
            "Para recibir en este correo los avisos de tus citas, confirma que es tuyo con este código:",
            format!(
                "El código vale hasta el {until}. Hasta que lo confirmes no te enviaremos avisos a esta dirección. Si no pediste este correo, ignóralo."
            ),
        ),
        CodePurpose::SignUp => (
            "Tu código para activar tu cuenta de citas",
            "Para activar tu cuenta, confirma que este correo es tuyo con este código:",
            format!(
                "El código vale hasta el {until}. Hasta que lo confirmes no podrás iniciar sesión. Si no creaste una cuenta, ignora este correo."
            ),
        ),
    };
    let greeting = format!("Hola {},", email.name);
    let text = format!(
        "{greeting}\n\n{lead}\n\n{}\n\n{after}\n\nEste es un mensaje automático; no respondas a este correo.\n",
        email.code
    );
    let html = format!(
        "<!DOCTYPE html><html lang=\"es\"><body><p>{}</p><p>{}</p><p><strong><code>{}</code></strong></p><p>{}</p></body></html>",
        escape(&greeting),
        escape(lead),
        escape(&email.code),
        escape(&after)
    );
    Email {
        message_id: None,
        to: email.to.clone(),
        subject: subject.into(),
        text,
        html,
        attachments: Vec::new(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[async_trait]
impl Verifier for MailVerifier {
    async fn count_code(
        &self,
        to: &EmailAddress,
        day: Date,
        limit: u16,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        // The day's codes are the keys 1..=limit: whoever claims one first counts it.
        for n in 1..=limit {
            let claim = self
                .counts
                .claim(&count_key(to, day, n), now, COUNTS_KEPT, COUNTS_KEPT)
                .await?;
            if claim == Claim::Acquired {
                // Settled at once: a count is not a send in progress.
                self.counts
                    .complete(&count_key(to, day, n), now, COUNTS_KEPT)
                    .await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn send_code(&self, email: &VerificationEmail) -> Result<(), MailError> {
        self.mailer.send(&render_code(email)).await.map(|_| ())
    }
}

/// Where no sender is configured: every code fails to send, as a 503.
pub struct NoSender;

#[async_trait]
impl Verifier for NoSender {
    async fn count_code(
        &self,
        _to: &EmailAddress,
        _day: Date,
        _limit: u16,
        _now: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn send_code(&self, _email: &VerificationEmail) -> Result<(), MailError> {
        Err(MailError::Unavailable(
            "no email sender is configured (SES_SENDER)".into(),
        ))
    }
}

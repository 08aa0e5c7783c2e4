//! One notification message in, at most one email out.

use std::sync::Arc;

use citas_domain::{
    Claim, Clock, Country, IdempotencyStore, MailError, Mailer, Notification, NotificationKind,
    Store, StoreError,
};
use jiff::SignedDuration;

use crate::render::{Context, render};

/// A claim lapses after this long, so a consumer that died mid-send does not block the message forever.
pub const CLAIM_LAPSES_AFTER: SignedDuration = SignedDuration::from_mins(5);
/// Sent keys are remembered this long (longer than any queue retention).
pub const REMEMBER_SENT_FOR: SignedDuration = SignedDuration::from_hours(24 * 15);

/// What the email consumer needs.
#[derive(Clone)]
pub struct EmailPipeline {
    pub store: Arc<dyn Store>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
}

/// A message done with: nothing more will come of delivering it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Sent {
        message_id: String,
    },
    /// Its key was sent before: a redelivery or a duplicate.
    AlreadySent,
    /// Nothing to send (the appointment is gone, the patient has no email).
    Skipped {
        reason: String,
    },
}

/// A message to deliver again later (it ends in the dead-letter queue after the redrive count).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Retry {
    #[error("not a notification message: {0}")]
    Malformed(String),
    #[error("another consumer is sending it")]
    InProgress,
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EmailPipeline {
    /// Handles one message body from the queue.
    pub async fn process(&self, body: &str) -> Result<Done, Retry> {
        let message = Notification::from_json(body).map_err(|e| Retry::Malformed(e.0))?;
        let country = message.country;
        let now = self.clock.now();
        match self
            .idempotency
            .claim(&message.idempotency_key, now, CLAIM_LAPSES_AFTER)
            .await?
        {
            Claim::Completed => {
                tracing::info!(idempotency_key = %citas_domain::privacy::masked_key(&message.idempotency_key), "already sent; acknowledged");
                return Ok(Done::AlreadySent);
            }
            Claim::InProgress => return Err(Retry::InProgress),
            Claim::Acquired => {}
        }
        match self.send(country, &message).await {
            Ok(done) => {
                self.idempotency
                    .complete(
                        &message.idempotency_key,
                        self.clock.now(),
                        REMEMBER_SENT_FOR,
                    )
                    .await?;
                Ok(done)
            }
            Err(error) => {
                // Let the retry claim it again; if releasing fails too, the claim lapses.
                if let Err(release) = self.idempotency.release(&message.idempotency_key).await {
                    tracing::warn!(%release, "could not release an idempotency claim");
                }
                Err(error)
            }
        }
    }

    async fn send(&self, country: &'static Country, message: &Notification) -> Result<Done, Retry> {
        let Some(appointment) = self
            .store
            .get_appointment(country, &message.appointment_id)
            .await?
        else {
            tracing::warn!(appointment_id = %citas_domain::privacy::masked_appointment(&message.appointment_id), "notification for an appointment that does not exist; acknowledged");
            return Ok(Done::Skipped {
                reason: "appointment not found".into(),
            });
        };
        if message.kind == NotificationKind::Reminder
            && appointment.status != citas_domain::Status::Assigned
        {
            return Ok(Done::Skipped {
                reason: format!("the appointment is {}", appointment.status),
            });
        }
        let doctor = match appointment.doctor() {
            Some(id) => self.store.get_doctor(id).await?,
            None => None,
        };
        let recipient = if message.kind.is_for_doctor() {
            doctor
                .as_ref()
                .and_then(|d| d.email.clone().map(|email| (d.name.clone(), email)))
        } else {
            let patient = self
                .store
                .get_patient(country, appointment.document())
                .await?;
            let recipient = patient.and_then(|p| p.email.map(|email| (p.name, email)));
            if recipient.is_none() {
                // Counted in the logs and recorded on the appointment's history.
                tracing::warn!(
                    appointment_id = %citas_domain::privacy::masked_appointment(&appointment.id),
                    r#type = message.kind.as_str(),
                    notification_unsendable = 1,
                    "notification_unsendable: the patient has no email address on file"
                );
                citas_domain::service::note_unsent(
                    self.store.as_ref(),
                    &appointment,
                    message.kind,
                    "no email address on file",
                    self.clock.now(),
                )
                .await?;
            }
            recipient
        };
        let Some((name, to)) = recipient else {
            return Ok(Done::Skipped {
                reason: "no email address".into(),
            });
        };
        let email = render(&Context {
            country,
            kind: message.kind,
            appointment: &appointment,
            patient_name: &name,
            to: &to,
            doctor: doctor.as_ref(),
            now: self.clock.now(),
        });
        let message_id = self.mailer.send(&email).await?;
        tracing::info!(appointment_id = %citas_domain::privacy::masked_appointment(&appointment.id), r#type = ?message.kind, %message_id, "email sent");
        Ok(Done::Sent { message_id })
    }
}

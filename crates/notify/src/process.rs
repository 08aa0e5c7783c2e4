//! One notification message in, at most one email out.

use std::sync::Arc;

use std::time::Duration;

use citas_domain::{
    Claim, Clock, Country, Email, IdempotencyStore, MailError, Mailer, Notification,
    NotificationKind, NotificationQueue, Store, StoreError,
};
use jiff::SignedDuration;

use crate::render::{Context, render};

/// A claim lapses after this long, so a consumer that died mid-send does not block the message forever.
pub const CLAIM_LAPSES_AFTER: SignedDuration = SignedDuration::from_mins(5);
/// Sent keys are remembered this long (longer than any queue retention).
pub const REMEMBER_SENT_FOR: SignedDuration = SignedDuration::from_hours(24 * 15);

/// Sends of one email within one delivery when the provider throttles or
/// fails (a 5xx); past them the message is delivered again later.
pub const SEND_ATTEMPTS: u32 = 3;
/// The wait before the second send; it doubles after each.
pub const SEND_BACKOFF: Duration = Duration::from_millis(100);
/// Tries at recording a sent key before the consumer gives up on it.
pub const COMPLETE_ATTEMPTS: u32 = 4;

/// What the email consumer needs.
#[derive(Clone)]
pub struct EmailPipeline {
    pub store: Arc<dyn Store>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    /// Where a message the provider refuses for good goes at once (the
    /// country's dead-letter queue), instead of being delivered again.
    pub dead_letters: Arc<dyn NotificationQueue>,
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
    /// The provider refused it for good (a bad address, a rejected message):
    /// put on the dead-letter queue, where it can be looked at and sent back.
    DeadLettered {
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
                self.complete(&message.idempotency_key).await;
                Ok(done)
            }
            Err(Retry::Mail(MailError::Rejected(reason))) => {
                // Retrying will not help: the message goes to the dead-letter
                // queue now. Its claim is released, so a redrive can send it.
                self.release(&message.idempotency_key).await;
                self.dead_letters
                    .enqueue(&message)
                    .await
                    .map_err(|e| Retry::Mail(MailError::Unavailable(e.0)))?;
                tracing::warn!(appointment_id = %citas_domain::privacy::masked_appointment(&message.appointment_id), %reason, "notification rejected by the mail provider; dead-lettered");
                Ok(Done::DeadLettered { reason })
            }
            Err(error) => {
                self.release(&message.idempotency_key).await;
                Err(error)
            }
        }
    }

    /// Lets a later delivery claim the key again; if releasing fails, the claim lapses.
    async fn release(&self, key: &str) {
        if let Err(release) = self.idempotency.release(key).await {
            tracing::warn!(%release, "could not release an idempotency claim");
        }
    }

    /// Records that the key's email is sent, trying again with backoff: a
    /// claim left to lapse would let a duplicate of the message send a second
    /// email. The message is acknowledged either way (its email is sent).
    async fn complete(&self, key: &str) {
        let mut wait = SEND_BACKOFF;
        for attempt in 1..=COMPLETE_ATTEMPTS {
            match self
                .idempotency
                .complete(key, self.clock.now(), REMEMBER_SENT_FOR)
                .await
            {
                Ok(()) => return,
                Err(error) if attempt < COMPLETE_ATTEMPTS => {
                    tracing::warn!(%error, attempt, "could not record a sent key; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(error) => {
                    tracing::error!(%error, idempotency_key = %citas_domain::privacy::masked_key(key), "sent, but the key could not be recorded; its claim lapses in minutes");
                }
            }
        }
    }

    /// Sends, trying again with backoff while the provider throttles or fails.
    async fn send_with_backoff(&self, email: &Email) -> Result<String, MailError> {
        let mut wait = SEND_BACKOFF;
        let mut attempt = 1;
        loop {
            match self.mailer.send(email).await {
                Err(MailError::Throttled(reason) | MailError::Unavailable(reason))
                    if attempt < SEND_ATTEMPTS =>
                {
                    tracing::info!(%reason, attempt, "the mail provider is throttling or failing; sending again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
                other => return other,
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
        let message_id = self.send_with_backoff(&email).await?;
        tracing::info!(appointment_id = %citas_domain::privacy::masked_appointment(&appointment.id), r#type = ?message.kind, %message_id, "email sent");
        Ok(Done::Sent { message_id })
    }
}

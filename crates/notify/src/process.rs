//! One notification message in, at most one email out.

use std::sync::Arc;

use std::time::Duration;

use citas_domain::{
    Claim, Clock, Country, Email, IdempotencyStore, MailError, Mailer, Notification,
    NotificationKind, NotificationQueue, Store, StoreError,
};
use jiff::SignedDuration;

use crate::render::{Context, render};

/// A claim lapses after this long: longer than the email function runs (its
/// 30 s timeout), so only a consumer that died holds a lapsed claim.
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
    /// [`CLAIM_LAPSES_AFTER`], shorter in tests. A send still going at half
    /// of it is abandoned, so a live consumer never outlasts its claim.
    pub claim_lapses_after: SignedDuration,
    /// Derives invitation UIDs and booking references (a secret: the
    /// deployment's `CALENDAR_KEY`, the data directory's `calendar-key`).
    pub calendar_key: crate::CalendarKey,
    /// Where a virtual visit's emails send its parties (the join page).
    pub meetings: Arc<dyn citas_domain::ports::Meetings>,
}

/// A message done with: nothing more will come of delivering it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Sent {
        message_id: String,
    },
    /// Sent once more after a consumer died inside its send: the one copy
    /// that may be a second (identical: same subject, invitation, Message-ID).
    SentAgain {
        message_id: String,
    },
    /// Its key was sent before: a redelivery or a duplicate.
    AlreadySent,
    /// Its send was interrupted [`MAX_SENDS`] times without the mailer being
    /// able to tell whether it left: closed, so a third is never made.
    GaveUpAfterSends {
        sends: u32,
    },
    /// Nothing to send (the appointment is gone, the patient has no email).
    Skipped {
        reason: citas_domain::Unsent,
    },
    /// The provider refused it for good (a bad address, a rejected
    /// message): put on the dead-letter queue, where it can be looked at and
    /// sent back.
    DeadLettered {
        reason: String,
    },
}

/// The most sends one claim of a notification reaches when consumers die
/// inside them and the mailer cannot tell whether the email left: the first
/// and, after the crash, one identical copy. (A send the provider answered
/// with an error left nothing, so it releases the claim and is not counted.)
pub const MAX_SENDS: u32 = 2;

/// Adds a delivery's outcome to the country's email counters.
fn count(country: &'static Country, outcome: &Result<Done, Retry>) {
    use citas_domain::metrics::*;
    let counters: &[&'static str] = match outcome {
        Ok(Done::Sent { .. }) => &[EMAILS_SENT],
        Ok(Done::SentAgain { .. }) => &[EMAILS_SENT, EMAILS_DELIVERY_UNCERTAIN],
        Ok(Done::AlreadySent) => &[DUPLICATES_SUPPRESSED],
        Ok(Done::GaveUpAfterSends { .. }) => &[EMAILS_DELIVERY_UNCERTAIN],
        Ok(Done::DeadLettered { .. }) => &[EMAILS_DEAD_LETTERED],
        Err(Retry::Mail(_)) => &[EMAILS_FAILED],
        Ok(Done::Skipped { .. }) | Err(_) => &[],
    };
    for name in counters {
        citas_domain::metrics::count(name, country, 1);
    }
}

/// What a notification comes to once its appointment is read.
enum Outgoing {
    Email(Box<Email>),
    Nothing {
        reason: citas_domain::Unsent,
        /// The appointment to note the unsent message on.
        unsent: Option<Box<citas_domain::Appointment>>,
    },
}

/// What taking over a lapsed claim comes to.
enum TakeOver {
    /// Claimed again: send it (once more).
    Send,
    Done(Done),
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
    /// Handles one message body from the queue. It reads what the message
    /// needs first, then claims the key just before sending, so a consumer
    /// that dies holding a claim most likely died inside the send.
    pub async fn process(&self, body: &str) -> Result<Done, Retry> {
        let message = Notification::from_json(body).map_err(|e| Retry::Malformed(e.0))?;
        let country = message.country;
        let outcome = self.deliver(message).await;
        count(country, &outcome);
        outcome
    }

    async fn deliver(&self, message: Notification) -> Result<Done, Retry> {
        let outgoing = self.prepare(&message).await?;
        let key = &message.idempotency_key;
        let now = self.clock.now();
        let again = match self
            .idempotency
            .claim(key, now, self.claim_lapses_after, REMEMBER_SENT_FOR)
            .await?
        {
            Claim::Completed => {
                tracing::info!(idempotency_key = %citas_domain::privacy::masked_key(key), "already sent; acknowledged");
                return Ok(Done::AlreadySent);
            }
            Claim::InProgress => return Err(Retry::InProgress),
            Claim::Lapsed { sends } => {
                match self.take_over_lapsed(&message, &outgoing, sends).await? {
                    TakeOver::Send => true,
                    TakeOver::Done(done) => return Ok(done),
                }
            }
            Claim::Acquired => false,
        };
        let email = match outgoing {
            Outgoing::Email(email) => email,
            Outgoing::Nothing { reason, unsent } => {
                if let Some(appointment) = unsent {
                    let noted = citas_domain::use_cases::note_unsent(
                        self.store.as_ref(),
                        &appointment,
                        message.kind,
                        reason,
                        self.clock.now(),
                    )
                    .await;
                    match noted {
                        // Erased meanwhile: there is nothing left to note it on.
                        Ok(()) | Err(citas_domain::StoreError::NotFound) => {}
                        Err(error) => {
                            self.release(key).await;
                            return Err(error.into());
                        }
                    }
                }
                self.complete(key).await;
                return Ok(Done::Skipped { reason });
            }
        };
        let half_a_claim = self.claim_lapses_after.unsigned_abs() / 2;
        let sent = match tokio::time::timeout(half_a_claim, self.send_with_backoff(&email)).await {
            Ok(sent) => sent,
            // Left claimed, not released: the provider may have taken it. The
            // claim lapses and a later delivery sends it once more at most.
            Err(_) => {
                tracing::warn!(idempotency_key = %citas_domain::privacy::masked_key(key), "the send outlasted half its claim; abandoned");
                return Err(Retry::Mail(MailError::Unavailable(
                    "the send took too long".into(),
                )));
            }
        };
        match sent {
            Ok(message_id) => {
                tracing::info!(appointment_id = %citas_domain::privacy::masked_appointment(&message.appointment_id), r#type = ?message.kind, %message_id, again, "email sent");
                self.complete(key).await;
                Ok(if again {
                    Done::SentAgain { message_id }
                } else {
                    Done::Sent { message_id }
                })
            }
            Err(MailError::Rejected(reason)) => {
                // Retrying will not help: the message goes to the dead-letter
                // queue now. Its claim is released, so a redrive can send it.
                self.release(key).await;
                self.dead_letters
                    .enqueue(&message)
                    .await
                    .map_err(|e| Retry::Mail(MailError::Unavailable(e.0)))?;
                tracing::warn!(appointment_id = %citas_domain::privacy::masked_appointment(&message.appointment_id), %reason, "notification rejected by the mail provider; dead-lettered");
                Ok(Done::DeadLettered { reason })
            }
            Err(error) => {
                self.release(key).await;
                Err(error.into())
            }
        }
    }

    /// A consumer claimed the message and never finished: it died, most
    /// likely inside the send, so the email may have gone out. A mailer
    /// that can tell is asked; otherwise it is sent once more (a rare
    /// identical second copy is harmless, a missing confirmation is not),
    /// and after [`MAX_SENDS`] interrupted sends it is closed, never sent a third time.
    async fn take_over_lapsed(
        &self,
        message: &Notification,
        outgoing: &Outgoing,
        sends: u32,
    ) -> Result<TakeOver, Retry> {
        let key = &message.idempotency_key;
        let masked = citas_domain::privacy::masked_key(key);
        let known = match outgoing {
            Outgoing::Email(email) => self.mailer.was_sent(email).await?,
            // Nothing was to be sent: the claim is simply taken over.
            Outgoing::Nothing { .. } => Some(false),
        };
        match known {
            Some(true) => {
                tracing::info!(idempotency_key = %masked, "a lapsed claim's email had left; completed");
                self.complete(key).await;
                return Ok(TakeOver::Done(Done::AlreadySent));
            }
            None if sends >= MAX_SENDS => {
                let settled = self
                    .idempotency
                    .settle_lapsed(key, self.clock.now(), REMEMBER_SENT_FOR)
                    .await?;
                tracing::warn!(idempotency_key = %masked, sends, settled, delivery_uncertain = 1, "delivery_uncertain: sent as often as it may be; closed");
                return Ok(TakeOver::Done(Done::GaveUpAfterSends { sends }));
            }
            Some(false) | None => {}
        }
        let reclaimed = self
            .idempotency
            .reclaim_lapsed(
                key,
                sends,
                self.clock.now(),
                self.claim_lapses_after,
                REMEMBER_SENT_FOR,
            )
            .await?;
        if !reclaimed {
            // Another consumer took it over first.
            return Err(Retry::InProgress);
        }
        tracing::warn!(
            appointment_id = %citas_domain::privacy::masked_appointment(&message.appointment_id),
            idempotency_key = %masked,
            sends = sends + 1,
            delivery_uncertain = 1,
            "delivery_uncertain: a consumer died while sending; sending once more"
        );
        Ok(TakeOver::Send)
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

    /// Reads what the message needs and renders its email, if there is one to send.
    async fn prepare(&self, message: &Notification) -> Result<Outgoing, Retry> {
        let country = message.country;
        let nothing = |reason: citas_domain::Unsent| Outgoing::Nothing {
            reason,
            unsent: None,
        };
        let Some(current) = self
            .store
            .get_appointment(country, &message.appointment_id)
            .await?
        else {
            tracing::warn!(appointment_id = %citas_domain::privacy::masked_appointment(&message.appointment_id), "notification for an appointment that does not exist; acknowledged");
            return Ok(nothing(citas_domain::Unsent::AppointmentGone));
        };
        // A change's email tells that change, whatever came after it; a
        // reminder tells what holds now.
        let appointment = match &message.change {
            Some(change) if message.kind != NotificationKind::Reminder => current.as_of(change),
            _ => current,
        };
        if message.kind == NotificationKind::Reminder
            && appointment.status != citas_domain::Status::Assigned
        {
            return Ok(nothing(citas_domain::Unsent::NoLongerAssigned(
                appointment.status,
            )));
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
            // Only a verified address is written to.
            let unverified = patient
                .as_ref()
                .is_some_and(|p| p.email.is_some() && !p.email_verified);
            let recipient = patient.and_then(|p| {
                let email = p.reachable_email().cloned();
                email.map(|email| (p.name, email))
            });
            if recipient.is_none() {
                let reason = if unverified {
                    citas_domain::Unsent::EmailNotVerified
                } else {
                    citas_domain::Unsent::NoEmailOnFile
                };
                // Counted in the logs and recorded on the appointment's history.
                tracing::warn!(
                    appointment_id = %citas_domain::privacy::masked_appointment(&appointment.id),
                    r#type = message.kind.as_str(),
                    notification_unsendable = 1,
                    %reason,
                    "notification_unsendable: the patient has no verified email address"
                );
                return Ok(Outgoing::Nothing {
                    reason,
                    unsent: Some(Box::new(appointment)),
                });
            }
            recipient
        };
        let Some((name, to)) = recipient else {
            return Ok(nothing(citas_domain::Unsent::NoDoctorEmail));
        };
        let join_link = appointment
            .meeting
            .as_ref()
            .filter(|_| appointment.modality == citas_domain::scheduling::doctor::Modality::Virtual)
            .map(|room| self.meetings.join_link(&room.key));
        let mut email = render(&Context {
            join_link: join_link.as_deref(),
            country,
            kind: message.kind,
            appointment: &appointment,
            patient_name: &name,
            to: &to,
            doctor: doctor.as_ref(),
            stamp: appointment.updated_at,
            today: country.local_date(self.clock.now()),
            key: &self.calendar_key,
        });
        email.message_id = Some(citas_domain::appointment::notification::key::message_id(
            &message.idempotency_key,
        ));
        Ok(Outgoing::Email(Box::new(email)))
    }
}

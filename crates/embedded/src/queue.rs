//! The in-process notification queue of the local server, and the dispatcher
//! of the embedded store's outbox. Both feed the same email logic the email
//! function runs: each message is retried with backoff like an SQS
//! redelivery, and after as many attempts as the dead-letter queue's redrive
//! count it is written to `<data dir>/dead-letter.jsonl`.
//!
//! Every committed change writes its history entry to the outbox in its own
//! transaction; the dispatcher hands each entry's messages to the pipeline
//! and only then takes the entry out. A change is never lost between its
//! commit and its email: after a crash (`kill -9`) the entries left are sent
//! at the next start, and the idempotency keys keep a resent one to one email.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use citas_domain::{Clock, Notification, NotificationQueue, QueueError};
use citas_notify::EmailPipeline;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::outbox::OutboxMailer;
use crate::store::EmbeddedStore;

/// Deliveries before a message is dead-lettered (template.yaml's maxReceiveCount).
pub const MAX_RECEIVES: u32 = 5;

pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<Notification>,
}

impl InProcessQueue {
    /// The local notification path: this queue, the email pipeline over the
    /// embedded store, and the outbox under `data_dir` (with the directory's
    /// calendar key).
    pub fn with_outbox(
        store: Arc<EmbeddedStore>,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        meetings: Arc<dyn citas_domain::ports::Meetings>,
    ) -> Result<(Self, JoinHandle<()>), crate::private::SecretError> {
        let pipeline = EmailPipeline {
            meetings,
            calendar_key: crate::private::calendar_key(data_dir)?,
            store: store.clone(),
            idempotency: store.clone(),
            mailer: Arc::new(OutboxMailer::new(data_dir.join("outbox"))),
            clock,
            claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
            dead_letters: Arc::new(DeadLetterFile::new(data_dir)),
        };
        let (queue, consumer) = Self::start(pipeline.clone());
        let dispatcher = tokio::spawn(dispatch(store, pipeline, queue.sender.downgrade()));
        let both = tokio::spawn(async move {
            let _ = consumer.await;
            let _ = dispatcher.await;
        });
        Ok((queue, both))
    }

    /// A queue and the task consuming it; the task ends when the queue is dropped
    /// and the messages it holds are done. Messages that fail every delivery
    /// go to the pipeline's dead letters.
    pub fn start(pipeline: EmailPipeline) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self { sender }, tokio::spawn(consume(receiver, pipeline)))
    }
}

#[async_trait]
impl NotificationQueue for InProcessQueue {
    async fn enqueue(&self, message: &Notification) -> Result<(), QueueError> {
        tracing::info!(
            country = message.country.code,
            r#type = ?message.kind,
            appointment_id = %citas_domain::privacy::masked_appointment(&message.appointment_id),
            idempotency_key = %citas_domain::privacy::masked_key(&message.idempotency_key),
            "notification enqueued"
        );
        self.sender
            .send(message.clone())
            .map_err(|_| QueueError("the local queue consumer has stopped".into()))
    }
}

async fn consume(mut receiver: mpsc::UnboundedReceiver<Notification>, pipeline: EmailPipeline) {
    let mut deliveries = tokio::task::JoinSet::new();
    while let Some(message) = receiver.recv().await {
        let pipeline = pipeline.clone();
        deliveries.spawn(async move { deliver(&pipeline, message).await });
    }
    while deliveries.join_next().await.is_some() {}
}

/// How long the dispatcher waits for a commit before looking at the outbox anyway.
const OUTBOX_IDLE: Duration = Duration::from_millis(250);
/// Outbox entries read at a time.
const OUTBOX_BATCH: usize = 50;

/// Empties the outbox in commit order: each entry's messages are handled
/// (sent, skipped, or dead-lettered after their retries) before the entry is
/// taken out. Ends, after a last pass, once the queue is dropped.
async fn dispatch(
    store: Arc<EmbeddedStore>,
    pipeline: EmailPipeline,
    queue: mpsc::WeakUnboundedSender<Notification>,
) {
    let written = store.outbox_written();
    loop {
        loop {
            let batch = match store.outbox(OUTBOX_BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "the outbox cannot be read; trying again");
                    break;
                }
            };
            if batch.is_empty() {
                break;
            }
            for (sequence, item) in batch {
                match item.notifications() {
                    Ok(messages) => {
                        for message in messages {
                            tracing::info!(
                                country = message.country.code,
                                r#type = message.kind.as_str(),
                                appointment_id = %citas_domain::privacy::masked_appointment(&message.appointment_id),
                                "notification published from the outbox"
                            );
                            deliver(&pipeline, message).await;
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, sequence, "an outbox entry that is not a change; set aside")
                    }
                }
                if let Err(error) = store.outbox_done(sequence).await {
                    // Handled again on the next pass: its keys keep it to one email.
                    tracing::warn!(%error, sequence, "an outbox entry could not be taken out");
                }
            }
        }
        if queue.upgrade().is_none() {
            return;
        }
        tokio::select! {
            _ = written.notified() => {}
            _ = tokio::time::sleep(OUTBOX_IDLE) => {}
        }
    }
}

async fn deliver(pipeline: &EmailPipeline, message: Notification) {
    let body = message.to_json();
    for receive in 1..=MAX_RECEIVES {
        match pipeline.process(&body).await {
            Ok(done) => {
                tracing::debug!(?done, "notification done");
                return;
            }
            Err(error) if receive < MAX_RECEIVES => {
                tracing::warn!(%error, receive, "notification failed; delivering again");
                tokio::time::sleep(Duration::from_millis(50 * 2u64.pow(receive))).await;
            }
            Err(error) => {
                tracing::error!(%error, "notification dead-lettered");
                if let Err(error) = pipeline.dead_letters.enqueue(&message).await {
                    tracing::error!(%error, "could not dead-letter the notification");
                }
            }
        }
    }
}

/// `<data dir>/dead-letter.jsonl`: the local dead-letter queue, one message a line.
pub struct DeadLetterFile {
    path: PathBuf,
}

impl DeadLetterFile {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("dead-letter.jsonl"),
        }
    }

    /// Takes every dead letter out of the file (moved aside first, so letters
    /// written meanwhile start a new file and are not lost).
    pub async fn take_all(&self) -> std::io::Result<Vec<String>> {
        let aside = self.path.with_extension(format!(
            "taken-{}.jsonl",
            jiff::Timestamp::now().as_millisecond()
        ));
        match tokio::fs::rename(&self.path, &aside).await {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        }
        let text = tokio::fs::read_to_string(&aside).await?;
        tokio::fs::remove_file(&aside).await?;
        Ok(text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Puts letters back (those not sent again).
    pub async fn put_back(&self, lines: &[String]) -> std::io::Result<()> {
        for line in lines {
            append(&self.path, line).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl NotificationQueue for DeadLetterFile {
    async fn enqueue(&self, message: &Notification) -> Result<(), QueueError> {
        append(&self.path, &message.to_json())
            .await
            .map_err(|e| QueueError(format!("the dead-letter file: {e}")))
    }
}

async fn append(path: &Path, body: &str) -> std::io::Result<()> {
    let mut file = crate::private::file_options()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    file.write_all(format!("{body}\n").as_bytes()).await?;
    file.flush().await
}

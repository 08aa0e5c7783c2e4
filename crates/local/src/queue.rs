//! The in-process notification queue of the local server. It feeds the same
//! email logic the email function runs: each message is retried with backoff
//! like an SQS redelivery, and after as many attempts as the dead-letter
//! queue's redrive count it is written to `<data dir>/dead-letter.jsonl`.

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
    /// embedded store, and the outbox under `data_dir`.
    pub fn with_outbox(
        store: Arc<EmbeddedStore>,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> (Self, JoinHandle<()>) {
        let pipeline = EmailPipeline {
            store: store.clone(),
            idempotency: store,
            mailer: Arc::new(OutboxMailer::new(data_dir.join("outbox"))),
            clock,
        };
        Self::start(data_dir, pipeline)
    }

    /// A queue and the task consuming it; the task ends when the queue is dropped
    /// and the messages it holds are done.
    pub fn start(data_dir: &Path, pipeline: EmailPipeline) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let dead_letters = data_dir.join("dead-letter.jsonl");
        (
            Self { sender },
            tokio::spawn(consume(receiver, pipeline, dead_letters)),
        )
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

async fn consume(
    mut receiver: mpsc::UnboundedReceiver<Notification>,
    pipeline: EmailPipeline,
    dead_letters: PathBuf,
) {
    let mut deliveries = tokio::task::JoinSet::new();
    while let Some(message) = receiver.recv().await {
        let pipeline = pipeline.clone();
        let dead_letters = dead_letters.clone();
        deliveries.spawn(async move { deliver(&pipeline, message, &dead_letters).await });
    }
    while deliveries.join_next().await.is_some() {}
}

async fn deliver(pipeline: &EmailPipeline, message: Notification, dead_letters: &Path) {
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
                if let Err(error) = append(dead_letters, &body).await {
                    tracing::error!(%error, "could not write the dead-letter file");
                }
            }
        }
    }
}

async fn append(path: &Path, body: &str) -> std::io::Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    file.write_all(format!("{body}\n").as_bytes()).await?;
    file.flush().await
}

//! The in-process notification queue of the local server. Messages are
//! handed to a consumer task, which appends them to
//! `<data dir>/notifications.jsonl` (the email pipeline is a later piece).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use citas_domain::{Country, Notification, NotificationQueue, QueueError};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<Notification>,
}

impl InProcessQueue {
    /// A queue and the task consuming it; the task ends when the queue is dropped.
    pub fn start(data_dir: &Path) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let log = data_dir.join("notifications.jsonl");
        (Self { sender }, tokio::spawn(consume(receiver, log)))
    }
}

#[async_trait]
impl NotificationQueue for InProcessQueue {
    async fn enqueue(&self, country: &Country, message: &Notification) -> Result<(), QueueError> {
        tracing::info!(
            country = country.code,
            r#type = ?message.kind,
            appointment_id = %message.appointment_id,
            idempotency_key = %message.idempotency_key,
            "notification enqueued"
        );
        self.sender
            .send(message.clone())
            .map_err(|_| QueueError("the local queue consumer has stopped".into()))
    }
}

async fn consume(mut receiver: mpsc::UnboundedReceiver<Notification>, log: PathBuf) {
    while let Some(message) = receiver.recv().await {
        if let Err(error) = append(&log, &message).await {
            tracing::error!(%error, path = %log.display(), "could not record a notification");
        }
    }
}

async fn append(log: &Path, message: &Notification) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .await?;
    file.write_all(&line).await?;
    file.flush().await
}

//! The local mailer: each email becomes an RFC 5322 `.eml` file under
//! `<data dir>/outbox/`, the same MIME message SES would receive.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use citas_domain::{Email, MailError, Mailer};
use citas_mail::LOCAL_SENDER;

pub struct OutboxMailer {
    dir: PathBuf,
    sent: AtomicU64,
}

impl OutboxMailer {
    pub fn new(dir: PathBuf) -> Self {
        // There from the start, so `ls <data dir>/outbox` works before the first email.
        if let Err(error) = crate::private::create_dir(&dir) {
            tracing::warn!(%error, "the outbox directory could not be created yet");
        }
        Self {
            dir,
            sent: AtomicU64::new(0),
        }
    }

    /// Where an email is written before it is renamed into the outbox: a
    /// directory beside it (the same file system), so the outbox only ever
    /// holds whole emails.
    fn partial_dir(&self) -> PathBuf {
        let name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "outbox".into());
        self.dir.with_file_name(format!(".{name}.partial"))
    }

    /// `<message id>.eml`: the name is the email's, derived from its
    /// notification's key, so the outbox can tell whether it was written.
    /// An email without one gets a name of its own.
    fn file_name(&self, email: &Email) -> String {
        match &email.message_id {
            Some(id) => format!("{id}.eml"),
            None => format!(
                "{}-{:04}.eml",
                jiff::Timestamp::now().as_millisecond(),
                self.sent.fetch_add(1, Ordering::Relaxed) % 10_000
            ),
        }
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let mime = citas_mail::to_mime(email, LOCAL_SENDER)
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        crate::private::create_dir(&self.dir).map_err(|e| MailError::Unavailable(e.to_string()))?;
        let name = self.file_name(email);
        let path = self.dir.join(&name);
        // Written already (a consumer died before it could record so): the
        // outbox has it, and a second copy is never written.
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            tracing::info!("the email is in the outbox already; not written again");
            return Ok(name.trim_end_matches(".eml").to_owned());
        }
        // Whole or not at all: written aside, then renamed into place (one
        // step of the file system), so a crash never leaves half an email
        // and an email on file was sent.
        let partial_dir = self.partial_dir();
        crate::private::create_dir(&partial_dir)
            .map_err(|e| MailError::Unavailable(e.to_string()))?;
        let partial = partial_dir.join(&name);
        let written = async {
            let mut file = crate::private::file_options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&partial)
                .await?;
            tokio::io::AsyncWriteExt::write_all(&mut file, &mime).await?;
            file.sync_all().await
        };
        written
            .await
            .map_err(|e| MailError::Unavailable(e.to_string()))?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(|e| MailError::Unavailable(e.to_string()))?;
        tracing::debug!(path = %path.display(), "email written to the outbox");
        Ok(name.trim_end_matches(".eml").to_owned())
    }

    async fn was_sent(&self, email: &Email) -> Result<Option<bool>, MailError> {
        let Some(id) = &email.message_id else {
            return Ok(None);
        };
        tokio::fs::try_exists(self.dir.join(format!("{id}.eml")))
            .await
            .map(Some)
            .map_err(|e| MailError::Unavailable(e.to_string()))
    }
}

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
        if let Err(error) = std::fs::create_dir_all(&dir) {
            tracing::warn!(%error, "the outbox directory could not be created yet");
        }
        Self {
            dir,
            sent: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let mime = citas_mail::to_mime(email, LOCAL_SENDER)
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| MailError::Unavailable(e.to_string()))?;
        let recipient: String = email
            .to
            .as_str()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // The id is logged; only the file name (on this machine) names the recipient.
        let id = format!(
            "{}-{:04}",
            jiff::Timestamp::now().as_millisecond(),
            self.sent.fetch_add(1, Ordering::Relaxed) % 10_000
        );
        let name = format!("{id}-{recipient}.eml");
        let path = self.dir.join(&name);
        tokio::fs::write(&path, mime)
            .await
            .map_err(|e| MailError::Unavailable(e.to_string()))?;
        // The file name carries the recipient: debug level only.
        tracing::debug!(path = %path.display(), "email written to the outbox");
        Ok(id)
    }
}

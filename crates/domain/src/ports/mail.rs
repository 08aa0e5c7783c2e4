//! Sending emails.

use async_trait::async_trait;

use crate::values::email::EmailAddress;

/// A file attached to an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// An email ready to send: both a plain-text and an HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The left part of its `Message-ID` (`<{message_id}@citas>`), derived
    /// from the notification's idempotency key: a copy sent again carries
    /// the same one, and a mailer that keeps its sends finds it by it.
    pub message_id: Option<String>,
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The provider asks us to slow down: retry later, this is not the message's fault.
    #[error("the mail provider is throttling: {0}")]
    Throttled(String),
    /// The provider refused this message; retrying will not help.
    #[error("the mail provider rejected the message: {0}")]
    Rejected(String),
    #[error("the mail provider is unavailable: {0}")]
    Unavailable(String),
}

/// Sends emails; returns the provider's message id.
#[async_trait]
pub trait Mailer: Send + Sync {
    ///
    /// # Errors
    /// `MailError::Throttled` or `Unavailable`: retry later;
    /// `MailError::Rejected`: this message will never be accepted.
    async fn send(&self, email: &Email) -> Result<String, MailError>;
    /// Whether this email (by its `message_id`) was sent already, for a
    /// mailer that can tell: `None` when it cannot (SES keeps no such
    /// record), so a send a crash interrupted is sent again.
    ///
    /// # Errors
    /// `MailError::Unavailable` when the record of sends cannot be read.
    async fn was_sent(&self, _email: &Email) -> Result<Option<bool>, MailError> {
        Ok(None)
    }
}

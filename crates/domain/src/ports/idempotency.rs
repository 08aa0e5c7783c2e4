//! Records of notifications sent.

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;

/// Where a notification's idempotency record stands when a consumer starts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This consumer holds the key: send, then complete (or release on failure).
    Acquired,
    /// Sent already: acknowledge without sending again.
    Completed,
    /// Another consumer is sending it right now: retry later.
    InProgress,
    /// A consumer claimed it and never said how its send ended (it was
    /// killed, or timed out): the email may or may not have gone out.
    /// `sends` counts the claims that reached the send, this one included.
    Lapsed { sends: u32 },
}

/// Records of notifications sent, in the manner of Lambda idempotency
/// utilities: a conditional write claims a key (in progress, lapsing after a
/// while so a crashed consumer's claim is noticed), then marks it completed.
/// Every record is kept `keep_for` (longer than any queue retention).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for one consumer, or says where it stands (sent, being
    /// sent, or lapsed); a record older than `keep_for` is claimed anew.
    ///
    /// # Errors
    /// `StoreError::Unavailable` when the records cannot be reached; the
    /// consumer leaves the message to be delivered again.
    async fn claim(
        &self,
        key: &str,
        now: Timestamp,
        lapse_after: jiff::SignedDuration,
        keep_for: jiff::SignedDuration,
    ) -> Result<Claim, StoreError>;
    /// Takes over a lapsed claim that has reached the send `sends` times,
    /// to send once more: it is claimed again (lapsing anew) and counts
    /// `sends + 1`. False when it was no longer that lapsed claim (another
    /// consumer took it over, settled or completed it).
    ///
    /// # Errors
    /// `StoreError::Unavailable` when the records cannot be reached; the
    /// consumer leaves the message to be delivered again.
    async fn reclaim_lapsed(
        &self,
        key: &str,
        sends: u32,
        now: Timestamp,
        lapse_after: jiff::SignedDuration,
        keep_for: jiff::SignedDuration,
    ) -> Result<bool, StoreError>;
    /// Closes a lapsed claim as done without knowing whether it was sent, so
    /// no later delivery sends it again. False when it was no longer a lapsed
    /// claim (another consumer settled or completed it).
    ///
    /// # Errors
    /// `StoreError::Unavailable` when the records cannot be reached; the
    /// consumer leaves the message to be delivered again.
    async fn settle_lapsed(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: jiff::SignedDuration,
    ) -> Result<bool, StoreError>;
    /// Marks `key` sent, kept `keep_for` from now; a later `release` leaves it sent.
    ///
    /// # Errors
    /// `StoreError::Unavailable` when the records cannot be reached; the
    /// consumer leaves the message to be delivered again.
    async fn complete(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: jiff::SignedDuration,
    ) -> Result<(), StoreError>;
    /// Gives up a claim after a failed send, so a retry can claim it again
    /// (a completed record stays completed).
    ///
    /// # Errors
    /// `StoreError::Unavailable` when the records cannot be reached; the
    /// consumer leaves the message to be delivered again.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
}

//! The online meetings of virtual visits: Amazon Chime SDK in AWS, Jitsi
//! rooms locally (and by a setting in AWS).

use async_trait::async_trait;

use crate::meeting::{Entry, JoinWindow, MeetingProvider, MeetingRoom, Participant, RoomKey};

/// Why a meeting service could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeetingError {
    /// The service could not be reached, or refused for now: try again.
    #[error("the meeting service is unavailable: {0}")]
    Unavailable(String),
    /// The kept meeting no longer exists at the service (it ended).
    #[error("the meeting has ended at the provider")]
    Gone,
}

/// Creates, enters and ends meetings.
#[async_trait]
pub trait Meetings: Send + Sync {
    fn provider(&self) -> MeetingProvider;

    /// The link an email or invitation of a virtual visit carries: the
    /// frontend's join page, or the room's own address. Never a credential.
    fn join_link(&self, room: &RoomKey) -> String;

    /// Creates the room's meeting where the provider needs one made (Chime,
    /// idempotently on the room's key, or on the key and the meeting it
    /// `replaces`, one the provider ended): what to keep on the appointment
    /// so the other party joins the same one. None where nothing is created.
    ///
    /// # Errors
    ///
    /// `Unavailable` when the provider cannot be reached.
    async fn open(
        &self,
        room: &RoomKey,
        replaces: Option<&str>,
    ) -> Result<Option<String>, MeetingError>;

    /// Lets one party in: what their frontend needs to enter.
    ///
    /// # Errors
    ///
    /// `Gone` when the kept meeting has ended; `Unavailable` when the
    /// provider cannot be reached.
    async fn admit(
        &self,
        room: &MeetingRoom,
        who: &Participant,
        window: JoinWindow,
    ) -> Result<Entry, MeetingError>;

    /// Ends a meeting that was opened (a rescheduled or cancelled visit).
    ///
    /// # Errors
    ///
    /// `Unavailable` when the provider cannot be reached.
    async fn end(&self, room: &MeetingRoom) -> Result<(), MeetingError>;
}

//! Amazon Chime SDK Meetings: a virtual visit's meeting is created at its
//! first join (Chime ends a meeting nobody joins within five minutes),
//! idempotently on the room's key, and each join adds an attendee.

use async_trait::async_trait;
use aws_sdk_chimesdkmeetings::Client;
use aws_sdk_chimesdkmeetings::error::ProvideErrorMetadata;
use aws_sdk_chimesdkmeetings::types::{Attendee, Meeting};
use citas_domain::meeting::{
    Entry, JoinWindow, MeetingProvider, MeetingRoom, Participant, RoomKey, join_page_link,
};
use citas_domain::ports::{MeetingError, Meetings};
use serde_json::{Value, json};

/// The Chime SDK's meetings, in one media region.
#[derive(Debug, Clone)]
pub struct ChimeMeetings {
    client: Client,
    /// Where the media flows: the Chime region nearest the countries
    /// (`CHIME_MEDIA_REGION`, São Paulo by default).
    media_region: String,
    /// The frontend's join page, `{room}` standing for the room's key.
    join_page: String,
}

/// The media region nearest Lima and Santiago.
pub const DEFAULT_MEDIA_REGION: &str = "sa-east-1";

impl ChimeMeetings {
    pub fn new(client: Client, media_region: String, join_page: String) -> Self {
        Self {
            client,
            media_region,
            join_page,
        }
    }
}

fn failed<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    operation: &str,
    error: &aws_sdk_chimesdkmeetings::error::SdkError<E, R>,
) -> MeetingError {
    let code = error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .unwrap_or("no answer");
    MeetingError::Unavailable(format!("Chime {operation}: {code}"))
}

fn is_not_found<E: ProvideErrorMetadata, R>(
    error: &aws_sdk_chimesdkmeetings::error::SdkError<E, R>,
) -> bool {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        == Some("NotFoundException")
}

/// The meeting as the Chime SDK's browser client takes it (its JSON names).
fn meeting_json(meeting: &Meeting) -> Value {
    let placement = meeting.media_placement().map(|p| {
        json!({
            "AudioHostUrl": p.audio_host_url(),
            "AudioFallbackUrl": p.audio_fallback_url(),
            "SignalingUrl": p.signaling_url(),
            "TurnControlUrl": p.turn_control_url(),
            "ScreenDataUrl": p.screen_data_url(),
            "ScreenViewingUrl": p.screen_viewing_url(),
            "ScreenSharingUrl": p.screen_sharing_url(),
            "EventIngestionUrl": p.event_ingestion_url(),
        })
    });
    json!({
        "MeetingId": meeting.meeting_id(),
        "ExternalMeetingId": meeting.external_meeting_id(),
        "MediaRegion": meeting.media_region(),
        "MeetingArn": meeting.meeting_arn(),
        "MediaPlacement": placement,
    })
}

fn attendee_json(attendee: &Attendee) -> Value {
    json!({
        "AttendeeId": attendee.attendee_id(),
        "ExternalUserId": attendee.external_user_id(),
        "JoinToken": attendee.join_token(),
    })
}

/// The kept meeting's id.
fn meeting_id(room: &MeetingRoom) -> Result<String, MeetingError> {
    room.session
        .as_deref()
        .and_then(|session| serde_json::from_str::<Value>(session).ok())
        .and_then(|meeting| meeting["MeetingId"].as_str().map(str::to_owned))
        .ok_or_else(|| MeetingError::Unavailable("the kept Chime meeting has no id".into()))
}

#[async_trait]
impl Meetings for ChimeMeetings {
    fn provider(&self) -> MeetingProvider {
        MeetingProvider::Chime
    }

    fn join_link(&self, room: &RoomKey) -> String {
        join_page_link(&self.join_page, room)
    }

    async fn open(
        &self,
        room: &RoomKey,
        replaces: Option<&str>,
    ) -> Result<Option<String>, MeetingError> {
        let output = self
            .client
            .create_meeting()
            // The same token gives the same meeting: two first joins at once
            // (or a retry) make one.
            .client_request_token(room.token(replaces))
            .external_meeting_id(room.public_id())
            .media_region(&self.media_region)
            .send()
            .await
            .map_err(|error| failed("CreateMeeting", &error))?;
        let meeting = output
            .meeting()
            .ok_or_else(|| MeetingError::Unavailable("Chime answered no meeting".into()))?;
        Ok(Some(meeting_json(meeting).to_string()))
    }

    async fn admit(
        &self,
        room: &MeetingRoom,
        who: &Participant,
        window: JoinWindow,
    ) -> Result<Entry, MeetingError> {
        let id = meeting_id(room)?;
        let output = self
            .client
            .create_attendee()
            .meeting_id(&id)
            .external_user_id(who.external_id())
            .send()
            .await
            .map_err(|error| {
                if is_not_found(&error) {
                    MeetingError::Gone
                } else {
                    failed("CreateAttendee", &error)
                }
            })?;
        let attendee = output
            .attendee()
            .ok_or_else(|| MeetingError::Unavailable("Chime answered no attendee".into()))?;
        let meeting = room
            .session
            .as_deref()
            .and_then(|session| serde_json::from_str::<Value>(session).ok());
        Ok(Entry {
            provider: MeetingProvider::Chime,
            window,
            join_url: Some(self.join_link(&room.key)),
            meeting,
            attendee: Some(attendee_json(attendee)),
        })
    }

    async fn end(&self, room: &MeetingRoom) -> Result<(), MeetingError> {
        let id = meeting_id(room)?;
        match self.client.delete_meeting().meeting_id(&id).send().await {
            Ok(_) => Ok(()),
            // Ended already (everyone left, or nobody came).
            Err(error) if is_not_found(&error) => Ok(()),
            Err(error) => Err(failed("DeleteMeeting", &error)),
        }
    }
}

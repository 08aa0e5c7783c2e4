//! Teleconsultation (seeds 003/004): a virtual visit's online meeting, the
//! window in which its parties may enter it, and who enters.

use jiff::{SignedDuration, Timestamp};

use crate::values::ids::DoctorId;

/// A country's rules for online visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeetingRule {
    /// How long a visit's meeting lasts from its start.
    pub length: SignedDuration,
    /// How early before the start the parties may enter.
    pub opens_before: SignedDuration,
}

impl MeetingRule {
    pub fn minutes(&self) -> i64 {
        self.length.as_mins()
    }

    /// When a meeting of a visit starting at `starts_at` may be entered.
    pub fn window(&self, starts_at: Timestamp) -> JoinWindow {
        JoinWindow {
            opens_at: starts_at
                .checked_sub(self.opens_before)
                .unwrap_or(Timestamp::MIN),
            closes_at: starts_at.checked_add(self.length).unwrap_or(Timestamp::MAX),
        }
    }
}

/// From `opens_at` (included) to `closes_at` (excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindow {
    pub opens_at: Timestamp,
    pub closes_at: Timestamp,
}

/// Where `now` falls in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    NotOpen,
    Open,
    Over,
}

impl JoinWindow {
    pub fn state(&self, now: Timestamp) -> WindowState {
        if now < self.opens_at {
            WindowState::NotOpen
        } else if now < self.closes_at {
            WindowState::Open
        } else {
            WindowState::Over
        }
    }
}

/// The unguessable name of a virtual visit's room: 128 random bits, as 32
/// lower-case hex digits, drawn when the visit's slot is booked. It names
/// the Jitsi room and is the Chime meeting's idempotency token, so both
/// parties (and every retry) reach the same meeting. It is never logged:
/// its `Debug` is masked.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomKey(String);

/// A stored room key that is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a room key is 32 lower-case hex digits")]
pub struct InvalidRoomKey;

impl RoomKey {
    /// A new key from the operating system's random source.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        // Should the OS source ever fail, two v4 uuids (122 random bits each,
        // from the same kind of source) still make an unguessable key.
        if getrandom::fill(&mut bytes).is_err() {
            let fallback =
                uuid::Uuid::new_v4().as_u128() ^ uuid::Uuid::new_v4().as_u128().rotate_left(64);
            bytes = fallback.to_be_bytes();
        }
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidRoomKey> {
        if raw.len() == 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidRoomKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The idempotency token of the room's meeting: the key itself, or,
    /// after the provider ended `replaced` (a meeting left empty), a digest
    /// of the key and that meeting, so a new one is made, once.
    pub fn token(&self, replaced: Option<&str>) -> String {
        use sha2::Digest;
        match replaced {
            None => self.0.clone(),
            Some(ended) => {
                let digest = sha2::Sha256::digest(format!("{}#{ended}", self.0).as_bytes());
                digest[..16].iter().map(|b| format!("{b:02x}")).collect()
            }
        }
    }

    /// An id to name the meeting by at a provider, from the key but not
    /// revealing it (Chime's `ExternalMeetingId`, seen by every attendee).
    pub fn public_id(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("meeting#{}", self.0).as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("cita-{hex}")
    }
}

impl std::fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomKey(…)")
    }
}

/// A virtual visit's meeting, kept on its appointment: the room drawn at
/// booking, and the provider's meeting once the first party opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRoom {
    pub key: RoomKey,
    /// What the provider answered when the meeting was created (Chime's
    /// `Meeting`, as JSON): what the second party joins. None until the
    /// first join, and always for a provider with nothing to create (Jitsi).
    pub session: Option<String>,
}

impl MeetingRoom {
    pub fn new() -> Self {
        Self {
            key: RoomKey::random(),
            session: None,
        }
    }
}

impl Default for MeetingRoom {
    fn default() -> Self {
        Self::new()
    }
}

/// Who enters a meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Participant {
    /// The appointment's patient: named in the meeting by a digest of the
    /// room and their document, so the document never reaches the provider.
    Patient {
        pseudonym: String,
    },
    Doctor(DoctorId),
}

impl Participant {
    pub fn patient(room: &RoomKey, document: &crate::values::document::Document) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{}#{document}", room.as_str()).as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self::Patient { pseudonym: hex }
    }

    /// The attendee's external id: the role and an id (at most 64 characters).
    pub fn external_id(&self) -> String {
        match self {
            Self::Patient { pseudonym } => format!("patient-{pseudonym}"),
            Self::Doctor(doctor) => format!("doctor-{doctor}"),
        }
    }
}

/// Which service holds the meetings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingProvider {
    Chime,
    Jitsi,
}

impl MeetingProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chime => "chime",
            Self::Jitsi => "jitsi",
        }
    }
}

/// What a caller's frontend needs to enter the meeting.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub provider: MeetingProvider,
    pub window: JoinWindow,
    /// A room's address to open (Jitsi).
    pub join_url: Option<String>,
    /// The provider's meeting (Chime's `Meeting`).
    pub meeting: Option<serde_json::Value>,
    /// The caller's attendee with its join token (Chime's `Attendee`): a
    /// credential, answered to the caller only, never logged or emailed.
    pub attendee: Option<serde_json::Value>,
}

/// Jitsi rooms: a room exists once someone opens its address, so nothing
/// is created or ended; the unguessable key is the room's name. Its whole
/// adapter is the address, hence here beside the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitsiRooms {
    /// The Jitsi server, e.g. `https://meet.jit.si` (no trailing slash).
    server: String,
    /// The frontend's join page for emails, with `{room}` where the key
    /// goes; by default the room's own address.
    join_page: Option<String>,
}

/// The Jitsi server rooms are on unless a setting names another.
pub const DEFAULT_JITSI_SERVER: &str = "https://meet.jit.si";

impl JitsiRooms {
    pub fn new(server: &str, join_page: Option<String>) -> Self {
        Self {
            server: server.trim_end_matches('/').to_owned(),
            join_page,
        }
    }

    fn address(&self, room: &RoomKey) -> String {
        format!("{}/citas-{}", self.server, room.as_str())
    }
}

/// A Jitsi server setting: an `https://` (or `http://`) address, without
/// a trailing slash.
///
/// # Errors
/// What is wrong with it, to show where it was set.
pub fn parse_jitsi_server(raw: &str) -> Result<String, String> {
    let server = raw.trim().trim_end_matches('/');
    let host = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(server.to_owned())
        }
        _ => Err(format!(
            "'{raw}' is not a Jitsi server's address (https://host)"
        )),
    }
}

/// A join page setting: an `https://` (or `http://`) address with `{room}`
/// where each visit's room goes.
///
/// # Errors
/// What is wrong with it, to show where it was set.
pub fn parse_join_page(raw: &str) -> Result<String, String> {
    let page = raw.trim();
    let addressed = page.starts_with("https://") || page.starts_with("http://");
    if addressed && page.contains("{room}") && !page.contains(char::is_whitespace) {
        Ok(page.to_owned())
    } else {
        Err(format!(
            "'{raw}' is not a join page: an https:// address with {{room}} where the room goes"
        ))
    }
}

/// A join page with `{room}` where a room's key goes.
pub fn join_page_link(template: &str, room: &RoomKey) -> String {
    template.replace("{room}", room.as_str())
}

#[async_trait::async_trait]
impl crate::ports::Meetings for JitsiRooms {
    fn provider(&self) -> MeetingProvider {
        MeetingProvider::Jitsi
    }

    fn join_link(&self, room: &RoomKey) -> String {
        match &self.join_page {
            Some(page) => join_page_link(page, room),
            None => self.address(room),
        }
    }

    async fn open(
        &self,
        _room: &RoomKey,
        _replaces: Option<&str>,
    ) -> Result<Option<String>, crate::ports::MeetingError> {
        Ok(None)
    }

    async fn admit(
        &self,
        room: &MeetingRoom,
        _who: &Participant,
        window: JoinWindow,
    ) -> Result<Entry, crate::ports::MeetingError> {
        Ok(Entry {
            provider: MeetingProvider::Jitsi,
            window,
            join_url: Some(self.address(&room.key)),
            meeting: None,
            attendee: None,
        })
    }

    async fn end(&self, _room: &MeetingRoom) -> Result<(), crate::ports::MeetingError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_opens_before_the_start_and_closes_at_the_meetings_end() {
        let rule = crate::values::country::PERU.meeting;
        let start: Timestamp = "2027-01-04T14:00:00Z".parse().unwrap();
        let window = rule.window(start);
        let at = |minutes: i64| start + SignedDuration::from_mins(minutes);
        assert_eq!(window.state(at(-11)), WindowState::NotOpen);
        assert_eq!(window.state(at(-10)), WindowState::Open);
        assert_eq!(window.state(at(49)), WindowState::Open);
        assert_eq!(window.state(at(50)), WindowState::Over);
        assert_eq!(rule.minutes(), 50);
    }

    #[test]
    fn room_keys_are_128_random_bits_and_never_shown() {
        let one = RoomKey::random();
        let two = RoomKey::random();
        assert_ne!(one, two);
        assert_eq!(RoomKey::parse(one.as_str()), Ok(one.clone()));
        assert_eq!(format!("{one:?}"), "RoomKey(…)");
        for bad in ["", "abc", &"g".repeat(32), &"A".repeat(32)] {
            assert_eq!(RoomKey::parse(bad), Err(InvalidRoomKey), "{bad}");
        }
    }

    #[test]
    fn a_patient_is_named_without_their_document() {
        let room = RoomKey::random();
        let document = crate::values::country::PERU
            .parse_document("45678912")
            .unwrap();
        let patient = Participant::patient(&room, &document);
        assert!(!patient.external_id().contains("45678912"));
        assert_eq!(patient, Participant::patient(&room, &document));
        assert_ne!(patient, Participant::patient(&RoomKey::random(), &document));
        let doctor = Participant::Doctor(DoctorId::parse("pe-cardiologia-12345").unwrap());
        assert_eq!(doctor.external_id(), "doctor-pe-cardiologia-12345");
    }

    #[test]
    fn meeting_settings_are_addresses_and_a_join_page_names_the_room() {
        assert_eq!(
            parse_jitsi_server("https://meet.example/"),
            Ok("https://meet.example".to_owned())
        );
        for bad in ["", "not a url", "ftp://x", "https://", "https://a b"] {
            assert!(parse_jitsi_server(bad).is_err(), "{bad}");
        }
        assert!(parse_join_page("https://app.example/join/{room}").is_ok());
        for bad in ["https://app.example/join/", "app.example/{room}", ""] {
            assert!(parse_join_page(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_jitsi_room_is_the_keys_address_and_emails_link_the_join_page_if_set() {
        use crate::ports::Meetings;
        let room = MeetingRoom::new();
        let rooms = JitsiRooms::new("https://meet.example/", None);
        let address = format!("https://meet.example/citas-{}", room.key.as_str());
        assert_eq!(rooms.join_link(&room.key), address);
        let page = JitsiRooms::new(
            "https://meet.example",
            Some("https://app.example/join/{room}".into()),
        );
        assert_eq!(
            page.join_link(&room.key),
            format!("https://app.example/join/{}", room.key.as_str())
        );
    }
}

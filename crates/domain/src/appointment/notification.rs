//! Notification messages: versioned JSON put on a country's queue. The wire
//! format is written and read here only, so producers and the email consumer
//! cannot disagree on it.

use serde::{Deserialize, Serialize};

use crate::appointment::Appointment;
use crate::appointment::history::HistoryEntry;
use crate::appointment::status::Status;
use crate::values::country::Country;
use crate::values::ids::{AppointmentId, SlotId};

/// Why an automatic email was not sent: logged, and noted on the
/// appointment's history when it still exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent {
    /// The appointment is gone (erased, or never stored).
    AppointmentGone,
    /// A reminder of a visit no longer assigned.
    NoLongerAssigned(Status),
    /// The patient's address waits for its verification code.
    EmailNotVerified,
    /// The patient gave no address.
    NoEmailOnFile,
    /// The doctor has no address.
    NoDoctorEmail,
}

impl std::fmt::Display for Unsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AppointmentGone => f.write_str("appointment not found"),
            Self::NoLongerAssigned(status) => write!(f, "the appointment is {status}"),
            Self::EmailNotVerified => f.write_str("email address not verified"),
            Self::NoEmailOnFile => f.write_str("no email address on file"),
            Self::NoDoctorEmail => f.write_str("no email address"),
        }
    }
}

/// Version 2 carries the change a message announces; version 1 messages
/// (without it, still on a queue from before) are read as well.
pub const MESSAGE_VERSION: u32 = 2;
const VERSIONS_READ: [u32; 2] = [1, 2];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationKind {
    #[serde(rename = "appointment.registered")]
    Registered,
    /// To the patient: booked, awaiting the doctor's confirmation.
    #[serde(rename = "appointment.pending")]
    Pending,
    /// To the doctor: a booking awaits your answer.
    #[serde(rename = "appointment.awaiting_answer")]
    AwaitingAnswer,
    #[serde(rename = "appointment.assigned")]
    Assigned,
    /// The doctor turned the booking down: choose another slot.
    #[serde(rename = "appointment.refused")]
    Refused,
    #[serde(rename = "appointment.rescheduled")]
    Rescheduled,
    #[serde(rename = "appointment.completed")]
    Completed,
    #[serde(rename = "appointment.no_show")]
    NoShow,
    #[serde(rename = "appointment.cancelled")]
    Cancelled,
    /// To the doctor: a visit of theirs (pending or booked) was cancelled.
    #[serde(rename = "appointment.visit_cancelled")]
    VisitCancelled,
    #[serde(rename = "appointment.reminder")]
    Reminder,
}

impl NotificationKind {
    /// The message that tells a patient about an appointment's current state.
    pub fn for_status(status: Status) -> Self {
        match status {
            Status::Registered => Self::Registered,
            Status::Pending => Self::Pending,
            Status::Assigned => Self::Assigned,
            Status::Completed => Self::Completed,
            Status::NoShow => Self::NoShow,
            Status::Cancelled => Self::Cancelled,
        }
    }

    /// The wire name, e.g. `appointment.assigned`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "appointment.registered",
            Self::Pending => "appointment.pending",
            Self::AwaitingAnswer => "appointment.awaiting_answer",
            Self::Assigned => "appointment.assigned",
            Self::Refused => "appointment.refused",
            Self::Rescheduled => "appointment.rescheduled",
            Self::Completed => "appointment.completed",
            Self::NoShow => "appointment.no_show",
            Self::Cancelled => "appointment.cancelled",
            Self::VisitCancelled => "appointment.visit_cancelled",
            Self::Reminder => "appointment.reminder",
        }
    }

    /// Whether the doctor, not the patient, is the one told.
    pub fn is_for_doctor(self) -> bool {
        matches!(self, Self::AwaitingAnswer | Self::VisitCancelled)
    }

    /// The messages a committed change sends: the transactional outbox's rule,
    /// applied to each history entry as it is committed (the DynamoDB stream
    /// of the history table in AWS, the embedded store's outbox locally).
    /// Creations, re-openings, closings and notes send nothing.
    pub fn for_change(entry: &HistoryEntry) -> Vec<Self> {
        use Status::*;
        if entry.note.is_some() || entry.by.is_erasure() {
            return Vec::new();
        }
        match (entry.from, entry.to) {
            (Some(Registered), Pending) => vec![Self::Pending, Self::AwaitingAnswer],
            (Some(Registered | Pending), Assigned) => vec![Self::Assigned],
            (Some(Pending), Pending) => vec![Self::Rescheduled, Self::AwaitingAnswer],
            (Some(Assigned), Assigned) => vec![Self::Rescheduled],
            (Some(Pending | Assigned), Registered) => vec![Self::Refused],
            // The doctor is told unless they cancelled it themselves.
            (Some(Pending | Assigned), Cancelled)
                if entry.by.role != crate::appointment::history::ActorRole::Doctor =>
            {
                vec![Self::Cancelled, Self::VisitCancelled]
            }
            (Some(Registered | Pending | Assigned), Cancelled) => vec![Self::Cancelled],
            _ => Vec::new(),
        }
    }
}

/// A message about one appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: NotificationKind,
    pub country: &'static Country,
    pub appointment_id: AppointmentId,
    /// Consumers send at most one email per key.
    pub idempotency_key: String,
    /// The appointment as the announced change left it, so the email tells
    /// that change even when later ones came before it was sent. None on
    /// messages from before it was carried.
    pub change: Option<Snapshot>,
}

/// What a change left of the parts of an appointment that change: the
/// email of a change renders these, not the state at send time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The appointment's revision after the change: the invitation's SEQUENCE.
    pub revision: u32,
    pub at: jiff::Timestamp,
    pub status: Status,
    pub slot: Option<SlotId>,
    pub doctor_name: Option<String>,
    pub slot_minutes: u16,
    /// Why it was cancelled or refused.
    pub reason: Option<String>,
}

impl Snapshot {
    /// What a committed change left.
    pub fn of_entry(entry: &HistoryEntry) -> Self {
        Self {
            revision: entry.revision,
            at: entry.at,
            status: entry.to,
            slot: entry.slot.clone(),
            doctor_name: entry.doctor_name.clone(),
            slot_minutes: entry.slot_minutes,
            reason: entry.reason.clone(),
        }
    }

    /// An appointment as it stands.
    pub fn of_appointment(appointment: &Appointment) -> Self {
        Self {
            revision: appointment.revision,
            at: appointment.updated_at,
            status: appointment.status,
            slot: appointment.slot.clone(),
            doctor_name: appointment.doctor_name.clone(),
            slot_minutes: appointment.slot_minutes,
            reason: match appointment.status {
                Status::Cancelled => appointment.cancel_reason.clone(),
                Status::Registered => appointment.refusal_reason.clone(),
                _ => None,
            },
        }
    }
}

/// The message as it travels on a queue.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireMessage {
    #[serde(rename = "type")]
    pub kind: NotificationKind,
    pub version: u32,
    pub country: String,
    pub appointment_id: String,
    pub idempotency_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<WireSnapshot>,
}

/// [`Snapshot`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireSnapshot {
    pub revision: u32,
    pub at: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor_name: Option<String>,
    /// Absent from messages written before slots kept their length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_minutes: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl WireSnapshot {
    fn of(snapshot: &Snapshot) -> Self {
        Self {
            revision: snapshot.revision,
            at: crate::values::timestamp::format(snapshot.at),
            status: snapshot.status.as_str().to_owned(),
            slot: snapshot.slot.as_ref().map(ToString::to_string),
            doctor_name: snapshot.doctor_name.clone(),
            slot_minutes: Some(snapshot.slot_minutes),
            reason: snapshot.reason.clone(),
        }
    }

    fn parse(self) -> Result<Snapshot, MalformedMessage> {
        let bad = |e: &dyn std::fmt::Display| MalformedMessage(format!("change: {e}"));
        Ok(Snapshot {
            revision: self.revision,
            at: self.at.parse().map_err(|e| bad(&e))?,
            status: self.status.parse().map_err(|e| bad(&e))?,
            slot: self
                .slot
                .as_deref()
                .map(SlotId::parse)
                .transpose()
                .map_err(|e| bad(&e))?,
            doctor_name: self.doctor_name,
            slot_minutes: self
                .slot_minutes
                .unwrap_or(crate::scheduling::slot::DEFAULT_SLOT_MINUTES),
            reason: self.reason,
        })
    }
}

/// Why a queue message is not a notification this version understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a notification message: {0}")]
pub struct MalformedMessage(pub String);

/// Idempotency keys: the same event always gets the same key, so a message
/// delivered or enqueued twice sends one email.
pub mod key {
    use jiff::civil::Date;

    use crate::appointment::Appointment;
    use crate::appointment::notification::NotificationKind;
    use crate::values::ids::AppointmentId;

    /// One per change and message kind. A change is named by its
    /// appointment, the revision after it and when it was made: the same
    /// change published twice (a stream record delivered again) sends one
    /// email, and an appointment made again under an erased one's id (its
    /// patient registered anew and booked the same day) does not match the
    /// erased one's records, revisions counting from 1 again.
    pub fn change(
        appointment: &AppointmentId,
        kind: NotificationKind,
        revision: u32,
        at: jiff::Timestamp,
    ) -> String {
        format!(
            "{appointment}:{}:r{revision}:{}",
            kind.as_str(),
            at.as_millisecond()
        )
    }
    /// The `Message-ID` (left part) of the email of a key: a name-based
    /// UUID (version 5), so every copy of one notification carries the same
    /// one and the appointment id (with its document) is not readable in it.
    pub fn message_id(key: &str) -> String {
        const NAMESPACE: uuid::Uuid =
            uuid::Uuid::from_u128(0x6369_7461_735f_6e6f_7469_6669_6361_7469);
        uuid::Uuid::new_v5(&NAMESPACE, key.as_bytes()).to_string()
    }
    /// One per appointment and day reminded, however often the job runs;
    /// the appointment named with its creation, as in [`change`].
    pub fn reminder(appointment: &Appointment, day: Date) -> String {
        format!(
            "{}:reminder:{day}:{}",
            appointment.id,
            appointment.created_at.as_millisecond()
        )
    }
    /// How long repeated `notify` requests for one state send a single email.
    pub const NOTIFY_WINDOW_SECONDS: i64 = 60;
    /// One per appointment state (its last change) and window of
    /// [`NOTIFY_WINDOW_SECONDS`]: a client asking again and again within the
    /// window gets one email, and again after it.
    pub fn notify(
        appointment: &AppointmentId,
        changed_at: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> String {
        let window = now.as_second().div_euclid(NOTIFY_WINDOW_SECONDS);
        format!(
            "{appointment}:notify:{}:{window}",
            changed_at.as_millisecond()
        )
    }
}

impl Notification {
    /// A message about the appointment as it stands now.
    pub fn about(
        appointment: &Appointment,
        kind: NotificationKind,
        idempotency_key: String,
    ) -> Self {
        Self {
            kind,
            country: appointment.country,
            appointment_id: appointment.id.clone(),
            idempotency_key,
            change: Some(Snapshot::of_appointment(appointment)),
        }
    }

    /// The messages of a committed change of an appointment.
    pub fn of_change(
        country: &'static Country,
        appointment_id: &AppointmentId,
        entry: &HistoryEntry,
    ) -> Vec<Self> {
        NotificationKind::for_change(entry)
            .into_iter()
            .map(|kind| Self {
                kind,
                country,
                appointment_id: appointment_id.clone(),
                idempotency_key: key::change(appointment_id, kind, entry.revision, entry.at),
                change: Some(Snapshot::of_entry(entry)),
            })
            .collect()
    }

    pub fn to_wire(&self) -> WireMessage {
        WireMessage {
            kind: self.kind,
            version: MESSAGE_VERSION,
            country: self.country.code.to_owned(),
            appointment_id: self.appointment_id.to_string(),
            idempotency_key: self.idempotency_key.clone(),
            change: self.change.as_ref().map(WireSnapshot::of),
        }
    }

    /// The message body put on a queue.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_wire()).unwrap_or_default()
    }

    /// A message body taken from a queue.
    pub fn from_json(body: &str) -> Result<Self, MalformedMessage> {
        let wire: WireMessage =
            serde_json::from_str(body).map_err(|e| MalformedMessage(e.to_string()))?;
        if !VERSIONS_READ.contains(&wire.version) {
            return Err(MalformedMessage(format!(
                "unknown version {}",
                wire.version
            )));
        }
        let country =
            Country::from_code(&wire.country).map_err(|e| MalformedMessage(e.to_string()))?;
        let appointment_id = AppointmentId::parse(country, &wire.appointment_id)
            .map_err(|e| MalformedMessage(e.to_string()))?;
        if wire.idempotency_key.is_empty() || wire.idempotency_key.len() > 512 {
            return Err(MalformedMessage(
                "the idempotency key is empty or too long".into(),
            ));
        }
        Ok(Self {
            kind: wire.kind,
            country,
            appointment_id,
            idempotency_key: wire.idempotency_key,
            change: wire.change.map(WireSnapshot::parse).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appointment::history::Actor;
    use crate::values::country::PERU;

    #[test]
    fn each_change_sends_its_messages_once_per_revision() {
        use NotificationKind as K;
        use Status::*;
        let entry = |from: Option<Status>, to: Status| HistoryEntry {
            revision: 4,
            at: "2026-11-22T15:00:00Z".parse().unwrap(),
            by: Actor::system("test"),
            from,
            to,
            reason: None,
            note: None,
            slot: None,
            doctor_name: None,
            slot_minutes: 30,
            from_slot: None,
        };
        let cases = [
            (None, Registered, vec![]),
            (
                Some(Registered),
                Pending,
                vec![K::Pending, K::AwaitingAnswer],
            ),
            (Some(Registered), Assigned, vec![K::Assigned]),
            (Some(Pending), Assigned, vec![K::Assigned]),
            (Some(Pending), Registered, vec![K::Refused]),
            (Some(Assigned), Registered, vec![K::Refused]),
            (Some(Assigned), Assigned, vec![K::Rescheduled]),
            (
                Some(Pending),
                Pending,
                vec![K::Rescheduled, K::AwaitingAnswer],
            ),
            (
                Some(Assigned),
                Cancelled,
                vec![K::Cancelled, K::VisitCancelled],
            ),
            (
                Some(Pending),
                Cancelled,
                vec![K::Cancelled, K::VisitCancelled],
            ),
            (Some(Registered), Cancelled, vec![K::Cancelled]),
            (Some(Assigned), Completed, vec![]),
            (Some(Assigned), NoShow, vec![]),
            (Some(Cancelled), Registered, vec![]),
        ];
        for (from, to, kinds) in cases {
            assert_eq!(
                NotificationKind::for_change(&entry(from, to)),
                kinds,
                "{from:?} → {to}"
            );
        }
        // A doctor who cancels a visit is not told of it.
        let by_doctor = HistoryEntry {
            by: crate::appointment::history::Actor {
                role: crate::appointment::history::ActorRole::Doctor,
                id: "7700001".into(),
            },
            ..entry(Some(Assigned), Cancelled)
        };
        assert_eq!(NotificationKind::for_change(&by_doctor), vec![K::Cancelled]);
        let note = HistoryEntry {
            note: Some("appointment.assigned not sent".into()),
            ..entry(Some(Assigned), Assigned)
        };
        assert!(NotificationKind::for_change(&note).is_empty());
        let id = AppointmentId::parse(&PERU, "20261122-45678912").unwrap();
        let keys = |entry: &HistoryEntry| -> Vec<String> {
            Notification::of_change(&PERU, &id, entry)
                .into_iter()
                .map(|m| m.idempotency_key)
                .collect()
        };
        let booked = entry(Some(Registered), Assigned);
        let [key] = keys(&booked).try_into().expect("one message");
        assert_eq!(
            keys(&booked),
            std::slice::from_ref(&key),
            "published again, the same"
        );
        // The same revision of an appointment made again under the id (after
        // an erasure) is another change.
        let made_again = HistoryEntry {
            at: booked.at + jiff::SignedDuration::from_mins(10),
            ..booked.clone()
        };
        assert_ne!(keys(&made_again), std::slice::from_ref(&key));
        let next = HistoryEntry {
            revision: booked.revision + 1,
            ..booked
        };
        assert_ne!(keys(&next), [key]);
    }

    #[test]
    fn messages_round_trip_and_strangers_are_malformed() {
        let message = Notification {
            kind: NotificationKind::Assigned,
            country: &PERU,
            appointment_id: AppointmentId::parse(&PERU, "20261122-45678912").unwrap(),
            idempotency_key: "k".into(),
            change: Some(Snapshot {
                revision: 3,
                at: "2026-11-22T15:00:00Z".parse().unwrap(),
                status: Status::Cancelled,
                slot: Some(SlotId::parse("pe-medicina-interna-9999234-1732629600").unwrap()),
                doctor_name: Some("Dr. Uno".into()),
                slot_minutes: 45,
                reason: Some("viaje".into()),
            }),
        };
        assert_eq!(Notification::from_json(&message.to_json()), Ok(message));
        // A message of version 1, from before changes were carried, is still read.
        let old = Notification::from_json(
            r#"{"type":"appointment.assigned","version":1,"country":"pe","appointment_id":"20261122-45678912","idempotency_key":"k"}"#,
        )
        .unwrap();
        assert_eq!(old.change, None);
        for body in [
            "",
            "{}",
            r#"{"type":"appointment.assigned","version":3,"country":"pe","appointment_id":"20261122-45678912","idempotency_key":"k"}"#,
            r#"{"type":"appointment.assigned","version":1,"country":"xx","appointment_id":"20261122-45678912","idempotency_key":"k"}"#,
            r#"{"type":"appointment.assigned","version":1,"country":"pe","appointment_id":"nope","idempotency_key":"k"}"#,
        ] {
            assert!(Notification::from_json(body).is_err(), "{body}");
        }
    }
}

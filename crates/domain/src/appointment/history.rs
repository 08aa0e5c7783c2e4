//! An appointment's history: one entry per status change (and per automatic
//! notification that could not be sent), written in the same atomic write as
//! the change itself, so the record cannot disagree with the appointment.

use std::fmt;

use jiff::Timestamp;

use crate::access::{Caller, Identity};
use crate::appointment::status::Status;

/// Who acts: a role and the id the role is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub role: ActorRole,
    /// A patient's document, a doctor's registry number, an admin's token
    /// subject, or the name of the system part that acted.
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorRole {
    Patient,
    Doctor,
    Admin,
    /// The service itself (the email function, a scheduled job).
    System,
}

impl ActorRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorRole::Patient => "patient",
            ActorRole::Doctor => "doctor",
            ActorRole::Admin => "admin",
            ActorRole::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ActorRole::Patient,
            ActorRole::Doctor,
            ActorRole::Admin,
            ActorRole::System,
        ]
        .into_iter()
        .find(|role| role.as_str() == text)
    }
}

impl fmt::Display for ActorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const ERASURE: &str = "erasure";

impl Actor {
    /// The verified caller of a request.
    pub fn of(caller: &Caller) -> Self {
        match &caller.identity {
            Identity::Patient(document) => Self {
                role: ActorRole::Patient,
                id: document.to_string(),
            },
            Identity::Doctor(registry) => Self {
                role: ActorRole::Doctor,
                id: registry.to_string(),
            },
            Identity::Admin => Self {
                role: ActorRole::Admin,
                id: caller.subject.clone(),
            },
        }
    }

    /// A part of the service acting on its own.
    pub fn system(name: &str) -> Self {
        Self {
            role: ActorRole::System,
            id: name.to_owned(),
        }
    }

    /// The erasure of a patient's data, which cancels their open
    /// appointments: its changes tell no one (the patient is being
    /// forgotten, and an email would carry their name).
    pub fn erasure() -> Self {
        Self::system(ERASURE)
    }

    pub fn is_erasure(&self) -> bool {
        self.role == ActorRole::System && self.id == ERASURE
    }

    /// Bound by the country's change policy (patients are; staff are not).
    pub fn is_patient(&self) -> bool {
        self.role == ActorRole::Patient
    }
}

/// One line of an appointment's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The appointment's revision this entry belongs to (1 for the creation);
    /// entries sort by it.
    pub revision: u32,
    pub at: Timestamp,
    pub by: Actor,
    /// `None` for the creation.
    pub from: Option<Status>,
    pub to: Status,
    pub reason: Option<String>,
    /// Set on an entry that records a notification, not a change: which one
    /// could not be sent, and why.
    pub note: Option<String>,
    /// The slot the appointment holds after the change (kept after it is
    /// closed, none once refused): where a visit moved to, and what the
    /// change's email announces.
    pub slot: Option<crate::values::ids::SlotId>,
    /// The name of that slot's doctor, as the appointment shows it.
    pub doctor_name: Option<String>,
    /// How long that slot lasts.
    pub slot_minutes: u16,
    /// The slot the appointment held before the change (none on entries
    /// written before it was recorded).
    pub from_slot: Option<crate::values::ids::SlotId>,
}

impl HistoryEntry {
    /// Whether the change booked, moved or gave up a slot.
    pub fn changes_slot(&self) -> bool {
        self.note.is_none()
            && self.from.is_some()
            && (self.from_slot != self.slot || self.frees_slot())
    }

    /// The slot the appointment holds after the change: none once refused
    /// or cancelled (a cancelled visit keeps its slot to show, not to hold).
    pub fn slot_taken(&self) -> Option<&crate::values::ids::SlotId> {
        if self.frees_slot() {
            None
        } else {
            self.slot.as_ref()
        }
    }

    /// A cancellation of a booked visit, which lets its slot go.
    fn frees_slot(&self) -> bool {
        self.to == Status::Cancelled && self.from.is_some_and(|from| from.holds_slot())
    }
}

//! Notification messages: versioned JSON put on a country's queue.

use serde::{Deserialize, Serialize};

use crate::model::{Appointment, Status};

pub const MESSAGE_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationKind {
    #[serde(rename = "appointment.registered")]
    Registered,
    #[serde(rename = "appointment.assigned")]
    Assigned,
    #[serde(rename = "appointment.completed")]
    Completed,
    #[serde(rename = "appointment.cancelled")]
    Cancelled,
    #[serde(rename = "appointment.reminder")]
    Reminder,
}

impl NotificationKind {
    /// The message that tells a patient about an appointment's current state.
    pub fn for_status(status: Status) -> Self {
        match status {
            Status::Registered => Self::Registered,
            Status::Assigned => Self::Assigned,
            Status::Completed => Self::Completed,
            Status::Cancelled => Self::Cancelled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    #[serde(rename = "type")]
    pub kind: NotificationKind,
    pub version: u32,
    pub country: String,
    pub appointment_id: String,
    /// Consumers send at most one email per key.
    pub idempotency_key: String,
}

/// Idempotency keys: the same event always gets the same key, so a message
/// delivered or enqueued twice sends one email.
pub mod key {
    use jiff::civil::Date;

    /// One per booking of a slot.
    pub fn assigned(appointment_id: &str, slot_id: &str) -> String {
        format!("{appointment_id}:assigned:{slot_id}")
    }
    pub fn cancelled(appointment_id: &str) -> String {
        format!("{appointment_id}:cancelled")
    }
    /// One per appointment and day reminded, however often the job runs.
    pub fn reminder(appointment_id: &str, day: Date) -> String {
        format!("{appointment_id}:reminder:{day}")
    }
}

impl Notification {
    pub fn about(
        appointment: &Appointment,
        kind: NotificationKind,
        idempotency_key: String,
    ) -> Self {
        Self {
            kind,
            version: MESSAGE_VERSION,
            country: appointment.country.clone(),
            appointment_id: appointment.id.clone(),
            idempotency_key,
        }
    }
}

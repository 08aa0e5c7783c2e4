//! The statuses an appointment goes through, and the status machine between them.

use std::fmt;
use std::str::FromStr;

/// Where an appointment is in its life (DESIGN.md, "Status machine (second version)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The request is in; no slot yet.
    Registered,
    /// A slot is booked and waits for the doctor's confirmation.
    Pending,
    /// The slot is booked and confirmed.
    Assigned,
    Completed,
    /// The patient did not come.
    NoShow,
    /// Cancelled with a reason; the slot is free again.
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Registered,
        Status::Pending,
        Status::Assigned,
        Status::Completed,
        Status::NoShow,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Registered => "registered",
            Status::Pending => "pending",
            Status::Assigned => "assigned",
            Status::Completed => "completed",
            Status::NoShow => "no_show",
            Status::Cancelled => "cancelled",
        }
    }

    /// FHIR R4 `Appointment.status` for integrators.
    pub fn fhir(self) -> &'static str {
        match self {
            Status::Registered => "proposed",
            Status::Pending => "pending",
            Status::Assigned => "booked",
            Status::Completed => "fulfilled",
            Status::NoShow => "noshow",
            Status::Cancelled => "cancelled",
        }
    }

    /// Open appointments can still be cancelled.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::Registered | Status::Pending | Status::Assigned
        )
    }

    /// Holding a booked slot.
    pub fn holds_slot(self) -> bool {
        matches!(self, Status::Pending | Status::Assigned)
    }

    /// The status machine: assign registered → pending or assigned; confirm
    /// pending → assigned; refuse pending/assigned → registered; reschedule
    /// keeps pending/assigned; complete and no-show from assigned; cancel from
    /// any open state; a cancelled request of a day is re-opened (registered)
    /// when the patient asks again that day.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Registered, Pending | Assigned)
                | (Pending, Assigned)
                | (Pending | Assigned, Registered)
                | (Pending, Pending)
                | (Assigned, Assigned)
                | (Assigned, Completed | NoShow)
                | (Registered | Pending | Assigned, Cancelled)
                | (Cancelled, Registered)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown status '{0}'; expected one of registered, pending, assigned, completed, no_show, cancelled"
)]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_machine() {
        use Status::*;
        let allowed: Vec<(Status, Status)> = Status::ALL
            .into_iter()
            .flat_map(|a| Status::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Registered, Pending),
                (Registered, Assigned),
                (Registered, Cancelled),
                (Pending, Registered),
                (Pending, Pending),
                (Pending, Assigned),
                (Pending, Cancelled),
                (Assigned, Registered),
                (Assigned, Assigned),
                (Assigned, Completed),
                (Assigned, NoShow),
                (Assigned, Cancelled),
                (Cancelled, Registered)
            ]
        );
        assert_eq!("no_show".parse::<Status>(), Ok(NoShow));
        assert_eq!(NoShow.fhir(), "noshow");
        assert_eq!("assigned".parse::<Status>(), Ok(Assigned));
        assert!("Asignado".parse::<Status>().is_err());
    }
}

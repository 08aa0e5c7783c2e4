//! The service's business counters, through the `metrics` facade (vendor
//! neutral, as `tracing` is for logs): the Lambda functions install a
//! CloudWatch embedded-metric-format recorder that writes them to the log
//! after each invocation; where no recorder is installed they cost nothing.
//! Every name is here, so the dashboard and alarms in template.yaml can be
//! checked against them.

use crate::appointment::history::HistoryEntry;
use crate::appointment::status::Status;
use crate::values::country::Country;

/// The label every business counter carries (a CloudWatch dimension).
pub const COUNTRY: &str = "country";

pub const APPOINTMENTS_CREATED: &str = "AppointmentsCreated";
pub const APPOINTMENTS_ASSIGNED: &str = "AppointmentsAssigned";
pub const APPOINTMENTS_CONFIRMED: &str = "AppointmentsConfirmed";
pub const APPOINTMENTS_REFUSED: &str = "AppointmentsRefused";
pub const APPOINTMENTS_RESCHEDULED: &str = "AppointmentsRescheduled";
pub const APPOINTMENTS_CANCELLED: &str = "AppointmentsCancelled";
pub const APPOINTMENTS_COMPLETED: &str = "AppointmentsCompleted";
pub const APPOINTMENTS_NO_SHOW: &str = "AppointmentsNoShow";
pub const SLOT_SEARCHES: &str = "SlotSearches";
pub const AUTO_ASSIGN_MISSES: &str = "AutoAssignMisses";
pub const EMAILS_SENT: &str = "EmailsSent";
pub const EMAILS_FAILED: &str = "EmailsFailed";
pub const EMAILS_DEAD_LETTERED: &str = "EmailsDeadLettered";
pub const EMAILS_DELIVERY_UNCERTAIN: &str = "EmailsDeliveryUncertain";
pub const DUPLICATES_SUPPRESSED: &str = "DuplicatesSuppressed";
pub const REMINDERS_ENQUEUED: &str = "RemindersEnqueued";
/// Counted once per function instance, with the function dimension only.
pub const COLD_STARTS: &str = "ColdStarts";

/// Every counter of a country, for the checks of template.yaml.
pub const BY_COUNTRY: &[&str] = &[
    APPOINTMENTS_CREATED,
    APPOINTMENTS_ASSIGNED,
    APPOINTMENTS_CONFIRMED,
    APPOINTMENTS_REFUSED,
    APPOINTMENTS_RESCHEDULED,
    APPOINTMENTS_CANCELLED,
    APPOINTMENTS_COMPLETED,
    APPOINTMENTS_NO_SHOW,
    SLOT_SEARCHES,
    AUTO_ASSIGN_MISSES,
    EMAILS_SENT,
    EMAILS_FAILED,
    EMAILS_DEAD_LETTERED,
    EMAILS_DELIVERY_UNCERTAIN,
    DUPLICATES_SUPPRESSED,
    REMINDERS_ENQUEUED,
];

/// Adds `by` to a country's counter.
pub fn count(name: &'static str, country: &'static Country, by: u64) {
    metrics::counter!(name, COUNTRY => country.code).increment(by);
}

/// The counter a committed change adds to, if any (notes add to none).
pub fn of_change(entry: &HistoryEntry) -> Option<&'static str> {
    use Status::*;
    if entry.note.is_some() {
        return None;
    }
    Some(match (entry.from, entry.to) {
        (None | Some(Cancelled), Registered) => APPOINTMENTS_CREATED,
        (Some(Registered), Pending | Assigned) => APPOINTMENTS_ASSIGNED,
        (Some(Pending), Assigned) => APPOINTMENTS_CONFIRMED,
        (Some(Pending), Pending) | (Some(Assigned), Assigned) => APPOINTMENTS_RESCHEDULED,
        (Some(Pending | Assigned), Registered) => APPOINTMENTS_REFUSED,
        (_, Cancelled) => APPOINTMENTS_CANCELLED,
        (_, Completed) => APPOINTMENTS_COMPLETED,
        (_, NoShow) => APPOINTMENTS_NO_SHOW,
        _ => return None,
    })
}

/// Counts a committed change of an appointment of `country`.
pub fn changed(country: &'static Country, entry: &HistoryEntry) {
    if let Some(name) = of_change(entry) {
        count(name, country, 1);
    }
}

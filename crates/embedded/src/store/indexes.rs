//! The index tables of appointments and slots, kept in the change's own
//! transaction (what DynamoDB's global secondary indexes are there).

use super::*;

/// The embedded upcoming index's partition of a patient's visits to come.
pub(super) fn upcoming_of_patient(document: &Document) -> String {
    format!("patient/{document}")
}

/// The embedded upcoming index's partition of a doctor's visits to come.
pub(super) fn upcoming_of_doctor(doctor: &citas_domain::DoctorDocument) -> String {
    format!("doctor/{doctor}")
}

/// Rewrites a slot's index entries: `None` removes them (a deleted slot).
pub(super) fn index_slot(
    txn: &WriteTransaction,
    id: &SlotId,
    free: Option<bool>,
) -> Result<(), Failure> {
    let mut by_doctor = txn.open_table(DOCTOR_SLOTS)?;
    let mut free_slots = txn.open_table(FREE_SLOTS)?;
    let (text, doctor) = (id.to_string(), id.doctor.to_string());
    let partition =
        citas_layout::keys::free_slot_partition(id.doctor.country, &id.doctor.speciality);
    let start = id.starts_at.as_second();
    free_slots.remove((partition.as_str(), start, text.as_str()))?;
    match free {
        None => {
            by_doctor.remove((doctor.as_str(), start, text.as_str()))?;
        }
        Some(free) => {
            by_doctor.insert((doctor.as_str(), start, text.as_str()), ())?;
            if free {
                free_slots.insert((partition.as_str(), start, text.as_str()), ())?;
            }
        }
    }
    Ok(())
}

/// The entries an appointment has in the secondary index tables: derived
/// here only, and rewritten together with the appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IndexEntries {
    pub(super) id: String,
    pub(super) status: &'static str,
    pub(super) document: String,
    /// Newest first in status and patient lists.
    pub(super) created_ms: i64,
    /// (local day of the slot, start epoch seconds) while assigned.
    pub(super) assigned_day: Option<(String, i64)>,
    /// `{registry number}#{status}` once booked on a doctor's slot.
    pub(super) doctor_status: Option<String>,
    /// The patient's and the doctor's upcoming partitions, with the slot's
    /// start in ms, while pending or assigned.
    pub(super) upcoming: Vec<(String, i64)>,
}

impl IndexEntries {
    pub(super) fn of(appointment: &Appointment) -> Self {
        Self {
            id: appointment.id.to_string(),
            status: appointment.status.as_str(),
            document: appointment.document().to_string(),
            created_ms: appointment.created_at.as_millisecond(),
            assigned_day: appointment
                .assigned_day()
                .zip(appointment.starts_at())
                .map(|(day, at)| (day.to_string(), at.as_second())),
            doctor_status: appointment.doctor().map(|doctor| {
                citas_layout::keys::doctor_status(&doctor.document, appointment.status)
            }),
            upcoming: match (appointment.doctor(), appointment.starts_at()) {
                (Some(doctor), Some(at)) if appointment.status.holds_slot() => vec![
                    (
                        upcoming_of_patient(appointment.document()),
                        at.as_millisecond(),
                    ),
                    (upcoming_of_doctor(&doctor.document), at.as_millisecond()),
                ],
                _ => Vec::new(),
            },
        }
    }

    /// Takes these entries out of the index tables.
    pub(super) fn remove(&self, txn: &WriteTransaction, code: &str) -> Result<(), Failure> {
        let id = self.id.as_str();
        let mut upcoming = txn.open_table(UPCOMING)?;
        for (key, start) in &self.upcoming {
            upcoming.remove((code, key.as_str(), *start, id))?;
        }
        if let Some(key) = &self.doctor_status {
            txn.open_table(BY_DOCTOR_STATUS)?
                .remove((code, key.as_str(), self.created_ms, id))?;
        }
        txn.open_table(BY_STATUS)?
            .remove((code, self.status, self.created_ms, id))?;
        txn.open_table(BY_DOCUMENT)?
            .remove((code, self.document.as_str(), self.created_ms, id))?;
        if let Some((day, start)) = &self.assigned_day {
            txn.open_table(BY_ASSIGNED_DAY)?
                .remove((code, day.as_str(), *start, id))?;
        }
        Ok(())
    }

    /// Replaces `before`'s entries (none for a new appointment) with these.
    pub(super) fn rewrite(
        &self,
        txn: &WriteTransaction,
        code: &str,
        before: Option<&IndexEntries>,
    ) -> Result<(), Failure> {
        if let Some(old) = before {
            old.remove(txn, code)?;
        }
        let mut by_status = txn.open_table(BY_STATUS)?;
        let mut by_document = txn.open_table(BY_DOCUMENT)?;
        let mut by_day = txn.open_table(BY_ASSIGNED_DAY)?;
        let mut by_doctor = txn.open_table(BY_DOCTOR_STATUS)?;
        let mut upcoming = txn.open_table(UPCOMING)?;
        by_status.insert((code, self.status, self.created_ms, self.id.as_str()), ())?;
        by_document.insert(
            (
                code,
                self.document.as_str(),
                self.created_ms,
                self.id.as_str(),
            ),
            (),
        )?;
        if let Some((day, start)) = &self.assigned_day {
            by_day.insert((code, day.as_str(), *start, self.id.as_str()), ())?;
        }
        if let Some(key) = &self.doctor_status {
            by_doctor.insert((code, key.as_str(), self.created_ms, self.id.as_str()), ())?;
        }
        for (key, start) in &self.upcoming {
            upcoming.insert((code, key.as_str(), *start, self.id.as_str()), ())?;
        }
        Ok(())
    }
}

//! The appointment entity and its status changes. The entity decides whether
//! a change is allowed and returns the [`Transition`] a store must apply
//! atomically; the use cases only load, ask and store.

pub mod history;
pub mod notification;
pub mod status;

use crate::error::Field;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::appointment::history::{Actor, HistoryEntry};
use crate::error::DomainError;
use crate::ports::StoreError;
use crate::scheduling::catalogue::OfferedSpeciality;
use crate::values::country::Country;
use crate::values::document::Document;
use crate::values::ids::{AppointmentId, DoctorId, SlotId};
use crate::values::speciality::Speciality;
use crate::{
    appointment::status::Status, patient::Patient, scheduling::doctor::Doctor,
    scheduling::slot::Slot,
};

/// Why an erased patient's open appointments were cancelled, as their
/// history and the doctor's email say it.
pub const ERASURE_REASON: &str = "el paciente pidió eliminar sus datos";

/// A patient's request for a consultation of a speciality, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub id: AppointmentId,
    pub country: &'static Country,
    /// The patient's name when the appointment was made.
    pub patient_name: String,
    pub speciality: Speciality,
    /// How the speciality was named to the patient when the appointment was made.
    pub speciality_name: String,
    pub status: Status,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The booked slot while pending or assigned; kept afterwards as the
    /// record of it (completed, no-show, cancelled). A refusal clears it.
    pub slot: Option<SlotId>,
    /// The name of the slot's doctor when it was booked, to show without a lookup.
    pub doctor_name: Option<String>,
    /// The doctor's price when the slot was booked (what the patient saw).
    pub price: Option<crate::values::money::Price>,
    /// How long the booked slot lasts (the default for items stored before
    /// slots kept their length).
    pub slot_minutes: u16,
    /// In person or online: the booked slot's.
    pub modality: crate::scheduling::doctor::Modality,
    /// A virtual visit's meeting: a new room with each booked slot.
    pub meeting: Option<crate::meeting::MeetingRoom>,
    /// The changes the patient made on their last day of changes.
    pub patient_changes: PatientChanges,
    pub cancel_reason: Option<String>,
    /// Why the doctor last refused a booking.
    pub refusal_reason: Option<String>,
    /// How many changes the appointment has had (1 once created; 0 for items
    /// pasted from seed 000). Every change is conditioned on it, and calendar
    /// invitations use it as their SEQUENCE.
    pub revision: u32,
    /// Who asked for it (unknown for items pasted from seed 000): the first
    /// entry of its history, kept on the item so creating stays one write.
    pub created_by: Option<Actor>,
}

/// A new room for a virtual slot's visit.
fn room_for(slot: &Slot) -> Option<crate::meeting::MeetingRoom> {
    (slot.modality == crate::scheduling::doctor::Modality::Virtual)
        .then(crate::meeting::MeetingRoom::new)
}

/// How many changes a patient made to an appointment on one local day:
/// kept on the appointment, so the conditional write that changes it also
/// settles two changes at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PatientChanges {
    pub day: Option<jiff::civil::Date>,
    pub count: u16,
}

/// What happens to slots together with a status change, atomically: `book`
/// fails unless the slot is available; `release` gives a slot back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotChange {
    pub book: Option<SlotId>,
    pub release: Option<SlotId>,
}

/// A conditional change: applied only if the stored appointment still has
/// the `expected` status and revision, together with its slot changes and
/// its history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The appointment as it must be stored afterwards.
    pub appointment: Appointment,
    pub expected: Status,
    pub expected_revision: u32,
    /// The meeting kept on it when it was read: a join keeps one without
    /// a new revision, so the change is conditioned on it too (else it
    /// would put the appointment back without it, or not end it).
    pub expected_meeting: Option<String>,
    pub slots: SlotChange,
    pub entry: HistoryEntry,
}

impl Transition {
    /// What a store's refusal of this transition means to the caller, once
    /// deciding again on what the store holds no longer helps: the stored
    /// appointment moved on (another status or revision) since it was read,
    /// which a retry may well get past.
    pub fn refused(&self, error: StoreError) -> DomainError {
        let id = self.appointment.id.to_string();
        match error {
            StoreError::StatusConflict { .. } => DomainError::ChangedMeanwhile { id },
            StoreError::NotFound => DomainError::AppointmentNotFound { id },
            other => other.into(),
        }
    }
}

impl Appointment {
    /// A new request, not yet booked.
    pub fn register(
        id: AppointmentId,
        country: &'static Country,
        patient: &Patient,
        speciality: OfferedSpeciality,
        by: &Actor,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            country,
            patient_name: patient.name.clone(),
            speciality: speciality.slug,
            speciality_name: speciality.name,
            status: Status::Registered,
            created_at: now,
            updated_at: now,
            slot: None,
            doctor_name: None,
            price: None,
            slot_minutes: crate::scheduling::slot::DEFAULT_SLOT_MINUTES,
            modality: crate::scheduling::doctor::Modality::InPerson,
            meeting: None,
            patient_changes: PatientChanges::default(),
            cancel_reason: None,
            refusal_reason: None,
            revision: 1,
            created_by: Some(by.clone()),
        }
    }

    /// The first entry of its history: its creation, from nothing to
    /// registered (or, for an item pasted as it is, to the state it was given).
    pub fn creation_entry(&self) -> HistoryEntry {
        let (revision, to) = match &self.created_by {
            Some(_) => (1, Status::Registered),
            None => (0, self.status),
        };
        HistoryEntry {
            revision,
            at: self.created_at,
            by: self
                .created_by
                .clone()
                .unwrap_or_else(|| Actor::system("import")),
            from: None,
            to,
            reason: None,
            note: None,
            slot: self.slot.clone(),
            doctor_name: self.doctor_name.clone(),
            slot_minutes: self.slot_minutes,
            from_slot: None,
        }
    }

    /// The appointment as a change left it: what changes (status, slot,
    /// doctor, revision, reason) from the change, the rest as it stands. A
    /// slot's modality and meeting are known only while it is still the
    /// booked one: an older slot's email says neither.
    pub fn as_of(&self, change: &crate::appointment::notification::Snapshot) -> Appointment {
        let (modality, meeting) = if change.slot == self.slot {
            (self.modality, self.meeting.clone())
        } else {
            (crate::scheduling::doctor::Modality::InPerson, None)
        };
        let mut then = Appointment {
            modality,
            meeting,
            status: change.status,
            slot: change.slot.clone(),
            doctor_name: change.doctor_name.clone(),
            slot_minutes: change.slot_minutes,
            revision: change.revision,
            updated_at: change.at,
            ..self.clone()
        };
        match change.status {
            Status::Cancelled => then.cancel_reason = change.reason.clone(),
            Status::Registered => then.refusal_reason = change.reason.clone(),
            _ => {}
        }
        then
    }

    pub fn document(&self) -> &Document {
        &self.id.document
    }

    /// The doctor of the booked slot.
    pub fn doctor(&self) -> Option<&DoctorId> {
        self.slot.as_ref().map(|slot| &slot.doctor)
    }

    /// When the booked slot ends.
    pub fn ends_at(&self) -> Option<Timestamp> {
        self.starts_at()
            .map(|starts_at| crate::scheduling::slot::ends_at(starts_at, self.slot_minutes))
    }

    /// When the booked slot starts.
    pub fn starts_at(&self) -> Option<Timestamp> {
        self.slot.as_ref().map(|slot| slot.starts_at)
    }

    /// The local day of the booked slot, while the appointment is assigned:
    /// the key reminders look appointments up by (pending ones get none).
    pub fn assigned_day(&self) -> Option<Date> {
        match (self.status, &self.slot) {
            (Status::Assigned, Some(slot)) => Some(self.country.local_date(slot.starts_at)),
            _ => None,
        }
    }

    /// Whether the appointment may be booked at all, before any slot is
    /// chosen: only a registered request is (a booked one is rescheduled).
    pub fn require_assignable(&self) -> Result<(), DomainError> {
        if self.status == Status::Registered {
            Ok(())
        } else {
            Err(self.cannot_become(Status::Assigned))
        }
    }

    /// Whether the appointment may move to another slot (by `by`, now),
    /// before any slot is chosen.
    pub fn require_reschedulable(&self, by: &Actor, now: Timestamp) -> Result<(), DomainError> {
        self.require_holding_slot(Status::Assigned)?;
        self.require_in_time(by, now)?;
        self.require_patient_allowance(by, now)
    }

    /// Books `slot` (of `doctor`, when registered): it must be a free, future
    /// slot of this appointment's country and speciality. A doctor who
    /// requires confirmation gets a `pending` booking.
    pub fn assign(
        &self,
        slot: &Slot,
        of_doctor: Option<&Doctor>,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Transition, DomainError> {
        self.require_assignable()?;
        self.require_patient_allowance(by, now)?;
        self.require_bookable(slot, now)?;
        let status = if of_doctor.is_some_and(|d| d.requires_confirmation) {
            Status::Pending
        } else {
            Status::Assigned
        };
        Ok(self.change(
            Appointment {
                status,
                slot: Some(slot.id.clone()),
                doctor_name: of_doctor.map(|d| d.name.clone()),
                price: of_doctor.and_then(|d| d.profile.price),
                slot_minutes: slot.minutes,
                modality: slot.modality,
                meeting: room_for(slot),
                ..self.clone()
            },
            SlotChange {
                book: Some(slot.id.clone()),
                release: None,
            },
            by,
            None,
            now,
        ))
    }

    /// The doctor accepts a pending booking.
    pub fn confirm(&self, by: &Actor, now: Timestamp) -> Result<Transition, DomainError> {
        if self.status != Status::Pending {
            return Err(self.cannot_become(Status::Assigned));
        }
        Ok(self.change(
            Appointment {
                status: Status::Assigned,
                ..self.clone()
            },
            SlotChange::default(),
            by,
            None,
            now,
        ))
    }

    /// The doctor turns a booking down: the slot is freed and the request is
    /// registered again, keeping its id and the reason.
    pub fn refuse(
        &self,
        reason: String,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Transition, DomainError> {
        self.require_holding_slot(Status::Registered)?;
        Ok(self.change(
            Appointment {
                status: Status::Registered,
                slot: None,
                doctor_name: None,
                price: None,
                modality: crate::scheduling::doctor::Modality::InPerson,
                meeting: None,
                refusal_reason: Some(reason.clone()),
                ..self.clone()
            },
            SlotChange {
                book: None,
                release: self.slot.clone(),
            },
            by,
            Some(reason),
            now,
        ))
    }

    /// Moves a booking to another free, future slot of the same speciality,
    /// keeping its status; the old slot is freed in the same write.
    pub fn reschedule(
        &self,
        slot: &Slot,
        of_doctor: Option<&Doctor>,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Transition, DomainError> {
        self.require_reschedulable(by, now)?;
        if self.slot.as_ref() == Some(&slot.id) {
            return Err(DomainError::InvalidInput {
                field: Field::Slot,
                message: format!("the appointment is already booked on slot {}", slot.id),
            });
        }
        self.require_bookable(slot, now)?;
        Ok(self.change(
            Appointment {
                slot: Some(slot.id.clone()),
                doctor_name: of_doctor.map(|d| d.name.clone()),
                price: of_doctor.and_then(|d| d.profile.price),
                slot_minutes: slot.minutes,
                modality: slot.modality,
                meeting: room_for(slot),
                ..self.clone()
            },
            SlotChange {
                book: Some(slot.id.clone()),
                release: self.slot.clone(),
            },
            by,
            None,
            now,
        ))
    }

    /// The consultation took place: only once its start has passed.
    pub fn complete(&self, by: &Actor, now: Timestamp) -> Result<Transition, DomainError> {
        self.close(Status::Completed, by, now)
    }

    /// The patient did not come: only once the start has passed.
    pub fn no_show(&self, by: &Actor, now: Timestamp) -> Result<Transition, DomainError> {
        self.close(Status::NoShow, by, now)
    }

    fn close(&self, next: Status, by: &Actor, now: Timestamp) -> Result<Transition, DomainError> {
        self.require(next)?;
        if let Some(starts_at) = self.starts_at()
            && now < starts_at
        {
            return Err(DomainError::NotStarted {
                id: self.id.to_string(),
                starts_at: self.country.local(starts_at),
            });
        }
        Ok(self.change(
            Appointment {
                status: next,
                ..self.clone()
            },
            SlotChange::default(),
            by,
            None,
            now,
        ))
    }

    /// Cancels an open appointment and gives its slot back. A patient must do
    /// it before the country's change policy's deadline.
    pub fn cancel(
        &self,
        reason: String,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Transition, DomainError> {
        self.require(Status::Cancelled)?;
        if self.status.holds_slot() {
            self.require_in_time(by, now)?;
        }
        self.require_patient_allowance(by, now)?;
        Ok(self.cancelled(reason, by, now))
    }

    /// The cancellation itself, once allowed: a booked slot is let go.
    fn cancelled(&self, reason: String, by: &Actor, now: Timestamp) -> Transition {
        let release = if self.status.holds_slot() {
            self.slot.clone()
        } else {
            None
        };
        self.change(
            Appointment {
                status: Status::Cancelled,
                cancel_reason: Some(reason.clone()),
                ..self.clone()
            },
            SlotChange {
                book: None,
                release,
            },
            by,
            Some(reason),
            now,
        )
    }

    /// The patient asks again on the day of a cancelled request: it becomes a
    /// registered request again, for the speciality now asked, keeping its id.
    pub fn reopen(
        &self,
        patient: &Patient,
        speciality: OfferedSpeciality,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Transition, DomainError> {
        self.require(Status::Registered)?;
        Ok(self.change(
            Appointment {
                status: Status::Registered,
                patient_name: patient.name.clone(),
                speciality: speciality.slug,
                speciality_name: speciality.name,
                slot: None,
                doctor_name: None,
                price: None,
                modality: crate::scheduling::doctor::Modality::InPerson,
                meeting: None,
                cancel_reason: None,
                refusal_reason: None,
                ..self.clone()
            },
            SlotChange::default(),
            by,
            None,
            now,
        ))
    }

    /// A free, future slot of this appointment's country and speciality.
    fn require_bookable(&self, slot: &Slot, now: Timestamp) -> Result<(), DomainError> {
        let doctor = slot.doctor();
        if doctor.country != self.country || doctor.speciality != self.speciality {
            return Err(DomainError::SlotMismatch {
                slot: slot.id.to_string(),
                speciality: self.speciality.to_string(),
            });
        }
        if slot.starts_at() <= now {
            return Err(DomainError::SlotInPast {
                slot: slot.id.to_string(),
            });
        }
        if !slot.available {
            return Err(DomainError::SlotUnavailable {
                slot: slot.id.to_string(),
            });
        }
        Ok(())
    }

    /// Patients change a booking only before the country's deadline.
    /// A patient's changes of one day are bounded (the country's rule); staff are not.
    fn require_patient_allowance(&self, by: &Actor, now: Timestamp) -> Result<(), DomainError> {
        let limit = self.country.change_policy.patient_changes_per_day;
        let today = self.country.local_date(now);
        if by.is_patient()
            && self.patient_changes.day == Some(today)
            && self.patient_changes.count >= limit
        {
            let local = self.country.local(now);
            let midnight = local
                .tomorrow()
                .and_then(|tomorrow| tomorrow.start_of_day())
                .map(|midnight| midnight.timestamp())
                .unwrap_or(now);
            return Err(DomainError::TooManyChanges {
                id: self.id.to_string(),
                limit,
                retry_after: midnight.duration_since(now),
            });
        }
        Ok(())
    }

    fn require_in_time(&self, by: &Actor, now: Timestamp) -> Result<(), DomainError> {
        let Some(starts_at) = self.starts_at() else {
            return Ok(());
        };
        let deadline = self.country.change_policy.patient_deadline(starts_at);
        if by.is_patient() && now > deadline {
            return Err(DomainError::TooLateToChange {
                id: self.id.to_string(),
                deadline: self.country.local(deadline),
            });
        }
        Ok(())
    }

    /// Pending or assigned, as a change to `next` requires.
    fn require_holding_slot(&self, next: Status) -> Result<(), DomainError> {
        if self.status.holds_slot() && self.slot.is_some() {
            Ok(())
        } else {
            Err(self.cannot_become(next))
        }
    }

    /// Cancelled because the patient's data is being erased: the right to
    /// erasure is not bound by the change policy nor the day's change limit.
    /// The slot is let go as in any cancellation; the change sends no
    /// email ([`Actor::erasure`]).
    pub fn cancel_for_erasure(&self, now: Timestamp) -> Result<Transition, DomainError> {
        self.require(Status::Cancelled)?;
        Ok(self.cancelled(ERASURE_REASON.to_owned(), &Actor::erasure(), now))
    }

    /// What an erased patient's completed visit keeps for the doctors'
    /// records and the statistics: the day, speciality, slot and doctor,
    /// under a new id that names no one; no name, document, reasons, who
    /// asked, or when it was asked and changed.
    pub fn anonymised(&self) -> Appointment {
        // Not the moments of the request and its changes, which logs and
        // emails could match: the visit's start, or its day's.
        let at = self
            .starts_at()
            .unwrap_or_else(|| self.country.start_of_day(self.id.day));
        Appointment {
            created_at: at,
            updated_at: at,
            id: AppointmentId {
                day: self.id.day,
                document: Document::erased(),
            },
            patient_name: String::new(),
            patient_changes: PatientChanges::default(),
            cancel_reason: None,
            refusal_reason: None,
            created_by: None,
            // The room and its meeting were the two parties' only.
            meeting: None,
            ..self.clone()
        }
    }

    fn require(&self, next: Status) -> Result<(), DomainError> {
        if self.status.can_become(next) {
            Ok(())
        } else {
            Err(self.cannot_become(next))
        }
    }

    fn cannot_become(&self, next: Status) -> DomainError {
        DomainError::InvalidTransition {
            id: self.id.to_string(),
            current: self.status,
            requested: next,
        }
    }

    /// The conditional write of `after`, with its history entry.
    fn change(
        &self,
        after: Appointment,
        slots: SlotChange,
        by: &Actor,
        reason: Option<String>,
        now: Timestamp,
    ) -> Transition {
        let revision = self.revision.saturating_add(1);
        let mut after = after;
        if by.is_patient() {
            let today = self.country.local_date(now);
            let count = match self.patient_changes.day {
                Some(day) if day == today => self.patient_changes.count.saturating_add(1),
                _ => 1,
            };
            after.patient_changes = PatientChanges {
                day: Some(today),
                count,
            };
        }
        let entry = HistoryEntry {
            revision,
            at: now,
            by: by.clone(),
            from: Some(self.status),
            to: after.status,
            reason,
            note: None,
            slot: after.slot.clone(),
            doctor_name: after.doctor_name.clone(),
            slot_minutes: after.slot_minutes,
            from_slot: self.slot.clone(),
        };
        Transition {
            appointment: Appointment {
                updated_at: now,
                revision,
                ..after
            },
            expected: self.status,
            expected_revision: self.revision,
            expected_meeting: self.meeting.as_ref().and_then(|room| room.session.clone()),
            slots,
            entry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appointment::history::ActorRole;
    use crate::values::country::{CHILE, PERU};
    use crate::values::ids::DoctorId;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn patient() -> Actor {
        Actor {
            role: ActorRole::Patient,
            id: "45678912".into(),
        }
    }

    fn doctor_actor() -> Actor {
        Actor {
            role: ActorRole::Doctor,
            id: "1".into(),
        }
    }

    fn registered_in(country: &'static Country, document: &str, speciality: &str) -> Appointment {
        let patient = Patient {
            document: country.parse_document(document).unwrap(),
            name: "Ana".into(),
            email: None,
            email_verified: true,
            verification: None,
        };
        let now = at("2026-11-22T15:00:00Z");
        Appointment::register(
            AppointmentId::for_request(country, patient.document.clone(), now),
            country,
            &patient,
            OfferedSpeciality::from_slug(Speciality::parse(speciality).unwrap()),
            &Actor::system("test"),
            now,
        )
    }

    fn registered(speciality: &str) -> Appointment {
        registered_in(&PERU, "45678912", speciality)
    }

    fn slot(doctor: &str, starts_at: &str) -> Slot {
        Slot {
            modality: Default::default(),
            id: SlotId::new(DoctorId::parse(doctor).unwrap(), at(starts_at)),
            available: true,
            booked_by: None,
            minutes: 20,
        }
    }

    fn confirming_doctor(id: &str) -> Doctor {
        Doctor {
            id: DoctorId::parse(id).unwrap(),
            name: "Dra. Uno".into(),
            email: None,
            requires_confirmation: true,
            profile: Default::default(),
            rating: Default::default(),
        }
    }

    #[test]
    fn a_slot_of_another_speciality_or_country_cannot_be_booked() {
        let appointment = registered("medicina");
        let now = at("2026-11-22T15:00:00Z");
        // `medicina` is a prefix of `medicina-interna`, not the same speciality.
        for doctor in ["pe-medicina-interna-9999234", "cl-medicina-1"] {
            assert!(matches!(
                appointment.assign(&slot(doctor, "2026-12-01T14:00:00Z"), None, &patient(), now),
                Err(DomainError::SlotMismatch { .. })
            ));
        }
        assert!(
            appointment
                .assign(
                    &slot("pe-medicina-1", "2026-12-01T14:00:00Z"),
                    None,
                    &patient(),
                    now
                )
                .is_ok()
        );
    }

    #[test]
    fn assigning_books_the_slot_and_cancelling_gives_it_back() {
        let appointment = registered("cardiologia");
        let now = at("2026-11-22T15:00:00Z");
        let free = slot("pe-cardiologia-1", "2026-12-01T14:00:00Z");
        let booked = appointment.assign(&free, None, &patient(), now).unwrap();
        assert_eq!(booked.expected, Status::Registered);
        assert_eq!(
            (booked.expected_revision, booked.appointment.revision),
            (1, 2)
        );
        assert_eq!(booked.slots.book, Some(free.id.clone()));
        assert_eq!(booked.appointment.status, Status::Assigned);
        assert_eq!(booked.appointment.starts_at(), Some(free.starts_at()));
        assert_eq!(
            booked.appointment.assigned_day(),
            Some(jiff::civil::date(2026, 12, 1))
        );
        assert_eq!(
            (booked.entry.from, booked.entry.to, booked.entry.revision),
            (Some(Status::Registered), Status::Assigned, 2)
        );
        let cancelled = booked
            .appointment
            .cancel("viaje".into(), &patient(), now)
            .unwrap();
        assert_eq!(cancelled.slots.release, Some(free.id.clone()));
        assert_eq!(cancelled.entry.reason.as_deref(), Some("viaje"));
        assert_eq!(cancelled.appointment.assigned_day(), None);
        assert!(matches!(
            cancelled.appointment.complete(&doctor_actor(), now),
            Err(DomainError::InvalidTransition { .. })
        ));
    }

    #[test]
    fn a_doctor_who_confirms_gets_pending_bookings_and_answers_them() {
        let now = at("2026-11-22T15:00:00Z");
        let free = slot("pe-cardiologia-1", "2026-12-01T14:00:00Z");
        let doctor = confirming_doctor("pe-cardiologia-1");
        let pending = registered("cardiologia")
            .assign(&free, Some(&doctor), &patient(), now)
            .unwrap()
            .appointment;
        assert_eq!(pending.status, Status::Pending);
        // Reminders look for assigned appointments only.
        assert_eq!(pending.assigned_day(), None);
        let confirmed = pending.confirm(&doctor_actor(), now).unwrap();
        assert_eq!(confirmed.appointment.status, Status::Assigned);
        assert!(matches!(
            confirmed.appointment.confirm(&doctor_actor(), now),
            Err(DomainError::InvalidTransition {
                current: Status::Assigned,
                ..
            })
        ));
        let refused = pending
            .refuse("agenda llena".into(), &doctor_actor(), now)
            .unwrap();
        assert_eq!(refused.appointment.status, Status::Registered);
        assert_eq!(refused.appointment.slot, None);
        assert_eq!(refused.slots.release, Some(free.id.clone()));
        assert_eq!(
            refused.appointment.refusal_reason.as_deref(),
            Some("agenda llena")
        );
        assert_eq!(refused.appointment.id, pending.id);
    }

    #[test]
    fn rescheduling_frees_the_old_slot_and_books_the_new_one() {
        let now = at("2026-11-22T15:00:00Z");
        let first = slot("pe-cardiologia-1", "2026-12-01T14:00:00Z");
        let second = slot("pe-cardiologia-2", "2026-12-02T14:00:00Z");
        let assigned = registered("cardiologia")
            .assign(&first, None, &patient(), now)
            .unwrap()
            .appointment;
        let moved = assigned.reschedule(&second, None, &patient(), now).unwrap();
        assert_eq!(moved.slots.book, Some(second.id.clone()));
        assert_eq!(moved.slots.release, Some(first.id.clone()));
        assert_eq!(moved.appointment.status, Status::Assigned);
        assert_eq!(moved.entry.from, Some(Status::Assigned));
        assert!(matches!(
            assigned.reschedule(&first, None, &patient(), now),
            Err(DomainError::InvalidInput {
                field: Field::Slot,
                ..
            })
        ));
        assert!(matches!(
            assigned.assign(&second, None, &patient(), now),
            Err(DomainError::InvalidTransition {
                current: Status::Assigned,
                ..
            })
        ));
        assert!(matches!(
            registered("cardiologia").reschedule(&second, None, &patient(), now),
            Err(DomainError::InvalidTransition {
                current: Status::Registered,
                ..
            })
        ));
    }

    #[test]
    fn patients_change_bookings_only_before_the_countrys_deadline() {
        let booked_at = at("2026-11-22T15:00:00Z");
        let start = "2026-12-10T14:00:00Z";
        for (country, document, notice_hours) in
            [(&PERU, "45678912", 24), (&CHILE, "11111111-1", 48)]
        {
            let free = slot(&format!("{}-cardiologia-1", country.code), start);
            let assigned = registered_in(country, document, "cardiologia")
                .assign(&free, None, &patient(), booked_at)
                .unwrap()
                .appointment;
            let deadline = at(start) - jiff::SignedDuration::from_hours(notice_hours);
            let late = deadline + jiff::SignedDuration::from_secs(1);
            assert!(assigned.cancel("x".into(), &patient(), deadline).is_ok());
            match assigned.cancel("x".into(), &patient(), late) {
                Err(DomainError::TooLateToChange { deadline: told, .. }) => {
                    assert_eq!(told.timestamp(), deadline);
                    assert_eq!(told.time_zone(), country.time_zone());
                }
                other => panic!("{other:?}"),
            }
            assert!(matches!(
                assigned.require_reschedulable(&patient(), late),
                Err(DomainError::TooLateToChange { .. })
            ));
            // Staff are not bound by the policy.
            assert!(assigned.cancel("x".into(), &doctor_actor(), late).is_ok());
        }
    }

    #[test]
    fn closing_waits_for_the_start() {
        let booked_at = at("2026-11-22T15:00:00Z");
        let free = slot("pe-cardiologia-1", "2026-12-01T14:00:00Z");
        let assigned = registered("cardiologia")
            .assign(&free, None, &patient(), booked_at)
            .unwrap()
            .appointment;
        let before = at("2026-12-01T13:59:59Z");
        for close in [Appointment::complete, Appointment::no_show] {
            assert!(matches!(
                close(&assigned, &doctor_actor(), before),
                Err(DomainError::NotStarted { .. })
            ));
            assert!(close(&assigned, &doctor_actor(), free.starts_at()).is_ok());
        }
        assert_eq!(
            assigned
                .no_show(&doctor_actor(), free.starts_at())
                .unwrap()
                .appointment
                .status,
            Status::NoShow
        );
    }

    #[test]
    fn past_and_taken_slots_are_refused() {
        let appointment = registered("cardiologia");
        let now = at("2026-11-22T15:00:00Z");
        assert!(matches!(
            appointment.assign(
                &slot("pe-cardiologia-1", "2026-11-22T15:00:00Z"),
                None,
                &patient(),
                now
            ),
            Err(DomainError::SlotInPast { .. })
        ));
        let taken = Slot {
            available: false,
            ..slot("pe-cardiologia-1", "2026-12-01T14:00:00Z")
        };
        assert!(matches!(
            appointment.assign(&taken, None, &patient(), now),
            Err(DomainError::SlotUnavailable { .. })
        ));
    }
}

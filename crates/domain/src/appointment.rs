//! The appointment entity and its status changes. The entity decides whether
//! a change is allowed and returns the [`Transition`] a store must apply
//! atomically; the use cases only load, ask and store.

use jiff::Timestamp;
use jiff::civil::Date;

use crate::country::Country;
use crate::document::Document;
use crate::error::DomainError;
use crate::ids::{AppointmentId, DoctorId, SlotId};
use crate::model::{Doctor, Patient, Slot, Status};
use crate::ports::StoreError;
use crate::speciality::OfferedSpeciality;
use crate::text::Speciality;

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
    /// The booked slot, once assigned; kept afterwards as the record of it.
    pub slot: Option<SlotId>,
    /// The name of the slot's doctor when it was booked, to show without a lookup.
    pub doctor_name: Option<String>,
    pub cancel_reason: Option<String>,
}

/// What happens to a slot together with a status change, atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotChange {
    None,
    /// Take the slot; fails unless it is available.
    Book(SlotId),
    /// Give the slot back.
    Release(SlotId),
}

/// A conditional status change: applied only if the stored appointment still
/// has `expected` status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The appointment as it must be stored afterwards.
    pub appointment: Appointment,
    pub expected: Status,
    pub slot: SlotChange,
}

impl Transition {
    /// What a store's refusal of this transition means to the caller.
    pub fn refused(&self, error: StoreError) -> DomainError {
        let id = self.appointment.id.to_string();
        match error {
            StoreError::StatusConflict { current } => DomainError::InvalidTransition {
                id,
                current,
                requested: self.appointment.status,
            },
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
            cancel_reason: None,
        }
    }

    pub fn document(&self) -> &Document {
        &self.id.document
    }

    /// The doctor of the booked slot.
    pub fn doctor(&self) -> Option<&DoctorId> {
        self.slot.as_ref().map(|slot| &slot.doctor)
    }

    /// When the booked slot starts.
    pub fn starts_at(&self) -> Option<Timestamp> {
        self.slot.as_ref().map(|slot| slot.starts_at)
    }

    /// The local day of the booked slot, while the appointment is assigned:
    /// the key reminders look appointments up by.
    pub fn assigned_day(&self) -> Option<Date> {
        match (self.status, &self.slot) {
            (Status::Assigned, Some(slot)) => Some(self.country.local_date(slot.starts_at)),
            _ => None,
        }
    }

    /// Whether the appointment may be booked at all, before any slot is chosen.
    pub fn require_assignable(&self) -> Result<(), DomainError> {
        self.require(Status::Assigned)
    }

    /// Books `slot` (of `doctor`, when registered): it must be a free, future
    /// slot of this appointment's country and speciality.
    pub fn assign(
        &self,
        slot: &Slot,
        of_doctor: Option<&Doctor>,
        now: Timestamp,
    ) -> Result<Transition, DomainError> {
        self.require(Status::Assigned)?;
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
        Ok(self.change(
            Appointment {
                status: Status::Assigned,
                slot: Some(slot.id.clone()),
                doctor_name: of_doctor.map(|d| d.name.clone()),
                updated_at: now,
                ..self.clone()
            },
            SlotChange::Book(slot.id.clone()),
        ))
    }

    pub fn complete(&self, now: Timestamp) -> Result<Transition, DomainError> {
        self.require(Status::Completed)?;
        Ok(self.change(
            Appointment {
                status: Status::Completed,
                updated_at: now,
                ..self.clone()
            },
            SlotChange::None,
        ))
    }

    /// Cancels an open appointment and gives its slot back.
    pub fn cancel(&self, reason: String, now: Timestamp) -> Result<Transition, DomainError> {
        self.require(Status::Cancelled)?;
        let slot = match (self.status, &self.slot) {
            (Status::Assigned, Some(slot)) => SlotChange::Release(slot.clone()),
            _ => SlotChange::None,
        };
        Ok(self.change(
            Appointment {
                status: Status::Cancelled,
                cancel_reason: Some(reason),
                updated_at: now,
                ..self.clone()
            },
            slot,
        ))
    }

    /// The patient asks again on the day of a cancelled request: it becomes a
    /// registered request again, for the speciality now asked, keeping its id.
    pub fn reopen(
        &self,
        patient: &Patient,
        speciality: OfferedSpeciality,
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
                cancel_reason: None,
                updated_at: now,
                ..self.clone()
            },
            SlotChange::None,
        ))
    }

    fn require(&self, next: Status) -> Result<(), DomainError> {
        if self.status.can_become(next) {
            Ok(())
        } else {
            Err(DomainError::InvalidTransition {
                id: self.id.to_string(),
                current: self.status,
                requested: next,
            })
        }
    }

    fn change(&self, after: Appointment, slot: SlotChange) -> Transition {
        Transition {
            appointment: after,
            expected: self.status,
            slot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::country::PERU;
    use crate::ids::DoctorId;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn registered(speciality: &str) -> Appointment {
        let patient = Patient {
            document: PERU.parse_document("45678912").unwrap(),
            name: "Ana".into(),
            email: None,
        };
        let now = at("2026-11-22T15:00:00Z");
        Appointment::register(
            AppointmentId::for_request(&PERU, patient.document.clone(), now),
            &PERU,
            &patient,
            OfferedSpeciality::from_slug(Speciality::parse(speciality).unwrap()),
            now,
        )
    }

    fn slot(doctor: &str, starts_at: &str) -> Slot {
        Slot {
            id: SlotId::new(DoctorId::parse(doctor).unwrap(), at(starts_at)),
            available: true,
            booked_by: None,
        }
    }

    #[test]
    fn a_slot_of_another_speciality_or_country_cannot_be_booked() {
        let appointment = registered("medicina");
        let now = at("2026-11-22T15:00:00Z");
        // `medicina` is a prefix of `medicina-interna`, not the same speciality.
        for doctor in ["pe-medicina-interna-9999234", "cl-medicina-1"] {
            assert!(matches!(
                appointment.assign(&slot(doctor, "2026-12-01T14:00:00Z"), None, now),
                Err(DomainError::SlotMismatch { .. })
            ));
        }
        assert!(
            appointment
                .assign(&slot("pe-medicina-1", "2026-12-01T14:00:00Z"), None, now)
                .is_ok()
        );
    }

    #[test]
    fn assigning_books_the_slot_and_cancelling_gives_it_back() {
        let appointment = registered("cardiologia");
        let now = at("2026-11-22T15:00:00Z");
        let free = slot("pe-cardiologia-1", "2026-12-01T14:00:00Z");
        let booked = appointment.assign(&free, None, now).unwrap();
        assert_eq!(booked.expected, Status::Registered);
        assert_eq!(booked.slot, SlotChange::Book(free.id.clone()));
        assert_eq!(booked.appointment.status, Status::Assigned);
        assert_eq!(booked.appointment.starts_at(), Some(free.starts_at()));
        assert_eq!(
            booked.appointment.assigned_day(),
            Some(jiff::civil::date(2026, 12, 1))
        );
        let cancelled = booked.appointment.cancel("viaje".into(), now).unwrap();
        assert_eq!(cancelled.slot, SlotChange::Release(free.id.clone()));
        assert_eq!(cancelled.appointment.assigned_day(), None);
        assert!(matches!(
            cancelled.appointment.complete(now),
            Err(DomainError::InvalidTransition { .. })
        ));
    }

    #[test]
    fn past_and_taken_slots_are_refused() {
        let appointment = registered("cardiologia");
        let now = at("2026-11-22T15:00:00Z");
        assert!(matches!(
            appointment.assign(&slot("pe-cardiologia-1", "2026-11-22T15:00:00Z"), None, now),
            Err(DomainError::SlotInPast { .. })
        ));
        let taken = Slot {
            available: false,
            ..slot("pe-cardiologia-1", "2026-12-01T14:00:00Z")
        };
        assert!(matches!(
            appointment.assign(&taken, None, now),
            Err(DomainError::SlotUnavailable { .. })
        ));
    }
}

//! Builders of entities with sensible defaults, for tests of every crate
//! (behind the `testkit` feature; `citas-e2e` re-exports them). Each builder
//! panics on a malformed literal: a test's own typo should fail that test.

use jiff::Timestamp;
use jiff::civil::{Date, Time};

use crate::appointment::Appointment;
use crate::values::country::Country;
use crate::values::ids::{AppointmentId, DoctorDocument, DoctorId, SlotId};
use crate::{
    appointment::status::Status, patient::Patient, scheduling::doctor::Doctor,
    scheduling::slot::Slot,
};
use crate::{values::email::EmailAddress, values::speciality::Speciality};

/// 2026-11-22 10:00 in Lima, 12:00 in Santiago.
pub const DEFAULT_NOW: &str = "2026-11-22T15:00:00Z";

pub fn at(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("timestamp {text}: {e}"))
}

pub fn speciality(slug: &str) -> Speciality {
    Speciality::parse(slug).unwrap_or_else(|e| panic!("speciality {slug}: {e}"))
}

pub fn appointment_id(country: &Country, text: &str) -> AppointmentId {
    AppointmentId::parse(country, text).unwrap_or_else(|e| panic!("appointment id {text}: {e}"))
}

pub fn doctor_id(country: &'static Country, speciality_slug: &str, document: &str) -> DoctorId {
    DoctorId::new(
        country,
        speciality(speciality_slug),
        DoctorDocument::parse(document).unwrap_or_else(|e| panic!("doctor {document}: {e}")),
    )
}

/// A doctor named `Dr. {document}`, without email, who needs no confirmation.
pub fn doctor(country: &'static Country, speciality_slug: &str, document: &str) -> Doctor {
    Doctor {
        id: doctor_id(country, speciality_slug, document),
        name: format!("Dr. {document}"),
        email: None,
        requires_confirmation: false,
        profile: Default::default(),
        rating: Default::default(),
    }
}

/// A free slot of the doctor at a local date and time of their country.
pub fn slot(doctor: &DoctorId, date: Date, time: Time) -> Slot {
    Slot::at_local(
        doctor,
        date,
        time,
        crate::scheduling::slot::DEFAULT_SLOT_MINUTES,
        crate::scheduling::doctor::Modality::InPerson,
    )
    .unwrap_or_else(|| panic!("slot {doctor} {date} {time}: that local time does not exist"))
}

/// A free slot of the doctor starting at an instant.
pub fn slot_at(doctor: &DoctorId, starts_at: &str) -> Slot {
    Slot {
        modality: Default::default(),
        id: SlotId::new(doctor.clone(), at(starts_at)),
        available: true,
        booked_by: None,
        minutes: crate::scheduling::slot::DEFAULT_SLOT_MINUTES,
    }
}

/// A patient named `Paciente`, with an email at example.com unless told otherwise.
pub fn patient(country: &Country, document: &str) -> Patient {
    let document = country
        .parse_document(document)
        .unwrap_or_else(|e| panic!("document {document}: {e}"));
    Patient {
        email: EmailAddress::parse(&format!("p{document}@example.com")).ok(),
        document,
        name: "Paciente".into(),
        email_verified: true,
        verification: None,
    }
}

/// An appointment: registered for cardiología, requested at [`DEFAULT_NOW`].
pub fn appointment(country: &'static Country, document: &str) -> AppointmentBuilder {
    AppointmentBuilder {
        country,
        document: document.to_owned(),
        created_at: at(DEFAULT_NOW),
        speciality: speciality("cardiologia"),
        patient_name: "Paciente".into(),
        status: Status::Registered,
        slot: None,
        cancel_reason: None,
        revision: 1,
    }
}

#[derive(Debug, Clone)]
pub struct AppointmentBuilder {
    country: &'static Country,
    document: String,
    created_at: Timestamp,
    speciality: Speciality,
    patient_name: String,
    status: Status,
    slot: Option<SlotId>,
    cancel_reason: Option<String>,
    revision: u32,
}

impl AppointmentBuilder {
    /// How many changes it has had (1, a fresh registration, unless given).
    pub fn revision(mut self, revision: u32) -> Self {
        self.revision = revision;
        self
    }

    /// When it was requested; its id takes that local day.
    pub fn created_at(mut self, text: &str) -> Self {
        self.created_at = at(text);
        self
    }

    pub fn speciality(mut self, slug: &str) -> Self {
        self.speciality = speciality(slug);
        self
    }

    pub fn patient_name(mut self, name: &str) -> Self {
        self.patient_name = name.into();
        self
    }

    /// Assigned to the slot.
    pub fn assigned(mut self, slot: &SlotId) -> Self {
        self.status = Status::Assigned;
        self.slot = Some(slot.clone());
        self
    }

    pub fn status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    pub fn cancel_reason(mut self, reason: &str) -> Self {
        self.cancel_reason = Some(reason.into());
        self
    }

    pub fn build(self) -> Appointment {
        let document = self
            .country
            .parse_document(&self.document)
            .unwrap_or_else(|e| panic!("document {}: {e}", self.document));
        Appointment {
            modality: Default::default(),
            meeting: None,
            id: AppointmentId::for_request(self.country, document, self.created_at),
            country: self.country,
            patient_name: self.patient_name,
            speciality_name: crate::scheduling::catalogue::display_name(&self.speciality),
            speciality: self.speciality,
            status: self.status,
            created_at: self.created_at,
            updated_at: self.created_at,
            slot: self.slot,
            doctor_name: None,
            price: None,
            slot_minutes: crate::scheduling::slot::DEFAULT_SLOT_MINUTES,
            patient_changes: Default::default(),
            cancel_reason: self.cancel_reason,
            refusal_reason: None,
            revision: self.revision,
            created_by: None,
        }
    }
}

/// A working plan of 30-minute slots: weekly `(weekday, "HH:MM", "HH:MM")`
/// ranges from `valid_from`, until `valid_until` if given, no exceptions.
pub fn plan(
    weekly: &[(jiff::civil::Weekday, &str, &str)],
    valid_from: &str,
    valid_until: Option<&str>,
) -> crate::scheduling::plan::WorkingPlan {
    use crate::scheduling::plan::{TimeRange, WeeklyRange, parse_time};
    let time = |text: &str| parse_time(text).unwrap_or_else(|| panic!("time {text}"));
    let date = |text: &str| {
        text.parse::<Date>()
            .unwrap_or_else(|e| panic!("date {text}: {e}"))
    };
    crate::scheduling::plan::WorkingPlan::new(
        30,
        weekly
            .iter()
            .map(|(weekday, from, to)| WeeklyRange {
                weekday: *weekday,
                range: TimeRange {
                    modality: Default::default(),
                    from: time(from),
                    to: time(to),
                },
            })
            .collect(),
        date(valid_from),
        valid_until.map(date),
        Default::default(),
    )
    .unwrap_or_else(|e| panic!("plan: {e}"))
}

/// Stores a plan as a save would (under a hold on the revision stored),
/// without bringing slots in line with it: for tests that set a plan up.
pub async fn store_plan(
    store: &dyn crate::Store,
    doctor: &crate::DoctorId,
    plan: crate::WorkingPlan,
    generated_until: jiff::civil::Date,
) -> Result<crate::ports::Availability, crate::StoreError> {
    let now = jiff::Timestamp::now();
    let revision = store
        .get_availability(doctor)
        .await?
        .map_or(0, |stored| stored.revision);
    let lease = crate::PlanLease::new(revision, now);
    store.lease_plan(doctor, &lease, now).await?;
    let availability = crate::ports::Availability {
        plan,
        generated_until,
        revision: revision + 1,
    };
    store
        .put_availability(doctor, &availability, &lease)
        .await?;
    Ok(availability)
}

/// A verifier that keeps the codes it is asked to send, for tests to read,
/// and counts them in memory.
#[derive(Debug, Default)]
pub struct RecordingVerifier {
    pub sent: std::sync::Mutex<Vec<crate::verification::VerificationEmail>>,
    counted: std::sync::Mutex<std::collections::HashMap<String, u16>>,
}

#[async_trait::async_trait]
impl crate::verification::Verifier for RecordingVerifier {
    async fn count_code(
        &self,
        to: &EmailAddress,
        day: jiff::civil::Date,
        limit: u16,
        _now: jiff::Timestamp,
    ) -> Result<bool, crate::ports::StoreError> {
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        let count = counted
            .entry(crate::verification::count_key(to, day, 0))
            .or_default();
        if *count >= limit {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }

    async fn send_code(
        &self,
        email: &crate::verification::VerificationEmail,
    ) -> Result<(), crate::ports::MailError> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(email.clone());
        Ok(())
    }
}

/// A queue that keeps what is enqueued, in order (when the logic under test
/// is what is enqueued, not the queue).
#[derive(Default)]
pub struct RecordingQueue(std::sync::Mutex<Vec<crate::Notification>>);

impl RecordingQueue {
    /// The messages enqueued since the last call.
    pub fn take(&self) -> Vec<crate::Notification> {
        std::mem::take(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait::async_trait]
impl crate::NotificationQueue for RecordingQueue {
    async fn enqueue(&self, message: &crate::Notification) -> Result<(), crate::QueueError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.clone());
        Ok(())
    }
}

/// A queue that accepts every message and keeps none (for tests that count store calls).
pub struct NullQueue;

#[async_trait::async_trait]
impl crate::NotificationQueue for NullQueue {
    async fn enqueue(&self, _message: &crate::Notification) -> Result<(), crate::QueueError> {
        Ok(())
    }
}

/// Verified callers of Peru, as a token's claims would make them.
pub mod callers {
    use crate::{Caller, DoctorDocument, Identity, PERU};

    /// An admin of Peru (subject `admin`).
    pub fn admin() -> Caller {
        Caller {
            subject: "admin".into(),
            country: &PERU,
            identity: Identity::Admin,
        }
    }

    /// A doctor of Peru, by registry number.
    pub fn doctor(registry: &str) -> Caller {
        Caller {
            subject: format!("doctor-{registry}"),
            country: &PERU,
            identity: Identity::Doctor(DoctorDocument::parse(registry).expect("registry")),
        }
    }

    /// A patient of Peru, by document.
    pub fn patient(document: &str) -> Caller {
        Caller {
            subject: format!("patient-{document}"),
            country: &PERU,
            identity: Identity::Patient(PERU.parse_document(document).expect("document")),
        }
    }
}

/// Jitsi rooms on a test server: meetings that need no service.
pub fn jitsi_rooms() -> std::sync::Arc<dyn crate::ports::Meetings> {
    std::sync::Arc::new(crate::meeting::JitsiRooms::new("https://meet.test", None))
}

//! What a use case can answer besides success. The HTTP layer maps each
//! variant to a status and a stable problem `code`.

use crate::appointment::status::Status;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{message}")]
    InvalidInput { field: Field, message: String },
    #[error("no patient with document {document} is registered in this country")]
    PatientNotFound { document: String },
    #[error("appointment {id} does not exist")]
    AppointmentNotFound { id: String },
    #[error("slot {slot} does not exist")]
    SlotNotFound { slot: String },
    #[error("the patient already has appointment {existing_id} for this day")]
    DuplicateAppointment { existing_id: String },
    #[error("appointment {id} is {current}; it cannot become {requested}")]
    InvalidTransition {
        id: String,
        current: Status,
        requested: Status,
    },
    #[error("appointment {id} was changed by another request meanwhile; read it and try again")]
    ChangedMeanwhile { id: String },
    #[error(
        "appointment {id} can no longer be changed by the patient: changes were allowed until {}",
        deadline.strftime("%Y-%m-%dT%H:%M:%S%:z")
    )]
    TooLateToChange { id: String, deadline: jiff::Zoned },
    #[error(
        "appointment {id} has had the {limit} changes a patient may make in a day; try again tomorrow"
    )]
    TooManyChanges {
        id: String,
        limit: u16,
        /// Until the country's next local midnight.
        retry_after: jiff::SignedDuration,
    },
    #[error(
        "appointment {id} starts at {}; it can be closed only once it has started",
        starts_at.strftime("%Y-%m-%dT%H:%M:%S%:z")
    )]
    NotStarted { id: String, starts_at: jiff::Zoned },
    #[error("slot {slot} is already taken")]
    SlotUnavailable { slot: String },
    #[error("no available slot for speciality {speciality}")]
    NoSlotAvailable { speciality: String },
    #[error("slot {slot} is not a {speciality} slot of this country")]
    SlotMismatch { slot: String, speciality: String },
    #[error("slot {slot} has already started")]
    SlotInPast { slot: String },
    #[error("no doctor {id} is registered in this country")]
    DoctorNotFound { id: String },
    #[error("doctor {doctor} has no working plan yet")]
    AvailabilityNotFound { doctor: String },
    #[error(
        "the plan makes {slots} slots up to the horizon; at most {limit} are allowed (longer slots, fewer hours or a shorter validity)"
    )]
    TooManySlots { slots: usize, limit: usize },
    #[error("speciality {speciality} is not offered in this country")]
    UnknownSpeciality {
        speciality: String,
        /// The offered ones: (slug, display name).
        offered: Vec<(String, String)>,
    },
    #[error("slot {slot} is booked; move or cancel its appointment first")]
    SlotBooked { slot: String },
    #[error(
        "the doctor's plan is being saved by another request, or was changed since it was read; read it and try again"
    )]
    PlanChanged,
    #[error("free slots are being taken faster than they can be booked; retry")]
    Contended,
    #[error(
        "the patient of appointment {id} has no email address on file: register it with POST /{{country}}/patient, then ask again"
    )]
    NoEmailOnFile { id: String },
    #[error(
        "the email address of the patient of appointment {id} is not verified: the patient confirms it with the code sent to it (POST /{{country}}/patient/{{document}}/email/verify)"
    )]
    EmailNotVerified { id: String },
    #[error("the patient's email address is verified already, or there is none to verify")]
    NothingToVerify,
    #[error("the code is not the one sent to this address, or it has expired; ask for a new one")]
    InvalidCode,
    #[error("{limit} verification codes were sent today; try again tomorrow")]
    TooManyCodes {
        limit: u16,
        retry_after: jiff::SignedDuration,
    },
    #[error("the pagination cursor is not valid for this list")]
    InvalidCursor,
    #[error("appointment {id} has been reviewed already; a visit is reviewed once")]
    AlreadyReviewed { id: String },
    #[error("appointment {id} is {current}; only a completed visit is reviewed")]
    NotCompleted { id: String, current: Status },
    #[error("review {id} does not exist")]
    ReviewNotFound { id: String },
    #[error("review {id} is hidden already")]
    AlreadyHidden { id: String },
    /// The caller may not do this (someone else's appointment is `AppointmentNotFound` instead).
    #[error(
        "the meeting of appointment {id} opens at {}",
        opens_at.strftime("%Y-%m-%dT%H:%M:%S%:z")
    )]
    MeetingNotOpen { id: String, opens_at: jiff::Zoned },
    #[error(
        "the meeting of appointment {id} ended at {}",
        closes_at.strftime("%Y-%m-%dT%H:%M:%S%:z")
    )]
    MeetingOver { id: String, closes_at: jiff::Zoned },
    #[error("appointment {id} is an in-person visit; it has no online meeting")]
    NotVirtual { id: String },
    #[error("appointment {id} is {current}; only an assigned visit's meeting can be joined")]
    NotAssigned { id: String, current: Status },
    #[error(transparent)]
    Denied(crate::access::Denied),
    /// A dependency failed; the only error that is not the client's.
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
}

/// Store failures outside a status change (those are explained by
/// [`crate::Transition::refused`], which knows the appointment and the change).
impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::AlreadyExists { existing_id } => {
                DomainError::DuplicateAppointment { existing_id }
            }
            StoreError::SlotUnavailable(slot) => DomainError::SlotUnavailable { slot },
            StoreError::InvalidCursor => DomainError::InvalidCursor,
            StoreError::PlanChanged => DomainError::PlanChanged,
            StoreError::Backend(message) => DomainError::Unavailable(message),
            conflict @ (StoreError::StatusConflict { .. }
            | StoreError::NotFound
            | StoreError::AlreadyReviewed
            | StoreError::AlreadyHidden) => DomainError::Unavailable(format!(
                "the store answered '{conflict}' outside a status change"
            )),
        }
    }
}

impl From<crate::access::Denied> for DomainError {
    fn from(denied: crate::access::Denied) -> Self {
        DomainError::Denied(denied)
    }
}

/// What a store port could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("appointment {existing_id} already exists")]
    AlreadyExists { existing_id: String },
    #[error("the appointment is {current}")]
    StatusConflict { current: Status },
    #[error("slot {0} is not available")]
    SlotUnavailable(String),
    #[error("not found")]
    NotFound,
    #[error("the cursor is not valid for this list")]
    InvalidCursor,
    /// Another save of the doctor's plan holds it or came first.
    #[error(
        "the doctor's plan is being changed by another request, or was changed since it was read"
    )]
    PlanChanged,
    /// The appointment has a review already.
    #[error("the appointment has a review already")]
    AlreadyReviewed,
    /// The review was hidden (by another request) before this change.
    #[error("the review is hidden already")]
    AlreadyHidden,
    #[error("storage failure: {0}")]
    Backend(String),
}

/// The part of a request an invalid input is about: the problem's `field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Document,
    Name,
    Email,
    Speciality,
    Status,
    Limit,
    Slot,
    Reason,
    Query,
    Date,
    From,
    To,
    Month,
    Upcoming,
    Doctor,
    SlotMinutes,
    Weekly,
    Exceptions,
    ValidFrom,
    ValidUntil,
    Price,
    Modalities,
    Place,
    Languages,
    Bio,
    Near,
    WithinKm,
    MinRating,
    Modality,
    MaxPrice,
    Sort,
    Stars,
    Comment,
}

impl Field {
    /// As the request spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Document => "document",
            Self::Name => "name",
            Self::Email => "email",
            Self::Speciality => "speciality",
            Self::Status => "status",
            Self::Limit => "limit",
            Self::Slot => "slot",
            Self::Reason => "reason",
            Self::Query => "query",
            Self::Date => "date",
            Self::From => "from",
            Self::To => "to",
            Self::Month => "month",
            Self::Upcoming => "upcoming",
            Self::Doctor => "doctor",
            Self::SlotMinutes => "slot_minutes",
            Self::Weekly => "weekly",
            Self::Exceptions => "exceptions",
            Self::ValidFrom => "valid_from",
            Self::ValidUntil => "valid_until",
            Self::Price => "price",
            Self::Modalities => "modalities",
            Self::Place => "place",
            Self::Languages => "languages",
            Self::Bio => "bio",
            Self::Near => "near",
            Self::WithinKm => "within_km",
            Self::MinRating => "min_rating",
            Self::Modality => "modality",
            Self::MaxPrice => "max_price",
            Self::Sort => "sort",
            Self::Stars => "stars",
            Self::Comment => "comment",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

//! Who is calling, and what they may do: the one place access is decided.
//!
//! The caller comes from a verified token's claims (API Gateway's JWT
//! authorizer in AWS, the local server's verifier on a laptop), in the shape
//! API Gateway hands them to a function: a map of strings.
//!
//! | role | own country only | may |
//! |---|---|---|
//! | patient | yes | register/update their own record; create, read (with history), assign, reschedule, notify and cancel their own appointments; list them by document |
//! | doctor | yes | read (with history), confirm, refuse, complete, mark no-show and cancel the appointments booked on their slots; list by status (only theirs are shown) |
//! | doctor | yes | set and read their own working plan, take their own free slots out, read their own agenda |
//! | patient | yes | review their own completed visits, once |
//! | patient, doctor | yes | join the meeting of their own virtual visit (admins do not) |
//! | anyone signed in | yes | list specialities, find and read doctors and their reviews, search free slots |
//! | admin | yes | everything in their country but reviewing visits, including registering doctors, any doctor's plan and agenda, and hiding reviews |

use std::collections::HashMap;

use crate::appointment::Appointment;
use crate::values::country::Country;
use crate::values::document::Document;
use crate::values::ids::{DoctorDocument, DoctorId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Patient,
    Doctor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Doctor => "doctor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "patient" => Some(Role::Patient),
            "doctor" => Some(Role::Doctor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Claim names: Cognito's groups claim and the user pool's custom attributes.
pub mod claim {
    pub const SUBJECT: &str = "sub";
    pub const GROUPS: &str = "cognito:groups";
    pub const COUNTRY: &str = "custom:country";
    pub const DOCUMENT: &str = "custom:document";
}

/// Who a verified caller is, with the parsed document their role comes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A patient of the token's country, by their normalised document.
    Patient(Document),
    /// A doctor, by their professional registry number (the end of their doctor ids).
    Doctor(DoctorDocument),
    Admin,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub country: &'static Country,
    pub identity: Identity,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("the token carries no claim '{0}'")]
    Missing(&'static str),
    #[error("the token's groups name no known role")]
    NoRole,
    #[error("the token's country is not supported")]
    UnknownCountry,
    #[error("the token's document is not valid for its country")]
    InvalidDocument,
}

impl Caller {
    /// From the claims API Gateway passes a function (`requestContext.authorizer.jwt.claims`).
    /// Groups arrive as `[admin doctor]`, a JSON array or a single name; the
    /// most privileged known group wins.
    pub fn from_claims(claims: &HashMap<String, String>) -> Result<Self, ClaimsError> {
        let subject = claims
            .get(claim::SUBJECT)
            .filter(|s| !s.is_empty())
            .ok_or(ClaimsError::Missing(claim::SUBJECT))?
            .clone();
        let groups = claims
            .get(claim::GROUPS)
            .ok_or(ClaimsError::Missing(claim::GROUPS))?;
        let role = groups
            .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | ',' | '"'))
            .filter_map(Role::parse)
            .max()
            .ok_or(ClaimsError::NoRole)?;
        let country = claims
            .get(claim::COUNTRY)
            .ok_or(ClaimsError::Missing(claim::COUNTRY))
            .and_then(|code| Country::from_code(code).map_err(|_| ClaimsError::UnknownCountry))?;
        let document = claims.get(claim::DOCUMENT).filter(|d| !d.is_empty());
        let identity = match (role, document) {
            (Role::Admin, _) => Identity::Admin,
            (_, None) => return Err(ClaimsError::Missing(claim::DOCUMENT)),
            (Role::Patient, Some(raw)) => Identity::Patient(
                country
                    .parse_document(raw)
                    .map_err(|_| ClaimsError::InvalidDocument)?,
            ),
            (Role::Doctor, Some(raw)) => Identity::Doctor(
                DoctorDocument::parse(raw).map_err(|_| ClaimsError::InvalidDocument)?,
            ),
        };
        Ok(Self {
            subject,
            country,
            identity,
        })
    }

    pub fn role(&self) -> Role {
        match self.identity {
            Identity::Patient(_) => Role::Patient,
            Identity::Doctor(_) => Role::Doctor,
            Identity::Admin => Role::Admin,
        }
    }

    fn is_patient(&self, document: &Document) -> bool {
        matches!(&self.identity, Identity::Patient(own) if own == document)
    }

    /// Whether the caller may see a doctor's contact details (their email):
    /// staff, and the doctor themself; not patients, nor other doctors.
    pub fn may_see_contact_of(&self, doctor: &crate::values::ids::DoctorId) -> bool {
        match &self.identity {
            Identity::Admin => true,
            Identity::Doctor(own) => doctor.country == self.country && &doctor.document == own,
            Identity::Patient(_) => false,
        }
    }

    /// The doctor of the appointment's booked slot, in the caller's country.
    pub fn is_doctor_of(&self, appointment: &Appointment) -> bool {
        match (&self.identity, appointment.doctor()) {
            (Identity::Doctor(own), Some(doctor)) => {
                doctor.country == self.country && &doctor.document == own
            }
            _ => false,
        }
    }
}

/// What is being done to an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// The appointment and its history.
    Read,
    Assign,
    Reschedule,
    Notify,
    /// The doctor's answer: confirm or refuse.
    Answer,
    /// Complete or mark a no-show.
    Close,
    Cancel,
    /// Rating a completed visit: its patient only (staff hide reviews, never write them).
    Review,
    /// Entering a virtual visit's meeting: its two parties only.
    Join,
}

/// A request to check that concerns no particular appointment.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    /// Registering a patient, creating an appointment for them, listing theirs.
    ForPatient {
        document: &'a Document,
    },
    ListByStatus,
    /// Sending a day's reminders by hand (what the schedule does daily).
    SendReminders,
    /// Sending dead-lettered notifications back to the queue.
    Redrive,
    /// Specialities, doctors and free slots: anyone signed in to the country.
    Browse,
    /// Registering or updating doctors.
    RegisterDoctors,
    /// Hiding a review: staff only.
    ModerateReviews,
    /// A doctor's working plan, slots and agenda: that doctor or an admin.
    DoctorsSchedule {
        doctor: &'a DoctorId,
    },
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("this token is for {token}, not {requested}")]
    WrongCountry {
        token: &'static str,
        requested: &'static str,
    },
    #[error("a {role} may not do this")]
    Forbidden { role: &'static str },
}

/// Why an appointment may not be touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Denied(Denied),
    /// Someone else's appointment: answered as if it did not exist.
    Hidden,
}

/// A token acts in its own country only.
pub fn require_country(caller: &Caller, country: &Country) -> Result<(), Denied> {
    if caller.country == country {
        Ok(())
    } else {
        Err(Denied::WrongCountry {
            token: caller.country.code,
            requested: country.code,
        })
    }
}

fn forbidden(caller: &Caller) -> Denied {
    Denied::Forbidden {
        role: caller.role().as_str(),
    }
}

/// The access rules of the table above, for requests about no particular appointment.
pub fn authorize(caller: &Caller, country: &Country, access: Access<'_>) -> Result<(), Denied> {
    require_country(caller, country)?;
    match (&caller.identity, access) {
        (Identity::Admin, _) => Ok(()),
        (Identity::Patient(_), Access::ForPatient { document }) if caller.is_patient(document) => {
            Ok(())
        }
        (Identity::Doctor(_), Access::ListByStatus) => Ok(()),
        (_, Access::Browse) => Ok(()),
        (Identity::Doctor(own), Access::DoctorsSchedule { doctor }) if &doctor.document == own => {
            Ok(())
        }
        _ => Err(forbidden(caller)),
    }
}

/// The access rules of the table above, for one appointment of the caller's country.
pub fn authorize_appointment(
    caller: &Caller,
    appointment: &Appointment,
    operation: Operation,
) -> Result<(), Refused> {
    require_country(caller, appointment.country).map_err(Refused::Denied)?;
    let allowed = match &caller.identity {
        Identity::Admin => !matches!(operation, Operation::Review | Operation::Join),
        Identity::Patient(_) => {
            if !caller.is_patient(appointment.document()) {
                return Err(Refused::Hidden);
            }
            matches!(
                operation,
                Operation::Read
                    | Operation::Assign
                    | Operation::Reschedule
                    | Operation::Notify
                    | Operation::Cancel
                    | Operation::Review
                    | Operation::Join
            )
        }
        Identity::Doctor(_) => {
            if !caller.is_doctor_of(appointment) {
                return Err(Refused::Hidden);
            }
            matches!(
                operation,
                Operation::Read
                    | Operation::Answer
                    | Operation::Close
                    | Operation::Cancel
                    | Operation::Join
            )
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Refused::Denied(forbidden(caller)))
    }
}

/// What a doctor's list shows: only the appointments booked on their slots.
pub fn visible_in_list(caller: &Caller, appointment: &Appointment) -> bool {
    match &caller.identity {
        Identity::Admin => true,
        Identity::Doctor(_) => caller.is_doctor_of(appointment),
        Identity::Patient(_) => caller.is_patient(appointment.document()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appointment::status::Status;
    use crate::testkit;
    use crate::values::country::{CHILE, PERU};

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn caller(role: Role, country: &'static Country, document: Option<&str>) -> Caller {
        let identity = match (role, document) {
            (Role::Admin, _) => Identity::Admin,
            (Role::Patient, Some(d)) => Identity::Patient(country.parse_document(d).unwrap()),
            (Role::Doctor, Some(d)) => Identity::Doctor(DoctorDocument::parse(d).unwrap()),
            _ => panic!("a patient or doctor needs a document"),
        };
        Caller {
            subject: "user".into(),
            country,
            identity,
        }
    }

    fn appointment(document: &str, doctor: Option<&str>) -> Appointment {
        let built = testkit::appointment(&PERU, document);
        match doctor {
            Some(doctor) => built.assigned(
                &testkit::slot_at(
                    &crate::values::ids::DoctorId::parse(doctor).unwrap(),
                    testkit::DEFAULT_NOW,
                )
                .id,
            ),
            None => built.status(Status::Assigned),
        }
        .build()
    }

    fn doc(raw: &str) -> Document {
        PERU.parse_document(raw).unwrap()
    }

    #[test]
    fn claims_as_api_gateway_passes_them() {
        let parsed = Caller::from_claims(&claims(&[
            ("sub", "abc"),
            ("cognito:groups", "[patient doctor]"),
            ("custom:country", "cl"),
            ("custom:document", "20000000"),
        ]))
        .expect("caller");
        assert_eq!(
            parsed.role(),
            Role::Doctor,
            "the most privileged group wins"
        );
        assert_eq!(parsed.country.code, "cl");
        assert_eq!(
            parsed.identity,
            Identity::Doctor(DoctorDocument::parse("20000000").unwrap())
        );
        let patient = Caller::from_claims(&claims(&[
            ("sub", "abc"),
            ("cognito:groups", "patient"),
            ("custom:country", "cl"),
            ("custom:document", "12.345.678-5"),
        ]))
        .expect("caller");
        assert_eq!(
            patient.identity,
            Identity::Patient(CHILE.parse_document("12345678-5").unwrap()),
            "normalised"
        );
        let json_groups = Caller::from_claims(&claims(&[
            ("sub", "abc"),
            ("cognito:groups", "[\"admin\"]"),
            ("custom:country", "pe"),
        ]))
        .expect("caller");
        assert_eq!(json_groups.identity, Identity::Admin);
        for (bad, error) in [
            (
                claims(&[("cognito:groups", "admin"), ("custom:country", "pe")]),
                ClaimsError::Missing("sub"),
            ),
            (
                claims(&[
                    ("sub", "a"),
                    ("cognito:groups", "[nurse]"),
                    ("custom:country", "pe"),
                ]),
                ClaimsError::NoRole,
            ),
            (
                claims(&[
                    ("sub", "a"),
                    ("cognito:groups", "admin"),
                    ("custom:country", "ar"),
                ]),
                ClaimsError::UnknownCountry,
            ),
            (
                claims(&[
                    ("sub", "a"),
                    ("cognito:groups", "patient"),
                    ("custom:country", "pe"),
                ]),
                ClaimsError::Missing("custom:document"),
            ),
            (
                claims(&[
                    ("sub", "a"),
                    ("cognito:groups", "patient"),
                    ("custom:country", "cl"),
                    ("custom:document", "12.345.678-9"),
                ]),
                ClaimsError::InvalidDocument,
            ),
        ] {
            assert_eq!(Caller::from_claims(&bad), Err(error));
        }
    }

    #[test]
    fn a_token_never_crosses_countries() {
        for (role, document) in [
            (Role::Patient, Some("12345678-5")),
            (Role::Doctor, Some("20000000")),
            (Role::Admin, None),
        ] {
            let chilean = caller(role, &CHILE, document);
            assert!(matches!(
                authorize(&chilean, &PERU, Access::ListByStatus),
                Err(Denied::WrongCountry { .. })
            ));
        }
    }

    #[test]
    fn patients_act_on_their_own_records_only() {
        let ana = caller(Role::Patient, &PERU, Some("45678912"));
        assert_eq!(
            authorize(
                &ana,
                &PERU,
                Access::ForPatient {
                    document: &doc("45678912")
                }
            ),
            Ok(())
        );
        assert!(matches!(
            authorize(
                &ana,
                &PERU,
                Access::ForPatient {
                    document: &doc("70123456")
                }
            ),
            Err(Denied::Forbidden { .. })
        ));
        assert!(matches!(
            authorize(&ana, &PERU, Access::ListByStatus),
            Err(Denied::Forbidden { .. })
        ));
        let own = appointment("45678912", None);
        let other = appointment("70123456", None);
        for operation in [
            Operation::Read,
            Operation::Assign,
            Operation::Reschedule,
            Operation::Notify,
            Operation::Cancel,
        ] {
            assert_eq!(authorize_appointment(&ana, &own, operation), Ok(()));
            assert_eq!(
                authorize_appointment(&ana, &other, operation),
                Err(Refused::Hidden)
            );
        }
        for operation in [Operation::Answer, Operation::Close] {
            assert!(matches!(
                authorize_appointment(&ana, &own, operation),
                Err(Refused::Denied(Denied::Forbidden { .. }))
            ));
        }
    }

    #[test]
    fn doctors_see_the_appointments_on_their_slots() {
        let doctor = caller(Role::Doctor, &PERU, Some("9999234"));
        let mine = appointment("45678912", Some("pe-medicina-interna-9999234"));
        let theirs = appointment("45678912", Some("pe-medicina-interna-19999234"));
        let unassigned = appointment("45678912", None);
        for operation in [
            Operation::Read,
            Operation::Answer,
            Operation::Close,
            Operation::Cancel,
        ] {
            assert_eq!(authorize_appointment(&doctor, &mine, operation), Ok(()));
        }
        for operation in [Operation::Assign, Operation::Reschedule, Operation::Notify] {
            assert!(matches!(
                authorize_appointment(&doctor, &mine, operation),
                Err(Refused::Denied(Denied::Forbidden { .. }))
            ));
        }
        for other in [&theirs, &unassigned] {
            assert_eq!(
                authorize_appointment(&doctor, other, Operation::Read),
                Err(Refused::Hidden)
            );
        }
        assert_eq!(authorize(&doctor, &PERU, Access::ListByStatus), Ok(()));
        assert!(visible_in_list(&doctor, &mine));
        assert!(!visible_in_list(&doctor, &theirs));
        assert!(matches!(
            authorize(
                &doctor,
                &PERU,
                Access::ForPatient {
                    document: &doc("45678912")
                }
            ),
            Err(Denied::Forbidden { .. })
        ));
    }

    #[test]
    fn admins_manage_their_own_country() {
        let admin = caller(Role::Admin, &PERU, None);
        let any = appointment("45678912", Some("pe-cardiologia-1"));
        assert_eq!(authorize(&admin, &PERU, Access::ListByStatus), Ok(()));
        assert_eq!(
            authorize_appointment(&admin, &any, Operation::Close),
            Ok(())
        );
        assert!(authorize(&admin, &CHILE, Access::ListByStatus).is_err());
    }
}

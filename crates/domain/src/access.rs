//! Who is calling, and what they may do: the one place access is decided.
//!
//! The caller comes from a verified token's claims (API Gateway's JWT
//! authorizer in AWS, the local server's verifier on a laptop), in the shape
//! API Gateway hands them to a function: a map of strings.
//!
//! | role | own country only | may |
//! |---|---|---|
//! | patient | yes | register/update their own record; create, read, assign, notify and cancel their own appointments; list them by document |
//! | doctor | yes | read, complete and cancel the appointments booked on their slots; list by status (only theirs are shown) |
//! | admin | yes | everything in their country |

use std::collections::HashMap;

use crate::country::Country;
use crate::model::Appointment;

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

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
    pub country: &'static Country,
    /// The patient's document, or the doctor's (doctor ids end with it).
    pub document: Option<String>,
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
        let document = match claims.get(claim::DOCUMENT).filter(|d| !d.is_empty()) {
            // A patient's is a document of the country, normalised as stored.
            Some(raw) if role == Role::Patient => Some(
                country
                    .parse_document(raw)
                    .map_err(|_| ClaimsError::InvalidDocument)?
                    .into_string(),
            ),
            // A doctor's is the last part of their doctor id (`{country}-{speciality}-{document}`).
            Some(raw)
                if raw.len() <= 20
                    && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                Some(raw.clone())
            }
            Some(_) => return Err(ClaimsError::InvalidDocument),
            None if role == Role::Admin => None,
            None => return Err(ClaimsError::Missing(claim::DOCUMENT)),
        };
        Ok(Self {
            subject,
            role,
            country,
            document,
        })
    }

    fn is_patient(&self, document: &str) -> bool {
        self.role == Role::Patient && self.document.as_deref() == Some(document)
    }

    /// Doctor ids are `{country}-{speciality}-{document}`.
    pub fn is_doctor_of(&self, appointment: &Appointment) -> bool {
        match (&self.document, &appointment.doctor) {
            (Some(document), Some(doctor)) if self.role == Role::Doctor => {
                let in_country = doctor
                    .strip_prefix(self.country.code)
                    .is_some_and(|rest| rest.starts_with('-'));
                let theirs = doctor
                    .rsplit_once('-')
                    .is_some_and(|(_, last)| last == document);
                in_country && theirs
            }
            _ => false,
        }
    }
}

/// What is being done to an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    Assign,
    Notify,
    Complete,
    Cancel,
}

/// A request to check.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    /// Registering a patient, creating an appointment for them, listing theirs.
    ForPatient {
        document: &'a str,
    },
    ListByStatus,
    /// Sending a day's reminders by hand (what the schedule does daily).
    SendReminders,
    Appointment {
        appointment: &'a Appointment,
        operation: Operation,
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
    /// Someone else's appointment: answered as if it did not exist.
    #[error("not found")]
    Hidden,
}

/// A token acts in its own country only.
pub fn require_country(caller: &Caller, country: &Country) -> Result<(), Denied> {
    if caller.country.code == country.code {
        Ok(())
    } else {
        Err(Denied::WrongCountry {
            token: caller.country.code,
            requested: country.code,
        })
    }
}

/// The access rules of the table above.
pub fn authorize(caller: &Caller, country: &Country, access: Access<'_>) -> Result<(), Denied> {
    require_country(caller, country)?;
    let forbidden = Err(Denied::Forbidden {
        role: caller.role.as_str(),
    });
    match (caller.role, access) {
        (Role::Admin, _) => Ok(()),
        (Role::Patient, Access::ForPatient { document }) if caller.is_patient(document) => Ok(()),
        (Role::Patient | Role::Doctor, Access::ForPatient { .. }) => forbidden,
        (Role::Doctor, Access::ListByStatus) => Ok(()),
        (Role::Patient, Access::ListByStatus)
        | (Role::Patient | Role::Doctor, Access::SendReminders) => forbidden,
        (
            Role::Patient,
            Access::Appointment {
                appointment,
                operation,
            },
        ) => {
            if !caller.is_patient(&appointment.document) {
                Err(Denied::Hidden)
            } else if operation == Operation::Complete {
                forbidden
            } else {
                Ok(())
            }
        }
        (
            Role::Doctor,
            Access::Appointment {
                appointment,
                operation,
            },
        ) => {
            if !caller.is_doctor_of(appointment) {
                Err(Denied::Hidden)
            } else if matches!(
                operation,
                Operation::Read | Operation::Complete | Operation::Cancel
            ) {
                Ok(())
            } else {
                forbidden
            }
        }
    }
}

/// What a doctor's list shows: only the appointments booked on their slots.
pub fn visible_in_list(caller: &Caller, appointment: &Appointment) -> bool {
    match caller.role {
        Role::Admin => true,
        Role::Doctor => caller.is_doctor_of(appointment),
        Role::Patient => caller.is_patient(&appointment.document),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::country::{CHILE, PERU};
    use crate::model::Status;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn caller(role: Role, country: &'static Country, document: Option<&str>) -> Caller {
        Caller {
            subject: "user".into(),
            role,
            country,
            document: document.map(str::to_owned),
        }
    }

    fn appointment(document: &str, doctor: Option<&str>) -> Appointment {
        let at = "2026-11-22T15:00:00Z".parse().expect("time");
        Appointment {
            id: format!("20261122-{document}"),
            country: "pe".into(),
            document: document.into(),
            patient: "P".into(),
            speciality: "cardiologia".into(),
            status: Status::Assigned,
            created_at: at,
            date: None,
            update_at: at,
            doctor: doctor.map(str::to_owned),
            starts_at: None,
            cancel_reason: None,
        }
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
        assert_eq!(parsed.role, Role::Doctor, "the most privileged group wins");
        assert_eq!(parsed.country.code, "cl");
        assert_eq!(parsed.document.as_deref(), Some("20000000"));
        let patient = Caller::from_claims(&claims(&[
            ("sub", "abc"),
            ("cognito:groups", "patient"),
            ("custom:country", "cl"),
            ("custom:document", "12.345.678-5"),
        ]))
        .expect("caller");
        assert_eq!(
            patient.document.as_deref(),
            Some("12345678-5"),
            "normalised"
        );
        let json_groups = Caller::from_claims(&claims(&[
            ("sub", "abc"),
            ("cognito:groups", "[\"admin\"]"),
            ("custom:country", "pe"),
        ]))
        .expect("caller");
        assert_eq!(
            (json_groups.role, json_groups.document),
            (Role::Admin, None)
        );
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
        for role in [Role::Patient, Role::Doctor, Role::Admin] {
            let chilean = caller(role, &CHILE, Some("12345678-5"));
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
                    document: "45678912"
                }
            ),
            Ok(())
        );
        assert!(matches!(
            authorize(
                &ana,
                &PERU,
                Access::ForPatient {
                    document: "70123456"
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
            Operation::Notify,
            Operation::Cancel,
        ] {
            let access = |appointment| Access::Appointment {
                appointment,
                operation,
            };
            assert_eq!(authorize(&ana, &PERU, access(&own)), Ok(()));
            assert_eq!(authorize(&ana, &PERU, access(&other)), Err(Denied::Hidden));
        }
        assert!(matches!(
            authorize(
                &ana,
                &PERU,
                Access::Appointment {
                    appointment: &own,
                    operation: Operation::Complete
                }
            ),
            Err(Denied::Forbidden { .. })
        ));
    }

    #[test]
    fn doctors_see_the_appointments_on_their_slots() {
        let doctor = caller(Role::Doctor, &PERU, Some("9999234"));
        let mine = appointment("45678912", Some("pe-medicina-interna-9999234"));
        let theirs = appointment("45678912", Some("pe-medicina-interna-19999234"));
        let unassigned = appointment("45678912", None);
        let access = |appointment, operation| Access::Appointment {
            appointment,
            operation,
        };
        for operation in [Operation::Read, Operation::Complete, Operation::Cancel] {
            assert_eq!(authorize(&doctor, &PERU, access(&mine, operation)), Ok(()));
        }
        for operation in [Operation::Assign, Operation::Notify] {
            assert!(matches!(
                authorize(&doctor, &PERU, access(&mine, operation)),
                Err(Denied::Forbidden { .. })
            ));
        }
        for other in [&theirs, &unassigned] {
            assert_eq!(
                authorize(&doctor, &PERU, access(other, Operation::Read)),
                Err(Denied::Hidden)
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
                    document: "45678912"
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
            authorize(
                &admin,
                &PERU,
                Access::Appointment {
                    appointment: &any,
                    operation: Operation::Complete
                }
            ),
            Ok(())
        );
        assert!(authorize(&admin, &CHILE, Access::ListByStatus).is_err());
    }
}

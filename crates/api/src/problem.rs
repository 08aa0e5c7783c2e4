//! RFC 9457 problem details (`application/problem+json`) with a stable `code`.

use citas_domain::DomainError;
use citas_domain::Field;
use citas_domain::access::Denied;
use citas_domain::values::country::{UnsupportedCountry, supported_codes};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: status, machine code, human detail and extra members.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
    /// Seconds a client should wait before retrying (a `Retry-After` header).
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
    }

    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this path accepts {}", allowed.join(", ")),
        )
        .with("allowed", allowed.to_vec())
    }

    /// No valid bearer token: a 401 that says what to send.
    /// The request took longer than its deadline (its dependencies were slow).
    pub fn deadline_exceeded(deadline: std::time::Duration) -> Self {
        let mut problem = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "deadline_exceeded",
            format!(
                "the service could not answer within {} s; retry later",
                deadline.as_secs_f32()
            ),
        );
        problem.retry_after = Some(2);
        problem
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
        .with("limit", limit)
    }

    /// The body as JSON; `request_id` lets a caller quote the failure to support.
    pub fn to_json(&self, request_id: Option<&str>) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("urn:citas:problem:{}", self.code)),
        );
        body.insert(
            "title".into(),
            json!(self.status.canonical_reason().unwrap_or("Error")),
        );
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("code".into(), json!(self.code));
        body.insert("detail".into(), json!(self.detail));
        if let Some(id) = request_id {
            body.insert("request_id".into(), json!(id));
        }
        body.extend(self.extra.clone());
        Value::Object(body)
    }

    pub fn into_response(self, request_id: Option<&str>) -> Response<Body> {
        let body = self.to_json(request_id).to_string();
        let mut response = Response::new(Body::Text(body));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        // A 405 says which methods the path takes (RFC 9110).
        if self.status == StatusCode::METHOD_NOT_ALLOWED
            && let Some(allowed) = self.extra.get("allowed").and_then(Value::as_array)
        {
            let methods: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
            if let Ok(value) = HeaderValue::from_str(&methods.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
        }
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<UnsupportedCountry> for Problem {
    fn from(error: UnsupportedCountry) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unsupported_country",
            error.to_string(),
        )
        .with("supported_countries", supported_codes())
    }
}

impl From<DomainError> for Problem {
    fn from(error: DomainError) -> Self {
        let detail = error.to_string();
        match error {
            DomainError::InvalidInput { field, .. } => {
                Problem::bad_request(invalid_code(field), detail).with("field", field.as_str())
            }
            DomainError::PatientNotFound { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "patient_not_found", detail)
            }
            DomainError::AppointmentNotFound { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "appointment_not_found", detail)
            }
            DomainError::SlotNotFound { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "slot_not_found", detail)
            }
            DomainError::DuplicateAppointment { existing_id } => {
                Problem::new(StatusCode::CONFLICT, "appointment_exists", detail)
                    .with("existing_id", existing_id)
            }
            DomainError::InvalidTransition { current, .. } => {
                Problem::new(StatusCode::CONFLICT, "invalid_transition", detail)
                    .with("current_status", current.as_str())
            }
            DomainError::ChangedMeanwhile { .. } => {
                Problem::new(StatusCode::CONFLICT, "changed_meanwhile", detail)
            }
            DomainError::PlanChanged => Problem::new(StatusCode::CONFLICT, "plan_changed", detail),
            DomainError::TooLateToChange { deadline, .. } => {
                Problem::new(StatusCode::CONFLICT, "too_late_to_change", detail)
                    .with("deadline", rfc3339(&deadline))
            }
            DomainError::TooManyChanges {
                limit, retry_after, ..
            } => {
                let mut problem =
                    Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_many_changes", detail)
                        .with("limit", limit);
                let seconds = retry_after.as_secs().clamp(1, 86_400);
                problem.retry_after = u32::try_from(seconds).ok();
                problem
            }
            DomainError::NotStarted { starts_at, .. } => {
                Problem::new(StatusCode::CONFLICT, "not_started", detail)
                    .with("starts_at", rfc3339(&starts_at))
            }
            DomainError::SlotUnavailable { .. } => {
                Problem::new(StatusCode::CONFLICT, "slot_unavailable", detail)
            }
            DomainError::NoSlotAvailable { .. } => {
                Problem::new(StatusCode::CONFLICT, "no_slot_available", detail)
            }
            DomainError::SlotInPast { .. } => {
                Problem::new(StatusCode::CONFLICT, "slot_in_past", detail)
            }
            DomainError::SlotMismatch { .. } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "slot_mismatch", detail)
            }
            DomainError::DoctorNotFound { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "doctor_not_found", detail)
            }
            DomainError::AvailabilityNotFound { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "availability_not_found", detail)
            }
            DomainError::TooManySlots { slots, limit } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "too_many_slots", detail)
                    .with("slots", slots)
                    .with("limit", limit)
            }
            DomainError::UnknownSpeciality { offered, .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_speciality",
                detail,
            )
            .with(
                "offered",
                offered
                    .into_iter()
                    .map(|(slug, name)| json!({ "slug": slug, "name": name }))
                    .collect::<Vec<_>>(),
            ),
            DomainError::NoEmailOnFile { .. } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "no_email_on_file", detail)
            }
            DomainError::EmailNotVerified { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "email_not_verified",
                detail,
            ),
            DomainError::NothingToVerify => {
                Problem::new(StatusCode::CONFLICT, "nothing_to_verify", detail)
            }
            DomainError::InvalidCode => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_code", detail)
            }
            DomainError::TooManyCodes { limit, retry_after } => {
                let mut problem =
                    Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_many_codes", detail)
                        .with("limit", limit);
                problem.retry_after = u32::try_from(retry_after.as_secs().clamp(1, 86_400)).ok();
                problem
            }
            DomainError::SlotBooked { .. } => {
                Problem::new(StatusCode::CONFLICT, "slot_booked", detail)
            }
            DomainError::Contended => {
                let mut problem =
                    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "slots_contended", detail);
                problem.retry_after = Some(1);
                problem
            }
            DomainError::InvalidCursor => Problem::bad_request("invalid_cursor", detail),
            DomainError::AlreadyReviewed { .. } => {
                Problem::new(StatusCode::CONFLICT, "already_reviewed", detail)
            }
            DomainError::MeetingNotOpen { opens_at, .. } => {
                Problem::new(StatusCode::CONFLICT, "meeting_not_open", detail)
                    .with("opens_at", rfc3339(&opens_at))
            }
            DomainError::MeetingOver { closes_at, .. } => {
                Problem::new(StatusCode::CONFLICT, "meeting_over", detail)
                    .with("closes_at", rfc3339(&closes_at))
            }
            DomainError::NotVirtual { .. } => {
                Problem::new(StatusCode::CONFLICT, "not_virtual", detail)
            }
            DomainError::NotAssigned { current, .. } => {
                Problem::new(StatusCode::CONFLICT, "not_assigned", detail)
                    .with("current_status", current.as_str())
            }
            DomainError::NotCompleted { current, .. } => {
                Problem::new(StatusCode::CONFLICT, "not_completed", detail)
                    .with("current_status", current.as_str())
            }
            DomainError::ReviewNotFound { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "review_not_found", detail)
            }
            DomainError::AlreadyHidden { .. } => {
                Problem::new(StatusCode::CONFLICT, "already_hidden", detail)
            }
            DomainError::Denied(Denied::WrongCountry { .. }) => {
                Problem::new(StatusCode::FORBIDDEN, "wrong_country", detail)
            }
            DomainError::Denied(Denied::Forbidden { .. }) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
            }
            DomainError::Unavailable(cause) => {
                // The cause is for the logs, never for the client.
                tracing::error!(error = %cause, "dependency failure");
                let mut problem = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "the service could not complete the request; retry later and quote request_id if it persists",
                );
                problem.retry_after = Some(2);
                problem
            }
        }
    }
}

/// Stable codes for invalid fields: every field has one.
fn invalid_code(field: Field) -> &'static str {
    match field {
        Field::Document => "invalid_document",
        Field::Name => "invalid_name",
        Field::Email => "invalid_email",
        Field::Speciality => "invalid_speciality",
        Field::Status => "invalid_status",
        Field::Limit => "invalid_limit",
        Field::Slot => "invalid_slot",
        Field::Reason => "invalid_reason",
        Field::Query => "invalid_query",
        Field::Date | Field::From | Field::To => "invalid_date",
        Field::Month => "invalid_month",
        Field::Upcoming => "invalid_upcoming",
        Field::Doctor => "invalid_doctor",
        Field::Price => "invalid_price",
        Field::Modalities | Field::Modality => "invalid_modality",
        Field::Near => "invalid_near",
        Field::WithinKm => "invalid_within_km",
        Field::MinRating => "invalid_min_rating",
        Field::MaxPrice => "invalid_max_price",
        Field::Sort => "invalid_sort",
        Field::Stars => "invalid_stars",
        Field::Comment => "invalid_comment",
        Field::Place => "invalid_place",
        Field::Languages => "invalid_languages",
        Field::Bio => "invalid_bio",
        Field::SlotMinutes
        | Field::Weekly
        | Field::Exceptions
        | Field::ValidFrom
        | Field::ValidUntil => "invalid_plan",
    }
}

/// An instant with its country's offset, as the API writes local times.
fn rfc3339(at: &jiff::Zoned) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// The identity provider's refusals (the local `/auth/*` routes).
impl From<citas_domain::use_cases::accounts::AccountError> for Problem {
    fn from(error: citas_domain::use_cases::accounts::AccountError) -> Self {
        use citas_domain::account::SignUpRefused;
        use citas_domain::use_cases::accounts::AccountError;
        let detail = error.to_string();
        match error {
            AccountError::SignUp(refused) => {
                let (code, field) = match &refused {
                    SignUpRefused::Role => ("invalid_role", "role"),
                    SignUpRefused::Document(_) => ("invalid_document", "document"),
                    SignUpRefused::RegistryNumber(_) => {
                        ("invalid_registry_number", "registry_number")
                    }
                    SignUpRefused::Name(_) => ("invalid_name", "name"),
                    SignUpRefused::Email(_) => ("invalid_email", "email"),
                    SignUpRefused::Password(_) => ("weak_password", "password"),
                };
                Problem::bad_request(code, detail).with("field", field)
            }
            AccountError::NotARegisteredDoctor(_) => {
                Problem::new(StatusCode::FORBIDDEN, "not_a_registered_doctor", detail)
            }
            AccountError::DocumentTaken => {
                Problem::new(StatusCode::CONFLICT, "document_taken", detail)
            }
            AccountError::AccountExists => {
                Problem::new(StatusCode::CONFLICT, "account_exists", detail)
            }
            AccountError::Code(citas_domain::account::CodeRefused::AlreadyConfirmed) => {
                Problem::new(StatusCode::CONFLICT, "already_confirmed", detail)
            }
            AccountError::Code(citas_domain::account::CodeRefused::Invalid) => {
                Problem::bad_request("invalid_code", detail)
            }
            AccountError::InvalidCredentials => {
                Problem::new(StatusCode::UNAUTHORIZED, "invalid_credentials", detail)
            }
            AccountError::NotConfirmed => {
                Problem::new(StatusCode::FORBIDDEN, "not_confirmed", detail)
            }
            AccountError::TooManyAttempts(wait) => {
                let mut problem =
                    Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", detail);
                // Rounded up: a client that waits that long is let in.
                let seconds = (wait.retry_after.as_millis() + 999) / 1000;
                problem.retry_after = u32::try_from(seconds.clamp(1, 86_400)).ok();
                problem
            }
            AccountError::InvalidRefreshToken => {
                Problem::new(StatusCode::UNAUTHORIZED, "invalid_refresh_token", detail)
            }
            AccountError::Username(_) => Problem::bad_request("invalid_username", detail),
            AccountError::Domain(error) => error.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_dependency_is_a_503_that_says_when_to_retry_and_hides_the_cause() {
        let response = Problem::from(DomainError::Unavailable(
            "dynamodb: timeout after 6s".into(),
        ))
        .into_response(Some("req-1"));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("2"))
        );
        let Body::Text(body) = response.body() else {
            panic!("a text body")
        };
        assert!(body.contains("\"code\":\"service_unavailable\""), "{body}");
        assert!(!body.contains("dynamodb"), "{body}");
    }
}

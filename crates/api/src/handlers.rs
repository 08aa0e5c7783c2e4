//! Request → use case → response, for every action. Lambda functions and the
//! local server both call [`handle`] with API Gateway HTTP API (v2) requests.

use citas_domain::ports::Freshness;
use citas_domain::use_cases;
use citas_domain::{Caller, Country, DomainError, Services, Upserted};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::body::{
    AppointmentPage, AppointmentRequest, AppointmentResponse, AssignRequest, HistoryEntryResponse,
    HistoryResponse, ListQuery, PatientRequest, PatientResponse, ReasonRequest,
};
use crate::body::{JoinResponse, MeResponse};
use crate::finding_body::{
    self, DoctorLookup, DoctorQuery, FoundDoctorPage, HideRequest, ReviewPage, ReviewRequest,
    ReviewResponse,
};
use crate::path;
use crate::problem::Problem;
use crate::routes::Action;
use crate::schedule_body::{
    AvailabilityBody, AvailabilityResponse, DoctorRequest, DoctorResponse, PlanAppliedResponse,
    SpecialityList,
};
use crate::slot_body::{
    AgendaResponse, DaysSearchQuery, FreeDaysResponse, FreeSlotPage, FreeSlotResponse,
    SlotSearchQuery, agenda_days,
};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a request may take before it is answered with a 503: well inside
/// the API functions' 10 s timeout (functions/tests/template.rs holds the two
/// together), so slow dependencies end as a problem+json, never as a Lambda
/// timeout, however many calls the request makes.
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(8);

/// Runs one action; every outcome, success or failure, is an HTTP response.
pub async fn handle(services: &Services, action: Action, request: Request) -> Response<Body> {
    handle_within(services, action, request, REQUEST_DEADLINE).await
}

/// [`handle`] with another deadline.
pub async fn handle_within(
    services: &Services,
    action: Action,
    request: Request,
    deadline: std::time::Duration,
) -> Response<Body> {
    let request_id = request_id(&request);
    let outcome = tokio::time::timeout(deadline, run(services, action, &request))
        .await
        .unwrap_or_else(|_| Err(Problem::deadline_exceeded(deadline)));
    match outcome {
        Ok(response) => response,
        Err(problem) => {
            if problem.status.is_server_error() {
                tracing::error!(
                    request_id = request_id.as_deref(),
                    code = problem.code,
                    "request failed"
                );
            } else {
                tracing::info!(
                    request_id = request_id.as_deref(),
                    code = problem.code,
                    status = problem.status.as_u16(),
                    "request rejected"
                );
            }
            problem.into_response(request_id.as_deref())
        }
    }
}

async fn run(
    services: &Services,
    action: Action,
    request: &Request,
) -> Result<Response<Body>, Problem> {
    if action == Action::Health {
        return Ok(json_response(StatusCode::OK, &json!({ "status": "ok" })));
    }
    let country = country(request)?;
    let caller = &caller(request)?;
    // A token acts in its own country only: refused before its request is
    // read, so another country's rules (its documents) are never applied to it.
    citas_domain::access::require_country(caller, country).map_err(DomainError::from)?;
    match action {
        Action::Health => Ok(json_response(StatusCode::OK, &json!({ "status": "ok" }))),
        Action::UpsertPatient => {
            let input = json_body::<PatientRequest>(request)?.try_into_domain(country)?;
            let (patient, upserted) =
                use_cases::register_patient(services, caller, country, input).await?;
            let status = match upserted {
                Upserted::Created => StatusCode::CREATED,
                Upserted::Updated => StatusCode::OK,
            };
            Ok(json_response(status, &PatientResponse::from(&patient)))
        }
        Action::GetPatient => {
            let document = path::document(request, country)?;
            let patient = use_cases::get_patient(services, caller, country, &document).await?;
            Ok(json_response(
                StatusCode::OK,
                &PatientResponse::from(&patient),
            ))
        }
        Action::ExportPatient => {
            let document = path::document(request, country)?;
            let export = use_cases::export_patient(services, caller, country, &document).await?;
            Ok(json_response(
                StatusCode::OK,
                &crate::body::PatientExportResponse::from(&export),
            ))
        }
        Action::ResendVerification => {
            let document = path::document(request, country)?;
            let patient = use_cases::resend_code(services, caller, country, &document).await?;
            Ok(json_response(
                StatusCode::ACCEPTED,
                &PatientResponse::from(&patient),
            ))
        }
        Action::VerifyEmail => {
            let document = path::document(request, country)?;
            let body = json_body::<crate::body::VerifyEmailRequest>(request)?;
            let patient =
                use_cases::verify_email(services, caller, country, &document, &body.code).await?;
            Ok(json_response(
                StatusCode::OK,
                &PatientResponse::from(&patient),
            ))
        }
        Action::ErasePatient => {
            let document = path::document(request, country)?;
            let erasure = use_cases::erase_patient(services, caller, country, &document).await?;
            Ok(json_response(
                StatusCode::OK,
                &crate::body::PatientErasureResponse::from(&erasure),
            ))
        }
        Action::CreateAppointment => {
            let input = json_body::<AppointmentRequest>(request)?.try_into_domain(country)?;
            let appointment =
                use_cases::create_appointment(services, caller, country, input).await?;
            let mut response = json_response(
                StatusCode::CREATED,
                &AppointmentResponse::from(&appointment),
            );
            if let Ok(location) =
                HeaderValue::from_str(&format!("/{}/appointment/{}", country.code, appointment.id))
            {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Action::GetAppointment => {
            let (appointment, freshness) = use_cases::read_appointment(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
            )
            .await?;
            let mut response = appointment_response(&appointment);
            // A recent copy, shown while the store cannot be reached (RFC 9111's
            // `Age`; `Warning` 110 says it may be stale).
            if let Freshness::PossiblyStale { age } = freshness {
                let headers = response.headers_mut();
                if let Ok(age) = HeaderValue::from_str(&age.as_secs().max(0).to_string()) {
                    headers.insert(header::AGE, age);
                }
                headers.insert(
                    header::WARNING,
                    HeaderValue::from_static(
                        "110 - \"possibly stale: the store cannot be reached\"",
                    ),
                );
            }
            Ok(response)
        }
        Action::ListAppointments => {
            let single = |name: &str| query_param(request, name);
            let list = ListQuery {
                status: single("status")?,
                document: single("document")?,
                upcoming: single("upcoming")?,
                limit: single("limit")?,
                cursor: single("cursor")?,
            }
            .try_into_domain(country)?;
            let page = use_cases::list_appointments(services, caller, country, list).await?;
            let page = AppointmentPage {
                items: page.items.iter().map(AppointmentResponse::from).collect(),
                next_cursor: page.next_cursor,
            };
            Ok(json_response(StatusCode::OK, &page))
        }
        Action::AssignAppointment => {
            let slot = optional_json_body::<AssignRequest>(request)?
                .unwrap_or_default()
                .try_into_domain()?;
            let appointment = use_cases::assign(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
                slot,
            )
            .await?;
            Ok(appointment_response(&appointment))
        }
        Action::NotifyAppointment => {
            let message = use_cases::notify(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
            )
            .await?;
            Ok(json_response(
                StatusCode::ACCEPTED,
                &json!({ "message": message.to_wire() }),
            ))
        }
        Action::ConfirmAppointment => {
            let appointment = use_cases::confirm(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
            )
            .await?;
            Ok(appointment_response(&appointment))
        }
        Action::RefuseAppointment => {
            let reason = json_body::<ReasonRequest>(request)?.try_into_domain()?;
            let appointment = use_cases::refuse(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
                reason,
            )
            .await?;
            Ok(appointment_response(&appointment))
        }
        Action::RescheduleAppointment => {
            let slot = optional_json_body::<AssignRequest>(request)?
                .unwrap_or_default()
                .try_into_domain()?;
            let appointment = use_cases::reschedule(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
                slot,
            )
            .await?;
            Ok(appointment_response(&appointment))
        }
        Action::CompleteAppointment => {
            let appointment = use_cases::complete(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
            )
            .await?;
            Ok(appointment_response(&appointment))
        }
        Action::NoShowAppointment => {
            let appointment = use_cases::no_show(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
            )
            .await?;
            Ok(appointment_response(&appointment))
        }
        Action::AppointmentHistory => {
            let entries = use_cases::history(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
            )
            .await?;
            Ok(json_response(
                StatusCode::OK,
                &HistoryResponse {
                    items: entries.iter().map(HistoryEntryResponse::from).collect(),
                },
            ))
        }
        Action::CancelAppointment => {
            let reason = json_body::<ReasonRequest>(request)?.try_into_domain()?;
            let appointment = use_cases::cancel(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
                reason,
            )
            .await?;
            Ok(appointment_response(&appointment))
        }
        Action::WhoAmI => {
            let me = use_cases::accounts::who_am_i(services, caller, country).await?;
            Ok(json_response(StatusCode::OK, &MeResponse::from(&me)))
        }
        Action::ListSpecialities => {
            let offered = use_cases::specialities(services, caller, country).await?;
            Ok(json_response(
                StatusCode::OK,
                &SpecialityList::from(offered),
            ))
        }
        Action::UpsertDoctor => {
            let input = json_body::<DoctorRequest>(request)?.try_into_domain(country)?;
            let (doctor, upserted) =
                use_cases::register_doctor(services, caller, country, input).await?;
            let status = match upserted {
                Upserted::Created => StatusCode::CREATED,
                Upserted::Updated => StatusCode::OK,
            };
            let mut response = json_response(status, &DoctorResponse::for_caller(&doctor, caller));
            if let Ok(location) =
                HeaderValue::from_str(&format!("/{}/doctor/{}", country.code, doctor.id))
            {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Action::ListDoctors => {
            let (lookup, page) = DoctorQuery {
                speciality: query_param(request, "speciality")?,
                near: query_param(request, "near")?,
                within_km: query_param(request, "within_km")?,
                min_rating: query_param(request, "min_rating")?,
                modality: query_param(request, "modality")?,
                max_price: query_param(request, "max_price")?,
                sort: query_param(request, "sort")?,
                limit: query_param(request, "limit")?,
                cursor: query_param(request, "cursor")?,
            }
            .try_into_domain(country)?;
            let found = match lookup {
                DoctorLookup::All(speciality) => {
                    use_cases::list_doctors(services, caller, country, &speciality, &page).await?
                }
                DoctorLookup::Search(search) => {
                    use_cases::find_doctors(services, caller, country, &search, &page).await?
                }
            };
            Ok(json_response(
                StatusCode::OK,
                &FoundDoctorPage::new(&found, caller),
            ))
        }
        Action::ReviewAppointment => {
            let (stars, comment) = json_body::<ReviewRequest>(request)?.try_into_domain()?;
            let review = use_cases::review_appointment(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
                stars,
                comment.as_deref(),
            )
            .await?;
            Ok(json_response(
                StatusCode::CREATED,
                &ReviewResponse::from(&review),
            ))
        }
        Action::JoinAppointment => {
            let entry = use_cases::join_meeting(
                services,
                caller,
                country,
                &path::appointment_id(request, country)?,
            )
            .await?;
            // The attendee's join token is a credential: never stored by a cache.
            let mut response = json_response(StatusCode::OK, &JoinResponse::new(country, entry));
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Action::DoctorReviews => {
            let page = finding_body::review_page(
                query_param(request, "limit")?,
                query_param(request, "cursor")?,
            )?;
            let reviews = use_cases::doctor_reviews(
                services,
                caller,
                country,
                &path::doctor_id(request, country)?,
                &page,
            )
            .await?;
            Ok(json_response(
                StatusCode::OK,
                &ReviewPage {
                    items: reviews.items.iter().map(ReviewResponse::from).collect(),
                    next_cursor: reviews.next_cursor,
                },
            ))
        }
        Action::HideReview => {
            let reason = json_body::<HideRequest>(request)?.try_into_domain()?;
            let id = path::review_id(request)?;
            let hidden = use_cases::hide_review(services, caller, country, &id, &reason).await?;
            Ok(json_response(
                StatusCode::OK,
                &ReviewResponse::from(&hidden),
            ))
        }
        Action::GetDoctor => {
            let doctor = use_cases::get_doctor(
                services,
                caller,
                country,
                &path::doctor_id(request, country)?,
            )
            .await?;
            Ok(json_response(
                StatusCode::OK,
                &DoctorResponse::for_caller(&doctor, caller),
            ))
        }
        Action::SetAvailability => {
            let plan = json_body::<AvailabilityBody>(request)?.try_into_domain()?;
            let doctor = path::doctor_id(request, country)?;
            let applied =
                use_cases::set_availability(services, caller, country, &doctor, plan).await?;
            Ok(json_response(
                StatusCode::OK,
                &PlanAppliedResponse::new(&doctor, &applied),
            ))
        }
        Action::GetAvailability => {
            let doctor = path::doctor_id(request, country)?;
            let availability =
                use_cases::get_availability(services, caller, country, &doctor).await?;
            Ok(json_response(
                StatusCode::OK,
                &AvailabilityResponse::new(&doctor, &availability),
            ))
        }
        Action::GetAgenda => {
            let (from, to) = agenda_days(
                query_param(request, "date")?,
                query_param(request, "from")?,
                query_param(request, "to")?,
            )?;
            let agenda = use_cases::agenda(
                services,
                caller,
                country,
                &path::doctor_id(request, country)?,
                from,
                to,
            )
            .await?;
            Ok(json_response(
                StatusCode::OK,
                &AgendaResponse::from(&agenda),
            ))
        }
        Action::RemoveSlot => {
            let (doctor, slot) = (path::doctor_id(request, country)?, path::slot_id(request)?);
            use_cases::remove_slot(services, caller, country, &doctor, &slot).await?;
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        }
        Action::FreeDays => {
            let query = DaysSearchQuery {
                speciality: query_param(request, "speciality")?,
                month: query_param(request, "month")?,
                doctor: query_param(request, "doctor")?,
                modality: query_param(request, "modality")?,
            }
            .try_into_domain(country)?;
            let month = query.month;
            let days = use_cases::free_days(services, caller, country, query).await?;
            Ok(json_response(
                StatusCode::OK,
                &FreeDaysResponse::new(country, month, &days),
            ))
        }
        Action::SearchSlots => {
            let query = SlotSearchQuery {
                speciality: query_param(request, "speciality")?,
                from: query_param(request, "from")?,
                to: query_param(request, "to")?,
                doctor: query_param(request, "doctor")?,
                modality: query_param(request, "modality")?,
                limit: query_param(request, "limit")?,
                cursor: query_param(request, "cursor")?,
            }
            .try_into_domain(country)?;
            let page = use_cases::search_slots(services, caller, country, query).await?;
            Ok(json_response(
                StatusCode::OK,
                &FreeSlotPage {
                    items: page.items.iter().map(FreeSlotResponse::from).collect(),
                    next_cursor: page.next_cursor,
                },
            ))
        }
    }
}

/// A query parameter given at most once.
fn query_param(request: &Request, name: &str) -> Result<Option<String>, Problem> {
    match request
        .query_string_parameters_ref()
        .and_then(|q| q.all(name))
    {
        None => Ok(None),
        Some(values) if values.len() == 1 => Ok(values.first().map(|v| (*v).to_owned())),
        Some(_) => Err(Problem::bad_request(
            "invalid_query",
            format!("the query parameter '{name}' is given more than once"),
        )),
    }
}

fn appointment_response(appointment: &citas_domain::Appointment) -> Response<Body> {
    json_response(StatusCode::OK, &AppointmentResponse::from(appointment))
}

fn request_id(request: &Request) -> Option<String> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    }
}

/// The verified caller, from the claims API Gateway's JWT authorizer (or the
/// local server's verifier) put in the request context.
fn caller(request: &Request) -> Result<Caller, Problem> {
    let claims = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|authorizer| authorizer.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    }
    .ok_or_else(|| {
        Problem::unauthenticated("send a bearer token: Authorization: Bearer <token>")
    })?;
    Caller::from_claims(claims).map_err(|error| {
        tracing::warn!(%error, "verified token with unusable claims");
        Problem::unauthenticated(format!("the token cannot be used: {error}"))
    })
}

fn country(request: &Request) -> Result<&'static Country, Problem> {
    let code = path::param(request, "country").unwrap_or_default();
    Ok(Country::from_code(&code)?)
}

/// The body, if any, checked for size and media type.
fn body_bytes(request: &Request) -> Result<Option<&[u8]>, Problem> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::payload_too_large(MAX_BODY_BYTES));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if let Some(content_type) = request.headers().get(header::CONTENT_TYPE)
        && !is_json_media_type(content_type.to_str().unwrap_or_default())
    {
        return Err(not_json());
    }
    Ok(Some(bytes))
}

/// Whether a `Content-Type` names JSON (`application/json`, `…+json`).
pub fn is_json_media_type(content_type: &str) -> bool {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media_type == "application/json" || media_type.ends_with("+json")
}

/// The answer to a body that is not JSON.
pub fn not_json() -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as application/json",
    )
}

/// A JSON body, or the problem that says what is wrong with it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|error| {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => Problem::bad_request(
                "invalid_body",
                format!("the body does not fit this request: {error}"),
            ),
            Category::Syntax | Category::Eof | Category::Io => Problem::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {error}"),
            ),
        }
    })
}

fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, Problem> {
    match body_bytes(request)? {
        Some(bytes) => parse_json(bytes),
        None => Err(Problem::bad_request(
            "invalid_body",
            "this request needs a JSON body",
        )),
    }
}

fn optional_json_body<T: DeserializeOwned>(request: &Request) -> Result<Option<T>, Problem> {
    body_bytes(request)?.map(parse_json).transpose()
}

pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let (status, body) = match serde_json::to_string(value) {
        Ok(body) => (status, body),
        Err(error) => {
            tracing::error!(%error, "response serialisation failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"code":"internal_error"}"#.to_owned(),
            )
        }
    };
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

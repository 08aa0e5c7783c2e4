//! The ids in a route's path, parsed once into the domain's types. An id
//! that cannot name anything of the country is answered as not found (as an
//! unknown one is), so a path never tells a malformed id from a missing one.

use citas_domain::privacy::masked_document;
use citas_domain::{AppointmentId, Country, DoctorId, Document, DomainError, SlotId};
use lambda_http::{Request, RequestExt};

use crate::problem::Problem;

/// A path parameter as sent; a route without it is not one of the API's.
pub(crate) fn param(request: &Request, name: &str) -> Result<String, Problem> {
    request
        .path_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned)
        .ok_or_else(Problem::route_not_found)
}

/// `{id}` of an appointment route.
pub(crate) fn appointment_id(
    request: &Request,
    country: &Country,
) -> Result<AppointmentId, Problem> {
    let raw = param(request, "id")?;
    AppointmentId::parse(country, &raw).map_err(|_| {
        DomainError::AppointmentNotFound {
            id: raw.chars().take(64).collect(),
        }
        .into()
    })
}

/// `{id}` of a doctor route: a doctor of this country.
pub(crate) fn doctor_id(request: &Request, country: &Country) -> Result<DoctorId, Problem> {
    let raw = param(request, "id")?;
    DoctorId::parse(&raw)
        .ok()
        .filter(|id| id.country == country)
        .ok_or_else(|| {
            DomainError::DoctorNotFound {
                id: raw.chars().take(96).collect(),
            }
            .into()
        })
}

/// `{review}` of a review route.
pub(crate) fn review_id(request: &Request) -> Result<citas_domain::review::ReviewId, Problem> {
    let raw = param(request, "review")?;
    citas_domain::review::ReviewId::parse(&raw).map_err(|_| {
        DomainError::ReviewNotFound {
            id: raw.chars().take(64).collect(),
        }
        .into()
    })
}

/// `{slot}` of a doctor's slot route.
pub(crate) fn slot_id(request: &Request) -> Result<SlotId, Problem> {
    let raw = param(request, "slot")?;
    SlotId::parse(&raw).map_err(|_| {
        DomainError::SlotNotFound {
            slot: raw.chars().take(96).collect(),
        }
        .into()
    })
}

/// `{document}` of a patient route, by the country's rules.
pub(crate) fn document(request: &Request, country: &Country) -> Result<Document, Problem> {
    let raw = param(request, "document")?;
    country.parse_document(&raw).map_err(|_| {
        DomainError::PatientNotFound {
            document: masked_document(&raw),
        }
        .into()
    })
}

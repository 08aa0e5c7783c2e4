//! Reviews (issue 26): the patient of a completed visit rates it once;
//! anyone signed in reads a doctor's shown reviews; staff hide one.

use crate::Services;
use crate::access::{Access, Caller, Operation, authorize};
use crate::error::DomainError;
use crate::ports::{Page, PageRequest, StoreError};
use crate::review::{HideRefused, Review, ReviewId, ReviewRefused, Stars};
use crate::values::country::Country;
use crate::values::ids::{AppointmentId, DoctorId};

use super::appointments::load;
use super::doctors::get_doctor;

/// `POST /{country}/appointment/{id}/review`: the review, stored with its
/// doctor's rating in one write.
pub async fn review_appointment(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
    stars: Stars,
    comment: Option<&str>,
) -> Result<Review, DomainError> {
    let appointment = load(services, caller, country, id, Operation::Review).await?;
    let review = appointment
        .review(caller, stars, comment, services.now())
        .map_err(|refused| match refused {
            ReviewRefused::NotYours => DomainError::AppointmentNotFound { id: id.to_string() },
            ReviewRefused::NotCompleted(current) => DomainError::NotCompleted {
                id: id.to_string(),
                current,
            },
            ReviewRefused::Comment(invalid) => DomainError::InvalidInput {
                field: crate::Field::Comment,
                message: format!("the comment {invalid}"),
            },
        })?;
    match services.store.add_review(&review, id).await {
        Ok(()) => {}
        Err(StoreError::AlreadyReviewed) => {
            return Err(DomainError::AlreadyReviewed { id: id.to_string() });
        }
        Err(StoreError::NotFound) => {
            return Err(DomainError::Unavailable(format!(
                "the doctor {} of a completed appointment is not registered",
                review.doctor
            )));
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(country = country.code, doctor = %review.doctor, review = %review.id, stars = stars.get(), "visit reviewed");
    Ok(review)
}

/// `GET /{country}/doctor/{id}/review`: newest first.
pub async fn doctor_reviews(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    doctor: &DoctorId,
    page: &PageRequest,
) -> Result<Page<Review>, DomainError> {
    // The doctor must exist here: another country's or an unknown one is not found.
    get_doctor(services, caller, country, doctor).await?;
    Ok(services.store.doctor_reviews(doctor, page).await?)
}

/// `POST /{country}/review/{review}/hide`: out of the list and the rating.
pub async fn hide_review(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &ReviewId,
    reason: &str,
) -> Result<Review, DomainError> {
    authorize(caller, country, Access::ModerateReviews)?;
    let not_found = || DomainError::ReviewNotFound { id: id.to_string() };
    let review = services
        .store
        .get_review(id)
        .await?
        .filter(|review| review.doctor.country == country)
        .ok_or_else(not_found)?;
    let hidden = review
        .hide(reason, services.now())
        .map_err(|refused| match refused {
            HideRefused::AlreadyHidden => DomainError::AlreadyHidden { id: id.to_string() },
            HideRefused::Reason(invalid) => DomainError::InvalidInput {
                field: crate::Field::Reason,
                message: format!("the reason {invalid}"),
            },
        })?;
    match services.store.hide_review(&hidden).await {
        Ok(()) => {}
        Err(StoreError::AlreadyHidden) => {
            return Err(DomainError::AlreadyHidden { id: id.to_string() });
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(country = country.code, doctor = %hidden.doctor, review = %id, "review hidden");
    Ok(hidden)
}

//! Request and response shapes of finding a doctor and of reviews (issue 26).

use citas_domain::review::{Review, Stars};
use citas_domain::scheduling::doctor::Modality;
use citas_domain::scheduling::slot::Slot;
use citas_domain::use_cases::{
    DEFAULT_WITHIN_KM, DoctorSearch, DoctorSort, FoundDoctor, FoundDoctors, MAX_WITHIN_KM, Near,
};
use citas_domain::values::money::Price;
use citas_domain::values::place::Coordinates;
use citas_domain::values::text::clean_text;
use citas_domain::{Country, DomainError, Field, PageRequest, Speciality};
use serde::{Deserialize, Serialize};

use crate::body::{invalid, page_limit};
use crate::schedule_body::{DoctorResponse, required_speciality};
use crate::slot_body::local_rfc3339;

/// `GET /{country}/doctor?speciality=&near=&within_km=&min_rating=&modality=&max_price=&sort=&limit=&cursor=`.
#[derive(Debug, Clone, Default)]
pub struct DoctorQuery {
    pub speciality: Option<String>,
    pub near: Option<String>,
    pub within_km: Option<String>,
    pub min_rating: Option<String>,
    pub modality: Option<String>,
    pub max_price: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// What the doctors' list is asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum DoctorLookup {
    /// Every doctor of the speciality, in id order (no search parameter).
    All(Speciality),
    Search(DoctorSearch),
}

impl DoctorQuery {
    pub fn try_into_domain(
        self,
        country: &'static Country,
    ) -> Result<(DoctorLookup, PageRequest), DomainError> {
        let speciality = required_speciality(self.speciality)?;
        let page = PageRequest {
            limit: page_limit(self.limit)?,
            cursor: self.cursor.filter(|c| !c.is_empty()),
        };
        let searching = [
            &self.near,
            &self.within_km,
            &self.min_rating,
            &self.modality,
            &self.max_price,
            &self.sort,
        ]
        .iter()
        .any(|given| given.is_some());
        if !searching {
            return Ok((DoctorLookup::All(speciality), page));
        }
        let within_km = self.within_km.as_deref().map(parse_within_km).transpose()?;
        let near = match (self.near.as_deref(), within_km) {
            (Some(raw), within) => Some(Near {
                point: Coordinates::parse(raw).map_err(|e| {
                    invalid(
                        Field::Near,
                        format!("near is LAT,LON in decimal degrees (e.g. -12.0464,-77.0428): {e}"),
                    )
                })?,
                within_km: within.unwrap_or(DEFAULT_WITHIN_KM),
            }),
            (None, Some(_)) => {
                return Err(invalid(Field::WithinKm, "within_km needs near=LAT,LON"));
            }
            (None, None) => None,
        };
        let min_rating_tenths = self
            .min_rating
            .as_deref()
            .map(parse_min_rating)
            .transpose()?;
        let modality = parse_modality(self.modality.as_deref())?;
        let max_price = self
            .max_price
            .as_deref()
            .map(|raw| {
                Price::parse(country.currency, raw, country.currency.code).map_err(|e| {
                    invalid(
                        Field::MaxPrice,
                        format!("max_price is an amount in {}: {e}", country.currency.code),
                    )
                })
            })
            .transpose()?;
        let sort = self
            .sort
            .as_deref()
            .map(|raw| {
                DoctorSort::parse(raw).ok_or_else(|| {
                    invalid(Field::Sort, "sort is distance, rating, price or earliest")
                })
            })
            .transpose()?;
        let search = DoctorSearch::new(
            speciality,
            near,
            min_rating_tenths,
            modality,
            max_price,
            sort,
        )?;
        Ok((DoctorLookup::Search(search), page))
    }
}

fn parse_within_km(raw: &str) -> Result<f64, DomainError> {
    raw.parse::<f64>()
        .ok()
        .filter(|km| km.is_finite() && *km > 0.0 && *km <= MAX_WITHIN_KM)
        .ok_or_else(|| {
            invalid(
                Field::WithinKm,
                format!("within_km is a distance in km above 0 and at most {MAX_WITHIN_KM}"),
            )
        })
}

/// `"4"`, `"4.5"`: 1 to 5 with at most one decimal, in tenths.
fn parse_min_rating(raw: &str) -> Result<u64, DomainError> {
    let bad = || {
        invalid(
            Field::MinRating,
            "min_rating is 1 to 5, with at most one decimal (4.5)",
        )
    };
    let (whole, tenth) = match raw.split_once('.') {
        Some((whole, tenth)) if tenth.len() == 1 => (whole, tenth),
        Some(_) => return Err(bad()),
        None => (raw, "0"),
    };
    let digits = |text: &str| {
        (!text.is_empty() && text.len() <= 1 && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    let tenths = digits(whole)
        .zip(digits(tenth))
        .map(|(whole, tenth)| whole * 10 + tenth)
        .ok_or_else(bad)?;
    (10..=50)
        .contains(&tenths)
        .then_some(tenths)
        .ok_or_else(bad)
}

/// A doctor's rating: the average to a tenth (null without reviews) and how many.
#[derive(Debug, Clone, Serialize)]
pub struct RatingResponse {
    pub average: Option<f64>,
    pub count: u32,
}

impl From<citas_domain::review::Rating> for RatingResponse {
    fn from(rating: citas_domain::review::Rating) -> Self {
        Self {
            // Tenths as a number with one decimal: 45 → 4.5.
            average: rating.tenths().map(|tenths| tenths as f64 / 10.0),
            count: rating.count,
        }
    }
}

/// The doctor's next free slot, as a search shows it.
#[derive(Debug, Clone, Serialize)]
pub struct NextSlotResponse {
    pub id: String,
    pub starts_at: String,
    pub local_date: String,
    pub local_time: String,
}

impl From<&Slot> for NextSlotResponse {
    fn from(slot: &Slot) -> Self {
        let country = slot.id.country();
        let local = country.local(slot.id.starts_at);
        Self {
            id: slot.id.to_string(),
            starts_at: local_rfc3339(country, slot.id.starts_at),
            local_date: local.date().to_string(),
            local_time: citas_domain::scheduling::plan::format_time(local.time()),
        }
    }
}

/// One doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct FoundDoctorResponse {
    #[serde(flatten)]
    pub doctor: DoctorResponse,
    /// From `near`, to 10 m; absent without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    pub next_slot: Option<NextSlotResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FoundDoctorPage {
    pub items: Vec<FoundDoctorResponse>,
    pub next_cursor: Option<String>,
    /// False when the search read as many doctors as it reads in one
    /// request and more were left: narrow it to see them.
    pub complete: bool,
}

impl FoundDoctorPage {
    pub fn new(found: &FoundDoctors, caller: &citas_domain::Caller) -> Self {
        Self {
            items: found
                .items
                .iter()
                .map(|item: &FoundDoctor| FoundDoctorResponse {
                    doctor: DoctorResponse::for_caller(&item.doctor, caller),
                    distance_km: item.distance_km.map(|km| (km * 100.0).round() / 100.0),
                    next_slot: item.next_slot.as_ref().map(NextSlotResponse::from),
                })
                .collect(),
            next_cursor: found.next_cursor.clone(),
            complete: found.complete,
        }
    }
}

/// `POST /{country}/appointment/{id}/review`.
#[derive(Debug, Clone, Deserialize)]
pub struct ReviewRequest {
    #[serde(default)]
    pub stars: Option<serde_json::Value>,
    #[serde(default)]
    pub comment: Option<String>,
}

impl ReviewRequest {
    pub fn try_into_domain(self) -> Result<(Stars, Option<String>), DomainError> {
        let stars = self
            .stars
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u8::try_from(n).ok())
            .and_then(|n| Stars::new(n).ok())
            .ok_or_else(|| invalid(Field::Stars, "stars is a whole number from 1 to 5"))?;
        // An empty comment is no comment.
        let comment = self.comment.filter(|text| !text.trim().is_empty());
        if let Some(text) = &comment {
            clean_text(text, citas_domain::review::MAX_COMMENT_LEN)
                .map_err(|e| invalid(Field::Comment, format!("comment {e}")))?;
        }
        Ok((stars, comment))
    }
}

/// `POST /{country}/review/{review}/hide`.
#[derive(Debug, Clone, Deserialize)]
pub struct HideRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

impl HideRequest {
    pub fn try_into_domain(self) -> Result<String, DomainError> {
        self.reason
            .filter(|reason| !reason.trim().is_empty())
            .ok_or_else(|| invalid(Field::Reason, "a reason is required"))
    }
}

/// `GET /{country}/doctor/{id}/review?limit=&cursor=`.
pub fn review_page(
    limit: Option<String>,
    cursor: Option<String>,
) -> Result<PageRequest, DomainError> {
    Ok(PageRequest {
        limit: page_limit(limit)?,
        cursor: cursor.filter(|c| !c.is_empty()),
    })
}

/// A review as the list shows it: no document, no appointment.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewResponse {
    pub id: String,
    pub doctor_id: String,
    pub stars: u8,
    pub comment: Option<String>,
    pub first_name: String,
    /// RFC 3339 with the country's offset.
    pub created_at: String,
    /// Why and when staff hid it; absent while shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<HiddenResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HiddenResponse {
    pub reason: String,
    pub at: String,
}

impl From<&Review> for ReviewResponse {
    fn from(review: &Review) -> Self {
        let country = review.doctor.country;
        Self {
            id: review.id.to_string(),
            doctor_id: review.doctor.to_string(),
            stars: review.stars.get(),
            comment: review.comment.clone(),
            first_name: review.first_name.clone(),
            created_at: local_rfc3339(country, review.created_at),
            hidden: review.hidden.as_ref().map(|hidden| HiddenResponse {
                reason: hidden.reason.clone(),
                at: local_rfc3339(country, hidden.at),
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewPage {
    pub items: Vec<ReviewResponse>,
    pub next_cursor: Option<String>,
}

/// `?modality=in_person|virtual` of a doctor or slot search.
pub(crate) fn parse_modality(raw: Option<&str>) -> Result<Option<Modality>, DomainError> {
    raw.map(|raw| {
        Modality::parse(raw)
            .ok_or_else(|| invalid(Field::Modality, "modality is in_person or virtual"))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_ratings_are_tenths_from_one_to_five() {
        assert_eq!(parse_min_rating("4").ok(), Some(40));
        assert_eq!(parse_min_rating("4.5").ok(), Some(45));
        assert_eq!(parse_min_rating("5.0").ok(), Some(50));
        for bad in ["0.9", "5.1", "4.55", "", ".5", "4.", "-1", "10", "x"] {
            assert!(parse_min_rating(bad).is_err(), "{bad}");
        }
    }
}

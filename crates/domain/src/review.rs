//! Reviews of a visit and a doctor's rating (issue 26): the patient of a
//! completed appointment rates it once, 1 to 5 stars with an optional
//! comment; the rating is a count and a sum, changed in the review's own
//! write, so its average is exact and no review at once is lost. Staff
//! hide a review with a reason: it leaves the list and the rating.

use jiff::Timestamp;

use crate::access::{Caller, Identity};
use crate::appointment::Appointment;
use crate::appointment::status::Status;
use crate::values::ids::DoctorId;
use crate::values::text::{InvalidText, clean_text};

/// 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stars(u8);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stars are a whole number from 1 to 5")]
pub struct InvalidStars;

impl Stars {
    /// # Errors
    /// `InvalidStars` outside 1..=5.
    pub fn new(stars: u8) -> Result<Self, InvalidStars> {
        (1..=5)
            .contains(&stars)
            .then_some(Self(stars))
            .ok_or(InvalidStars)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// The longest comment.
pub const MAX_COMMENT_LEN: usize = 1_000;

/// A review's public id: random, so it says nothing of the appointment or the patient.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReviewId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a review id is a UUID")]
pub struct InvalidReviewId;

impl ReviewId {
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// # Errors
    /// `InvalidReviewId` unless `text` is a UUID (in its hyphenated lower-case form).
    pub fn parse(text: &str) -> Result<Self, InvalidReviewId> {
        let uuid = uuid::Uuid::parse_str(text).map_err(|_| InvalidReviewId)?;
        let canonical = uuid.hyphenated().to_string();
        (canonical == text)
            .then_some(Self(canonical))
            .ok_or(InvalidReviewId)
    }
}

impl std::fmt::Display for ReviewId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest reason for hiding a review.
pub const MAX_HIDE_REASON_LEN: usize = 500;

/// Why and when staff hid a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden {
    pub reason: String,
    pub at: Timestamp,
}

/// A patient's review of a completed visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: ReviewId,
    pub doctor: DoctorId,
    pub stars: Stars,
    pub comment: Option<String>,
    /// What the list shows of who wrote it.
    pub first_name: String,
    pub created_at: Timestamp,
    /// Staff hid it: out of the list and the rating.
    pub hidden: Option<Hidden>,
}

/// Why a review is not hidden.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HideRefused {
    #[error("the review is hidden already")]
    AlreadyHidden,
    #[error("the reason {0}")]
    Reason(InvalidText),
}

impl Review {
    /// The review as it stays once its patient erased their data: its stars
    /// and date still count; nothing says who wrote it or what they wrote.
    #[must_use]
    pub fn anonymised(&self) -> Review {
        Review {
            first_name: String::new(),
            comment: None,
            ..self.clone()
        }
    }

    /// The review as staff hid it, for `reason`.
    ///
    /// # Errors
    /// `AlreadyHidden`; a reason that is empty or not clean text.
    pub fn hide(&self, reason: &str, now: Timestamp) -> Result<Review, HideRefused> {
        if self.hidden.is_some() {
            return Err(HideRefused::AlreadyHidden);
        }
        let reason = clean_text(reason, MAX_HIDE_REASON_LEN).map_err(HideRefused::Reason)?;
        Ok(Review {
            hidden: Some(Hidden { reason, at: now }),
            ..self.clone()
        })
    }
}

/// Why a review is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewRefused {
    /// Someone else's appointment: as if it did not exist.
    #[error("the appointment does not exist")]
    NotYours,
    #[error("only a completed visit is reviewed; this one is {0}")]
    NotCompleted(Status),
    #[error("the comment {0}")]
    Comment(InvalidText),
}

impl Appointment {
    /// The review `caller` writes of this appointment (whether it was
    /// reviewed already is the store's condition to settle, on the
    /// appointment: the review itself keeps no link to it).
    ///
    /// # Errors
    /// `NotYours` unless the caller is its patient; `NotCompleted`; a bad comment.
    pub fn review(
        &self,
        caller: &Caller,
        stars: Stars,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<Review, ReviewRefused> {
        let own = matches!(&caller.identity, Identity::Patient(document) if document == self.document())
            && caller.country == self.country;
        if !own {
            return Err(ReviewRefused::NotYours);
        }
        let doctor = match (self.status, self.doctor()) {
            (Status::Completed, Some(doctor)) => doctor.clone(),
            (status, _) => return Err(ReviewRefused::NotCompleted(status)),
        };
        let comment = comment
            .map(|text| clean_text(text, MAX_COMMENT_LEN))
            .transpose()
            .map_err(ReviewRefused::Comment)?;
        Ok(Review {
            id: ReviewId::random(),
            doctor,
            stars,
            comment,
            first_name: first_name(&self.patient_name),
            created_at: now,
            hidden: None,
        })
    }
}

/// The first word of a name (`Ana Lucía Torres Vega` → `Ana`).
pub fn first_name(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A doctor's rating: how many shown reviews, and their stars' sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rating {
    pub count: u32,
    pub sum: u32,
}

impl Rating {
    /// The rating with one more review.
    #[must_use]
    pub fn with(self, stars: Stars) -> Self {
        Self {
            count: self.count.saturating_add(1),
            sum: self.sum.saturating_add(u32::from(stars.get())),
        }
    }

    /// The rating without a review (one staff hid).
    #[must_use]
    pub fn without(self, stars: Stars) -> Self {
        Self {
            count: self.count.saturating_sub(1),
            sum: self.sum.saturating_sub(u32::from(stars.get())),
        }
    }

    /// The average in tenths of a star, rounded half up (45 for 4.5); none without reviews.
    pub fn tenths(self) -> Option<u64> {
        (self.count > 0).then(|| {
            (u64::from(self.sum) * 20 + u64::from(self.count)) / (2 * u64::from(self.count))
        })
    }

    /// The average to one decimal, rounded half up (`"4.5"`); none without reviews.
    pub fn average(self) -> Option<String> {
        self.tenths()
            .map(|tenths| format!("{}.{}", tenths / 10, tenths % 10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{appointment, at, callers, doctor_id, slot_at};
    use crate::values::country::PERU;

    #[test]
    fn stars_are_one_to_five() {
        assert_eq!(Stars::new(0), Err(InvalidStars));
        assert_eq!(Stars::new(6), Err(InvalidStars));
        assert_eq!(Stars::new(5).map(Stars::get), Ok(5));
    }

    #[test]
    fn averages_are_exact_to_a_tenth() {
        let stars = |n| Stars::new(n).expect("stars");
        let rating = [5, 4]
            .into_iter()
            .fold(Rating::default(), |r, n| r.with(stars(n)));
        assert_eq!(rating.average().as_deref(), Some("4.5"));
        let thirds = [5, 5, 4]
            .into_iter()
            .fold(Rating::default(), |r, n| r.with(stars(n)));
        assert_eq!(thirds.average().as_deref(), Some("4.7"));
        assert_eq!(thirds.without(stars(4)).average().as_deref(), Some("5.0"));
        assert_eq!(Rating::default().average(), None);
    }

    #[test]
    fn only_the_patient_of_a_completed_visit_reviews_it() {
        let now = at("2026-12-10T15:00:00Z");
        let stars = Stars::new(4).expect("stars");
        let registered = appointment(&PERU, "45678912").build();
        let ana = callers::patient("45678912");
        assert_eq!(
            registered.review(&ana, stars, None, now),
            Err(ReviewRefused::NotCompleted(Status::Registered))
        );
        let slot = slot_at(
            &doctor_id(&PERU, "cardiologia", "7700001"),
            "2026-12-07T14:00:00Z",
        );
        let completed = appointment(&PERU, "45678912")
            .patient_name("Ana Lucía Torres Vega")
            .assigned(&slot.id)
            .status(Status::Completed)
            .build();
        let jose = callers::patient("70123456");
        assert_eq!(
            completed.review(&jose, stars, None, now),
            Err(ReviewRefused::NotYours)
        );
        let review = completed
            .review(&ana, stars, Some("  Muy amable.  "), now)
            .expect("her review");
        assert_eq!(review.first_name, "Ana");
        assert_eq!(review.comment.as_deref(), Some("Muy amable."));
        assert_eq!(
            ReviewId::parse(&review.id.to_string()),
            Ok(review.id.clone())
        );
        assert!(!review.id.to_string().contains("45678912"));
    }

    #[test]
    fn staff_hide_a_review_once_with_a_reason() {
        let slot = slot_at(
            &doctor_id(&PERU, "cardiologia", "7700001"),
            "2026-12-07T14:00:00Z",
        );
        let completed = appointment(&PERU, "45678912")
            .assigned(&slot.id)
            .status(Status::Completed)
            .build();
        let now = at("2026-12-10T15:00:00Z");
        let review = completed
            .review(
                &callers::patient("45678912"),
                Stars::new(1).expect("stars"),
                None,
                now,
            )
            .expect("a review");
        assert!(matches!(
            review.hide("  ", now),
            Err(HideRefused::Reason(_))
        ));
        let hidden = review.hide("insultos", now).expect("hidden");
        assert_eq!(
            hidden.hidden.as_ref().map(|h| h.reason.as_str()),
            Some("insultos")
        );
        assert_eq!(
            hidden.hide("otra vez", now),
            Err(HideRefused::AlreadyHidden)
        );
        assert_eq!(ReviewId::parse("45678912"), Err(InvalidReviewId));
        assert_eq!(
            ReviewId::parse(&review.id.to_string().to_uppercase()),
            Err(InvalidReviewId)
        );
    }
}

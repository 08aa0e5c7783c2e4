//! Reviews of visits and the doctors' ratings they make: a review and its
//! doctor's rating change in one transaction.

use async_trait::async_trait;

use super::{Page, PageRequest, StoreError};
use crate::review::{Review, ReviewId};
use crate::values::ids::{AppointmentId, DoctorId};

/// Reviews, and the rating on each doctor they are of.
#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// Stores a new review of the visit `of`, marks the visit reviewed and
    /// adds the stars to its doctor's rating, in one transaction, on the
    /// condition that the visit has no review. Only the visit holds the
    /// mark: the review keeps no link to it (its id holds the patient's document).
    ///
    /// # Errors
    ///
    /// `AlreadyReviewed` when the visit has one (or is gone); `NotFound` when the doctor is not registered.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn add_review(&self, review: &Review, of: &AppointmentId) -> Result<(), StoreError>;
    /// A review, shown or hidden, if there is one.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn get_review(&self, id: &ReviewId) -> Result<Option<Review>, StoreError>;
    /// Stores `hidden` (a review as staff hid it) and takes its stars out of
    /// its doctor's rating, in one transaction, on the condition that the
    /// stored review is still shown.
    ///
    /// # Errors
    ///
    /// `AlreadyHidden` when another request hid it first.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn hide_review(&self, hidden: &Review) -> Result<(), StoreError>;
    /// A page of a doctor's shown reviews, newest first.
    ///
    /// # Errors
    ///
    /// `InvalidCursor` when the page's cursor is not one of this list.
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn doctor_reviews(
        &self,
        doctor: &DoctorId,
        page: &PageRequest,
    ) -> Result<Page<Review>, StoreError>;
}

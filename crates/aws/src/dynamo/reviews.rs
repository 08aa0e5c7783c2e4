//! Reviews: one `TransactWriteItems` marks the appointment reviewed (on the
//! condition that it is not), writes the review, and adds to its doctor's
//! rating (`ADD`, so reviews at once all count); hiding one takes it out
//! the same way.

use std::time::Duration;

use citas_domain::AppointmentId;
use citas_domain::ports::ReviewStore;
use citas_domain::review::{Review, ReviewId};

use super::*;

/// Tries of a review's transaction that lost to another one on the same
/// doctor (DynamoDB cancels one of two transactions touching one item at
/// once): with the backoff below, about 4 s in all at worst.
const CONFLICT_TRIES: u32 = 10;

type Reasons = [aws_sdk_dynamodb::types::CancellationReason];

/// Whether the transaction was cancelled by a concurrent one (and no condition failed).
fn lost_to_another(reasons: &Reasons) -> bool {
    reasons
        .iter()
        .any(|reason| reason.code() == Some("TransactionConflict"))
        && !reasons
            .iter()
            .enumerate()
            .any(|(n, _)| failed_condition(reasons, n))
}

/// Whether the item at `index` failed its condition (not a conflict or a throttle).
fn failed_condition(reasons: &Reasons, index: usize) -> bool {
    reasons
        .get(index)
        .is_some_and(|reason| reason.code() == Some("ConditionalCheckFailed"))
}

impl DynamoStore {
    /// The review of an appointment, from the mark on its item.
    pub(super) async fn review_of(
        &self,
        country: &'static citas_domain::Country,
        appointment: &AppointmentId,
    ) -> Result<Option<Review>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.appointment(country))
            .key("id", s(appointment.to_string()))
            .projection_expression("#reviewed")
            .expression_attribute_names("#reviewed", attribute::REVIEWED)
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(AttributeValue::S(id)) = output
            .item
            .and_then(|mut item| item.remove(attribute::REVIEWED))
        else {
            return Ok(None);
        };
        let id =
            ReviewId::parse(&id).map_err(|e| citas_layout::items::corrupt("appointment", e))?;
        self.get_review(&id).await
    }

    /// The doctor's rating moved by `count` reviews of `stars` in all, while the doctor exists.
    fn rating_update(
        &self,
        doctor: &DoctorId,
        count: i64,
        stars: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.tables.doctor())
            .key("id", s(doctor.to_string()))
            .update_expression("ADD rating_count :count, rating_sum :stars")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":count", n(count))
            .expression_attribute_values(":stars", n(stars))
            .build()
            .map_err(backend)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Sends the items as one transaction, again after losing to a
    /// concurrent one; the reasons of any other cancellation.
    async fn review_transaction(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<aws_sdk_dynamodb::types::CancellationReason>>, StoreError> {
        let mut tries = 0;
        loop {
            let error = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(None),
                Err(error) => error,
            };
            let Some(reasons) = cancelled_reasons(&error) else {
                return Err(backend(error));
            };
            tries += 1;
            if !lost_to_another(&reasons) {
                return Ok(Some(reasons));
            }
            if tries == CONFLICT_TRIES {
                return Err(StoreError::Backend(format!(
                    "a review's transaction lost to concurrent ones {tries} times"
                )));
            }
            // Full jitter over a doubling window (20 ms, 40 ms, … 800 ms at most),
            // so reviews that arrived together spread out.
            let window = 20_u64 << (tries - 1).min(5);
            let wait =
                u64::try_from(uuid::Uuid::new_v4().as_u128() % u128::from(window)).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

#[async_trait]
impl ReviewStore for DynamoStore {
    async fn add_review(&self, review: &Review, of: &AppointmentId) -> Result<(), StoreError> {
        let country = review.doctor.country;
        let mark = Update::builder()
            .table_name(self.tables.appointment(country))
            .key("id", s(of.to_string()))
            .update_expression("SET #reviewed = :review")
            .condition_expression("attribute_exists(id) AND attribute_not_exists(#reviewed)")
            .expression_attribute_names("#reviewed", attribute::REVIEWED)
            .expression_attribute_values(":review", s(review.id.to_string()))
            .build()
            .map_err(backend)?;
        let put = Put::builder()
            .table_name(self.tables.review())
            .set_item(Some(to_item(&ReviewItem::from_domain(review))?))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(backend)?;
        let items = vec![
            TransactWriteItem::builder().update(mark).build(),
            TransactWriteItem::builder().put(put).build(),
            self.rating_update(&review.doctor, 1, i64::from(review.stars.get()))?,
        ];
        let Some(reasons) = self.review_transaction(items).await? else {
            return Ok(());
        };
        if failed_condition(&reasons, 0) {
            Err(StoreError::AlreadyReviewed)
        } else if failed_condition(&reasons, 2) {
            Err(StoreError::NotFound)
        } else {
            Err(StoreError::Backend(format!(
                "a review's transaction was cancelled: {reasons:?}"
            )))
        }
    }

    async fn get_review(&self, id: &ReviewId) -> Result<Option<Review>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.review())
            .key("id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output
            .item
            .map(|item| from_item::<ReviewItem>(item)?.into_domain())
            .transpose()
    }

    async fn hide_review(&self, hidden: &Review) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(self.tables.review())
            .set_item(Some(to_item(&ReviewItem::from_domain(hidden))?))
            .condition_expression("attribute_exists(#shown)")
            .expression_attribute_names("#shown", attribute::SHOWN_DOCTOR)
            .build()
            .map_err(backend)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            self.rating_update(&hidden.doctor, -1, -i64::from(hidden.stars.get()))?,
        ];
        match self.review_transaction(items).await? {
            None => Ok(()),
            Some(reasons) if failed_condition(&reasons, 0) => Err(StoreError::AlreadyHidden),
            Some(reasons) => Err(StoreError::Backend(format!(
                "hiding a review was cancelled: {reasons:?}"
            ))),
        }
    }

    async fn doctor_reviews(
        &self,
        doctor: &DoctorId,
        page: &PageRequest,
    ) -> Result<Page<Review>, StoreError> {
        let page = ShardedIndex {
            client: &self.client,
            table: self.tables.review(),
            index: index::REVIEW_BY_DOCTOR,
            partition_attribute: attribute::SHOWN_DOCTOR,
            sort_attribute: attribute::CREATED_AT,
            partitions: vec![doctor.to_string()],
            forward: false,
            scope: format!("{}/reviews/{doctor}", doctor.country.code),
            sort_between: None,
            only_where: Vec::new(),
        }
        .page(page)
        .await?;
        page_of(page, |item| from_item::<ReviewItem>(item)?.into_domain())
    }
}

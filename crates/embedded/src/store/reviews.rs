//! Reviews and the doctors' ratings: a review, its appointment's mark and
//! its doctor's rating change in one write transaction. The mark is kept
//! beside the appointment (`reviewed_appointments`) and erased with it.

use citas_domain::ports::ReviewStore;
use citas_domain::review::{Review, ReviewId};

use super::*;

/// The doctor's item with its rating changed by `count` reviews of `stars` in all.
fn change_rating(
    txn: &WriteTransaction,
    doctor: &str,
    count: i64,
    stars: i64,
) -> Result<(), Failure> {
    let mut doctors = txn.open_table(DOCTORS)?;
    let mut item: DoctorItem = get_json(&doctors, doctor)?.ok_or(StoreError::NotFound)?;
    let moved = |n: u32, by: i64| u32::try_from((i64::from(n) + by).max(0)).unwrap_or(u32::MAX);
    item.rating_count = moved(item.rating_count, count);
    item.rating_sum = moved(item.rating_sum, stars);
    doctors.insert(doctor, encode(&item)?.as_slice())?;
    Ok(())
}

#[async_trait]
impl ReviewStore for EmbeddedStore {
    async fn add_review(&self, review: &Review, of: &AppointmentId) -> Result<(), StoreError> {
        let item = ReviewItem::from_domain(review);
        let created_ms = review.created_at.as_millisecond();
        let (code, appointment) = (review.doctor.country.code, of.to_string());
        self.write(move |txn| {
            let key = (code, appointment.as_str());
            let exists = txn.open_table(APPOINTMENTS)?.get(key)?.is_some();
            let mut reviewed = txn.open_table(REVIEWED)?;
            if !exists || reviewed.get(key)?.is_some() {
                return Err(StoreError::AlreadyReviewed.into());
            }
            change_rating(txn, &item.doctor, 1, i64::from(item.stars))?;
            reviewed.insert(key, item.id.as_str())?;
            txn.open_table(REVIEWS_BY_DOCTOR)?
                .insert((item.doctor.as_str(), created_ms, item.id.as_str()), ())?;
            txn.open_table(REVIEWS)?
                .insert(item.id.as_str(), encode(&item)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn get_review(&self, id: &ReviewId) -> Result<Option<Review>, StoreError> {
        let id = id.to_string();
        let item: Option<ReviewItem> = self
            .read(move |txn| get_json(&txn.open_table(REVIEWS)?, id.as_str()))
            .await?;
        item.map(ReviewItem::into_domain).transpose()
    }

    async fn hide_review(&self, hidden: &Review) -> Result<(), StoreError> {
        let item = ReviewItem::from_domain(hidden);
        let created_ms = hidden.created_at.as_millisecond();
        self.write(move |txn| {
            let stored: ReviewItem = get_json(&txn.open_table(REVIEWS)?, item.id.as_str())?
                .ok_or(StoreError::NotFound)?;
            if stored.shown_doctor.is_none() {
                return Err(StoreError::AlreadyHidden.into());
            }
            change_rating(txn, &item.doctor, -1, -i64::from(stored.stars))?;
            txn.open_table(REVIEWS_BY_DOCTOR)?.remove((
                item.doctor.as_str(),
                created_ms,
                item.id.as_str(),
            ))?;
            txn.open_table(REVIEWS)?
                .insert(item.id.as_str(), encode(&item)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn doctor_reviews(
        &self,
        doctor: &DoctorId,
        page: &PageRequest,
    ) -> Result<Page<Review>, StoreError> {
        let scope = format!("{}/reviews/{doctor}", doctor.country.code);
        let before: Option<(i64, String)> = match &page.cursor {
            Some(raw) => Some(
                serde_json::from_value(cursor::decode(&scope, raw)?)
                    .map_err(|_| StoreError::InvalidCursor)?,
            ),
            None => None,
        };
        let (doctor, limit) = (doctor.to_string(), page.limit);
        let (items, more): (Vec<ReviewItem>, bool) = self
            .read(move |txn| {
                let index = txn.open_table(REVIEWS_BY_DOCTOR)?;
                let reviews = txn.open_table(REVIEWS)?;
                let d = doctor.as_str();
                let mut items = Vec::with_capacity(limit);
                let mut more = false;
                let entries = match &before {
                    // Strictly older than the last one shown.
                    Some((ms, id)) => index.range((d, i64::MIN, "")..(d, *ms, id.as_str()))?,
                    None => index.range((d, i64::MIN, "")..=(d, i64::MAX, MAX_KEY))?,
                };
                for entry in entries.rev() {
                    let (key, _) = entry?;
                    if items.len() == limit {
                        more = true;
                        break;
                    }
                    items.extend(get_json::<&str, ReviewItem>(&reviews, key.value().2)?);
                }
                Ok((items, more))
            })
            .await?;
        let reviews: Vec<Review> = items
            .into_iter()
            .map(ReviewItem::into_domain)
            .collect::<Result<_, _>>()?;
        let next_cursor = more.then(|| reviews.last()).flatten().map(|last| {
            cursor::encode(
                &scope,
                json!([last.created_at.as_millisecond(), last.id.to_string()]),
            )
        });
        Ok(Page {
            items: reviews,
            next_cursor,
        })
    }
}

//! Slots, with the doctor's and the free-slot index tables.

use super::*;

#[async_trait]
impl SlotStore for EmbeddedStore {
    async fn put_slot(&self, slot: &Slot) -> Result<(), StoreError> {
        let slot = slot.clone();
        self.write(move |txn| put_slot_in(txn, &slot)).await
    }

    async fn get_slot(&self, id: &SlotId) -> Result<Option<Slot>, StoreError> {
        let id = id.to_string();
        self.read(move |txn| get_slot_in(&txn.open_table(SLOTS)?, &id))
            .await
    }

    async fn add_slots(&self, slots: &[Slot]) -> Result<usize, StoreError> {
        let slots = slots.to_vec();
        self.write(move |txn| {
            let mut added = 0;
            for slot in &slots {
                let taken = txn
                    .open_table(SLOTS)?
                    .get(slot.id.to_string().as_str())?
                    .is_some();
                if !taken {
                    put_slot_in(txn, slot)?;
                    added += 1;
                }
            }
            Ok(added)
        })
        .await
    }

    async fn remove_free_slot(&self, id: &SlotId) -> Result<(), StoreError> {
        let id = id.clone();
        self.write(move |txn| {
            let text = id.to_string();
            let mut slots = txn.open_table(SLOTS)?;
            match get_slot_in(&slots, &text)? {
                None => Err(StoreError::NotFound.into()),
                Some(slot) if !slot.available => Err(StoreError::SlotUnavailable(text).into()),
                Some(_) => {
                    slots.remove(text.as_str())?;
                    drop(slots);
                    index_slot(txn, &id, None)
                }
            }
        })
        .await
    }

    async fn doctor_slots(
        &self,
        doctor: &DoctorId,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Slot>, StoreError> {
        let doctor = doctor.to_string();
        let (from, until) = (from.as_second(), until.as_second());
        self.read(move |txn| {
            let index = txn.open_table(DOCTOR_SLOTS)?;
            let slots = txn.open_table(SLOTS)?;
            let mut found = Vec::new();
            for entry in index.range((doctor.as_str(), from, "")..(doctor.as_str(), until, ""))? {
                let (key, _) = entry?;
                found.extend(get_slot_in(&slots, key.value().2)?);
            }
            Ok(found)
        })
        .await
    }

    async fn next_free_slot(
        &self,
        doctor: &DoctorId,
        from: Timestamp,
        until: Timestamp,
        modality: Option<citas_domain::scheduling::doctor::Modality>,
    ) -> Result<Option<Slot>, StoreError> {
        let doctor = doctor.to_string();
        let (from, until) = (from.as_second(), until.as_second());
        self.read(move |txn| {
            let index = txn.open_table(DOCTOR_SLOTS)?;
            let slots = txn.open_table(SLOTS)?;
            for entry in index.range((doctor.as_str(), from, "")..(doctor.as_str(), until, ""))? {
                let (key, _) = entry?;
                if let Some(slot) = get_slot_in(&slots, key.value().2)?
                    && slot.available
                    && modality.is_none_or(|m| m == slot.modality)
                {
                    return Ok(Some(slot));
                }
            }
            Ok(None)
        })
        .await
    }

    async fn count_free_slots(&self, search: &SlotSearch) -> Result<usize, StoreError> {
        // As `free_slots` walks them: a doctor's slots (the free ones), or the
        // speciality's free-slot index.
        let (table, partition, only_free) = match &search.doctor {
            Some(doctor) => (DOCTOR_SLOTS, doctor.to_string(), true),
            None => (
                FREE_SLOTS,
                citas_layout::keys::free_slot_partition(search.country, &search.speciality),
                false,
            ),
        };
        let (from, until) = (search.from.as_second(), search.until.as_second());
        let modality = search.modality;
        self.read(move |txn| {
            let index = txn.open_table(table)?;
            let slots = txn.open_table(SLOTS)?;
            let partition = partition.as_str();
            let mut count = 0;
            for entry in index.range((partition, from, "")..(partition, until, ""))? {
                let (key, _) = entry?;
                let (_, _, id) = key.value();
                // The slot is read only when something about it must be checked.
                let counted = (!only_free && modality.is_none())
                    || get_slot_in(&slots, id)?.is_some_and(|slot| {
                        (slot.available || !only_free)
                            && modality.is_none_or(|m| m == slot.modality)
                    });
                if counted {
                    count += 1;
                }
            }
            Ok(count)
        })
        .await
    }

    async fn free_slots(
        &self,
        search: &SlotSearch,
        page: &PageRequest,
    ) -> Result<Page<Slot>, StoreError> {
        let scope = search.scope();
        // The position is the last (start epoch seconds, id) returned.
        let after: Option<(i64, String)> = match &page.cursor {
            Some(raw) => Some(
                serde_json::from_value(cursor::decode(&scope, raw)?)
                    .map_err(|_| StoreError::InvalidCursor)?,
            ),
            None => None,
        };
        // A doctor's slots are walked and the booked ones skipped; a
        // speciality's free slots have their own index.
        let (table, partition, only_free) = match &search.doctor {
            Some(doctor) => (DOCTOR_SLOTS, doctor.to_string(), true),
            None => (
                FREE_SLOTS,
                citas_layout::keys::free_slot_partition(search.country, &search.speciality),
                false,
            ),
        };
        let (from, until, limit, modality) = (
            search.from.as_second(),
            search.until.as_second(),
            page.limit,
            search.modality,
        );
        let (items, more) = self
            .read(move |txn| {
                let index = txn.open_table(table)?;
                let slots = txn.open_table(SLOTS)?;
                let partition = partition.as_str();
                let start = match &after {
                    Some((start, _)) => (*start).max(from),
                    None => from,
                };
                let mut items = Vec::with_capacity(limit + 1);
                for entry in index.range((partition, start, "")..(partition, until, ""))? {
                    let (key, _) = entry?;
                    let (_, at, id) = key.value();
                    if after
                        .as_ref()
                        .is_some_and(|(last_at, last_id)| (at, id) <= (*last_at, last_id.as_str()))
                    {
                        continue;
                    }
                    let Some(slot) = get_slot_in(&slots, id)? else {
                        continue;
                    };
                    if (only_free && !slot.available)
                        || modality.is_some_and(|m| m != slot.modality)
                    {
                        continue;
                    }
                    items.push(slot);
                    if items.len() > limit {
                        break;
                    }
                }
                let more = items.len() > limit;
                items.truncate(limit);
                Ok((items, more))
            })
            .await?;
        let next_cursor = match items.last() {
            Some(last) if more => Some(cursor::encode(
                &scope,
                json!([last.starts_at().as_second(), last.id.to_string()]),
            )),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }
}

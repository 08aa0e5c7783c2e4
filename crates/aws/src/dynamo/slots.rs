//! Slots: the doctor's index for agendas, the free-slot index for searches.

use super::*;
use citas_domain::scheduling::doctor::Modality;

#[async_trait]
impl SlotStore for DynamoStore {
    async fn put_slot(&self, slot: &Slot) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.tables.slot())
            .set_item(Some(slot_item(slot)?))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_slot(&self, id: &SlotId) -> Result<Option<Slot>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.slot())
            .key("id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item.map(slot_from).transpose()
    }

    async fn add_slots(&self, slots: &[Slot]) -> Result<usize, StoreError> {
        let table = self.tables.slot();
        let writes: Vec<_> = slots
            .iter()
            .map(|slot| self.put_new_slot(&table, slot))
            .collect();
        let results: Vec<Result<usize, StoreError>> = stream::iter(writes)
            .buffer_unordered(SLOT_WRITES_IN_FLIGHT)
            .collect()
            .await;
        results.into_iter().sum()
    }

    async fn remove_free_slot(&self, id: &SlotId) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(self.tables.slot())
            .key("id", s(id.to_string()))
            .condition_expression("isAvailable = :free")
            .expression_attribute_values(":free", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The delete already failed; this read only says why.
            Err(error) if is_condition_failure(&error) => match self.get_slot(id).await? {
                Some(_) => Err(StoreError::SlotUnavailable(id.to_string())),
                None => Err(StoreError::NotFound),
            },
            Err(error) => Err(backend(error)),
        }
    }

    async fn doctor_slots(
        &self,
        doctor: &DoctorId,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Slot>, StoreError> {
        let (low, high) = slot_id_range(doctor, from, until);
        let query = self
            .client
            .query()
            .table_name(self.tables.slot())
            .index_name(index::SLOT_BY_DOCTOR)
            .key_condition_expression("doctor = :doctor AND id BETWEEN :low AND :high")
            .expression_attribute_values(":doctor", s(doctor.to_string()))
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(high));
        query_all(query).await?.into_iter().map(slot_from).collect()
    }

    async fn next_free_slot(
        &self,
        doctor: &DoctorId,
        from: Timestamp,
        until: Timestamp,
        modality: Option<Modality>,
    ) -> Result<Option<Slot>, StoreError> {
        let (low, high) = slot_id_range(doctor, from, until);
        // In person is the absence of `modality` (`modality_attribute`).
        let filter = match modality {
            None => "isAvailable = :free",
            Some(Modality::InPerson) => "isAvailable = :free AND attribute_not_exists(modality)",
            Some(Modality::Virtual) => "isAvailable = :free AND modality = :virtual",
        };
        let mut start = None;
        loop {
            let query = self
                .client
                .query()
                .table_name(self.tables.slot())
                .index_name(index::SLOT_BY_DOCTOR)
                .key_condition_expression("doctor = :doctor AND id BETWEEN :low AND :high")
                .filter_expression(filter)
                .expression_attribute_values(":doctor", s(doctor.to_string()))
                .expression_attribute_values(":low", s(low.clone()))
                .expression_attribute_values(":high", s(high.clone()))
                .expression_attribute_values(":free", AttributeValue::Bool(true));
            let query = match modality {
                Some(Modality::Virtual) => query.expression_attribute_values(
                    ":virtual",
                    s(Modality::Virtual.as_str().to_owned()),
                ),
                _ => query,
            };
            let output = query
                .limit(NEXT_FREE_PAGE)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            if let Some(item) = output.items.unwrap_or_default().into_iter().next() {
                return slot_from(item).map(Some);
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(None),
            }
        }
    }

    async fn count_free_slots(&self, search: &SlotSearch) -> Result<usize, StoreError> {
        self.free_slot_index(search).count().await
    }

    async fn free_slots(
        &self,
        search: &SlotSearch,
        page: &PageRequest,
    ) -> Result<Page<Slot>, StoreError> {
        let page = self.free_slot_index(search).page(page).await?;
        page_of(page, slot_from)
    }
}

/// Slots read per page while looking for a doctor's next free one: a
/// doctor booked solid costs a query per this many booked slots before it.
const NEXT_FREE_PAGE: i32 = 200;

impl DynamoStore {
    /// Where a search's free slots are: a doctor's slots (the booked ones
    /// filtered out), or the speciality's free-slot index.
    pub(super) fn free_slot_index(&self, search: &SlotSearch) -> ShardedIndex<'_> {
        match &search.doctor {
            // One doctor: their slots in time order, the booked ones filtered out.
            Some(doctor) => ShardedIndex {
                client: &self.client,
                table: self.tables.slot(),
                index: index::SLOT_BY_DOCTOR,
                partition_attribute: "doctor",
                sort_attribute: "id",
                partitions: vec![doctor.to_string()],
                forward: true,
                scope: search.scope(),
                sort_between: Some(slot_id_range(doctor, search.from, search.until)),
                only_where: [Filter::Equals("isAvailable", AttributeValue::Bool(true))]
                    .into_iter()
                    .chain(modality_filter(search.modality))
                    .collect(),
            },
            None => ShardedIndex {
                client: &self.client,
                table: self.tables.slot(),
                index: index::FREE_SLOTS,
                partition_attribute: attribute::FREE,
                sort_attribute: attribute::STARTS,
                partitions: vec![free_slot_partition(search.country, &search.speciality)],
                forward: true,
                scope: search.scope(),
                sort_between: Some((
                    timestamp::format(search.from),
                    timestamp::format(search.until - jiff::SignedDuration::from_millis(1)),
                )),
                only_where: modality_filter(search.modality).into_iter().collect(),
            },
        }
    }
}

/// Only slots of a modality: a virtual slot's item says so, an in-person
/// one has no `modality` (`citas_layout::items::modality_attribute`).
fn modality_filter(modality: Option<Modality>) -> Option<Filter> {
    match modality? {
        Modality::Virtual => Some(Filter::Equals(
            "modality",
            AttributeValue::S(Modality::Virtual.as_str().to_owned()),
        )),
        Modality::InPerson => Some(Filter::Absent("modality")),
    }
}

/// The slot ids of a doctor starting in `[from, until)`, as an inclusive id range.
pub(super) fn slot_id_range(
    doctor: &DoctorId,
    from: Timestamp,
    until: Timestamp,
) -> (String, String) {
    let last = until - jiff::SignedDuration::from_secs(1);
    (
        SlotId::new(doctor.clone(), from).to_string(),
        SlotId::new(doctor.clone(), last.max(from)).to_string(),
    )
}

impl DynamoStore {
    /// Puts a slot unless its id is taken (free or booked: left as it is); 1 if written.
    pub(super) async fn put_new_slot(&self, table: &str, slot: &Slot) -> Result<usize, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(slot_item(slot)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(1),
            Err(error) if is_condition_failure(&error) => Ok(0),
            Err(error) => Err(backend(error)),
        }
    }
}

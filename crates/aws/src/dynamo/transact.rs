//! The transaction machinery: a change of an appointment, its history entry
//! and its slots in one `TransactWriteItems`, recognised by its change id
//! when the SDK sent it again, and its failed conditions explained.

use super::*;

/// Whether a stored appointment item was written by the change `change`.
pub(super) fn is_change(stored: &Item, change: &str) -> bool {
    stored
        .get(CHANGE)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        == Some(change)
}

pub(super) fn current_status(item: &Item) -> Result<Status, StoreError> {
    item.get("status")
        .and_then(|v| v.as_s().ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::Backend("stored appointment has no valid status".into()))
}

impl DynamoStore {
    pub(super) fn history_put(
        &self,
        country: &Country,
        id: &AppointmentId,
        entry: &HistoryEntry,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(self.tables.history())
            .set_item(Some(to_item(&HistoryItem::from_domain(
                country, id, entry,
            ))?))
            .build()
            .map_err(backend)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The history entry's put, for a transaction.
    /// Deletes every history entry of an appointment, a key at a time (a
    /// history is short; a transaction would cap it at 100).
    pub(super) async fn delete_history(
        &self,
        country: &Country,
        id: &AppointmentId,
    ) -> Result<(), StoreError> {
        let partition = history_partition(country, id);
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.tables.history())
                .key_condition_expression("appointment = :appointment")
                .expression_attribute_values(":appointment", s(&partition))
                .projection_expression("appointment, entry")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            let deletes = output.items.unwrap_or_default().into_iter().map(|key| {
                self.client
                    .delete_item()
                    .table_name(self.tables.history())
                    .set_key(Some(key))
                    .send()
            });
            let results: Vec<_> = stream::iter(deletes).buffer_unordered(8).collect().await;
            for result in results {
                result.map_err(backend)?;
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(()),
            }
        }
    }

    /// The transition as one `TransactWriteItems`: the appointment (on the
    /// condition of its status and revision), its history entry, the slot
    /// given back and the slot booked. `with_release` is false on the second
    /// try when the slot to give back no longer exists.
    pub(super) async fn transact(
        &self,
        transition: &Transition,
        change: &str,
        with_release: bool,
    ) -> Result<(), StoreError> {
        let appointment = &transition.appointment;
        let mut item = appointment_item(appointment)?;
        item.insert(CHANGE.into(), s(change));
        let revision_condition = if transition.expected_revision == 0 {
            "(attribute_not_exists(#revision) OR #revision = :revision)"
        } else {
            "#revision = :revision"
        };
        // A join keeps a meeting without a new revision: the change holds only
        // if the meeting is still the one it read.
        let meeting_condition = match transition.expected_meeting {
            None => "attribute_not_exists(meeting_session)",
            Some(_) => "meeting_session = :meeting",
        };
        let put = Put::builder()
            .table_name(self.tables.appointment(appointment.country))
            .set_item(Some(item))
            .condition_expression(format!(
                "#status = :expected AND {revision_condition} AND {meeting_condition}"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#revision", "revision")
            .expression_attribute_values(":expected", s(transition.expected.as_str()))
            .expression_attribute_values(
                ":revision",
                AttributeValue::N(transition.expected_revision.to_string()),
            );
        let put = match &transition.expected_meeting {
            Some(meeting) => put.expression_attribute_values(":meeting", s(meeting.clone())),
            None => put,
        }
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(backend)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(self.history_put(
                appointment.country,
                &appointment.id,
                &transition.entry,
            )?);
        let release = transition.slots.release.as_ref().filter(|_| with_release);
        let mut release_at = None;
        let mut book_at = None;
        let mut position = 2;
        if let Some(slot) = release {
            request = request.transact_items(self.slot_update(slot, None)?);
            release_at = Some(position);
            position += 1;
        }
        if let Some(slot) = &transition.slots.book {
            request = request.transact_items(self.slot_update(slot, Some(&appointment.id))?);
            book_at = Some(position);
        }
        let error = match request.send().await {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let Some(reasons) = cancelled_reasons(&error) else {
            return Err(backend(error));
        };
        if let Some(reason) = cancelled_at(&reasons, 0) {
            return match reason.item() {
                Some(old) if is_change(old, change) => Ok(()),
                Some(old) => Err(StoreError::StatusConflict {
                    current: current_status(old)?,
                }),
                // A conflict with a concurrent transaction, or no such appointment: look.
                None => self.explain_failed_condition(appointment, change).await,
            };
        }
        if let Some(slot) = transition.slots.book.as_ref()
            && book_at.is_some_and(|at| cancelled_at(&reasons, at).is_some())
        {
            return Err(StoreError::SlotUnavailable(slot.to_string()));
        }
        if release_at.is_some_and(|at| cancelled_at(&reasons, at).is_some()) {
            // The slot no longer exists: there is nothing to give back.
            return Box::pin(self.transact(transition, change, false)).await;
        }
        Err(backend(error))
    }

    /// Booking takes the slot out of the free-slot index and records who
    /// holds it (on the condition that it is free); giving it back puts it in
    /// again (completing pasted items too).
    pub(super) fn slot_update(
        &self,
        slot_id: &SlotId,
        booked_by: Option<&AppointmentId>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.tables.slot())
            .key("id", s(slot_id.to_string()))
            .expression_attribute_names("#free", attribute::FREE);
        let update = match booked_by {
            Some(appointment) => update
                .update_expression(
                    "SET isAvailable = :next, appointment = :appointment REMOVE #free",
                )
                .condition_expression("isAvailable = :current")
                .expression_attribute_values(":next", AttributeValue::Bool(false))
                .expression_attribute_values(":current", AttributeValue::Bool(true))
                .expression_attribute_values(":appointment", s(appointment.to_string())),
            None => update
                .update_expression(
                    "SET isAvailable = :next, #free = :free, #starts = :starts REMOVE appointment",
                )
                .condition_expression("attribute_exists(id)")
                .expression_attribute_names("#starts", attribute::STARTS)
                .expression_attribute_values(":next", AttributeValue::Bool(true))
                .expression_attribute_values(
                    ":free",
                    s(free_slot_partition(
                        slot_id.doctor.country,
                        &slot_id.doctor.speciality,
                    )),
                )
                .expression_attribute_values(":starts", s(timestamp::format(slot_id.starts_at))),
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(backend)?)
            .build())
    }

    /// After a lost condition without the old item: report what is stored now.
    /// (The write already failed; this read only explains why, or finds that
    /// a retried attempt had been applied.)
    pub(super) async fn explain_failed_condition(
        &self,
        target: &Appointment,
        change: &str,
    ) -> Result<(), StoreError> {
        let stored = self
            .client
            .get_item()
            .table_name(self.tables.appointment(target.country))
            .key("id", s(target.id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?
            .item;
        match stored {
            Some(current) if is_change(&current, change) => Ok(()),
            Some(current) => Err(StoreError::StatusConflict {
                current: current_status(&current)?,
            }),
            None => Err(StoreError::NotFound),
        }
    }
}

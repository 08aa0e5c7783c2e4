//! Appointments and their history; changes go through `transact`.

use super::*;

#[async_trait]
impl AppointmentStore for DynamoStore {
    async fn insert_appointment(&self, appointment: &Appointment) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(self.tables.appointment(appointment.country))
            .set_item(Some(appointment_item(appointment)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => Err(StoreError::AlreadyExists {
                existing_id: appointment.id.to_string(),
            }),
            Err(error) => Err(backend(error)),
        }
    }

    async fn get_appointment(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Option<Appointment>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.appointment(country))
            .key("id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let appointment = output
            .item
            .map(|item| appointment_from(country, item))
            .transpose()?;
        if let (Some(recent), Some(appointment)) = (&self.recent, &appointment) {
            recent.remember(appointment);
        }
        Ok(appointment)
    }

    async fn read_appointment(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Option<(Appointment, Freshness)>, StoreError> {
        match self.get_appointment(country, id).await {
            Ok(found) => Ok(found.map(|appointment| (appointment, Freshness::Current))),
            Err(StoreError::Backend(cause)) => match self
                .recent
                .as_ref()
                .and_then(|recent| recent.recall(country, id))
            {
                Some(copy) => {
                    tracing::warn!(%cause, "DynamoDB unreachable: answering from this instance's recent copy");
                    Ok(Some(copy))
                }
                None => Err(StoreError::Backend(cause)),
            },
            Err(other) => Err(other),
        }
    }

    async fn list_appointments(
        &self,
        country: &'static Country,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Appointment>, StoreError> {
        let only_where = filter
            .only_status()
            .map(|status| Filter::Equals("status", s(status.as_str())))
            .into_iter()
            .collect();
        let sort_between = match filter {
            ListFilter::PatientUpcoming { after, .. }
            | ListFilter::DoctorUpcoming { after, .. } => Some((
                timestamp::format(*after + jiff::SignedDuration::from_millis(1)),
                "9999-12-31T23:59:59.999Z".to_owned(),
            )),
            _ => None,
        };
        let (index, partition_attribute, sort_attribute, forward, partitions) = match filter {
            ListFilter::Status(status) => (
                index::BY_STATUS,
                attribute::STATUS_SHARD,
                "created_at",
                false,
                (0..keys::STATUS_SHARDS)
                    .map(|n| format!("{status}#{n}"))
                    .collect(),
            ),
            ListFilter::Document(document) | ListFilter::DocumentStatus(document, _) => (
                index::BY_DOCUMENT,
                "document",
                "created_at",
                false,
                vec![document.to_string()],
            ),
            ListFilter::AssignedOn(day) => (
                index::BY_ASSIGNED_DAY,
                attribute::ASSIGNED_DAY,
                "starts_at",
                true,
                vec![day.to_string()],
            ),
            ListFilter::DoctorStatus(doctor, status) => (
                index::BY_DOCTOR_STATUS,
                attribute::DOCTOR_STATUS,
                "created_at",
                false,
                vec![doctor_status(doctor, *status)],
            ),
            ListFilter::PatientUpcoming { document, .. } => (
                index::BY_DOCUMENT_UPCOMING,
                attribute::OPEN_DOCUMENT,
                "starts_at",
                true,
                vec![document.to_string()],
            ),
            ListFilter::DoctorUpcoming { doctor, .. } => (
                index::BY_DOCTOR_UPCOMING,
                attribute::OPEN_DOCTOR,
                "starts_at",
                true,
                vec![doctor.to_string()],
            ),
        };
        let page = ShardedIndex {
            client: &self.client,
            table: self.tables.appointment(country),
            index,
            partition_attribute,
            sort_attribute,
            partitions,
            forward,
            scope: filter.scope(country),
            sort_between,
            only_where,
        }
        .page(page)
        .await?;
        page_of(page, |item| appointment_from(country, item))
    }

    async fn transition(&self, transition: &Transition) -> Result<(), StoreError> {
        // Unique to this call: an attempt the SDK timed out on and sent again
        // is recognised by it if the first one was applied after all.
        let change = uuid::Uuid::new_v4().to_string();
        self.transact(transition, &change, true).await
    }

    async fn history(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.tables.history())
                .key_condition_expression("appointment = :appointment")
                .expression_attribute_values(":appointment", s(history_partition(country, id)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            for item in output.items.unwrap_or_default() {
                entries.push(from_item::<HistoryItem>(item)?.into_domain()?);
            }
            match output.last_evaluated_key {
                Some(key) if entries.len() < MAX_HISTORY_ENTRIES => start = Some(key),
                _ => return Ok(entries),
            }
        }
    }

    async fn add_history_note(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError> {
        let exists = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(self.tables.appointment(country))
            .key("id", s(id.to_string()))
            .condition_expression("attribute_exists(id)")
            .build()
            .map_err(backend)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(exists).build())
            .transact_items(self.history_put(country, id, entry)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match cancelled_reasons(&error) {
                Some(reasons) if cancelled_at(&reasons, 0).is_some() => Err(StoreError::NotFound),
                _ => Err(backend(error)),
            },
        }
    }

    async fn erase_appointment(
        &self,
        appointment: &Appointment,
        kept_as: Option<&Appointment>,
    ) -> Result<(), StoreError> {
        let country = appointment.country;
        self.delete_history(country, &appointment.id).await?;
        // A completed or missed visit's slot stays booked and names it.
        let slot = match &appointment.slot {
            Some(slot) if !appointment.status.holds_slot() => self
                .get_slot(slot)
                .await?
                .filter(|slot| slot.booked_by.as_ref() == Some(&appointment.id)),
            _ => None,
        };
        let mut delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(self.tables.appointment(country))
            .key("id", s(appointment.id.to_string()))
            .expression_attribute_names("#revision", "revision")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        delete = if appointment.revision == 0 {
            delete.condition_expression("attribute_exists(id) AND attribute_not_exists(#revision)")
        } else {
            delete
                .condition_expression("#revision = :revision")
                .expression_attribute_values(
                    ":revision",
                    AttributeValue::N(appointment.revision.to_string()),
                )
        };
        let mut request = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .delete(delete.build().map_err(backend)?)
                .build(),
        );
        // Its review stays, without its author's name and words.
        if let Some(review) = self.review_of(country, &appointment.id).await? {
            let put = Put::builder()
                .table_name(self.tables.review())
                .set_item(Some(to_item(&ReviewItem::from_domain(
                    &review.anonymised(),
                ))?))
                .condition_expression("attribute_exists(id)")
                .build()
                .map_err(backend)?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        if let Some(kept) = kept_as {
            let put = Put::builder()
                .table_name(self.tables.appointment(country))
                .set_item(Some(appointment_item(kept)?))
                .condition_expression("attribute_not_exists(id)")
                .build()
                .map_err(backend)?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        if let Some(slot) = &slot {
            let update = Update::builder()
                .table_name(self.tables.slot())
                .key("id", s(slot.id.to_string()))
                .condition_expression("appointment = :erased")
                .expression_attribute_values(":erased", s(appointment.id.to_string()));
            let update = match kept_as {
                Some(kept) => update
                    .update_expression("SET appointment = :kept")
                    .expression_attribute_values(":kept", s(kept.id.to_string())),
                None => update.update_expression("REMOVE appointment"),
            };
            request = request.transact_items(
                TransactWriteItem::builder()
                    .update(update.build().map_err(backend)?)
                    .build(),
            );
        }
        let error = match request.send().await {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        match cancelled_reasons(&error) {
            Some(reasons) if cancelled_at(&reasons, 0).is_some() => {
                match self.get_appointment(country, &appointment.id).await? {
                    Some(current) => Err(StoreError::StatusConflict {
                        current: current.status,
                    }),
                    None => Err(StoreError::NotFound),
                }
            }
            // The slot changed hands meanwhile: the caller reads and tries again.
            Some(_) => Err(StoreError::StatusConflict {
                current: appointment.status,
            }),
            None => Err(backend(error)),
        }
    }

    async fn keep_meeting(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        room: &citas_domain::meeting::RoomKey,
        replacing: Option<&str>,
        session: &str,
    ) -> Result<String, StoreError> {
        // One conditional update: the room must still be this one, with no
        // meeting kept yet (or still the ended one it replaces); the
        // revision is left alone (not a change).
        let update = self
            .client
            .update_item()
            .table_name(self.tables.appointment(country))
            .key("id", s(id.to_string()))
            .update_expression("SET meeting_session = :session")
            .expression_attribute_values(":session", s(session.to_owned()))
            .expression_attribute_values(":room", s(room.as_str().to_owned()));
        let update = match replacing {
            None => update.condition_expression(
                "meeting_room = :room AND attribute_not_exists(meeting_session)",
            ),
            Some(ended) => update
                .condition_expression("meeting_room = :room AND meeting_session = :ended")
                .expression_attribute_values(":ended", s(ended.to_owned())),
        };
        let result = update.send().await;
        match result {
            Ok(_) => Ok(session.to_owned()),
            Err(error) if is_condition_failure(&error) => {
                // Another party's join kept one first, or the room is gone.
                let stored = self.get_appointment(country, id).await?;
                stored
                    .and_then(|appointment| appointment.meeting)
                    .filter(|meeting| &meeting.key == room)
                    .and_then(|meeting| meeting.session)
                    .filter(|kept| Some(kept.as_str()) != replacing)
                    .ok_or(StoreError::NotFound)
            }
            Err(error) => Err(backend(error)),
        }
    }

    async fn get_appointments(
        &self,
        country: &'static Country,
        ids: &[AppointmentId],
    ) -> Result<Vec<Appointment>, StoreError> {
        let keys = ids.iter().map(|id| ("id", id.to_string())).collect();
        self.batch_get(&self.tables.appointment(country), keys)
            .await?
            .into_iter()
            .map(|item| appointment_from(country, item))
            .collect()
    }
}

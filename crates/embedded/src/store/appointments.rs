//! Appointments, their indexes and history, each change one write transaction.

use super::*;

#[async_trait]
impl AppointmentStore for EmbeddedStore {
    async fn insert_appointment(&self, appointment: &Appointment) -> Result<(), StoreError> {
        let code = appointment.country.code;
        let item = AppointmentItem::from_domain(appointment);
        let entries = IndexEntries::of(appointment);
        self.write(move |txn| {
            let mut table = txn.open_table(APPOINTMENTS)?;
            let key = (code, item.id.as_str());
            if table.get(key)?.is_some() {
                return Err(StoreError::AlreadyExists {
                    existing_id: item.id.clone(),
                }
                .into());
            }
            table.insert(key, encode(&item)?.as_slice())?;
            entries.rewrite(txn, code, None)
        })
        .await
    }

    async fn get_appointment(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Option<Appointment>, StoreError> {
        let id = id.to_string();
        self.read(move |txn| get_appointment_in(&txn.open_table(APPOINTMENTS)?, country, &id))
            .await
    }

    async fn list_appointments(
        &self,
        country: &'static Country,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Appointment>, StoreError> {
        let scope = filter.scope(country);
        // The position is the last (created_at ms, id) returned.
        let after: Option<(i64, String)> = match &page.cursor {
            Some(raw) => {
                let position = cursor::decode(&scope, raw)?;
                Some(serde_json::from_value(position).map_err(|_| StoreError::InvalidCursor)?)
            }
            None => None,
        };
        let (code, filter, limit) = (country.code, filter.clone(), page.limit);
        self.read(move |txn| {
            // Status and patient lists are newest first; a day's list is earliest first.
            let (table, partition, newest_first) = match &filter {
                ListFilter::Status(status) => {
                    (txn.open_table(BY_STATUS)?, status.as_str().to_owned(), true)
                }
                ListFilter::Document(document) | ListFilter::DocumentStatus(document, _) => {
                    (txn.open_table(BY_DOCUMENT)?, document.to_string(), true)
                }
                ListFilter::AssignedOn(day) => {
                    (txn.open_table(BY_ASSIGNED_DAY)?, day.to_string(), false)
                }
                ListFilter::DoctorStatus(doctor, status) => (
                    txn.open_table(BY_DOCTOR_STATUS)?,
                    citas_layout::keys::doctor_status(doctor, *status),
                    true,
                ),
                ListFilter::PatientUpcoming { document, .. } => (
                    txn.open_table(UPCOMING)?,
                    upcoming_of_patient(document),
                    false,
                ),
                ListFilter::DoctorUpcoming { doctor, .. } => {
                    (txn.open_table(UPCOMING)?, upcoming_of_doctor(doctor), false)
                }
            };
            let partition = partition.as_str();
            // Visits to come start after the list's moment.
            let from = match &filter {
                ListFilter::PatientUpcoming { after, .. }
                | ListFilter::DoctorUpcoming { after, .. } => after.as_millisecond() + 1,
                _ => i64::MIN,
            };
            let first = (code, partition, from, "");
            let last = (code, partition, i64::MAX, MAX_KEY);
            // A list with a status over an index of several: the others are passed over.
            let wanted_status = filter.only_status();
            let appointments = txn.open_table(APPOINTMENTS)?;
            let mut ids: Vec<(i64, String)> = Vec::with_capacity(limit + 1);
            // Keeps an entry (unless its status is not the one asked for);
            // true once the page and one more are kept.
            let mut collect = |entry: Result<
                (
                    redb::AccessGuard<'_, (&str, &str, i64, &str)>,
                    redb::AccessGuard<'_, ()>,
                ),
                redb::StorageError,
            >|
             -> Result<bool, Failure> {
                let (key, _) = entry?;
                let (_, _, order, id) = key.value();
                if let Some(status) = wanted_status {
                    let stored = get_appointment_in(&appointments, country, id)?;
                    if stored.is_none_or(|a| a.status != status) {
                        return Ok(false);
                    }
                }
                ids.push((order, id.to_owned()));
                Ok(ids.len() > limit)
            };
            match (&after, newest_first) {
                (None, true) => walk(table.range(first..=last)?.rev(), &mut collect)?,
                (None, false) => walk(table.range(first..=last)?, &mut collect)?,
                (Some((order, id)), true) => walk(
                    table
                        .range(first..(code, partition, *order, id.as_str()))?
                        .rev(),
                    &mut collect,
                )?,
                // A position before the list's moment (a hand-made cursor) reads from it.
                (Some((order, _)), false) if *order < from => {
                    walk(table.range(first..=last)?, &mut collect)?
                }
                (Some((order, id)), false) => {
                    let start = (code, partition, *order, id.as_str());
                    walk(
                        table.range(start..=last)?.skip_while(
                            |entry| matches!(entry, Ok((key, _)) if key.value() == start),
                        ),
                        &mut collect,
                    )?
                }
            }
            let more = ids.len() > limit;
            let mut items = Vec::with_capacity(limit);
            for (_, id) in ids.iter().take(limit) {
                if let Some(appointment) = get_appointment_in(&appointments, country, id)? {
                    items.push(appointment);
                }
            }
            let next_cursor = match ids.get(limit.saturating_sub(1)) {
                Some((order, id)) if more => Some(cursor::encode(&scope, json!([order, id]))),
                _ => None,
            };
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn transition(&self, transition: &Transition) -> Result<(), StoreError> {
        let transition = transition.clone();
        self.write(move |txn| {
            let next = &transition.appointment;
            let (country, id) = (next.country, next.id.to_string());
            let mut appointments = txn.open_table(APPOINTMENTS)?;
            let current =
                get_appointment_in(&appointments, country, &id)?.ok_or(StoreError::NotFound)?;
            let kept_meeting = current.meeting.as_ref().and_then(|m| m.session.as_ref());
            if current.status != transition.expected
                || current.revision != transition.expected_revision
                || kept_meeting != transition.expected_meeting.as_ref()
            {
                return Err(StoreError::StatusConflict {
                    current: current.status,
                }
                .into());
            }
            let slots = txn.open_table(SLOTS)?;
            let booked = match &transition.slots.book {
                None => None,
                Some(slot_id) => match get_slot_in(&slots, &slot_id.to_string())? {
                    Some(slot) if slot.available => Some(Slot {
                        available: false,
                        booked_by: Some(next.id.clone()),
                        ..slot
                    }),
                    _ => return Err(StoreError::SlotUnavailable(slot_id.to_string()).into()),
                },
            };
            // A slot that no longer exists has nothing to give back.
            let released = match &transition.slots.release {
                None => None,
                Some(slot_id) => get_slot_in(&slots, &slot_id.to_string())?.map(|slot| Slot {
                    available: true,
                    booked_by: None,
                    ..slot
                }),
            };
            drop(slots);
            for slot in released.iter().chain(booked.iter()) {
                put_slot_in(txn, slot)?;
            }
            appointments.insert(
                (country.code, id.as_str()),
                encode(&AppointmentItem::from_domain(next))?.as_slice(),
            )?;
            drop(appointments);
            let history = HistoryItem::from_domain(country, &next.id, &transition.entry);
            put_history_in(txn, &history)?;
            let mut outbox = txn.open_table(OUTBOX)?;
            let sequence = match outbox.last()? {
                Some((last, _)) => last.value() + 1,
                None => 1,
            };
            outbox.insert(sequence, encode(&history)?.as_slice())?;
            drop(outbox);
            IndexEntries::of(next).rewrite(txn, country.code, Some(&IndexEntries::of(&current)))
        })
        .await?;
        self.outbox_written.notify_one();
        Ok(())
    }

    async fn history(
        &self,
        country: &'static Country,
        id: &AppointmentId,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let partition = history_partition(country, id);
        let items: Vec<HistoryItem> = self
            .read(move |txn| {
                let table = txn.open_table(HISTORY)?;
                let mut items = Vec::new();
                for entry in
                    table.range((partition.as_str(), "")..=(partition.as_str(), MAX_KEY))?
                {
                    let (_, value) = entry?;
                    items.push(decode(value.value())?);
                }
                Ok(items)
            })
            .await?;
        items.into_iter().map(HistoryItem::into_domain).collect()
    }

    async fn add_history_note(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError> {
        let item = HistoryItem::from_domain(country, id, entry);
        let id = id.to_string();
        self.write(move |txn| {
            if get_appointment_in(&txn.open_table(APPOINTMENTS)?, country, &id)?.is_none() {
                return Err(StoreError::NotFound.into());
            }
            put_history_in(txn, &item)
        })
        .await
    }

    async fn erase_appointment(
        &self,
        appointment: &Appointment,
        kept_as: Option<&Appointment>,
    ) -> Result<(), StoreError> {
        let (erased, kept) = (appointment.clone(), kept_as.cloned());
        self.write(move |txn| {
            let (country, id) = (erased.country, erased.id.to_string());
            let mut appointments = txn.open_table(APPOINTMENTS)?;
            let current =
                get_appointment_in(&appointments, country, &id)?.ok_or(StoreError::NotFound)?;
            if current.revision != erased.revision || current.status != erased.status {
                return Err(StoreError::StatusConflict {
                    current: current.status,
                }
                .into());
            }
            appointments.remove((country.code, id.as_str()))?;
            // Its review mark goes with it (DynamoDB keeps it on the item),
            // and the review stays without its author's name and words.
            let reviewed = txn
                .open_table(REVIEWED)?
                .remove((country.code, id.as_str()))?
                .map(|review| review.value().to_owned());
            if let Some(review) = reviewed {
                let mut reviews = txn.open_table(REVIEWS)?;
                if let Some(item) = get_json::<&str, ReviewItem>(&reviews, review.as_str())? {
                    let anonymised = ReviewItem::from_domain(&item.into_domain()?.anonymised());
                    reviews.insert(review.as_str(), encode(&anonymised)?.as_slice())?;
                }
            }
            if let Some(kept) = &kept {
                appointments.insert(
                    (country.code, kept.id.to_string().as_str()),
                    encode(&AppointmentItem::from_domain(kept))?.as_slice(),
                )?;
            }
            drop(appointments);
            IndexEntries::of(&current).remove(txn, country.code)?;
            if let Some(kept) = &kept {
                IndexEntries::of(kept).rewrite(txn, country.code, None)?;
            }
            // A completed or missed visit's slot stays booked and names it.
            if let Some(slot_id) = &current.slot {
                let slot = get_slot_in(&txn.open_table(SLOTS)?, &slot_id.to_string())?;
                if let Some(slot) = slot.filter(|slot| slot.booked_by.as_ref() == Some(&current.id))
                {
                    put_slot_in(
                        txn,
                        &Slot {
                            booked_by: kept.as_ref().map(|kept| kept.id.clone()),
                            ..slot
                        },
                    )?;
                }
            }
            let partition = history_partition(country, &current.id);
            let mut history = txn.open_table(HISTORY)?;
            let keys: Vec<String> = history
                .range((partition.as_str(), "")..=(partition.as_str(), MAX_KEY))?
                .map(|entry| entry.map(|(key, _)| key.value().1.to_owned()))
                .collect::<Result<_, _>>()?;
            for key in keys {
                history.remove((partition.as_str(), key.as_str()))?;
            }
            Ok(())
        })
        .await
    }

    async fn keep_meeting(
        &self,
        country: &'static Country,
        id: &AppointmentId,
        room: &citas_domain::meeting::RoomKey,
        replacing: Option<&str>,
        session: &str,
    ) -> Result<String, StoreError> {
        let (id, room, session) = (id.to_string(), room.clone(), session.to_owned());
        let replacing = replacing.map(str::to_owned);
        self.write(move |txn| {
            let mut appointments = txn.open_table(APPOINTMENTS)?;
            let mut current =
                get_appointment_in(&appointments, country, &id)?.ok_or(StoreError::NotFound)?;
            let Some(meeting) = current.meeting.as_mut().filter(|m| m.key == room) else {
                return Err(StoreError::NotFound.into());
            };
            // The first party's meeting stays: the second joins it (and
            // the first replacement of an ended one is the one kept).
            if let Some(kept) = &meeting.session
                && Some(kept) != replacing.as_ref()
            {
                return Ok(kept.clone());
            }
            meeting.session = Some(session.clone());
            appointments.insert(
                (country.code, id.as_str()),
                encode(&AppointmentItem::from_domain(&current))?.as_slice(),
            )?;
            Ok(session)
        })
        .await
    }

    async fn get_appointments(
        &self,
        country: &'static Country,
        ids: &[AppointmentId],
    ) -> Result<Vec<Appointment>, StoreError> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.read(move |txn| {
            let table = txn.open_table(APPOINTMENTS)?;
            let mut found = Vec::with_capacity(ids.len());
            for id in &ids {
                found.extend(get_appointment_in(&table, country, id)?);
            }
            Ok(found)
        })
        .await
    }
}

//! Doctors and their plans, saved one save at a time under a hold.

use std::collections::BTreeSet;

use citas_domain::ports::Bounded;

use super::*;

#[async_trait]
impl DoctorStore for EmbeddedStore {
    async fn put_doctor(&self, doctor: &Doctor) -> Result<Upserted, StoreError> {
        let item = DoctorItem::from_domain(doctor);
        self.write(move |txn| {
            let mut doctors = txn.open_table(DOCTORS)?;
            let mut by_speciality = txn.open_table(DOCTORS_BY_SPECIALITY)?;
            let mut by_cell = txn.open_table(DOCTORS_BY_GEO_CELL)?;
            let previous = get_json::<&str, DoctorItem>(&doctors, item.id.as_str())?;
            if let Some(previous) = &previous {
                by_speciality.remove((
                    previous.country.as_str(),
                    previous.speciality.as_str(),
                    previous.id.as_str(),
                ))?;
            }
            // The cell as the previous place made it (items from before cells had none).
            if let Some(previous) = previous.clone().map(DoctorItem::into_domain).transpose()?
                && let Some(cell) = DoctorItem::from_domain(&previous).geo_cell
            {
                by_cell.remove((cell.as_str(), item.id.as_str()))?;
            }
            if let Some(cell) = &item.geo_cell {
                by_cell.insert((cell.as_str(), item.id.as_str()), ())?;
            }
            let item = item.keeping_rating_of(previous.as_ref());
            doctors.insert(item.id.as_str(), encode(&item)?.as_slice())?;
            by_speciality.insert(
                (
                    item.country.as_str(),
                    item.speciality.as_str(),
                    item.id.as_str(),
                ),
                (),
            )?;
            Ok(if previous.is_some() {
                Upserted::Updated
            } else {
                Upserted::Created
            })
        })
        .await
    }

    async fn get_doctor(&self, id: &DoctorId) -> Result<Option<Doctor>, StoreError> {
        let id = id.to_string();
        let item: Option<DoctorItem> = self
            .read(move |txn| get_json(&txn.open_table(DOCTORS)?, id.as_str()))
            .await?;
        item.map(DoctorItem::into_domain).transpose()
    }

    async fn get_doctors(&self, ids: &[DoctorId]) -> Result<Vec<Doctor>, StoreError> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let items: Vec<DoctorItem> = self
            .read(move |txn| {
                let table = txn.open_table(DOCTORS)?;
                let mut found = Vec::with_capacity(ids.len());
                for id in &ids {
                    found.extend(get_json::<&str, DoctorItem>(&table, id.as_str())?);
                }
                Ok(found)
            })
            .await?;
        items.into_iter().map(DoctorItem::into_domain).collect()
    }

    async fn list_doctors(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        page: &PageRequest,
    ) -> Result<Page<Doctor>, StoreError> {
        let scope = format!("{}/doctors/{speciality}", country.code);
        let after: Option<String> = match &page.cursor {
            Some(raw) => Some(
                serde_json::from_value(cursor::decode(&scope, raw)?)
                    .map_err(|_| StoreError::InvalidCursor)?,
            ),
            None => None,
        };
        let (code, speciality, limit) = (country.code, speciality.to_string(), page.limit);
        let (items, next): (Vec<DoctorItem>, Option<String>) = self
            .read(move |txn| {
                let index = txn.open_table(DOCTORS_BY_SPECIALITY)?;
                let doctors = txn.open_table(DOCTORS)?;
                let partition = speciality.as_str();
                let first = after.as_deref().unwrap_or("");
                let mut ids = Vec::with_capacity(limit + 1);
                for entry in index.range((code, partition, first)..=(code, partition, MAX_KEY))? {
                    let (key, _) = entry?;
                    let id = key.value().2;
                    if after.as_deref() == Some(id) {
                        continue;
                    }
                    ids.push(id.to_owned());
                    if ids.len() > limit {
                        break;
                    }
                }
                let more = ids.len() > limit;
                ids.truncate(limit);
                let mut items = Vec::with_capacity(ids.len());
                for id in &ids {
                    items.extend(get_json::<&str, DoctorItem>(&doctors, id.as_str())?);
                }
                Ok((items, if more { ids.last().cloned() } else { None }))
            })
            .await?;
        Ok(Page {
            items: items
                .into_iter()
                .map(DoctorItem::into_domain)
                .collect::<Result<_, _>>()?,
            next_cursor: next.map(|id| cursor::encode(&scope, json!(id))),
        })
    }

    async fn doctors_in_cells(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        cells: &BTreeSet<String>,
        per_cell: usize,
    ) -> Result<Bounded<Doctor>, StoreError> {
        let partitions: Vec<String> = cells
            .iter()
            .map(|cell| citas_layout::keys::geo_cell(country, speciality, cell))
            .collect();
        let (items, complete): (Vec<DoctorItem>, bool) = self
            .read(move |txn| {
                let index = txn.open_table(DOCTORS_BY_GEO_CELL)?;
                let doctors = txn.open_table(DOCTORS)?;
                let (mut items, mut complete) = (Vec::new(), true);
                for partition in &partitions {
                    let cell = partition.as_str();
                    for (n, entry) in index.range((cell, "")..=(cell, MAX_KEY))?.enumerate() {
                        if n == per_cell {
                            complete = false;
                            break;
                        }
                        let (key, _) = entry?;
                        items.extend(get_json::<&str, DoctorItem>(&doctors, key.value().1)?);
                    }
                }
                Ok((items, complete))
            })
            .await?;
        Ok(Bounded {
            items: items
                .into_iter()
                .map(DoctorItem::into_domain)
                .collect::<Result<_, _>>()?,
            complete,
        })
    }

    async fn get_availability(
        &self,
        doctor: &DoctorId,
    ) -> Result<Option<Availability>, StoreError> {
        let id = doctor.to_string();
        let found: Option<(AvailabilityItem, u32)> = self
            .read(move |txn| {
                let item: Option<AvailabilityItem> =
                    get_json(&txn.open_table(PLANS)?, id.as_str())?;
                let hold: Option<PlanHold> = get_json(&txn.open_table(PLAN_HOLDS)?, id.as_str())?;
                Ok(item.map(|item| (item, hold.map_or(0, |h| h.revision))))
            })
            .await?;
        found
            .map(|(item, revision)| {
                item.into_domain().map(|availability| Availability {
                    revision,
                    ..availability
                })
            })
            .transpose()
    }

    async fn lease_plan(
        &self,
        doctor: &DoctorId,
        lease: &PlanLease,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (id, lease) = (doctor.to_string(), lease.clone());
        self.write(move |txn| {
            if txn.open_table(DOCTORS)?.get(id.as_str())?.is_none() {
                return Err(StoreError::NotFound.into());
            }
            let mut holds = txn.open_table(PLAN_HOLDS)?;
            let hold: PlanHold = get_json(&holds, id.as_str())?.unwrap_or_default();
            let held = hold.until.is_some_and(|until| until > now.as_second());
            if hold.revision != lease.revision || held {
                return Err(StoreError::PlanChanged.into());
            }
            let hold = PlanHold {
                revision: hold.revision,
                token: Some(lease.token),
                until: Some(lease.until.as_second()),
            };
            holds.insert(id.as_str(), encode(&hold)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn put_availability(
        &self,
        doctor: &DoctorId,
        availability: &Availability,
        lease: &PlanLease,
    ) -> Result<(), StoreError> {
        let (id, code) = (doctor.to_string(), doctor.country.code);
        let item = AvailabilityItem::from_domain(availability);
        let open = availability.is_open();
        let lease = lease.clone();
        self.write(move |txn| {
            let mut holds = txn.open_table(PLAN_HOLDS)?;
            let hold: PlanHold = get_json(&holds, id.as_str())?.unwrap_or_default();
            if hold.token.as_deref() != Some(lease.token.as_str()) {
                return Err(StoreError::PlanChanged.into());
            }
            let released = PlanHold {
                revision: lease.revision + 1,
                token: None,
                until: None,
            };
            holds.insert(id.as_str(), encode(&released)?.as_slice())?;
            let mut plans = txn.open_table(PLANS)?;
            let mut due = txn.open_table(PLANS_DUE)?;
            if let Some(previous) = get_json::<&str, AvailabilityItem>(&plans, id.as_str())? {
                due.remove((code, previous.generated_until.as_str(), id.as_str()))?;
            }
            plans.insert(id.as_str(), encode(&item)?.as_slice())?;
            if open {
                due.insert((code, item.generated_until.as_str(), id.as_str()), ())?;
            }
            Ok(())
        })
        .await
    }

    async fn availability_due(
        &self,
        country: &'static Country,
        through: Date,
        limit: usize,
    ) -> Result<Vec<(DoctorId, Availability)>, StoreError> {
        let (code, through) = (country.code, through.to_string());
        let found: Vec<(String, AvailabilityItem, u32)> = self
            .read(move |txn| {
                let due = txn.open_table(PLANS_DUE)?;
                let plans = txn.open_table(PLANS)?;
                let holds = txn.open_table(PLAN_HOLDS)?;
                let mut found = Vec::new();
                for entry in due
                    .range((code, "", "")..(code, through.as_str(), ""))?
                    .take(limit)
                {
                    let (key, _) = entry?;
                    let id = key.value().2;
                    if let Some(item) = get_json::<&str, AvailabilityItem>(&plans, id)? {
                        let hold: Option<PlanHold> = get_json(&holds, id)?;
                        found.push((id.to_owned(), item, hold.map_or(0, |h| h.revision)));
                    }
                }
                Ok(found)
            })
            .await?;
        found
            .into_iter()
            .map(|(id, item, revision)| {
                let doctor = DoctorId::parse(&id)
                    .map_err(|e| StoreError::Backend(format!("a plan's doctor id: {e}")))?;
                Ok((
                    doctor,
                    Availability {
                        revision,
                        ..item.into_domain()?
                    },
                ))
            })
            .collect()
    }
}

/// A plan's revision and the hold of the save in progress, if any.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct PlanHold {
    revision: u32,
    #[serde(default)]
    token: Option<String>,
    /// Epoch seconds after which the hold lapses.
    #[serde(default)]
    until: Option<i64>,
}

//! Doctors and their plans (the plan on the doctor's item, saved under a hold).

use std::collections::BTreeSet;

use citas_domain::ports::Bounded;
use futures::TryStreamExt;

use super::*;

/// Cell queries of one search in flight at once.
const CELL_QUERIES_IN_FLIGHT: usize = 8;

#[async_trait]
impl DoctorStore for DynamoStore {
    async fn put_doctor(&self, doctor: &Doctor) -> Result<Upserted, StoreError> {
        // An update, not a put: the plan stored beside the doctor stays.
        let mut item = to_item(&DoctorItem::from_domain(doctor))?;
        item.remove("id");
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut set = Vec::new();
        for (n, (name, value)) in item.into_iter().enumerate() {
            names.insert(format!("#a{n}"), name);
            values.insert(format!(":a{n}"), value);
            set.push(format!("#a{n} = :a{n}"));
        }
        let mut remove = Vec::new();
        // Attributes a doctor may no longer have: the update takes them out.
        for optional in [
            "email",
            "requires_confirmation",
            "price_amount",
            "price_currency",
            "modalities",
            "place",
            "languages",
            "bio",
            attribute::GEO_CELL,
        ] {
            if !names.values().any(|name| name == optional) {
                let placeholder = format!("#r{}", remove.len());
                remove.push(placeholder.clone());
                names.insert(placeholder, optional.to_owned());
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let output = self
            .client
            .update_item()
            .table_name(self.tables.doctor())
            .key("id", s(doctor.id.to_string()))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            // The whole item as it was: an update that changes no value is still one.
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        Ok(match output.attributes() {
            Some(old) if !old.is_empty() => Upserted::Updated,
            _ => Upserted::Created,
        })
    }

    async fn get_doctor(&self, id: &DoctorId) -> Result<Option<Doctor>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.doctor())
            .key("id", s(id.to_string()))
            .send()
            .await
            .map_err(backend)?;
        output
            .item
            .map(|item| from_item::<DoctorItem>(item)?.into_domain())
            .transpose()
    }

    async fn get_doctors(&self, ids: &[DoctorId]) -> Result<Vec<Doctor>, StoreError> {
        let keys = ids.iter().map(|id| ("id", id.to_string())).collect();
        self.batch_get(&self.tables.doctor(), keys)
            .await?
            .into_iter()
            .map(|item| from_item::<DoctorItem>(item)?.into_domain())
            .collect()
    }

    async fn list_doctors(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        page: &PageRequest,
    ) -> Result<Page<Doctor>, StoreError> {
        let page = ShardedIndex {
            client: &self.client,
            table: self.tables.doctor(),
            index: index::DOCTOR_BY_SPECIALITY,
            partition_attribute: "speciality",
            sort_attribute: "country",
            partitions: vec![speciality.to_string()],
            forward: true,
            scope: format!("{}/doctors/{speciality}", country.code),
            sort_between: Some((country.code.to_owned(), country.code.to_owned())),
            only_where: Vec::new(),
        }
        .page(page)
        .await?;
        page_of(page, |item| from_item::<DoctorItem>(item)?.into_domain())
    }

    async fn doctors_in_cells(
        &self,
        country: &'static Country,
        speciality: &Speciality,
        cells: &BTreeSet<String>,
        per_cell: usize,
    ) -> Result<Bounded<Doctor>, StoreError> {
        let limit = i32::try_from(per_cell + 1).unwrap_or(i32::MAX);
        let queries: Vec<_> = cells
            .iter()
            .map(|cell| {
                self.client
                    .query()
                    .table_name(self.tables.doctor())
                    .index_name(index::DOCTOR_BY_GEO_CELL)
                    .key_condition_expression("#cell = :cell")
                    .expression_attribute_names("#cell", attribute::GEO_CELL)
                    .expression_attribute_values(
                        ":cell",
                        s(keys::geo_cell(country, speciality, cell)),
                    )
                    .limit(limit)
            })
            .collect();
        let answers: Vec<(bool, Vec<Item>)> =
            stream::iter(queries.into_iter().map(|query| query.send()))
                .buffered(CELL_QUERIES_IN_FLIGHT)
                .map(|answer| match answer {
                    // A cell read to its end: no more than `per_cell`, and not cut at a megabyte.
                    Ok(output) => Ok((
                        output.last_evaluated_key.is_none(),
                        output.items.unwrap_or_default(),
                    )),
                    Err(error) => Err(backend(error)),
                })
                .try_collect()
                .await?;
        let complete = answers
            .iter()
            .all(|(whole, items)| *whole && items.len() <= per_cell);
        let doctors = answers
            .into_iter()
            .flat_map(|(_, items)| items.into_iter().take(per_cell))
            .map(|item| from_item::<DoctorItem>(item)?.into_domain())
            .collect::<Result<_, _>>()?;
        Ok(Bounded {
            items: doctors,
            complete,
        })
    }

    async fn get_availability(
        &self,
        doctor: &DoctorId,
    ) -> Result<Option<Availability>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.doctor())
            .key("id", s(doctor.to_string()))
            .projection_expression("#plan, #revision")
            .expression_attribute_names("#plan", AVAILABILITY)
            .expression_attribute_names("#revision", PLAN_REVISION)
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item.and_then(availability_of).transpose()
    }

    async fn lease_plan(
        &self,
        doctor: &DoctorId,
        lease: &PlanLease,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.tables.doctor())
            .key("id", s(doctor.to_string()))
            .update_expression("SET #lease = :token, #until = :until")
            // The plan read is still the stored one, and nobody holds it.
            .condition_expression(format!(
                "attribute_exists(id) AND {} AND (attribute_not_exists(#until) OR #until <= :now)",
                if lease.revision == 0 {
                    // A plan never saved has no revision yet (or one of 0).
                    "(attribute_not_exists(#revision) OR #revision = :revision)"
                } else {
                    "#revision = :revision"
                }
            ))
            .expression_attribute_names("#lease", PLAN_LEASE)
            .expression_attribute_names("#until", PLAN_LEASE_UNTIL)
            .expression_attribute_names("#revision", PLAN_REVISION)
            .expression_attribute_values(":token", s(&lease.token))
            .expression_attribute_values(":until", n(lease.until.as_second()))
            .expression_attribute_values(":revision", n(lease.revision))
            .expression_attribute_values(":now", n(now.as_second()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Err(if failed.item().is_some() {
                        StoreError::PlanChanged
                    } else {
                        StoreError::NotFound
                    })
                }
                _ => Err(backend(error)),
            },
        }
    }

    async fn put_availability(
        &self,
        doctor: &DoctorId,
        availability: &Availability,
        lease: &PlanLease,
    ) -> Result<(), StoreError> {
        let stored = serde_dynamo::to_attribute_value(AvailabilityItem::from_domain(availability))
            .map_err(backend)?;
        let mut values = HashMap::from([
            (":plan".to_owned(), stored),
            (
                ":until".to_owned(),
                s(availability.generated_until.to_string()),
            ),
            (":revision".to_owned(), n(lease.revision + 1)),
            (":token".to_owned(), s(&lease.token)),
        ]);
        // Only plans with days left to generate are in the daily job's index.
        let expression = if availability.is_open() {
            values.insert(":due".to_owned(), s(doctor.country.code));
            "SET #plan = :plan, #until = :until, #due = :due, #revision = :revision REMOVE #lease, #lease_until"
        } else {
            "SET #plan = :plan, #until = :until, #revision = :revision REMOVE #due, #lease, #lease_until"
        };
        let result = self
            .client
            .update_item()
            .table_name(self.tables.doctor())
            .key("id", s(doctor.to_string()))
            .update_expression(expression)
            .condition_expression("#lease = :token")
            .expression_attribute_names("#plan", AVAILABILITY)
            .expression_attribute_names("#until", GENERATED_UNTIL)
            .expression_attribute_names("#due", PLAN_DUE)
            .expression_attribute_names("#revision", PLAN_REVISION)
            .expression_attribute_names("#lease", PLAN_LEASE)
            .expression_attribute_names("#lease_until", PLAN_LEASE_UNTIL)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => Err(StoreError::PlanChanged),
            Err(error) => Err(backend(error)),
        }
    }

    async fn availability_due(
        &self,
        country: &'static Country,
        through: Date,
        limit: usize,
    ) -> Result<Vec<(DoctorId, Availability)>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(self.tables.doctor())
            .index_name(index::PLAN_DUE)
            .key_condition_expression("#due = :country AND #until < :through")
            .expression_attribute_names("#due", PLAN_DUE)
            .expression_attribute_names("#until", GENERATED_UNTIL)
            .expression_attribute_values(":country", s(country.code))
            .expression_attribute_values(":through", s(through.to_string()))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(backend)?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let doctor = item
                    .get("id")
                    .and_then(|id| id.as_s().ok())
                    .and_then(|id| DoctorId::parse(id).ok())
                    .ok_or_else(|| StoreError::Backend("a plan's doctor id is not valid".into()))?;
                let availability = availability_of(item)
                    .transpose()?
                    .ok_or_else(|| StoreError::Backend("a due plan has no availability".into()))?;
                Ok((doctor, availability))
            })
            .collect()
    }
}

/// A doctor item's plan, with the revision it is stored under.
pub(super) fn availability_of(mut item: Item) -> Option<Result<Availability, StoreError>> {
    let revision = item
        .get(PLAN_REVISION)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let plan = item.remove(AVAILABILITY)?;
    Some(
        serde_dynamo::from_attribute_value::<_, AvailabilityItem>(plan)
            .map_err(backend)
            .and_then(AvailabilityItem::into_domain)
            .map(|availability| Availability {
                revision,
                ..availability
            }),
    )
}

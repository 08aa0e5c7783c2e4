//! The specialities countries added.

use super::*;

#[async_trait]
impl CatalogueStore for DynamoStore {
    async fn added_specialities(
        &self,
        country: &'static Country,
    ) -> Result<Vec<OfferedSpeciality>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.tables.speciality())
            .key_condition_expression("country = :country")
            .expression_attribute_values(":country", s(country.code));
        query_all(query)
            .await?
            .into_iter()
            .map(|item| from_item::<SpecialityItem>(item)?.into_domain())
            .collect()
    }

    async fn add_speciality(
        &self,
        country: &'static Country,
        speciality: &OfferedSpeciality,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(self.tables.speciality())
            .set_item(Some(to_item(&SpecialityItem::from_domain(
                country, speciality,
            ))?))
            .condition_expression("attribute_not_exists(slug)")
            .send()
            .await;
        match result {
            // The first name given stays.
            Err(error) if !is_condition_failure(&error) => Err(backend(error)),
            _ => Ok(()),
        }
    }
}

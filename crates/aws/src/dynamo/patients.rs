//! Patients' records: one item per document in the country's patient table.

use super::*;

#[async_trait]
impl PatientStore for DynamoStore {
    async fn upsert_patient(
        &self,
        country: &Country,
        patient: &Patient,
    ) -> Result<Upserted, StoreError> {
        let output = self
            .client
            .put_item()
            .table_name(self.tables.patient(country))
            .set_item(Some(to_item(&PatientItem::from_domain(patient))?))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        Ok(match output.attributes() {
            Some(old) if !old.is_empty() => Upserted::Updated,
            _ => Upserted::Created,
        })
    }

    async fn get_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<Option<Patient>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.tables.patient(country))
            .key("document", s(document.as_str()))
            .send()
            .await
            .map_err(backend)?;
        output
            .item
            .map(|item| from_item::<PatientItem>(item)?.into_domain(country))
            .transpose()
    }

    async fn delete_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(self.tables.patient(country))
            .key("document", s(document.as_str()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        Ok(output.attributes().is_some_and(|old| !old.is_empty()))
    }
}

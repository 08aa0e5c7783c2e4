//! Patients' records.

use super::*;

#[async_trait]
impl PatientStore for EmbeddedStore {
    async fn upsert_patient(
        &self,
        country: &Country,
        patient: &Patient,
    ) -> Result<Upserted, StoreError> {
        let (code, item) = (country.code, PatientItem::from_domain(patient));
        self.write(move |txn| {
            let mut table = txn.open_table(PATIENTS)?;
            let previous =
                table.insert((code, item.document.as_str()), encode(&item)?.as_slice())?;
            Ok(if previous.is_some() {
                Upserted::Updated
            } else {
                Upserted::Created
            })
        })
        .await
    }

    async fn get_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<Option<Patient>, StoreError> {
        let (code, document) = (country.code, document.to_string());
        let item: Option<PatientItem> = self
            .read(move |txn| get_json(&txn.open_table(PATIENTS)?, (code, document.as_str())))
            .await?;
        item.map(|item| item.into_domain(country)).transpose()
    }

    async fn delete_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<bool, StoreError> {
        let (code, document) = (country.code, document.to_string());
        self.write(move |txn| {
            let removed = txn
                .open_table(PATIENTS)?
                .remove((code, document.as_str()))?
                .is_some();
            Ok(removed)
        })
        .await
    }
}

//! The specialities countries added.

use super::*;

#[async_trait]
impl CatalogueStore for EmbeddedStore {
    async fn added_specialities(
        &self,
        country: &'static Country,
    ) -> Result<Vec<OfferedSpeciality>, StoreError> {
        let items: Vec<SpecialityItem> = self
            .read(move |txn| {
                let table = txn.open_table(SPECIALITIES)?;
                let mut items = Vec::new();
                for entry in table.range((country.code, "")..=(country.code, MAX_KEY))? {
                    let (key, name) = entry?;
                    items.push(SpecialityItem {
                        country: country.code.to_owned(),
                        slug: key.value().1.to_owned(),
                        name: name.value().to_owned(),
                    });
                }
                Ok(items)
            })
            .await?;
        items.into_iter().map(SpecialityItem::into_domain).collect()
    }

    async fn add_speciality(
        &self,
        country: &'static Country,
        speciality: &OfferedSpeciality,
    ) -> Result<(), StoreError> {
        let item = SpecialityItem::from_domain(country, speciality);
        self.write(move |txn| {
            let mut table = txn.open_table(SPECIALITIES)?;
            let key = (item.country.as_str(), item.slug.as_str());
            // The first name given stays.
            if table.get(key)?.is_none() {
                table.insert(key, item.name.as_str())?;
            }
            Ok(())
        })
        .await
    }
}

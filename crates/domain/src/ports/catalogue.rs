//! The specialities a country offers beyond its built-in ones.

use async_trait::async_trait;

use super::StoreError;
use crate::scheduling::catalogue::OfferedSpeciality;
use crate::values::country::Country;

/// The speciality catalogue: what countries added by registering doctors.
#[async_trait]
pub trait CatalogueStore: Send + Sync {
    /// Specialities a country added to the catalogue (by registering a doctor).
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn added_specialities(
        &self,
        country: &'static Country,
    ) -> Result<Vec<OfferedSpeciality>, StoreError>;
    /// Adds a speciality unless the country has it already (the first name stays).
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn add_speciality(
        &self,
        country: &'static Country,
        speciality: &OfferedSpeciality,
    ) -> Result<(), StoreError>;
}

//! The patients' records.

use async_trait::async_trait;

use super::{StoreError, Upserted};
use crate::patient::Patient;
use crate::values::country::Country;
use crate::values::document::Document;

/// Patients' records, one per country and document.
#[async_trait]
pub trait PatientStore: Send + Sync {
    /// Creates or replaces a patient's record.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn upsert_patient(
        &self,
        country: &Country,
        patient: &Patient,
    ) -> Result<Upserted, StoreError>;
    /// A patient's record, if there is one.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn get_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<Option<Patient>, StoreError>;
    /// Deletes a patient's record; false when there was none.
    ///
    /// # Errors
    ///
    /// `Backend` when the store cannot be reached or holds an item it cannot read.
    async fn delete_patient(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<bool, StoreError>;
}

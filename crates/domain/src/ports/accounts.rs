//! The local identity provider's accounts and sessions (Cognito keeps them in AWS).

use async_trait::async_trait;

use super::StoreError;
use crate::account::{Account, Password, Session};
use crate::values::country::Country;
use crate::values::document::Document;
use crate::values::email::EmailAddress;

/// Why an account was not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountConflict {
    #[error("the username has an account")]
    UsernameTaken,
    #[error("the document has an account")]
    DocumentTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Accounts by username, with a patient's document (one account per
/// country and document) and the email as indexes kept in the same write.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates `account` if its username and (a patient's) document are
    /// free, or held by one of `replaced` at the revision read (those
    /// accounts are removed in the same write). Settled by the write's
    /// conditions: of two sign-ups at once for one document, one wins.
    ///
    /// # Errors
    /// `UsernameTaken` or `DocumentTaken`; `Store` when unreachable.
    async fn create_account(
        &self,
        account: &Account,
        replaced: &[Account],
    ) -> Result<(), AccountConflict>;
    /// # Errors
    /// `Backend` when unreachable.
    async fn get_account(&self, username: &str) -> Result<Option<Account>, StoreError>;
    /// The patient account of a country's document.
    ///
    /// # Errors
    /// `Backend` when unreachable.
    async fn account_of_document(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<Option<Account>, StoreError>;
    /// The accounts signed up with an address (a doctor registered in two
    /// countries may have two), in any capitals.
    ///
    /// # Errors
    /// `Backend` when unreachable.
    async fn accounts_with_email(&self, email: &EmailAddress) -> Result<Vec<Account>, StoreError>;
    /// Stores `next` if the account is still at `previous`'s revision;
    /// false when another write came first (read again and decide again).
    ///
    /// # Errors
    /// `Backend` when unreachable.
    async fn replace_account(&self, previous: &Account, next: &Account)
    -> Result<bool, StoreError>;
    /// # Errors
    /// `Backend` when unreachable.
    async fn put_session(&self, session: &Session) -> Result<(), StoreError>;
    /// # Errors
    /// `Backend` when unreachable.
    async fn get_session(&self, token_hash: &str) -> Result<Option<Session>, StoreError>;
    /// Ends a session; false when there was none.
    ///
    /// # Errors
    /// `Backend` when unreachable.
    async fn end_session(&self, token_hash: &str) -> Result<bool, StoreError>;
}

/// Hashes passwords and checks them (slow on purpose: run off the request's thread).
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// # Errors
    /// `Backend` when the hash cannot be made.
    async fn hash(&self, password: &Password) -> Result<String, StoreError>;
    /// Whether `attempt` is the password `stored` is the hash of. With no
    /// hash (an unknown user) it checks against a hash of its own and
    /// answers false, taking as long as a wrong password does.
    async fn verify(&self, attempt: &str, stored: Option<&str>) -> bool;
}

//! The local identity provider's accounts and sessions, in their own redb
//! file (`accounts.redb`): they play Cognito's user pool, a service apart
//! from the API's data, so the local server keeps them on either backend.
//! A patient's document and every address are index tables written in the
//! account's own transaction; redb's one writer at a time settles sign-ups
//! at once for one document the way DynamoDB's conditions would.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use citas_domain::account::{
    Account, AccountHolder, Confirmation, Password, Session, SignInFailures,
};
use citas_domain::ports::{AccountConflict, AccountStore, PasswordHasher, StoreError};
use citas_domain::{Country, DoctorDocument, Document, EmailAddress};
use jiff::Timestamp;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

/// username → account JSON ([`AccountRecord`]).
const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
/// (country, document) → the username of the patient account that holds it.
const DOCUMENTS: TableDefinition<(&str, &str), &str> = TableDefinition::new("account_documents");
/// (address in lower case, username).
const EMAILS: TableDefinition<(&str, &str), ()> = TableDefinition::new("account_emails");
/// refresh token hash → session JSON ([`SessionRecord`]).
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

/// Sorts after every username we store.
const MAX_KEY: &str = "\u{10FFFF}";

/// An account as this file stores it.
#[derive(Debug, Serialize, Deserialize)]
struct AccountRecord {
    subject: String,
    username: String,
    country: String,
    role: String,
    /// A patient's normalised document or a doctor's registry number.
    document: String,
    name: String,
    email: String,
    password_hash: String,
    confirmed: bool,
    #[serde(default)]
    code_hash: Option<String>,
    #[serde(default)]
    code_expires_at: Option<Timestamp>,
    #[serde(default)]
    wrong_codes: u32,
    failures_in_a_row: u32,
    #[serde(default)]
    locked_until: Option<Timestamp>,
    revision: u64,
    created_at: Timestamp,
}

impl AccountRecord {
    fn from_domain(account: &Account) -> Self {
        let (role, document) = match &account.holder {
            AccountHolder::Patient { document } => ("patient", document.to_string()),
            AccountHolder::Doctor { registry_number } => {
                ("doctor", registry_number.as_str().to_owned())
            }
        };
        let (confirmed, code_hash, code_expires_at, wrong_codes) = match &account.confirmation {
            Confirmation::Confirmed => (true, None, None, 0),
            Confirmation::Pending {
                code_hash,
                expires_at,
                wrong,
            } => (false, Some(code_hash.clone()), Some(*expires_at), *wrong),
        };
        Self {
            subject: account.subject.clone(),
            username: account.username.clone(),
            country: account.country.code.to_owned(),
            role: role.to_owned(),
            document,
            name: account.name.clone(),
            email: account.email.to_string(),
            password_hash: account.password_hash.clone(),
            confirmed,
            code_hash,
            code_expires_at,
            wrong_codes,
            failures_in_a_row: account.failures.in_a_row,
            locked_until: account.failures.locked_until,
            revision: account.revision,
            created_at: account.created_at,
        }
    }

    fn into_domain(self) -> Result<Account, StoreError> {
        let unreadable = |what: &str| {
            StoreError::Backend(format!(
                "account {}: its {what} is not readable",
                self.subject
            ))
        };
        let country = Country::from_code(&self.country).map_err(|_| unreadable("country"))?;
        let holder = match self.role.as_str() {
            "patient" => AccountHolder::Patient {
                document: country
                    .parse_document(&self.document)
                    .map_err(|_| unreadable("document"))?,
            },
            "doctor" => AccountHolder::Doctor {
                registry_number: DoctorDocument::parse(&self.document)
                    .map_err(|_| unreadable("registry number"))?,
            },
            _ => return Err(unreadable("role")),
        };
        let confirmation = match (self.confirmed, self.code_hash, self.code_expires_at) {
            (true, _, _) => Confirmation::Confirmed,
            (false, Some(code_hash), Some(expires_at)) => Confirmation::Pending {
                code_hash,
                expires_at,
                wrong: self.wrong_codes,
            },
            _ => return Err(unreadable("confirmation code")),
        };
        Ok(Account {
            email: EmailAddress::parse(&self.email).map_err(|_| unreadable("email"))?,
            subject: self.subject,
            username: self.username,
            country,
            holder,
            name: self.name,
            password_hash: self.password_hash,
            confirmation,
            failures: SignInFailures {
                in_a_row: self.failures_in_a_row,
                locked_until: self.locked_until,
            },
            revision: self.revision,
            created_at: self.created_at,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionRecord {
    username: String,
    expires_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Conflict(AccountConflict),
    #[error("accounts database: {0}")]
    Database(#[from] redb::Error),
    #[error("stored account data is not readable: {0}")]
    Data(#[from] serde_json::Error),
}

macro_rules! redb_failure {
    ($($error:ty),*) => {$(
        impl From<$error> for Failure {
            fn from(error: $error) -> Self {
                Failure::Database(error.into())
            }
        }
    )*};
}

redb_failure!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<Failure> for AccountConflict {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Conflict(conflict) => conflict,
            other => AccountConflict::Store(StoreError::Backend(other.to_string())),
        }
    }
}

fn store_error(conflict: AccountConflict) -> StoreError {
    match conflict {
        AccountConflict::Store(error) => error,
        other => StoreError::Backend(other.to_string()),
    }
}

/// The accounts file of a data directory.
#[derive(Clone)]
pub struct AccountFile {
    db: Arc<Database>,
}

impl AccountFile {
    /// Opens (or creates) `accounts.redb` under `data_dir`, readable by its owner only.
    ///
    /// # Errors
    /// The directory or the database cannot be opened.
    pub fn open(data_dir: &Path) -> Result<Self, crate::store::OpenError> {
        use crate::store::OpenError;
        crate::private::create_dir(data_dir).map_err(|source| OpenError::Directory {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join("accounts.redb");
        let database_error = |source: redb::Error| OpenError::Database {
            path: path.display().to_string(),
            source,
        };
        let db = Database::create(&path).map_err(|e| database_error(e.into()))?;
        crate::private::restrict_file(&path).map_err(|source| OpenError::Directory {
            path: path.display().to_string(),
            source,
        })?;
        let txn = db.begin_write().map_err(|e| database_error(e.into()))?;
        let created: Result<(), redb::Error> = (|| {
            txn.open_table(ACCOUNTS)?;
            txn.open_table(DOCUMENTS)?;
            txn.open_table(EMAILS)?;
            txn.open_table(SESSIONS)?;
            Ok(())
        })();
        created.map_err(database_error)?;
        txn.commit().map_err(|e| database_error(e.into()))?;
        Ok(Self { db: Arc::new(db) })
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&redb::ReadTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db.begin_read()?))
            .await
            .map_err(|e| StoreError::Backend(format!("accounts task failed: {e}")))?
            .map_err(|failure| store_error(failure.into()))
    }

    /// Runs `work` in one write transaction, committed only if it succeeds.
    async fn write<T, F>(&self, work: F) -> Result<T, AccountConflict>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write()?;
            match work(&txn) {
                Ok(value) => {
                    txn.commit()?;
                    Ok(value)
                }
                Err(failure) => {
                    txn.abort()?;
                    Err(failure)
                }
            }
        })
        .await
        .map_err(|e| StoreError::Backend(format!("accounts task failed: {e}")))?
        .map_err(AccountConflict::from)
    }
}

fn get_record(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    username: &str,
) -> Result<Option<AccountRecord>, Failure> {
    match table.get(username)? {
        Some(guard) => Ok(Some(serde_json::from_slice(guard.value())?)),
        None => Ok(None),
    }
}

/// Writes a record and its index entries.
fn put_record(txn: &WriteTransaction, record: &AccountRecord) -> Result<(), Failure> {
    txn.open_table(ACCOUNTS)?.insert(
        record.username.as_str(),
        serde_json::to_vec(record)?.as_slice(),
    )?;
    if record.role == "patient" {
        txn.open_table(DOCUMENTS)?.insert(
            (record.country.as_str(), record.document.as_str()),
            record.username.as_str(),
        )?;
    }
    txn.open_table(EMAILS)?.insert(
        (
            record.email.to_lowercase().as_str(),
            record.username.as_str(),
        ),
        (),
    )?;
    Ok(())
}

/// Removes a record and its index entries.
fn remove_record(txn: &WriteTransaction, record: &AccountRecord) -> Result<(), Failure> {
    txn.open_table(ACCOUNTS)?.remove(record.username.as_str())?;
    if record.role == "patient" {
        let mut documents = txn.open_table(DOCUMENTS)?;
        let key = (record.country.as_str(), record.document.as_str());
        let holder = documents.get(key)?.map(|guard| guard.value().to_owned());
        if holder.as_deref() == Some(record.username.as_str()) {
            documents.remove(key)?;
        }
    }
    txn.open_table(EMAILS)?.remove((
        record.email.to_lowercase().as_str(),
        record.username.as_str(),
    ))?;
    Ok(())
}

#[async_trait]
impl AccountStore for AccountFile {
    async fn create_account(
        &self,
        account: &Account,
        replaced: &[Account],
    ) -> Result<(), AccountConflict> {
        let record = AccountRecord::from_domain(account);
        let replaced: Vec<(String, u64)> = replaced
            .iter()
            .map(|old| (old.username.clone(), old.revision))
            .collect();
        self.write(move |txn| {
            let is_replaced = |stored: &AccountRecord| {
                replaced.iter().any(|(username, revision)| {
                    *username == stored.username && *revision == stored.revision
                })
            };
            let mut to_remove = Vec::new();
            if let Some(stored) = get_record(&txn.open_table(ACCOUNTS)?, &record.username)? {
                if !is_replaced(&stored) {
                    return Err(Failure::Conflict(AccountConflict::UsernameTaken));
                }
                to_remove.push(stored);
            }
            if record.role == "patient" {
                let holder = txn
                    .open_table(DOCUMENTS)?
                    .get((record.country.as_str(), record.document.as_str()))?
                    .map(|guard| guard.value().to_owned());
                if let Some(holder) = holder.filter(|holder| *holder != record.username) {
                    let stored = get_record(&txn.open_table(ACCOUNTS)?, &holder)?;
                    match stored {
                        Some(stored) if is_replaced(&stored) => to_remove.push(stored),
                        Some(_) => return Err(Failure::Conflict(AccountConflict::DocumentTaken)),
                        None => {}
                    }
                }
            }
            for stored in &to_remove {
                remove_record(txn, stored)?;
            }
            put_record(txn, &record)
        })
        .await
    }

    async fn get_account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let username = username.to_owned();
        self.read(move |txn| get_record(&txn.open_table(ACCOUNTS)?, &username))
            .await?
            .map(AccountRecord::into_domain)
            .transpose()
    }

    async fn account_of_document(
        &self,
        country: &Country,
        document: &Document,
    ) -> Result<Option<Account>, StoreError> {
        let (code, document) = (country.code, document.to_string());
        self.read(move |txn| {
            let holder = txn
                .open_table(DOCUMENTS)?
                .get((code, document.as_str()))?
                .map(|guard| guard.value().to_owned());
            match holder {
                Some(username) => get_record(&txn.open_table(ACCOUNTS)?, &username),
                None => Ok(None),
            }
        })
        .await?
        .map(AccountRecord::into_domain)
        .transpose()
    }

    async fn accounts_with_email(&self, email: &EmailAddress) -> Result<Vec<Account>, StoreError> {
        let address = email.as_str().to_lowercase();
        self.read(move |txn| {
            let accounts = txn.open_table(ACCOUNTS)?;
            let mut found = Vec::new();
            for entry in txn
                .open_table(EMAILS)?
                .range((address.as_str(), "")..=(address.as_str(), MAX_KEY))?
            {
                let (key, _) = entry?;
                if let Some(record) = get_record(&accounts, key.value().1)? {
                    found.push(record);
                }
            }
            Ok(found)
        })
        .await?
        .into_iter()
        .map(AccountRecord::into_domain)
        .collect()
    }

    async fn replace_account(
        &self,
        previous: &Account,
        next: &Account,
    ) -> Result<bool, StoreError> {
        let (username, revision) = (previous.username.clone(), previous.revision);
        let record = AccountRecord::from_domain(next);
        self.write(move |txn| {
            let stored = get_record(&txn.open_table(ACCOUNTS)?, &username)?;
            match stored {
                Some(stored) if stored.revision == revision => {
                    remove_record(txn, &stored)?;
                    put_record(txn, &record)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
        .map_err(store_error)
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let hash = session.token_hash.clone();
        let record = SessionRecord {
            username: session.username.clone(),
            expires_at: session.expires_at,
        };
        self.write(move |txn| {
            txn.open_table(SESSIONS)?
                .insert(hash.as_str(), serde_json::to_vec(&record)?.as_slice())?;
            Ok(())
        })
        .await
        .map_err(store_error)
    }

    async fn get_session(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        let hash = token_hash.to_owned();
        let record: Option<SessionRecord> = self
            .read(
                move |txn| match txn.open_table(SESSIONS)?.get(hash.as_str())? {
                    Some(guard) => Ok(Some(serde_json::from_slice(guard.value())?)),
                    None => Ok(None),
                },
            )
            .await?;
        Ok(record.map(|record| Session {
            token_hash: token_hash.to_owned(),
            username: record.username,
            expires_at: record.expires_at,
        }))
    }

    async fn end_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let hash = token_hash.to_owned();
        self.write(move |txn| Ok(txn.open_table(SESSIONS)?.remove(hash.as_str())?.is_some()))
            .await
            .map_err(store_error)
    }
}

/// Argon2id behind the [`PasswordHasher`] port, off the request's thread.
pub struct Argon2Passwords {
    /// Checked when the user is unknown, so that answer takes as long as a wrong password.
    decoy: Arc<str>,
    /// Hashes at once (19 MiB each): one per core, so requests at once
    /// that need no token cannot take all the memory or every blocking thread.
    permits: Arc<tokio::sync::Semaphore>,
}

impl Argon2Passwords {
    /// # Errors
    /// The decoy hash cannot be made (no random source).
    pub fn new() -> Result<Self, crate::passwords::HashError> {
        let decoy = Password::parse(&format!("Decoy-{}", uuid::Uuid::new_v4()))
            .map_err(|weak| crate::passwords::HashError::new(weak.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Ok(Self {
            decoy: crate::passwords::hash(&decoy)?.into(),
            permits: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }
}

#[async_trait]
impl PasswordHasher for Argon2Passwords {
    async fn hash(&self, password: &Password) -> Result<String, StoreError> {
        let password = password.clone();
        let permit = self.permits.clone().acquire_owned().await;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            crate::passwords::hash(&password)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("hashing task failed: {e}")))?
        .map_err(|e| StoreError::Backend(e.to_string()))
    }

    async fn verify(&self, attempt: &str, stored: Option<&str>) -> bool {
        let known = stored.is_some();
        let stored: Arc<str> = stored.map_or_else(|| self.decoy.clone(), Arc::from);
        let attempt = attempt.to_owned();
        let permit = self.permits.clone().acquire_owned().await;
        let matches = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            crate::passwords::verify(&attempt, &stored)
        })
        .await
        .unwrap_or(false);
        known && matches
    }
}

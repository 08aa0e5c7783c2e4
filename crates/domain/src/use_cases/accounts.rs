//! The local identity provider's use cases: sign up, confirm with the
//! emailed code, sign in, refresh and sign out (Cognito does these in AWS,
//! with the same rules through its triggers); and who a caller is.

use std::sync::Arc;

use super::doctors::doctor_records;
use crate::Services;
use crate::access::{Caller, Identity, Role, require_country};
use crate::account::{
    Account, AccountHolder, CodeRefused, ConfirmationCode, Confirming, DoctorSignUp,
    NotARegisteredDoctor, PatientSignUp, PoolUser, PoolUsernameRefused, RefreshToken,
    SignUpRefused, SignUpRole, TooManyAttempts, claims_registration, patient_username,
};
use crate::error::DomainError;
use crate::patient::Patient;
use crate::ports::{AccountConflict, AccountStore, PasswordHasher, StoreError};
use crate::values::country::Country;
use crate::values::document::Document;
use crate::values::email::EmailAddress;
use crate::values::ids::DoctorDocument;
use crate::values::ids::DoctorId;
use crate::values::text::{MAX_TEXT_LEN, clean_text};
use crate::verification::{CODES_PER_DAY, CodePurpose, VerificationEmail};

/// What the identity provider adds to the services.
#[derive(Clone)]
pub struct AccountServices {
    pub accounts: Arc<dyn AccountStore>,
    pub passwords: Arc<dyn PasswordHasher>,
}

/// Why an account use case refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    SignUp(#[from] SignUpRefused),
    #[error(transparent)]
    NotARegisteredDoctor(#[from] NotARegisteredDoctor),
    /// A user pool username that names no patient or doctor.
    #[error("{0}")]
    Username(String),
    /// Whose it is is not said.
    #[error("this document already has an account in this country")]
    DocumentTaken,
    #[error(
        "there is an account with this username already: sign in, or ask for a new code (POST /auth/resend-code) if it is not confirmed"
    )]
    AccountExists,
    #[error(transparent)]
    Code(#[from] CodeRefused),
    /// Unknown user, wrong password or wrong document alike.
    #[error("the sign-in details are not right")]
    InvalidCredentials,
    #[error(
        "the account's email is not confirmed yet: send the code emailed at sign-up to /auth/confirm"
    )]
    NotConfirmed,
    #[error(transparent)]
    TooManyAttempts(#[from] TooManyAttempts),
    #[error("the refresh token is not valid: it expired, or its session was signed out")]
    InvalidRefreshToken,
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        Self::Domain(error.into())
    }
}

/// A sign-up, parsed.
#[derive(Debug, Clone)]
pub enum SignUp {
    Patient(PatientSignUp),
    Doctor(DoctorSignUp),
}

/// A sign-in as it arrives: a patient gives their document as a second fact.
#[derive(Debug, Clone)]
pub enum SignIn {
    Patient {
        email: String,
        document: String,
        password: String,
    },
    Doctor {
        username: String,
        password: String,
    },
}

/// Writes decided again when another request changed the account meanwhile.
const DECIDE_AGAIN: usize = 8;

/// `POST /auth/sign-up`: an unconfirmed account, and its code emailed. The
/// cheap refusals come first; the password is hashed only for a sign-up
/// that may be stored.
///
/// # Errors
/// `NotARegisteredDoctor`, `DocumentTaken`, `AccountExists`; too many codes today.
pub async fn sign_up(
    services: &Services,
    ids: &AccountServices,
    signup: SignUp,
) -> Result<Account, AccountError> {
    let now = services.now();
    let (country, username, email) = match &signup {
        SignUp::Patient(patient) => (
            patient.country,
            patient_username(&patient.email),
            &patient.email,
        ),
        SignUp::Doctor(doctor) => (doctor.country, doctor.username(), &doctor.email),
    };
    let registered = match &signup {
        SignUp::Patient(patient) => {
            may_claim_document(services, country, &patient.document, email).await?;
            None
        }
        SignUp::Doctor(doctor) => {
            Some(registration_claimed(services, country, &doctor.registry_number, email).await?)
        }
    };
    let mut holders = Vec::new();
    holders.extend(ids.accounts.get_account(&username).await?);
    if let SignUp::Patient(patient) = &signup
        && let Some(holder) = ids
            .accounts
            .account_of_document(country, &patient.document)
            .await?
        && holders
            .iter()
            .all(|known| known.username != holder.username)
    {
        holders.push(holder);
    }
    // Names held by an account whose code has not expired stay its own
    // (a pending one gets a new code with /auth/resend-code).
    for holder in &holders {
        if holder.holds_its_names(now) {
            return Err(if holder.username == username {
                AccountError::AccountExists
            } else {
                AccountError::DocumentTaken
            });
        }
    }
    let counted = services
        .verifier
        .count_code(email, country.local_date(now), CODES_PER_DAY, now)
        .await?;
    if !counted {
        return Err(DomainError::TooManyCodes {
            limit: CODES_PER_DAY,
            retry_after: country.until_midnight(now),
        }
        .into());
    }
    let code = ConfirmationCode::random();
    let account = match (&signup, &registered) {
        (SignUp::Patient(patient), _) => {
            let hash = ids.passwords.hash(&patient.password).await?;
            Account::patient(patient, hash, &code, now)
        }
        (SignUp::Doctor(doctor), Some(registered)) => {
            let hash = ids.passwords.hash(&doctor.password).await?;
            Account::doctor(doctor, registered, hash, &code, now)
        }
        (SignUp::Doctor(_), None) => return Err(NotARegisteredDoctor.into()),
    };
    ids.accounts
        .create_account(&account, &holders)
        .await
        .map_err(|conflict| match conflict {
            AccountConflict::UsernameTaken => AccountError::AccountExists,
            AccountConflict::DocumentTaken => AccountError::DocumentTaken,
            AccountConflict::Store(error) => error.into(),
        })?;
    // Sent once the account is stored: if sending fails, /auth/resend-code
    // sends a new one.
    send_confirmation_code(services, &account, &code, now).await?;
    tracing::info!(
        country = account.country.code,
        role = account.role().as_str(),
        "account signed up"
    );
    Ok(account)
}

async fn send_confirmation_code(
    services: &Services,
    account: &Account,
    code: &ConfirmationCode,
    now: jiff::Timestamp,
) -> Result<(), AccountError> {
    let email = VerificationEmail {
        country: account.country,
        name: account.name.clone(),
        to: account.email.clone(),
        code: code.expose().to_owned(),
        expires_at: now.checked_add(Account::CODE_LASTS).unwrap_or(now),
        purpose: CodePurpose::SignUp,
    };
    services
        .verifier
        .send_code(&email)
        .await
        .map_err(|e| DomainError::Unavailable(format!("confirmation email: {e}")))?;
    Ok(())
}

/// `POST /auth/resend-code`: a new code for each unconfirmed account of the
/// address (the one before is void), within the address's codes a day.
/// An address with no such account, or with its codes for today sent, is
/// no error, and nothing is sent: the answer says nothing of which
/// addresses have accounts.
///
/// # Errors
/// The store's or the mailer's failures.
pub async fn resend_code(
    services: &Services,
    ids: &AccountServices,
    email: &EmailAddress,
) -> Result<(), AccountError> {
    let now = services.now();
    for account in ids.accounts.accounts_with_email(email).await? {
        let mut current = account;
        for _ in 0..DECIDE_AGAIN {
            let code = ConfirmationCode::random();
            let Ok(renewed) = current.with_new_code(&code, now) else {
                break;
            };
            let counted = services
                .verifier
                .count_code(email, current.country.local_date(now), CODES_PER_DAY, now)
                .await?;
            if !counted {
                // Said to no one: the answer is the same for every address.
                tracing::info!("no new code: the address had its codes for today");
                return Ok(());
            }
            if ids.accounts.replace_account(&current, &renewed).await? {
                send_confirmation_code(services, &renewed, &code, now).await?;
                break;
            }
            match ids.accounts.get_account(&current.username).await? {
                Some(reread) => current = reread,
                None => break,
            }
        }
    }
    Ok(())
}

/// `POST /auth/confirm`: the emailed code confirms the account; a patient's
/// record is created or completed with the confirmed address, so
/// notifications reach them.
///
/// # Errors
/// `Code` when no unconfirmed account of the address takes the code.
pub async fn confirm(
    services: &Services,
    ids: &AccountServices,
    email: &EmailAddress,
    code: &str,
) -> Result<Account, AccountError> {
    for _ in 0..DECIDE_AGAIN {
        let now = services.now();
        let accounts = ids.accounts.accounts_with_email(email).await?;
        if !accounts.is_empty() && accounts.iter().all(Account::is_confirmed) {
            return Err(CodeRefused::AlreadyConfirmed.into());
        }
        let mut changed_meanwhile = false;
        for account in accounts.iter().filter(|account| !account.is_confirmed()) {
            match account.confirm(code, now) {
                Confirming::Confirmed(confirmed) => {
                    // The record first: confirming again after a failure here
                    // finds the account still unconfirmed and does both. The
                    // claim is checked again: staff may have given the
                    // record an address since the sign-up.
                    if let AccountHolder::Patient { document } = &confirmed.holder {
                        may_claim_document(services, confirmed.country, document, &confirmed.email)
                            .await?;
                        complete_patient_record(
                            services,
                            confirmed.country,
                            document,
                            &confirmed.name,
                            &confirmed.email,
                        )
                        .await?;
                    }
                    if ids.accounts.replace_account(account, &confirmed).await? {
                        tracing::info!(
                            country = confirmed.country.code,
                            role = confirmed.role().as_str(),
                            "account confirmed"
                        );
                        return Ok(confirmed);
                    }
                    changed_meanwhile = true;
                }
                Confirming::Wrong(counted) => {
                    // Every wrong code is counted, however many arrive at
                    // once: a lost write is decided again on what won.
                    if !ids.accounts.replace_account(account, &counted).await? {
                        changed_meanwhile = true;
                    }
                }
                Confirming::Refused(_) => {}
            }
        }
        if !changed_meanwhile {
            return Err(CodeRefused::Invalid.into());
        }
    }
    Err(DomainError::Contended.into())
}

/// The patient's record with the account's name (unless staff gave one)
/// and its address, verified by the code. Idempotent: Cognito retries.
async fn complete_patient_record(
    services: &Services,
    country: &'static Country,
    document: &Document,
    name: &str,
    email: &EmailAddress,
) -> Result<(), AccountError> {
    let stored = services.store.get_patient(country, document).await?;
    let patient = match stored {
        Some(stored) => Patient {
            email: Some(email.clone()),
            email_verified: true,
            verification: None,
            ..stored
        },
        None => Patient {
            document: document.clone(),
            name: name.to_owned(),
            email: Some(email.clone()),
            email_verified: true,
            verification: None,
        },
    };
    services.store.upsert_patient(country, &patient).await?;
    Ok(())
}

/// Whether a patient's sign-up may claim their document: a record whose
/// address is known to reach its patient (staff entered it, or its code
/// came back) is claimed only from that address, so nobody else takes that
/// patient's document into a token.
async fn may_claim_document(
    services: &Services,
    country: &'static Country,
    document: &Document,
    email: &EmailAddress,
) -> Result<(), AccountError> {
    let record = services.store.get_patient(country, document).await?;
    if record
        .as_ref()
        .and_then(Patient::reachable_email)
        .is_some_and(|known| !known.as_str().eq_ignore_ascii_case(email.as_str()))
    {
        return Err(AccountError::DocumentTaken);
    }
    Ok(())
}

/// `POST /auth/sign-in`: the account and a new session's refresh token.
/// The attempt is counted as a failure before the password is checked (and
/// forgotten once it is right), so attempts at once cannot check more than
/// the lockout allows.
///
/// # Errors
/// `TooManyAttempts` while the account waits (before the password);
/// `InvalidCredentials`; `NotConfirmed` after a right password.
pub async fn sign_in(
    services: &Services,
    ids: &AccountServices,
    request: &SignIn,
) -> Result<(Account, RefreshToken), AccountError> {
    let (username, password, role) = match request {
        SignIn::Patient {
            email, password, ..
        } => (
            EmailAddress::parse(email)
                .map(|email| patient_username(&email))
                .unwrap_or_default(),
            password,
            Role::Patient,
        ),
        SignIn::Doctor { username, password } => {
            (username.trim().to_lowercase(), password, Role::Doctor)
        }
    };
    let found = if username.is_empty() {
        None
    } else {
        ids.accounts.get_account(&username).await?
    };
    let Some(mut account) = found.filter(|account| account.role() == role) else {
        // As long as a wrong password takes: the answer's time tells nothing.
        ids.passwords.verify(password, None).await;
        return Err(AccountError::InvalidCredentials);
    };
    let now = services.now();
    let mut attempted = None;
    for _ in 0..DECIDE_AGAIN {
        let counted = account.sign_in_attempted(now)?;
        if ids.accounts.replace_account(&account, &counted).await? {
            attempted = Some(counted);
            break;
        }
        account = reread(ids, &account).await?;
    }
    let mut account = attempted.ok_or(DomainError::Contended)?;
    let password_right = ids
        .passwords
        .verify(password, Some(account.password_hash.as_str()))
        .await;
    if !(password_right && second_fact_holds(&account, request)) {
        return Err(AccountError::InvalidCredentials);
    }
    for _ in 0..DECIDE_AGAIN {
        let reset = account.signed_in();
        if ids.accounts.replace_account(&account, &reset).await? {
            if !reset.is_confirmed() {
                return Err(AccountError::NotConfirmed);
            }
            return open_session(ids, reset, now).await;
        }
        account = reread(ids, &account).await?;
    }
    Err(DomainError::Contended.into())
}

/// The account as stored now (another request changed it meanwhile).
async fn reread(ids: &AccountServices, account: &Account) -> Result<Account, AccountError> {
    ids.accounts
        .get_account(&account.username)
        .await?
        .ok_or(AccountError::InvalidCredentials)
}

/// A patient's document, parsed with their country's rules, is theirs.
fn second_fact_holds(account: &Account, request: &SignIn) -> bool {
    match (request, &account.holder) {
        (SignIn::Patient { document, .. }, AccountHolder::Patient { document: own }) => account
            .country
            .parse_document(document)
            .is_ok_and(|given| &given == own),
        (SignIn::Doctor { .. }, AccountHolder::Doctor { .. }) => true,
        _ => false,
    }
}

async fn open_session(
    ids: &AccountServices,
    account: Account,
    now: jiff::Timestamp,
) -> Result<(Account, RefreshToken), AccountError> {
    let token = RefreshToken::random();
    ids.accounts
        .put_session(&token.session(&account, now))
        .await?;
    tracing::info!(
        country = account.country.code,
        role = account.role().as_str(),
        "signed in"
    );
    Ok((account, token))
}

/// `POST /auth/refresh`: the account of a session still open.
///
/// # Errors
/// `InvalidRefreshToken` when the session expired or was signed out.
pub async fn refresh(
    services: &Services,
    ids: &AccountServices,
    token: &RefreshToken,
) -> Result<Account, AccountError> {
    let now = services.now();
    let session = ids
        .accounts
        .get_session(&token.hash())
        .await?
        .filter(|session| session.expires_at > now)
        .ok_or(AccountError::InvalidRefreshToken)?;
    ids.accounts
        .get_account(&session.username)
        .await?
        .filter(Account::is_confirmed)
        .ok_or(AccountError::InvalidRefreshToken)
}

/// `POST /auth/sign-out`: the session ends; its refresh token stops working.
/// Ending one that is not open is no error (a retried sign-out).
///
/// # Errors
/// The store's.
pub async fn sign_out(ids: &AccountServices, token: &RefreshToken) -> Result<(), AccountError> {
    ids.accounts.end_session(&token.hash()).await?;
    Ok(())
}

/// `GET /{country}/me`: who the token says the caller is, with the name and
/// address on their record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub role: Role,
    pub country: &'static Country,
    pub identity: Identity,
    /// A doctor's records (one per speciality).
    pub doctor_ids: Vec<DoctorId>,
    pub name: Option<String>,
    pub email: Option<EmailAddress>,
}

/// # Errors
/// `Denied` when the token is of another country.
pub async fn who_am_i(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
) -> Result<Me, DomainError> {
    require_country(caller, country)?;
    let mut me = Me {
        role: caller.role(),
        country,
        identity: caller.identity.clone(),
        doctor_ids: Vec::new(),
        name: None,
        email: None,
    };
    match &caller.identity {
        Identity::Patient(document) => {
            if let Some(patient) = services.store.get_patient(country, document).await? {
                me.name = Some(patient.name);
                me.email = patient.email;
            }
        }
        Identity::Doctor(registry_number) => {
            let records = doctor_records(services, country, registry_number).await?;
            if let Some(first) = records.first() {
                me.name = Some(first.name.clone());
                me.email = first.email.clone();
            }
            me.doctor_ids = records.into_iter().map(|record| record.id).collect();
        }
        Identity::Admin => {}
    }
    Ok(me)
}

/// The doctor's record whose registration (country, registry number and
/// the email staff gave) a sign-up from `email` claims.
async fn registration_claimed(
    services: &Services,
    country: &'static Country,
    registry_number: &DoctorDocument,
    email: &EmailAddress,
) -> Result<crate::scheduling::doctor::Doctor, AccountError> {
    doctor_records(services, country, registry_number)
        .await?
        .into_iter()
        .find(|record| claims_registration(record, country, registry_number, email).is_ok())
        .ok_or_else(|| NotARegisteredDoctor.into())
}

/// What a Cognito sign-up carries besides its username.
#[derive(Debug, Clone, Default)]
pub struct PoolSignUp {
    pub email: String,
    pub name: Option<String>,
    /// `role` from the sign-up's client metadata or validation data, if sent.
    pub role: Option<String>,
}

/// The pre sign-up trigger's rules: the username names a patient with a
/// valid document of their country or a doctor the insurer registered with
/// this email; nobody signs up as an admin. (The pool's unique usernames
/// keep one account per document; its password policy is Cognito's.)
///
/// # Errors
/// The refusal, said as the local provider says it.
pub async fn check_pool_sign_up(
    services: &Services,
    username: &str,
    signup: &PoolSignUp,
) -> Result<PoolUser, AccountError> {
    let user = PoolUser::parse(username).map_err(pool_refusal)?;
    if let Some(role) = &signup.role
        && SignUpRole::parse(role)?.as_role() != user.role()
    {
        return Err(SignUpRefused::Role.into());
    }
    let email = EmailAddress::parse(&signup.email).map_err(SignUpRefused::Email)?;
    match &user.holder {
        AccountHolder::Patient { document } => {
            let name = signup.name.as_deref().unwrap_or_default();
            clean_text(name, MAX_TEXT_LEN).map_err(SignUpRefused::Name)?;
            may_claim_document(services, user.country, document, &email).await?;
        }
        AccountHolder::Doctor { registry_number } => {
            registration_claimed(services, user.country, registry_number, &email).await?;
        }
    }
    Ok(user)
}

/// A username that names nobody, said as a sign-up's refusal.
fn pool_refusal(refused: PoolUsernameRefused) -> AccountError {
    match refused {
        PoolUsernameRefused::SignUp(refused) => refused.into(),
        other => AccountError::Username(other.to_string()),
    }
}

/// Joins a confirmed user to their group and gives them their country and
/// document, as only the pool's administrators may (the app client may write neither).
#[async_trait::async_trait]
pub trait UserDirectory: Send + Sync {
    /// Idempotent: Cognito retries a trigger that timed out.
    ///
    /// # Errors
    /// `Backend` when the user pool cannot be reached.
    async fn enrol(
        &self,
        user_pool: &str,
        username: &str,
        user: &PoolUser,
    ) -> Result<(), StoreError>;
}

/// The post confirmation trigger: a patient's record is created or
/// completed with the confirmed address; the user joins their group with
/// their country and document. Every step may run again.
///
/// # Errors
/// A username that names nobody; the store's or the pool's failures.
pub async fn confirm_pool_user(
    services: &Services,
    directory: &dyn UserDirectory,
    user_pool: &str,
    username: &str,
    signup: &PoolSignUp,
) -> Result<PoolUser, AccountError> {
    let user = PoolUser::parse(username).map_err(pool_refusal)?;
    if let AccountHolder::Patient { document } = &user.holder {
        let email = EmailAddress::parse(&signup.email).map_err(SignUpRefused::Email)?;
        // Checked again: staff may have given the record an address since the
        // sign-up (the user is then confirmed but in no group: no token of
        // theirs names a country or a document).
        may_claim_document(services, user.country, document, &email).await?;
        let name = signup.name.clone().unwrap_or_default();
        complete_patient_record(services, user.country, document, &name, &email).await?;
    }
    directory.enrol(user_pool, username, &user).await?;
    tracing::info!(
        country = user.country.code,
        role = user.role().as_str(),
        "user pool account confirmed"
    );
    Ok(user)
}

/// The pre authentication trigger's second fact: a patient's sign-in
/// carries their document (any written form). Users whose username names
/// no patient (doctors, staff) need none.
///
/// # Errors
/// `InvalidCredentials` when the document is missing or someone else's.
pub fn check_second_fact(username: &str, document: Option<&str>) -> Result<(), AccountError> {
    let Ok(PoolUser {
        country,
        holder: AccountHolder::Patient { document: own },
    }) = PoolUser::parse(username)
    else {
        return Ok(());
    };
    document
        .and_then(|given| country.parse_document(given).ok())
        .filter(|given| *given == own)
        .map(|_| ())
        .ok_or(AccountError::InvalidCredentials)
}

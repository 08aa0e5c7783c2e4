//! Accounts: who may sign themselves up, with what, and when signing in
//! must wait. One set of rules for the Cognito triggers and the local
//! identity provider (issue 25; the stores and routes that use them come next).

use std::fmt;

use jiff::{SignedDuration, Timestamp};

use crate::scheduling::doctor::Doctor;
use crate::values::country::Country;
use crate::values::document::{Document, DocumentError};
use crate::values::email::EmailAddress;
use crate::values::ids::{DoctorDocument, InvalidDoctorDocument};
use crate::values::text::{InvalidText, MAX_TEXT_LEN, clean_text};

/// A password that meets Cognito's default policy. Its text is never
/// shown: `Debug` prints a placeholder, so a logged value leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// Which rule of the password policy a password breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("a password has at least {} characters", Password::MIN_LENGTH)]
    TooShort,
    #[error("a password has at most {} characters", Password::MAX_LENGTH)]
    TooLong,
    #[error("a password has a lower-case letter")]
    NoLowercase,
    #[error("a password has an upper-case letter")]
    NoUppercase,
    #[error("a password has a digit")]
    NoDigit,
    #[error("a password has a symbol, such as ! ? @ # $ % & * - _")]
    NoSymbol,
    #[error("a password neither starts nor ends with a space")]
    SpaceAtAnEnd,
}

impl Password {
    /// Cognito's default policy: 8 characters at least, 256 at most.
    pub const MIN_LENGTH: usize = 8;
    pub const MAX_LENGTH: usize = 256;
    /// The characters Cognito counts as symbols (a space counts inside the password).
    const SYMBOLS: &'static str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ";

    /// Checks the policy in a fixed order, so the first rule broken is named.
    ///
    /// # Errors
    /// The rule the password breaks.
    pub fn parse(raw: &str) -> Result<Self, WeakPassword> {
        let length = raw.chars().count();
        if length < Self::MIN_LENGTH {
            return Err(WeakPassword::TooShort);
        }
        if length > Self::MAX_LENGTH {
            return Err(WeakPassword::TooLong);
        }
        if raw.starts_with(' ') || raw.ends_with(' ') {
            return Err(WeakPassword::SpaceAtAnEnd);
        }
        if !raw.chars().any(|c| c.is_lowercase()) {
            return Err(WeakPassword::NoLowercase);
        }
        if !raw.chars().any(|c| c.is_uppercase()) {
            return Err(WeakPassword::NoUppercase);
        }
        if !raw.chars().any(|c| c.is_ascii_digit()) {
            return Err(WeakPassword::NoDigit);
        }
        if !raw.chars().any(|c| Self::SYMBOLS.contains(c)) {
            return Err(WeakPassword::NoSymbol);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The text, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// Who signs up. Admins never do: staff accounts are made by staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUpRole {
    Patient,
    Doctor,
}

/// Why a sign-up is refused before any store is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignUpRefused {
    #[error("the role must be patient or doctor (staff accounts are made by staff)")]
    Role,
    #[error("invalid document: {0}")]
    Document(#[from] DocumentError),
    #[error("invalid registry number: {0}")]
    RegistryNumber(#[from] InvalidDoctorDocument),
    #[error("the name {0}")]
    Name(InvalidText),
    #[error("the email {0}")]
    Email(InvalidText),
    #[error(transparent)]
    Password(#[from] WeakPassword),
}

impl SignUpRole {
    /// The group an account of this role joins.
    pub fn as_role(self) -> crate::access::Role {
        match self {
            Self::Patient => crate::access::Role::Patient,
            Self::Doctor => crate::access::Role::Doctor,
        }
    }

    /// # Errors
    /// `Role` for `admin` and anything not a role.
    pub fn parse(raw: &str) -> Result<Self, SignUpRefused> {
        match raw {
            "patient" => Ok(Self::Patient),
            "doctor" => Ok(Self::Doctor),
            _ => Err(SignUpRefused::Role),
        }
    }
}

/// A patient's sign-up, its fields parsed with their country's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientSignUp {
    pub country: &'static Country,
    /// Normalised (a RUT in any of its written forms is one document).
    pub document: Document,
    pub name: String,
    pub email: EmailAddress,
    pub password: Password,
}

impl PatientSignUp {
    /// # Errors
    /// The first field that breaks its rule.
    pub fn parse(
        country: &'static Country,
        document: &str,
        name: &str,
        email: &str,
        password: &str,
    ) -> Result<Self, SignUpRefused> {
        Ok(Self {
            country,
            document: country.parse_document(document)?,
            name: clean_text(name, MAX_TEXT_LEN).map_err(SignUpRefused::Name)?,
            email: EmailAddress::parse(email).map_err(SignUpRefused::Email)?,
            password: Password::parse(password)?,
        })
    }
}

/// A doctor claiming the account the insurer's registration allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorSignUp {
    pub country: &'static Country,
    pub registry_number: DoctorDocument,
    pub email: EmailAddress,
    pub password: Password,
}

/// The sign-up names no doctor the insurer registered in that country with
/// that email (which of the two is not said: it would tell a stranger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no doctor is registered with this registry number and email in this country")]
pub struct NotARegisteredDoctor;

impl DoctorSignUp {
    /// # Errors
    /// The first field that breaks its rule.
    pub fn parse(
        country: &'static Country,
        registry_number: &str,
        email: &str,
        password: &str,
    ) -> Result<Self, SignUpRefused> {
        Ok(Self {
            country,
            registry_number: DoctorDocument::parse(registry_number)?,
            email: EmailAddress::parse(email).map_err(SignUpRefused::Email)?,
            password: Password::parse(password)?,
        })
    }

    /// The sign-in name: registry numbers repeat across countries, so the
    /// country comes first (`pe-9999234`).
    pub fn username(&self) -> String {
        doctor_username(self.country, &self.registry_number)
    }

    /// Whether `registered` (one of the doctor's records, any speciality)
    /// lets this sign-up claim the account: same country and registry
    /// number, and the email the insurer registered (letter case aside).
    ///
    /// # Errors
    /// `NotARegisteredDoctor` otherwise, or when no email was registered.
    pub fn claims(&self, registered: &Doctor) -> Result<(), NotARegisteredDoctor> {
        claims_registration(registered, self.country, &self.registry_number, &self.email)
    }
}

/// Whether `registered` is the record a claim of a country's registry
/// number from `email` names (the address staff gave, letter case aside).
///
/// # Errors
/// `NotARegisteredDoctor` otherwise, or when no email was registered.
pub fn claims_registration(
    registered: &Doctor,
    country: &Country,
    registry_number: &DoctorDocument,
    email: &EmailAddress,
) -> Result<(), NotARegisteredDoctor> {
    let same_doctor =
        registered.id.country == country && registered.id.document == *registry_number;
    let same_email = registered
        .email
        .as_ref()
        .is_some_and(|known| known.as_str().eq_ignore_ascii_case(email.as_str()));
    if same_doctor && same_email {
        Ok(())
    } else {
        Err(NotARegisteredDoctor)
    }
}

/// A doctor's sign-in name in a country.
pub fn doctor_username(country: &Country, registry_number: &DoctorDocument) -> String {
    format!("{}-{}", country.code, registry_number.as_str())
}

/// Failed sign-ins in a row, and until when the account waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignInFailures {
    pub in_a_row: u32,
    pub locked_until: Option<Timestamp>,
}

/// The account waits: sign in again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed sign-ins: try again in {} s", (retry_after.as_millis() + 999) / 1000)]
pub struct TooManyAttempts {
    pub retry_after: SignedDuration,
}

impl SignInFailures {
    /// Failures in a row from which the account waits after each one.
    pub const ALLOWED: u32 = 5;
    /// The first wait; each failure after it doubles the wait, up to `LONGEST_WAIT`.
    pub const FIRST_WAIT: SignedDuration = SignedDuration::from_secs(60);
    pub const LONGEST_WAIT: SignedDuration = SignedDuration::from_secs(15 * 60);

    /// Whether a sign-in may be tried at `now` (checked before the password,
    /// so a waiting account learns nothing of a right guess).
    ///
    /// # Errors
    /// `TooManyAttempts` with how long is left to wait.
    pub fn check(&self, now: Timestamp) -> Result<(), TooManyAttempts> {
        match self.locked_until {
            Some(until) if until > now => Err(TooManyAttempts {
                retry_after: until.duration_since(now),
            }),
            _ => Ok(()),
        }
    }

    /// The record after one more wrong password at `now`.
    #[must_use]
    pub fn failed(self, now: Timestamp) -> Self {
        let in_a_row = self.in_a_row.saturating_add(1);
        let locked_until = (in_a_row >= Self::ALLOWED).then(|| {
            let doublings = (in_a_row - Self::ALLOWED).min(10);
            let wait = Self::FIRST_WAIT
                .checked_mul(1 << doublings)
                .unwrap_or(Self::LONGEST_WAIT)
                .min(Self::LONGEST_WAIT);
            now.checked_add(wait).unwrap_or(now)
        });
        Self {
            in_a_row,
            locked_until,
        }
    }

    /// A right password starts the count again.
    #[must_use]
    pub fn succeeded(self) -> Self {
        Self::default()
    }
}

/// Whose account it is: what the ID token's `custom:document` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountHolder {
    Patient { document: Document },
    Doctor { registry_number: DoctorDocument },
}

impl AccountHolder {
    /// The group of whoever holds the account.
    pub fn role(&self) -> crate::access::Role {
        match self {
            Self::Patient { .. } => crate::access::Role::Patient,
            Self::Doctor { .. } => crate::access::Role::Doctor,
        }
    }

    /// What the ID token's `custom:document` holds.
    pub fn document_claim(&self) -> &str {
        match self {
            Self::Patient { document } => document.as_str(),
            Self::Doctor { registry_number } => registry_number.as_str(),
        }
    }
}

/// A 6-digit code, as Cognito's: emailed at sign-up, kept only as a hash.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfirmationCode(String);

impl ConfirmationCode {
    /// A fresh code from the operating system's randomness (a v4 UUID's 122 bits).
    pub fn random() -> Self {
        let n = uuid::Uuid::new_v4().as_u128() % 1_000_000;
        Self(format!("{n:06}"))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ConfirmationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConfirmationCode(…)")
    }
}

/// Whether the account's email has been confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed,
    Pending {
        code_hash: String,
        expires_at: Timestamp,
        /// Wrong codes tried; at [`Account::WRONG_CODES_ALLOWED`] the code is void.
        wrong: u32,
    },
}

impl Confirmation {
    /// Awaiting `code`, sent at `now`: only its hash is kept.
    fn awaiting(code: &ConfirmationCode, now: Timestamp) -> Self {
        Self::Pending {
            code_hash: crate::verification::hash(code.expose()),
            expires_at: now.checked_add(Account::CODE_LASTS).unwrap_or(now),
            wrong: 0,
        }
    }
}

/// An account of the local identity provider (Cognito's user, in AWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The ID token's `sub`: fixed for the account's life.
    pub subject: String,
    /// A patient's email in lower case; a doctor's `{country}-{registry}`.
    pub username: String,
    pub country: &'static Country,
    pub holder: AccountHolder,
    pub name: String,
    pub email: EmailAddress,
    /// Argon2id, as a PHC string.
    pub password_hash: String,
    pub confirmation: Confirmation,
    pub failures: SignInFailures,
    /// Counts stored changes: each write is conditional on the one it read.
    pub revision: u64,
    pub created_at: Timestamp,
}

/// Why a confirmation code is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefused {
    #[error(
        "the code is not the one sent, or it has expired, or too many wrong ones were tried; ask for a new one (POST /auth/resend-code)"
    )]
    Invalid,
    #[error("the account is confirmed already")]
    AlreadyConfirmed,
}

/// What a confirmation attempt leaves to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirming {
    /// The right code: the account may sign in from now on.
    Confirmed(Account),
    /// A wrong one, counted.
    Wrong(Account),
    /// Nothing to store.
    Refused(CodeRefused),
}

impl Account {
    /// How long a confirmation code may be used (Cognito's: 24 hours).
    pub const CODE_LASTS: SignedDuration = SignedDuration::from_hours(24);
    /// Wrong codes after which the code is void: a 6-digit code is not
    /// guessed in so few tries.
    pub const WRONG_CODES_ALLOWED: u32 = 5;

    /// A patient's unconfirmed account.
    pub fn patient(
        signup: &PatientSignUp,
        password_hash: String,
        code: &ConfirmationCode,
        now: Timestamp,
    ) -> Self {
        Self::unconfirmed(
            patient_username(&signup.email),
            signup.country,
            AccountHolder::Patient {
                document: signup.document.clone(),
            },
            signup.name.clone(),
            signup.email.clone(),
            password_hash,
            code,
            now,
        )
    }

    /// A doctor's unconfirmed account, named as the registered doctor is.
    pub fn doctor(
        signup: &DoctorSignUp,
        registered: &Doctor,
        password_hash: String,
        code: &ConfirmationCode,
        now: Timestamp,
    ) -> Self {
        Self::unconfirmed(
            signup.username(),
            signup.country,
            AccountHolder::Doctor {
                registry_number: signup.registry_number.clone(),
            },
            registered.name.clone(),
            signup.email.clone(),
            password_hash,
            code,
            now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn unconfirmed(
        username: String,
        country: &'static Country,
        holder: AccountHolder,
        name: String,
        email: EmailAddress,
        password_hash: String,
        code: &ConfirmationCode,
        now: Timestamp,
    ) -> Self {
        Self {
            subject: uuid::Uuid::new_v4().to_string(),
            username,
            country,
            holder,
            name,
            email,
            password_hash,
            confirmation: Confirmation::awaiting(code, now),
            failures: SignInFailures::default(),
            revision: 0,
            created_at: now,
        }
    }

    pub fn role(&self) -> crate::access::Role {
        self.holder.role()
    }

    /// What the ID token's `custom:document` says.
    pub fn document_claim(&self) -> &str {
        self.holder.document_claim()
    }

    pub fn is_confirmed(&self) -> bool {
        self.confirmation == Confirmation::Confirmed
    }

    /// Whether the account still holds its username and document: once
    /// confirmed, for good; unconfirmed, until its latest code expires, so an
    /// abandoned sign-up blocks nobody for long (and wrong codes tried by
    /// someone else free nothing).
    pub fn holds_its_names(&self, now: Timestamp) -> bool {
        match &self.confirmation {
            Confirmation::Confirmed => true,
            Confirmation::Pending { expires_at, .. } => *expires_at > now,
        }
    }

    /// The account after `code` is tried.
    pub fn confirm(&self, code: &str, now: Timestamp) -> Confirming {
        let Confirmation::Pending {
            code_hash,
            expires_at,
            wrong,
        } = &self.confirmation
        else {
            return Confirming::Refused(CodeRefused::AlreadyConfirmed);
        };
        if *expires_at <= now || *wrong >= Self::WRONG_CODES_ALLOWED {
            return Confirming::Refused(CodeRefused::Invalid);
        }
        if *code_hash == crate::verification::hash(code.trim()) {
            Confirming::Confirmed(self.next(|account| {
                account.confirmation = Confirmation::Confirmed;
            }))
        } else {
            let wrong = wrong.saturating_add(1);
            Confirming::Wrong(self.next(|account| {
                if let Confirmation::Pending { wrong: count, .. } = &mut account.confirmation {
                    *count = wrong;
                }
            }))
        }
    }

    /// The account with a sign-in attempt counted as a failure, before its
    /// password is checked: however many attempts arrive at once, each is
    /// counted by a conditional write before it is checked, so at most
    /// [`SignInFailures::ALLOWED`] are checked before the account waits.
    ///
    /// # Errors
    /// `TooManyAttempts` while the account waits.
    pub fn sign_in_attempted(&self, now: Timestamp) -> Result<Account, TooManyAttempts> {
        self.failures.check(now)?;
        Ok(self.next(|account| {
            account.failures = account.failures.failed(now);
        }))
    }

    /// The account after a right password (and second fact): the count
    /// starts again. Whether it may sign in is [`Account::is_confirmed`],
    /// told only after a right password, as Cognito does.
    #[must_use]
    pub fn signed_in(&self) -> Account {
        self.next(|account| {
            account.failures = account.failures.succeeded();
        })
    }

    /// The unconfirmed account with a new code (the one before is void).
    ///
    /// # Errors
    /// `AlreadyConfirmed`.
    pub fn with_new_code(
        &self,
        code: &ConfirmationCode,
        now: Timestamp,
    ) -> Result<Account, CodeRefused> {
        if self.is_confirmed() {
            return Err(CodeRefused::AlreadyConfirmed);
        }
        Ok(self.next(|account| {
            account.confirmation = Confirmation::awaiting(code, now);
        }))
    }

    fn next(&self, change: impl FnOnce(&mut Account)) -> Account {
        let mut next = self.clone();
        change(&mut next);
        next.revision = self.revision.saturating_add(1);
        next
    }
}

/// A patient's sign-in name: their email, in lower case.
pub fn patient_username(email: &EmailAddress) -> String {
    email.as_str().to_lowercase()
}

/// A signed-in session: what a refresh token names (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub username: String,
    pub expires_at: Timestamp,
}

/// A refresh token: 244 random bits, shown once to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// How long a refresh token may be used (Cognito's default: 30 days).
    pub const LASTS: SignedDuration = SignedDuration::from_hours(30 * 24);

    pub fn random() -> Self {
        Self(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ))
    }

    pub fn from_client(raw: &str) -> Self {
        Self(raw.trim().to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        crate::verification::hash(&self.0)
    }

    /// The session this token opens at `now` for `account`.
    pub fn session(&self, account: &Account, now: Timestamp) -> Session {
        Session {
            token_hash: self.hash(),
            username: account.username.clone(),
            expires_at: now.checked_add(Self::LASTS).unwrap_or(now),
        }
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(…)")
    }
}

/// A user of the Cognito user pool, as its username says: a doctor is
/// `{country}-{registry number}`; a patient `{country}-patient-{document}`
/// (the document normalised), so the pool's unique usernames make a
/// document one account per country, and the triggers read who a user is
/// from the username alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUser {
    pub country: &'static Country,
    pub holder: AccountHolder,
}

/// Why a pool username names nobody who may sign themselves up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolUsernameRefused {
    #[error(
        "the username is {{country}}-patient-{{document}} for a patient or {{country}}-{{registry number}} for a doctor"
    )]
    Shape,
    #[error(transparent)]
    Country(#[from] crate::values::country::UnsupportedCountry),
    #[error(transparent)]
    SignUp(#[from] SignUpRefused),
    #[error("write the document as {normalised} in the username")]
    NotNormalised { normalised: String },
}

impl PoolUser {
    const PATIENT: &'static str = "patient-";

    /// # Errors
    /// The username's shape, country, document or registry number.
    pub fn parse(username: &str) -> Result<Self, PoolUsernameRefused> {
        let (code, rest) = username.split_once('-').ok_or(PoolUsernameRefused::Shape)?;
        let country = Country::from_code(&code.to_ascii_lowercase())?;
        let holder = match rest
            .get(..Self::PATIENT.len())
            .filter(|start| start.eq_ignore_ascii_case(Self::PATIENT))
        {
            Some(_) => {
                let written = &rest[Self::PATIENT.len()..];
                let document = country
                    .parse_document(written)
                    .map_err(SignUpRefused::from)?;
                if !document.as_str().eq_ignore_ascii_case(written) {
                    return Err(PoolUsernameRefused::NotNormalised {
                        normalised: format!("{}-patient-{document}", country.code),
                    });
                }
                AccountHolder::Patient { document }
            }
            None => AccountHolder::Doctor {
                registry_number: DoctorDocument::parse(rest).map_err(SignUpRefused::from)?,
            },
        };
        Ok(Self { country, holder })
    }

    pub fn username(&self) -> String {
        match &self.holder {
            AccountHolder::Patient { document } => {
                format!("{}-{}{document}", self.country.code, Self::PATIENT)
            }
            AccountHolder::Doctor { registry_number } => {
                doctor_username(self.country, registry_number)
            }
        }
    }

    /// The group the user joins on confirmation.
    pub fn role(&self) -> crate::access::Role {
        self.holder.role()
    }

    /// What `custom:document` holds.
    pub fn document_claim(&self) -> &str {
        self.holder.document_claim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{at, doctor};
    use crate::values::country::{CHILE, PERU};

    const GOOD: &str = "Secreto-2026";

    #[test]
    fn each_rule_of_the_password_policy_is_named() {
        let cases = [
            ("Ab1-", WeakPassword::TooShort),
            (" Secreto-2026", WeakPassword::SpaceAtAnEnd),
            ("SECRETO-2026", WeakPassword::NoLowercase),
            ("secreto-2026", WeakPassword::NoUppercase),
            ("Secreto-dosmil", WeakPassword::NoDigit),
            ("Secreto2026", WeakPassword::NoSymbol),
        ];
        for (password, rule) in cases {
            assert_eq!(Password::parse(password), Err(rule), "{password}");
        }
        let long = format!("Aa1-{}", "x".repeat(Password::MAX_LENGTH));
        assert_eq!(Password::parse(&long), Err(WeakPassword::TooLong));
        assert!(Password::parse(GOOD).is_ok());
        assert!(
            Password::parse("Se creto 2026").is_ok(),
            "a space inside is a symbol"
        );
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let signup = PatientSignUp::parse(&PERU, "12345678", "Ana", "ana@example.com", GOOD)
            .expect("a valid sign-up");
        assert!(!format!("{signup:?}").contains(GOOD));
    }

    #[test]
    fn nobody_signs_up_as_staff() {
        assert_eq!(SignUpRole::parse("admin"), Err(SignUpRefused::Role));
        assert_eq!(SignUpRole::parse("Patient"), Err(SignUpRefused::Role));
        assert_eq!(SignUpRole::parse("doctor"), Ok(SignUpRole::Doctor));
    }

    #[test]
    fn a_chilean_rut_is_one_document_in_its_three_written_forms() {
        let check = crate::values::document::rut_check_digit(12_345_678);
        let written = [
            format!("12.345.678-{check}"),
            format!("12345678-{check}"),
            format!("12345678{check}"),
        ];
        let documents: Vec<Document> = written
            .iter()
            .map(|rut| {
                PatientSignUp::parse(&CHILE, rut, "Ana", "ana@example.com", GOOD)
                    .expect("a valid RUT")
                    .document
            })
            .collect();
        assert_eq!(documents[0], documents[1]);
        assert_eq!(documents[1], documents[2]);
        let wrong = if check == '0' { '1' } else { '0' };
        assert!(matches!(
            PatientSignUp::parse(
                &CHILE,
                &format!("12.345.678-{wrong}"),
                "Ana",
                "ana@example.com",
                GOOD
            ),
            Err(SignUpRefused::Document(_))
        ));
    }

    #[test]
    fn a_doctor_claims_only_the_registration_with_their_email() {
        let mut registered = doctor(&PERU, "cardiologia", "9999234");
        registered.email = Some(EmailAddress::parse("Dra.Rosa@Clinica.pe").expect("an address"));
        let signup = |country: &'static Country, registry: &str, email: &str| {
            DoctorSignUp::parse(country, registry, email, GOOD).expect("a valid sign-up")
        };
        assert_eq!(
            signup(&PERU, "9999234", "dra.rosa@clinica.pe").claims(&registered),
            Ok(())
        );
        for (country, registry, email) in [
            (&PERU, "9999234", "otra@clinica.pe"),
            (&PERU, "9999235", "dra.rosa@clinica.pe"),
            (&CHILE, "9999234", "dra.rosa@clinica.pe"),
        ] {
            assert_eq!(
                signup(country, registry, email).claims(&registered),
                Err(NotARegisteredDoctor),
                "{country} {registry} {email}"
            );
        }
        registered.email = None;
        assert_eq!(
            signup(&PERU, "9999234", "dra.rosa@clinica.pe").claims(&registered),
            Err(NotARegisteredDoctor)
        );
    }

    #[test]
    fn registry_numbers_repeat_across_countries_so_usernames_name_the_country() {
        let peru = DoctorSignUp::parse(&PERU, "9999234", "a@b.pe", GOOD).expect("valid");
        let chile = DoctorSignUp::parse(&CHILE, "9999234", "a@b.cl", GOOD).expect("valid");
        assert_eq!(peru.username(), "pe-9999234");
        assert_eq!(chile.username(), "cl-9999234");
    }

    #[test]
    fn five_failures_in_a_row_make_the_account_wait_and_each_more_doubles_the_wait() {
        let now = at("2026-12-04T10:00:00Z");
        let mut failures = SignInFailures::default();
        for _ in 0..SignInFailures::ALLOWED - 1 {
            failures = failures.failed(now);
            assert_eq!(failures.check(now), Ok(()));
        }
        failures = failures.failed(now);
        assert_eq!(
            failures.check(now),
            Err(TooManyAttempts {
                retry_after: SignedDuration::from_secs(60)
            })
        );
        assert_eq!(failures.check(at("2026-12-04T10:01:00Z")), Ok(()));
        failures = failures.failed(at("2026-12-04T10:01:00Z"));
        assert_eq!(
            failures.check(at("2026-12-04T10:01:00Z")),
            Err(TooManyAttempts {
                retry_after: SignedDuration::from_secs(120)
            })
        );
        for _ in 0..20 {
            failures = failures.failed(now);
        }
        assert_eq!(
            failures.check(now),
            Err(TooManyAttempts {
                retry_after: SignInFailures::LONGEST_WAIT
            })
        );
        assert_eq!(failures.succeeded().check(now), Ok(()));
    }

    #[test]
    fn pool_usernames_say_who_signs_up() {
        let check = crate::values::document::rut_check_digit(16_543_210);
        let rut = format!("16543210-{check}");
        let patient = PoolUser::parse(&format!("cl-patient-{rut}")).expect("a patient");
        assert_eq!(patient.role(), crate::access::Role::Patient);
        assert_eq!(patient.document_claim(), rut);
        assert_eq!(patient.username(), format!("cl-patient-{rut}"));
        let doctor = PoolUser::parse("pe-9999234").expect("a doctor");
        assert_eq!(
            (doctor.role(), doctor.document_claim(), doctor.username()),
            (
                crate::access::Role::Doctor,
                "9999234",
                "pe-9999234".to_owned()
            )
        );
        assert!(matches!(
            PoolUser::parse("cl-patient-16.543.210-K"),
            Err(PoolUsernameRefused::NotNormalised { .. })
        ));
        assert!(matches!(
            PoolUser::parse("pe-patient-12"),
            Err(PoolUsernameRefused::SignUp(SignUpRefused::Document(_)))
        ));
        assert!(matches!(
            PoolUser::parse("xx-9999234"),
            Err(PoolUsernameRefused::Country(_))
        ));
        assert_eq!(
            PoolUser::parse("ana@example.pe"),
            Err(PoolUsernameRefused::Shape)
        );
    }
}

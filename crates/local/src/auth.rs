//! Bearer tokens on a laptop: what Cognito issues and API Gateway's JWT
//! authorizer verifies in AWS. `citas token` signs one (HS256, with a secret
//! kept in the data directory); the local server verifies signature, expiry,
//! issuer and audience, and hands the handlers the claims in the very shape
//! API Gateway does (`requestContext.authorizer.jwt.claims`, strings only).

use std::collections::HashMap;
use std::path::Path;

use citas_domain::access::claim;
use citas_domain::account::Account;
use citas_domain::{Country, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};

pub const ISSUER: &str = "citas-local";
pub const AUDIENCE: &str = "citas-frontend";
const SECRET_FILE: &str = "token-secret";
/// How long an ID token of the local identity provider lasts (Cognito's default).
pub const ID_TOKEN_LASTS: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);
/// Seconds of clock skew tolerated on `exp`.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token: send Authorization: Bearer <token>")]
    Missing,
    #[error("the Authorization header is not a bearer token")]
    NotBearer,
    #[error("the token has expired")]
    Expired,
    /// Why, in the API's terms (never a library's message).
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the token signing secret: {0}")]
    Secret(#[from] citas_embedded::private::SecretError),
    #[error("the token cannot be signed: {0}")]
    Signing(String),
}

/// What a token says about its holder.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub role: Role,
    pub country: &'static Country,
    pub document: Option<String>,
    /// How long it is valid; negative makes an expired token (for tests).
    pub ttl: jiff::SignedDuration,
}

/// Signs and verifies the local server's tokens. Keys and rules are built
/// once: verifying is on every request's path.
#[derive(Clone)]
pub struct TokenAuthority {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenAuthority {
    /// The authority of a data directory: its secret is created on first use
    /// (readable by its owner only) and kept, so tokens outlive restarts.
    pub fn open(data_dir: &Path) -> Result<Self, AuthError> {
        let secret = citas_embedded::private::secret_file(&data_dir.join(SECRET_FILE))?;
        Ok(Self::from_secret(&secret))
    }

    pub fn from_secret(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// A signed token with Cognito's claim names.
    pub fn mint(&self, request: &TokenRequest) -> Result<String, AuthError> {
        let now = jiff::Timestamp::now().as_second();
        let mut claims = json!({
            claim::SUBJECT: uuid::Uuid::new_v4().to_string(),
            claim::GROUPS: [request.role.as_str()],
            claim::COUNTRY: request.country.code,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + request.ttl.as_secs(),
            "token_use": "id",
        });
        if let (Some(document), Some(map)) = (&request.document, claims.as_object_mut()) {
            map.insert(claim::DOCUMENT.into(), json!(document));
        }
        self.sign(&claims)
    }

    /// An ID token of a signed-in account, with the claims Cognito's ID
    /// tokens carry: its fixed `sub`, its group, country and document,
    /// its (confirmed) email and its username.
    pub fn mint_for(&self, account: &Account) -> Result<String, AuthError> {
        let now = jiff::Timestamp::now().as_second();
        self.sign(&json!({
            claim::SUBJECT: account.subject,
            claim::GROUPS: [account.role().as_str()],
            claim::COUNTRY: account.country.code,
            claim::DOCUMENT: account.document_claim(),
            "email": account.email.as_str(),
            "email_verified": true,
            "cognito:username": account.username,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "auth_time": now,
            "exp": now + ID_TOKEN_LASTS.as_secs(),
            "token_use": "id",
        }))
    }

    fn sign(&self, claims: &Value) -> Result<String, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Signing(e.to_string()))
    }

    /// Verifies an `Authorization` header value; returns the claims as API Gateway passes them.
    pub fn verify(
        &self,
        authorization: Option<&str>,
    ) -> Result<HashMap<String, String>, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::NotBearer)?;
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &self.validation)
                .map_err(|error| refusal(error.kind()))?;
        Ok(data
            .claims
            .into_iter()
            .map(|(name, value)| (name, gateway_string(value)))
            .collect())
    }
}

/// What was wrong with a token, said as the API says it.
fn refusal(kind: &jsonwebtoken::errors::ErrorKind) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    AuthError::Invalid(match kind {
        ErrorKind::ExpiredSignature => return AuthError::Expired,
        ErrorKind::InvalidSignature => "the token's signature is not valid",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidIssuer => "the token was not issued by this service",
        ErrorKind::InvalidAudience => "the token is not meant for this API",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token is not signed with the expected algorithm"
        }
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        _ => "the token is malformed: expected a signed JWT (header.payload.signature)",
    })
}

/// API Gateway's rendering of a claim: strings as they are, arrays as `[a b]`.
fn gateway_string(value: Value) -> String {
    match value {
        Value::String(text) => text,
        Value::Array(items) => format!(
            "[{}]",
            items
                .into_iter()
                .map(gateway_string)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use citas_domain::{Caller, PERU};

    fn request(ttl_secs: i64) -> TokenRequest {
        TokenRequest {
            role: Role::Patient,
            country: &PERU,
            document: Some("45678912".into()),
            ttl: jiff::SignedDuration::from_secs(ttl_secs),
        }
    }

    #[test]
    fn tokens_verify_into_the_claims_api_gateway_would_pass() {
        let dir = tempfile::tempdir().expect("dir");
        let authority = TokenAuthority::open(dir.path()).expect("authority");
        let token = authority.mint(&request(3600)).expect("token");
        let claims = authority
            .verify(Some(&format!("Bearer {token}")))
            .expect("valid");
        assert_eq!(claims["cognito:groups"], "[patient]");
        let caller = Caller::from_claims(&claims).expect("caller");
        assert_eq!(
            (caller.role(), caller.country.code, caller.identity.clone()),
            (
                Role::Patient,
                "pe",
                citas_domain::Identity::Patient(
                    citas_domain::PERU.parse_document("45678912").expect("DNI")
                )
            )
        );
        // The same data directory, the same secret: tokens survive a restart.
        let reopened = TokenAuthority::open(dir.path()).expect("authority");
        assert!(reopened.verify(Some(&format!("Bearer {token}"))).is_ok());
    }

    #[test]
    fn bad_tokens_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let authority = TokenAuthority::open(dir.path()).expect("authority");
        let stranger = TokenAuthority::from_secret("another-secret-another-secret-0123");
        let forged = stranger.mint(&request(3600)).expect("token");
        let expired = authority.mint(&request(-120)).expect("token");
        let valid = authority.mint(&request(3600)).expect("token");
        let tampered = {
            let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
            parts[1] = parts[1].chars().rev().collect();
            parts.join(".")
        };
        // Signed right, but valid only from an hour from now.
        let now = jiff::Timestamp::now().as_second();
        let immature = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 7200, "nbf": now + 3600}),
            &authority.encoding,
        )
        .expect("token");
        assert!(matches!(authority.verify(None), Err(AuthError::Missing)));
        assert!(matches!(
            authority.verify(Some(&format!("Basic {valid}"))),
            Err(AuthError::NotBearer)
        ));
        assert!(matches!(
            authority.verify(Some(&format!("Bearer {expired}"))),
            Err(AuthError::Expired)
        ));
        // Each refusal says what is wrong in the API's terms, never a library's message.
        let malformed = "the token is malformed: expected a signed JWT (header.payload.signature)";
        for (bad, why) in [
            (forged, "the token's signature is not valid"),
            (tampered, "the token's signature is not valid"),
            (immature, "the token is not valid yet"),
            ("not.a.token".into(), malformed),
            ("x".into(), malformed),
            ("eyJhbGciOiJub25lIn0.e30.".into(), malformed),
        ] {
            match authority.verify(Some(&format!("Bearer {bad}"))) {
                Err(AuthError::Invalid(said)) => assert_eq!(said, why, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}

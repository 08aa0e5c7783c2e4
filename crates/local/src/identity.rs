//! The local identity provider: what Cognito's hosted sign-up and sign-in
//! do in AWS, as `/auth/*` routes a frontend or `curl` can call. The rules
//! are the domain's (the same the Cognito triggers apply); accounts live in
//! `accounts.redb` beside the data, and tokens are signed by the data
//! directory's [`TokenAuthority`], so every route accepts them as it
//! accepts `citas token`'s. Never deployed: in AWS these are Cognito's.

use citas_api::Problem;
use citas_api::handlers::{is_json_media_type, json_response, not_json, parse_json};
use citas_domain::account::{DoctorSignUp, PatientSignUp, RefreshToken, SignUpRole};
use citas_domain::use_cases::accounts::{self, AccountError, AccountServices, SignIn, SignUp};
use citas_domain::{Country, EmailAddress, Services};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{ID_TOKEN_LASTS, TokenAuthority};

/// The routes' common beginning; every one is a `POST`.
pub const AUTH_PREFIX: &str = "/auth/";

/// What the identity provider needs beside the API's services.
pub struct LocalIdentity {
    pub accounts: AccountServices,
    pub tokens: TokenAuthority,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignUpBody {
    role: String,
    country: String,
    #[serde(default)]
    document: Option<String>,
    #[serde(default)]
    registry_number: Option<String>,
    #[serde(default)]
    name: Option<String>,
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResendBody {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    email: String,
    code: String,
}

/// A patient's (`email` and `document`) or a doctor's (`username`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    document: Option<String>,
    #[serde(default)]
    username: Option<String>,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

/// Answers `POST /auth/{sign-up,resend-code,confirm,sign-in,refresh,sign-out}`.
pub async fn on_request(
    services: &Services,
    identity: &LocalIdentity,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Response<Body> {
    let action = path.strip_prefix(AUTH_PREFIX).unwrap_or_default();
    if !ACTIONS.contains(&action) {
        return Problem::route_not_found().into_response(None);
    }
    if method != "POST" {
        return Problem::method_not_allowed(&["POST"]).into_response(None);
    }
    // JSON only, declared: a form or text/plain body (what another site's
    // page may send without asking) is refused.
    if !content_type.is_some_and(is_json_media_type) {
        return not_json().into_response(None);
    }
    let answered = match action {
        "sign-up" => sign_up(services, identity, body).await,
        "confirm" => confirm(services, identity, body).await,
        "sign-in" => sign_in(services, identity, body).await,
        "refresh" => refresh(services, identity, body).await,
        "resend-code" => resend_code(services, identity, body).await,
        _ => sign_out(identity, body).await,
    };
    answered.unwrap_or_else(|problem| problem.into_response(None))
}

const ACTIONS: [&str; 6] = [
    "sign-up",
    "resend-code",
    "confirm",
    "sign-in",
    "refresh",
    "sign-out",
];

fn parsed_signup(body: SignUpBody) -> Result<SignUp, Problem> {
    let role = SignUpRole::parse(&body.role).map_err(AccountError::from)?;
    let country = Country::from_code(&body.country)?;
    let missing = |field: &'static str, code: &'static str, why: &str| {
        Problem::bad_request(code, why.to_owned()).with("field", field)
    };
    let other_roles_field = match role {
        SignUpRole::Patient => body.registry_number.is_some().then_some("registry_number"),
        SignUpRole::Doctor => body
            .document
            .as_ref()
            .map(|_| "document")
            .or(body.name.as_ref().map(|_| "name")),
    };
    if let Some(field) = other_roles_field {
        return Err(Problem::bad_request(
            "invalid_body",
            format!(
                "a {} signs up without {field} (a patient with document and name, a doctor with registry_number)",
                body.role
            ),
        )
        .with("field", field));
    }
    Ok(match role {
        SignUpRole::Patient => {
            let document = body.document.ok_or_else(|| {
                missing(
                    "document",
                    "invalid_document",
                    "a patient signs up with their document",
                )
            })?;
            let name = body.name.ok_or_else(|| {
                missing("name", "invalid_name", "a patient signs up with their name")
            })?;
            SignUp::Patient(
                PatientSignUp::parse(country, &document, &name, &body.email, &body.password)
                    .map_err(AccountError::from)?,
            )
        }
        SignUpRole::Doctor => {
            let registry = body.registry_number.ok_or_else(|| {
                missing(
                    "registry_number",
                    "invalid_registry_number",
                    "a doctor signs up with their professional registry number",
                )
            })?;
            SignUp::Doctor(
                DoctorSignUp::parse(country, &registry, &body.email, &body.password)
                    .map_err(AccountError::from)?,
            )
        }
    })
}

async fn sign_up(
    services: &Services,
    identity: &LocalIdentity,
    body: &[u8],
) -> Result<Response<Body>, Problem> {
    let signup = parsed_signup(parse_json(body)?)?;
    let account = accounts::sign_up(services, &identity.accounts, signup).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "username": account.username,
            "role": account.role().as_str(),
            "country": account.country.code,
            "confirmed": false,
            "code_sent_to": account.email.as_str(),
            "code_expires_at": account.created_at + citas_domain::account::Account::CODE_LASTS,
        }),
    ))
}

fn parsed_email(raw: &str) -> Result<EmailAddress, Problem> {
    EmailAddress::parse(raw).map_err(|why| {
        Problem::bad_request("invalid_email", format!("the email {why}")).with("field", "email")
    })
}

/// 202 whether or not the address has an unconfirmed account.
async fn resend_code(
    services: &Services,
    identity: &LocalIdentity,
    body: &[u8],
) -> Result<Response<Body>, Problem> {
    let body: ResendBody = parse_json(body)?;
    let email = parsed_email(&body.email)?;
    accounts::resend_code(services, &identity.accounts, &email).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({ "detail": "if the address has an account waiting for its code, a new code is on its way" }),
    ))
}

async fn confirm(
    services: &Services,
    identity: &LocalIdentity,
    body: &[u8],
) -> Result<Response<Body>, Problem> {
    let body: ConfirmBody = parse_json(body)?;
    let email = parsed_email(&body.email)?;
    let account = accounts::confirm(services, &identity.accounts, &email, &body.code).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "username": account.username,
            "role": account.role().as_str(),
            "country": account.country.code,
            "confirmed": true,
        }),
    ))
}

async fn sign_in(
    services: &Services,
    identity: &LocalIdentity,
    body: &[u8],
) -> Result<Response<Body>, Problem> {
    let body: SignInBody = parse_json(body)?;
    let request = match (body.username, body.email, body.document) {
        (Some(username), None, None) => SignIn::Doctor {
            username,
            password: body.password,
        },
        (None, Some(email), Some(document)) => SignIn::Patient {
            email,
            document,
            password: body.password,
        },
        _ => {
            return Err(Problem::bad_request(
                "invalid_body",
                "a patient signs in with {email, document, password}; a doctor with {username, password}",
            ));
        }
    };
    let (account, refresh_token) =
        accounts::sign_in(services, &identity.accounts, &request).await?;
    tokens(identity, &account, Some(&refresh_token))
}

async fn refresh(
    services: &Services,
    identity: &LocalIdentity,
    body: &[u8],
) -> Result<Response<Body>, Problem> {
    let body: RefreshBody = parse_json(body)?;
    let token = RefreshToken::from_client(&body.refresh_token);
    let account = accounts::refresh(services, &identity.accounts, &token).await?;
    tokens(identity, &account, None)
}

async fn sign_out(identity: &LocalIdentity, body: &[u8]) -> Result<Response<Body>, Problem> {
    let body: RefreshBody = parse_json(body)?;
    accounts::sign_out(
        &identity.accounts,
        &RefreshToken::from_client(&body.refresh_token),
    )
    .await?;
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// `{id_token, refresh_token?, expires_in, token_type}`, as Cognito's token endpoint answers.
fn tokens(
    identity: &LocalIdentity,
    account: &citas_domain::account::Account,
    refresh_token: Option<&RefreshToken>,
) -> Result<Response<Body>, Problem> {
    let id_token = identity.tokens.mint_for(account).map_err(|error| {
        tracing::error!(%error, "an ID token could not be signed");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "the token could not be issued; retry",
        )
    })?;
    let mut answer = json!({
        "id_token": id_token,
        "expires_in": ID_TOKEN_LASTS.as_secs(),
        "token_type": "Bearer",
    });
    if let (Some(token), Some(map)) = (refresh_token, answer.as_object_mut()) {
        map.insert("refresh_token".into(), json!(token.expose()));
    }
    Ok(json_response(StatusCode::OK, &answer))
}

//! The user pool's triggers: Cognito calls them synchronously (within 5 s,
//! retrying on a timeout) around its own sign-up and sign-in, and they
//! apply the domain's account rules, the same the local identity provider
//! applies. A refusal's message is `{code}: {detail}` with the API's
//! problem codes; Cognito shows it to the app as
//! `PreSignUp failed with error document_taken: …`. Usernames hold
//! documents, so they are never logged.

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPostConfirmationTriggerSource,
    CognitoEventUserPoolsPreAuthentication, CognitoEventUserPoolsPreSignup,
    CognitoEventUserPoolsPreSignupTriggerSource,
};
use citas_domain::Services;
use citas_domain::use_cases::accounts::{self, AccountError, PoolSignUp, UserDirectory};

/// How long a trigger's work may take, all its calls together: Cognito
/// waits 5 s, and a late answer is a failure it retries anyway.
pub const TRIGGER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(4);

/// `work`, or a `service_unavailable` refusal once [`TRIGGER_DEADLINE`] has passed.
async fn within_deadline<T>(
    work: impl std::future::Future<Output = Result<T, AccountError>>,
) -> Result<T, Refusal> {
    match tokio::time::timeout(TRIGGER_DEADLINE, work).await {
        Ok(done) => done.map_err(Refusal::from),
        Err(_) => {
            tracing::warn!("a user pool trigger ran out of time");
            Err(Refusal {
                code: "service_unavailable",
                detail: "the service could not answer in time; try again".into(),
            })
        }
    }
}

/// Why a trigger refused, as Cognito passes it on to the app.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Refusal {
    pub code: &'static str,
    pub detail: String,
}

impl From<AccountError> for Refusal {
    fn from(error: AccountError) -> Self {
        let problem = citas_api::Problem::from(error);
        tracing::info!(code = problem.code, "the user pool's request was refused");
        Self {
            code: problem.code,
            detail: problem.detail,
        }
    }
}

fn signup_of(
    attributes: &std::collections::HashMap<String, String>,
    role: Option<&String>,
) -> PoolSignUp {
    PoolSignUp {
        email: attributes.get("email").cloned().unwrap_or_default(),
        name: attributes.get("name").cloned(),
        role: role.cloned(),
    }
}

/// Pre sign-up: only a self sign-up is checked (staff create users with
/// `AdminCreateUser`; federated sign-ins are the pool's configuration).
/// The user still confirms their email with Cognito's code.
///
/// # Errors
/// The rule the sign-up breaks.
pub async fn pre_sign_up(
    services: &Services,
    event: CognitoEventUserPoolsPreSignup,
) -> Result<CognitoEventUserPoolsPreSignup, Refusal> {
    let header = &event.cognito_event_user_pools_header;
    if header.trigger_source != Some(CognitoEventUserPoolsPreSignupTriggerSource::SignUp) {
        return Ok(event);
    }
    let request = &event.request;
    let role = request
        .client_metadata
        .get("role")
        .or_else(|| request.validation_data.get("role"));
    within_deadline(accounts::check_pool_sign_up(
        services,
        header.user_name.as_deref().unwrap_or_default(),
        &signup_of(&request.user_attributes, role),
    ))
    .await?;
    Ok(event)
}

/// Post confirmation, for a confirmed sign-up only (a confirmed password
/// reset changes nothing): the patient's record, the group, the country
/// and the document. Idempotent, since Cognito retries.
///
/// # Errors
/// The store's or the pool's failures (Cognito then reports the confirmation failed).
pub async fn post_confirmation(
    services: &Services,
    directory: &dyn UserDirectory,
    event: CognitoEventUserPoolsPostConfirmation,
) -> Result<CognitoEventUserPoolsPostConfirmation, Refusal> {
    let header = &event.cognito_event_user_pools_header;
    if header.trigger_source
        != Some(CognitoEventUserPoolsPostConfirmationTriggerSource::ConfirmSignUp)
    {
        return Ok(event);
    }
    let user_pool = header.user_pool_id.as_deref().unwrap_or_default();
    within_deadline(accounts::confirm_pool_user(
        services,
        directory,
        user_pool,
        header.user_name.as_deref().unwrap_or_default(),
        &signup_of(&event.request.user_attributes, None),
    ))
    .await?;
    Ok(event)
}

/// Pre authentication: a patient's sign-in carries their document (any
/// written form) as a second fact: the app sends it as `InitiateAuth`'s
/// `ClientMetadata`, which Cognito hands this trigger as `validationData`.
/// Cognito calls it before it checks the password, so its refusal tells a
/// wrong document from a wrong password (docs/ARCHITECTURE.md, "Accounts").
///
/// # Errors
/// `invalid_credentials` when the document is missing or another's.
pub fn pre_authentication(
    event: CognitoEventUserPoolsPreAuthentication,
) -> Result<CognitoEventUserPoolsPreAuthentication, Refusal> {
    let username = event
        .cognito_event_user_pools_header
        .user_name
        .as_deref()
        .unwrap_or_default();
    accounts::check_second_fact(
        username,
        event
            .request
            .validation_data
            .get("document")
            .map(String::as_str),
    )?;
    Ok(event)
}

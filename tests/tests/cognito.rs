//! Sign-up, confirmation and sign-in on moto's `cognito-idp`, with the
//! user pool set up as template.yaml sets it, as far as moto serves it:
//! moto keeps users, groups, attributes and tokens, but invokes no Lambda
//! trigger, so the test calls the trigger handlers where Cognito would, with
//! the event documents Cognito would send, and the post confirmation
//! trigger's administrator calls go to moto.

mod backends;

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPreSignup,
};
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, ExplicitAuthFlowsType, SchemaAttributeType,
};
use citas_e2e::{claims_of, cognito_event};
use citas_provision::template::Variables;
use serde_json::{Value, json};

const PASSWORD: &str = "Secreto-2026";
const LUCIA: &str = "pe-patient-70112233";

fn attribute(name: &str, value: &str) -> AttributeType {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .expect("an attribute")
}

fn custom(name: &str) -> SchemaAttributeType {
    SchemaAttributeType::builder()
        .name(name)
        .attribute_data_type(aws_sdk_cognitoidentityprovider::types::AttributeDataType::String)
        .mutable(true)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_signs_up_confirms_and_signs_in_with_the_group_and_document_the_trigger_gave() {
    let config = citas_provision::sdk_config(&backends::moto_endpoint()).await;
    let prefix = backends::unique_prefix();
    let variables = Variables {
        table_prefix: prefix.clone(),
        stack_name: prefix.trim_end_matches('-').to_owned(),
        ..Variables::default()
    };
    let settings = citas_provision::prepare(&config, &variables)
        .await
        .expect("tables and queues on moto");
    let aws = citas_lambda::Aws {
        sdk: config.clone(),
        settings,
        clock: std::sync::Arc::new(citas_domain::SystemClock),
        breakers: citas_aws::Breakers::default(),
        xray: None,
        recorder: None,
    };
    let cognito = Client::new(&config);
    let pool = cognito
        .create_user_pool()
        .pool_name(format!("{}-users", variables.stack_name))
        .alias_attributes(aws_sdk_cognitoidentityprovider::types::AliasAttributeType::Email)
        .schema(custom("country"))
        .schema(custom("document"))
        .send()
        .await
        .expect("a pool")
        .user_pool
        .and_then(|pool| pool.id)
        .expect("its id");
    for group in ["patient", "doctor", "admin"] {
        cognito
            .create_group()
            .user_pool_id(&pool)
            .group_name(group)
            .send()
            .await
            .expect("a group");
    }
    let client = cognito
        .create_user_pool_client()
        .user_pool_id(&pool)
        .client_name("frontend")
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .write_attributes("email")
        .write_attributes("name")
        .send()
        .await
        .expect("a client")
        .user_pool_client
        .and_then(|client| client.client_id)
        .expect("its id");
    let services = aws.services();

    // Pre sign-up, as Cognito calls it before it keeps the user.
    let signing_up: CognitoEventUserPoolsPreSignup =
        cognito_event("cognito-pre-sign-up.json", LUCIA, &pool);
    citas_lambda::cognito::pre_sign_up(&services, signing_up)
        .await
        .expect("a patient may sign up");
    let sign_up = || {
        cognito
            .sign_up()
            .client_id(&client)
            .username(LUCIA)
            .password(PASSWORD)
            .user_attributes(attribute("email", "lucia.ramos@example.pe"))
            .user_attributes(attribute("name", "Lucía Ramos"))
            .client_metadata("role", "patient")
            .send()
    };
    let signed_up = sign_up().await.expect("signed up");
    assert!(!signed_up.user_confirmed, "the email is confirmed first");
    // The pool's usernames keep one account per document.
    let again = sign_up().await.expect_err("the document has an account");
    assert_eq!(
        aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata::code(&again),
        Some("UsernameExistsException")
    );

    // Confirmed (moto takes any code), then the post confirmation trigger, twice (Cognito retries).
    cognito
        .confirm_sign_up()
        .client_id(&client)
        .username(LUCIA)
        .confirmation_code("123456")
        .send()
        .await
        .expect("confirmed");
    for _ in 0..2 {
        let confirmed: CognitoEventUserPoolsPostConfirmation =
            cognito_event("cognito-post-confirmation.json", LUCIA, &pool);
        citas_lambda::cognito::post_confirmation(&services, &aws.user_directory(), confirmed)
            .await
            .expect("enrolled");
    }
    let groups: Vec<String> = cognito
        .admin_list_groups_for_user()
        .user_pool_id(&pool)
        .username(LUCIA)
        .send()
        .await
        .expect("groups")
        .groups
        .unwrap_or_default()
        .into_iter()
        .filter_map(|group| group.group_name)
        .collect();
    assert_eq!(groups, ["patient"]);
    let user = cognito
        .admin_get_user()
        .user_pool_id(&pool)
        .username(LUCIA)
        .send()
        .await
        .expect("the user");
    let attribute_of = |name: &str| {
        user.user_attributes()
            .iter()
            .find(|a| a.name() == name)
            .and_then(|a| a.value())
            .map(str::to_owned)
    };
    assert_eq!(attribute_of("custom:country").as_deref(), Some("pe"));
    assert_eq!(attribute_of("custom:document").as_deref(), Some("70112233"));
    // The patient's record, for the emails.
    let record = services
        .store
        .get_patient(
            &citas_domain::PERU,
            &citas_domain::PERU.parse_document("70112233").expect("DNI"),
        )
        .await
        .expect("read")
        .expect("created");
    assert_eq!(
        record.reachable_email().map(|e| e.as_str()),
        Some("lucia.ramos@example.pe")
    );

    // Signing in: the ID token names the group, the country and the document.
    let signed_in = cognito
        .initiate_auth()
        .client_id(&client)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", LUCIA)
        .auth_parameters("PASSWORD", PASSWORD)
        .client_metadata("document", "70112233")
        .send()
        .await
        .expect("signed in");
    let id_token = signed_in
        .authentication_result
        .and_then(|result| result.id_token)
        .expect("an ID token");
    let claims = claims_of(&id_token);
    assert_eq!(claims["cognito:groups"], json!(["patient"]), "{claims}");
    assert_eq!(claims["custom:country"], "pe", "{claims}");
    assert_eq!(claims["custom:document"], "70112233", "{claims}");
    // What API Gateway's authorizer would hand the API: the same caller.
    let gateway: std::collections::HashMap<String, String> = claims
        .as_object()
        .expect("claims")
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect();
    let caller = citas_domain::Caller::from_claims(&gateway).expect("a caller");
    assert_eq!(caller.role(), citas_domain::Role::Patient);
}

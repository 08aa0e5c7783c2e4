//! The user pool's three triggers, fed Cognito's event documents in
//! tests/fixtures through the types the runtime deserialises them into,
//! on the seeded embedded store; the pool's administrator calls are recorded.

use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPreAuthentication,
};
use citas_domain::account::PoolUser;
use citas_domain::use_cases::accounts::UserDirectory;
use citas_domain::{Doctor, DoctorId, EmailAddress, PERU, Services, StoreError};
use citas_e2e::local_backend;
use citas_lambda::cognito;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn fixture_json(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

/// The fixture with `change` merged over it (objects key by key; a null
/// takes the key out), as the runtime reads it.
fn event<T: DeserializeOwned>(name: &str, change: Value) -> T {
    fn merge(into: &mut Value, change: Value) {
        match (into, change) {
            (Value::Object(into), Value::Object(change)) => {
                for (key, value) in change {
                    if value.is_null() {
                        into.remove(&key);
                    } else {
                        merge(into.entry(key).or_insert(Value::Null), value);
                    }
                }
            }
            (into, change) => *into = change,
        }
    }
    let mut document = fixture_json(name);
    merge(&mut document, change);
    serde_json::from_value(document).unwrap_or_else(|e| panic!("{name} is not its event: {e}"))
}

/// The refusal's code, or "accepted".
fn outcome<T>(result: Result<T, cognito::Refusal>) -> String {
    match result {
        Ok(_) => "accepted".to_owned(),
        Err(refusal) => {
            assert!(
                refusal
                    .to_string()
                    .starts_with(&format!("{}: ", refusal.code)),
                "{refusal}"
            );
            refusal.code.to_owned()
        }
    }
}

async fn pre_sign_up(services: &Services, name: &str, change: Value) -> String {
    outcome(cognito::pre_sign_up(services, event(name, change)).await)
}

#[tokio::test]
async fn pre_sign_up_lets_in_only_who_the_rules_allow() {
    let dir = tempfile::tempdir().expect("dir");
    let services = local_backend(dir.path()).await.services;
    let patient = "cognito-pre-sign-up.json";
    let cases = [
        ("a new patient", json!({}), "accepted"),
        (
            "seed 000's Ana, from another address than her record's",
            json!({"userName": "pe-patient-45678912"}),
            "document_taken",
        ),
        (
            "Ana from her record's address",
            json!({"userName": "pe-patient-45678912",
                   "request": {"userAttributes": {"email": "ana.torres@example.pe"}}}),
            "accepted",
        ),
        (
            "an admin",
            json!({"request": {"clientMetadata": {"role": "admin"}}}),
            "invalid_role",
        ),
        (
            "a patient's username signed up as a doctor",
            json!({"request": {"clientMetadata": {"role": "doctor"}}}),
            "invalid_role",
        ),
        (
            "a DNI of 7 digits",
            json!({"userName": "pe-patient-7011223"}),
            "invalid_document",
        ),
        (
            "a RUT with a wrong check digit",
            json!({"userName": "cl-patient-16543210-5"}),
            "invalid_document",
        ),
        (
            "a RUT not written as the username asks",
            json!({"userName": "cl-patient-16.543.210-K"}),
            "invalid_username",
        ),
        (
            "no name",
            json!({"request": {"userAttributes": {"name": null}}}),
            "invalid_name",
        ),
        (
            "an email as the username",
            json!({"userName": "lucia.ramos@example.pe"}),
            "invalid_username",
        ),
        (
            "staff creating a user, which the trigger leaves to them",
            json!({"userName": "admin-maria", "triggerSource": "PreSignUp_AdminCreateUser"}),
            "accepted",
        ),
    ];
    for (who, change, expected) in cases {
        assert_eq!(
            pre_sign_up(&services, patient, change).await,
            expected,
            "{who}"
        );
    }
}

#[tokio::test]
async fn pre_sign_up_lets_a_doctor_claim_only_their_registration() {
    let dir = tempfile::tempdir().expect("dir");
    let services = local_backend(dir.path()).await.services;
    let doctor = "cognito-pre-sign-up-doctor.json";
    assert_eq!(
        pre_sign_up(&services, doctor, json!({})).await,
        "not_a_registered_doctor",
        "before the insurer registers them"
    );
    services
        .store
        .put_doctor(&Doctor {
            id: DoctorId::parse("pe-cardiologia-7700123").expect("an id"),
            name: "Dr. Martín Salas".into(),
            email: Some(EmailAddress::parse("dr.salas@clinica.pe").expect("an address")),
            requires_confirmation: false,
            profile: Default::default(),
            rating: Default::default(),
        })
        .await
        .expect("registered");
    let cases = [
        (
            "their registration, the address in other capitals",
            json!({}),
            "accepted",
        ),
        (
            "another address",
            json!({"request": {"userAttributes": {"email": "otro@clinica.pe"}}}),
            "not_a_registered_doctor",
        ),
        (
            "the same number in Chile",
            json!({"userName": "cl-7700123"}),
            "not_a_registered_doctor",
        ),
    ];
    for (who, change, expected) in cases {
        assert_eq!(
            pre_sign_up(&services, doctor, change).await,
            expected,
            "{who}"
        );
    }
}

/// The administrator calls, as made.
#[derive(Default)]
struct RecordingDirectory {
    enrolled: Mutex<Vec<(String, String, PoolUser)>>,
}

#[async_trait]
impl UserDirectory for RecordingDirectory {
    async fn enrol(
        &self,
        user_pool: &str,
        username: &str,
        user: &PoolUser,
    ) -> Result<(), StoreError> {
        self.enrolled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((user_pool.to_owned(), username.to_owned(), user.clone()));
        Ok(())
    }
}

#[tokio::test]
async fn post_confirmation_enrols_the_user_and_completes_their_record_however_often_it_runs() {
    let dir = tempfile::tempdir().expect("dir");
    let services = local_backend(dir.path()).await.services;
    let directory = RecordingDirectory::default();
    let confirmed: CognitoEventUserPoolsPostConfirmation =
        event("cognito-post-confirmation.json", json!({}));
    // Cognito retries a trigger that took too long: twice is as once.
    for _ in 0..2 {
        let answered = cognito::post_confirmation(&services, &directory, confirmed.clone())
            .await
            .expect("confirmed");
        assert_eq!(answered, confirmed, "the event goes back as it came");
    }
    let lucia = PoolUser::parse("pe-patient-70112233").expect("a patient");
    let expected = (
        "us-east-1_Ab3dEf9Gh".to_owned(),
        "pe-patient-70112233".to_owned(),
        lucia,
    );
    assert_eq!(
        *directory.enrolled.lock().unwrap_or_else(|e| e.into_inner()),
        vec![expected.clone(), expected]
    );
    let record = services
        .store
        .get_patient(&PERU, &PERU.parse_document("70112233").expect("DNI"))
        .await
        .expect("read")
        .expect("created");
    assert_eq!(
        (
            record.name.as_str(),
            record.reachable_email().map(EmailAddress::as_str)
        ),
        ("Lucía Ramos", Some("lucia.ramos@example.pe"))
    );
    // A confirmed password reset enrols nobody again.
    let reset: CognitoEventUserPoolsPostConfirmation = event(
        "cognito-post-confirmation.json",
        json!({"triggerSource": "PostConfirmation_ConfirmForgotPassword"}),
    );
    cognito::post_confirmation(&services, &directory, reset)
        .await
        .expect("passed through");
    assert_eq!(
        directory
            .enrolled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len(),
        2
    );
}

#[test]
fn pre_authentication_asks_a_patient_for_their_own_document() {
    let signing_in = |change: Value| {
        outcome(cognito::pre_authentication(event::<
            CognitoEventUserPoolsPreAuthentication,
        >(
            "cognito-pre-authentication.json",
            change,
        )))
    };
    let cases = [
        ("their document", json!({}), "accepted"),
        (
            "someone else's",
            json!({"request": {"validationData": {"document": "45678912"}}}),
            "invalid_credentials",
        ),
        (
            "none",
            json!({"request": {"validationData": null}}),
            "invalid_credentials",
        ),
        (
            "a doctor, who needs none",
            json!({"userName": "pe-9999234", "request": {"validationData": null}}),
            "accepted",
        ),
        (
            "a RUT in another written form",
            json!({"userName": "cl-patient-16543210-K",
                   "request": {"validationData": {"document": "16.543.210-k"}}}),
            "accepted",
        ),
    ];
    for (who, change, expected) in cases {
        assert_eq!(signing_in(change), expected, "{who}");
    }
}

//! A built function binary, run as Lambda runs it: a fresh process polling a
//! local Runtime API, configured by environment variables, with DynamoDB and
//! SQS on moto behind it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use citas_aws::{DynamoStore, TableNames, settings};
use citas_domain::{AppointmentId, PERU, Patient, Store};
use citas_e2e::build;
use citas_emulator::{Outcome, RuntimeApi};
use citas_provision::template::{Template, Variables, ensure_queues, ensure_tables};
use serde_json::Value;

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .unwrap_or_else(|_| panic!("MOTO_ENDPOINT is not set: run scripts/test, which sets it"))
}

#[tokio::test]
async fn the_create_appointment_binary_answers_an_api_gateway_event() {
    let endpoint = moto_endpoint();
    let prefix = format!("rt{}-", std::process::id());
    let variables = Variables {
        table_prefix: prefix.clone(),
        stack_name: format!("rt{}", std::process::id()),
        ..Variables::default()
    };
    let config = citas_provision::sdk_config(&endpoint).await;
    let template = Template::project(&variables).expect("template");
    ensure_tables(&aws_sdk_dynamodb::Client::new(&config), &template.tables)
        .await
        .expect("tables");
    let urls = ensure_queues(&aws_sdk_sqs::Client::new(&config), &template.queues)
        .await
        .expect("queues");
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        TableNames::new(&prefix),
    );
    let patient = Patient {
        name: "Ana Lucía Torres Vega".into(),
        ..build::patient(&PERU, "45678912")
    };
    store
        .upsert_patient(&PERU, &patient)
        .await
        .expect("patient");

    let runtime = RuntimeApi::start().await.expect("runtime api");
    let mut command = Command::new(env!("CARGO_BIN_EXE_create-appointment"));
    command
        .envs(runtime.environment("create-appointment"))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("TABLE_PREFIX", &prefix)
        .env(
            settings::queue_url_variable(&PERU),
            &urls[&settings::queue_name(&variables.stack_name, &PERU)],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _function = Process(command.spawn().expect("bootstrap starts"));

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/apigw-create-appointment.json");
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("json");
    let outcome = runtime
        .invoke(&event, Duration::from_secs(20))
        .await
        .expect("an answer");
    let Outcome::Response(response) = outcome else {
        panic!("function error: {outcome:?}")
    };
    assert_eq!(response["statusCode"], 201, "{response}");
    assert!(
        response["headers"]["content-type"]
            .as_str()
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let body: Value =
        serde_json::from_str(response["body"].as_str().expect("body")).expect("json body");
    assert_eq!(body["status"], "registered");
    assert_eq!(body["patient"], "Ana Lucía Torres Vega");
    let id = body["id"].as_str().expect("id");
    // It is in DynamoDB, and a second request the same day is refused by the condition.
    assert_eq!(
        store
            .get_appointment(&PERU, &AppointmentId::parse(&PERU, id).expect("id"))
            .await
            .expect("get")
            .map(|a| a.id.to_string()),
        Some(id.to_owned())
    );
    let Outcome::Response(again) = runtime
        .invoke(&event, Duration::from_secs(20))
        .await
        .expect("answer")
    else {
        panic!("function error")
    };
    assert_eq!(again["statusCode"], 409);
    assert!(runtime.init_error().is_none());
}

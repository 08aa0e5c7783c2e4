//! A built function binary, run as Lambda runs it: a fresh process polling a
//! local Runtime API, configured by environment variables, with DynamoDB and
//! SQS on moto behind it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use citas_aws::{DynamoStore, TableNames, settings};
use citas_domain::{AppointmentId, AppointmentStore, PERU, Patient, PatientStore};
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

/// Fresh tables and queues on moto (a prefix of their own, `tag`), with
/// patient 45678912 registered; the function's environment besides the
/// runtime API's.
async fn deployment(tag: &str) -> (DynamoStore, Vec<(String, String)>) {
    let endpoint = moto_endpoint();
    let prefix = format!("{tag}{}-", std::process::id());
    let variables = Variables {
        table_prefix: prefix.clone(),
        stack_name: format!("{tag}{}", std::process::id()),
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
    let environment = [
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint),
        ("TABLE_PREFIX", prefix),
        (
            settings::NOTIFICATION_QUEUE_URL,
            settings::notification_queue_url_setting(
                urls[&settings::queue_name(&variables.stack_name, &PERU)]
                    .rsplit_once('/')
                    .expect("a queue URL")
                    .0,
                &variables.stack_name,
            ),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    (store, environment)
}

/// The API Gateway event of `POST /pe/appointment` for patient 45678912.
fn create_event() -> Value {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/apigw-create-appointment.json");
    serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("json")
}

#[tokio::test]
async fn the_create_appointment_binary_answers_an_api_gateway_event() {
    let (store, environment) = deployment("rt").await;
    let runtime = RuntimeApi::start().await.expect("runtime api");
    let mut command = Command::new(env!("CARGO_BIN_EXE_create-appointment"));
    command
        .envs(runtime.environment("create-appointment"))
        .envs(environment)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _function = Process(command.spawn().expect("bootstrap starts"));

    let event = create_event();
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

/// Every JSON line a function process wrote on standard output.
fn json_lines(output: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(output)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The embedded-metric-format documents among them, each as
/// (its dimension names, its dimension values and properties, its metrics' values).
fn emf_documents(lines: &[Value]) -> Vec<(Vec<String>, Value, BTreeMap<String, f64>)> {
    lines
        .iter()
        .filter(|line| line.get("_aws").is_some())
        .map(|doc| {
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "Citas/rt", "{doc}");
            assert!(doc["_aws"]["Timestamp"].as_u64().is_some(), "{doc}");
            let dimensions = directive["Dimensions"][0]
                .as_array()
                .expect("one dimension set")
                .iter()
                .map(|d| d.as_str().expect("a name").to_owned())
                .collect();
            let values = directive["Metrics"]
                .as_array()
                .expect("metrics")
                .iter()
                .map(|m| {
                    let name = m["Name"].as_str().expect("Name").to_owned();
                    let value = doc[&name].as_f64().expect("a value per metric");
                    (name, value)
                })
                .collect();
            (dimensions, doc.clone(), values)
        })
        .collect()
}

#[tokio::test]
async fn a_function_logs_its_counters_in_embedded_metric_format_and_its_lines_name_the_request() {
    let (_, environment) = deployment("emf").await;
    let runtime = RuntimeApi::start().await.expect("runtime api");
    let mut command = Command::new(env!("CARGO_BIN_EXE_create-appointment"));
    command
        .envs(runtime.environment("create-appointment"))
        .envs(environment)
        .env("METRICS_NAMESPACE", "Citas/rt")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let function = command.spawn().expect("bootstrap starts");
    let event = create_event();
    // Created, then refused as a duplicate (no counter for that one).
    for expected in [201, 409] {
        let Outcome::Response(response) = runtime
            .invoke(&event, Duration::from_secs(20))
            .await
            .expect("an answer")
        else {
            panic!("function error")
        };
        assert_eq!(response["statusCode"], expected, "{response}");
    }
    let mut function = function;
    let _ = function.kill();
    let output = function.wait_with_output().expect("its output");
    let lines = json_lines(&output.stdout);
    let (first, second) = ("req-00000001", "req-00000002");

    let documents = emf_documents(&lines);
    // One cold start, with the function as its only dimension.
    let cold: Vec<_> = documents
        .iter()
        .filter(|(_, _, values)| values.contains_key(citas_domain::metrics::COLD_STARTS))
        .collect();
    assert_eq!(cold.len(), 1, "{documents:?}");
    assert_eq!(cold[0].0, ["function"]);
    assert_eq!(cold[0].1["function"], "create-appointment");
    assert_eq!(cold[0].2[citas_domain::metrics::COLD_STARTS], 1.0);
    // The creation, counted once, by function and country, with the request's ids.
    let created: Vec<_> = documents
        .iter()
        .filter(|(_, _, values)| values.contains_key(citas_domain::metrics::APPOINTMENTS_CREATED))
        .collect();
    assert_eq!(created.len(), 1, "{documents:?}");
    let (dimensions, document, values) = created[0];
    assert_eq!(dimensions, &["function", "country"]);
    assert_eq!(document["function"], "create-appointment");
    assert_eq!(document["country"], "pe");
    assert_eq!(values[citas_domain::metrics::APPOINTMENTS_CREATED], 1.0);
    assert_eq!(document["requestId"], first);
    assert_eq!(document["xrayTraceId"], citas_emulator::trace_id_of(first));

    // Every log line written while handling a request names it and its trace.
    let during: Vec<&Value> = lines
        .iter()
        .filter(|line| {
            line.get("level").is_some() && line["spans"].as_array().is_some_and(|s| !s.is_empty())
        })
        .collect();
    let request_ids: BTreeSet<&str> = during
        .iter()
        .map(|line| {
            let invocation = &line["spans"][0];
            let id = invocation["requestId"].as_str().expect("requestId");
            assert_eq!(
                invocation["xrayTraceId"],
                citas_emulator::trace_id_of(id),
                "{line}"
            );
            id
        })
        .collect();
    assert!(request_ids.contains(first), "{during:?}");
    assert!(
        during
            .iter()
            .any(|line| line["spans"][0]["requestId"] == first
                && line["fields"]["message"] == "appointment registered"),
        "{during:?}"
    );
    assert!(request_ids.is_subset(&BTreeSet::from([first, second])));
}

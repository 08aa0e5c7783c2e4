//! Each Lambda function as Lambda runs it: a fresh `bootstrap` process under a
//! local Runtime API (crates/emulator), configured by environment variables,
//! with moto behind it. Cold start = from spawning the process to its first
//! response; peak RSS = the process's high-water mark after many requests.
//! The Node.js 20 peer (bench/node) is started and measured the same way.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use citas_aws::{DynamoStore, TableNames, settings};
use citas_domain::ports::stores::*;
use citas_domain::{EmailAddress, PERU, Patient, testkit};
use citas_emulator::{Outcome, RuntimeApi};
use citas_provision::template::Variables;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::Error;

/// A function to start: its command line and the event it is sent.
pub struct Subject {
    pub name: String,
    pub command: Vec<String>,
    /// The event of the `n`th invocation.
    pub event: Box<dyn Fn(u32) -> Value>,
    /// The number of its first event: the subjects that create appointments
    /// each take patients of their own ([`patients_needed`]).
    pub first_event: u32,
}

pub struct Measured {
    pub name: String,
    pub cold_ms: Vec<f64>,
    /// Each warm request's time, from handing the event over to its answer.
    pub warm_ms: Vec<f64>,
    pub peak_rss_kib: u64,
    pub statuses: String,
}

fn fixture(name: &str) -> Result<Value, Error> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name);
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

/// A create-appointment event for patient `n` (registered by [`prepare`]).
/// The fixture is a patient's own request: the claims name the same new patient.
fn create_event(template: &Value, n: u32) -> Value {
    let mut event = template.clone();
    let document = patient_document(n);
    event["body"] = json!(json!({ "document": document, "speciality": "cardiologia" }).to_string());
    event["requestContext"]["authorizer"]["jwt"]["claims"]["custom:document"] = json!(document);
    event
}

fn patient_document(n: u32) -> String {
    format!("{}", 70_000_000 + n)
}

pub const FLOOR: &str = "floor-create-appointment (floor)";

/// The user pool [`prepare`] made on moto, for the post confirmation trigger's events.
static BENCH_USER_POOL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
pub const NODE_PEER: &str = "node20-create-appointment (peer)";
pub const CREATE_INIT: &str = "create-appointment on /health (init)";
pub const FLOOR_INIT: &str = "floor on /health (init)";

/// The functions of functions/Cargo.toml, the floor (bench/floor) and the
/// Node.js peer, each with the event it answers in the bench (read from
/// tests/fixtures where there is one); then create-appointment and the floor
/// on a `/health` event, which neither calls AWS for: init alone.
pub fn subjects(
    release_dir: &Path,
    node_dir: &Path,
    per_subject: u32,
) -> Result<Vec<Subject>, Error> {
    let mut subjects = Vec::new();
    let api = [
        ("register-patient", "apigw-register-patient.json"),
        ("query-appointments", "apigw-get-appointment.json"),
        ("assign-appointment", "apigw-assign-appointment.json"),
        ("notify-appointment", "apigw-notify-appointment.json"),
        ("close-appointment", "apigw-complete-appointment.json"),
    ];
    let binary = |name: &str| release_dir.join(name).display().to_string();
    let create = fixture("apigw-create-appointment.json")?;
    let creating = |name: &str, command: Vec<String>, order: u32| {
        let create = create.clone();
        Subject {
            name: name.into(),
            command,
            event: Box::new(move |n| create_event(&create, n)),
            first_event: order * per_subject,
        }
    };
    subjects.push(creating(
        "create-appointment",
        vec![binary("create-appointment")],
        0,
    ));
    subjects.push(creating(FLOOR, vec![binary("floor-create-appointment")], 1));
    // A subject sent the same event every time.
    let fixed = |name: &str, binary_name: &str, event: Value| Subject {
        name: name.into(),
        command: vec![binary(binary_name)],
        event: Box::new(move |_| event.clone()),
        first_event: 0,
    };
    for (name, file) in api {
        subjects.push(fixed(name, name, fixture(file)?));
    }
    subjects.push(fixed(
        "send-email",
        "send-email",
        fixture("sqs-batch.json")?,
    ));
    subjects.push(fixed(
        "publish-notifications",
        "publish-notifications",
        fixture("dynamodb-stream-history.json")?,
    ));
    subjects.push(fixed(
        "send-reminders",
        "send-reminders",
        json!({ "country": "pe", "date": "2026-12-07" }),
    ));
    // The user pool's triggers, on Cognito's event documents: a patient's
    // sign-up (a record read), a patient's confirmation on moto's pool
    // (record read and write, then the attributes and the group: the same
    // user each time, as Cognito's retries are), a sign-in's second fact.
    subjects.push(fixed(
        "cognito-pre-sign-up",
        "cognito-pre-sign-up",
        fixture("cognito-pre-sign-up.json")?,
    ));
    let confirmation = fixture("cognito-post-confirmation.json")?;
    subjects.push(Subject {
        name: "cognito-post-confirmation".into(),
        command: vec![binary("cognito-post-confirmation")],
        event: Box::new(move |_| {
            let mut event = confirmation.clone();
            if let Some(pool) = BENCH_USER_POOL.get() {
                event["userPoolId"] = json!(pool);
            }
            event
        }),
        first_event: 0,
    });
    subjects.push(fixed(
        "cognito-pre-authentication",
        "cognito-pre-authentication",
        fixture("cognito-pre-authentication.json")?,
    ));
    subjects.push(creating(
        NODE_PEER,
        vec![
            "node".into(),
            node_dir.join("index.mjs").display().to_string(),
        ],
        2,
    ));
    let health = fixture("apigw-health.json")?;
    subjects.push(fixed(CREATE_INIT, "create-appointment", health.clone()));
    subjects.push(fixed(FLOOR_INIT, "floor-create-appointment", health));
    Ok(subjects)
}

/// The patients [`prepare`] must register: up to the last creating subject's range.
pub fn patients_needed(subjects: &[Subject], per_subject: u32) -> u32 {
    subjects
        .iter()
        .map(|subject| subject.first_event)
        .max()
        .unwrap_or(0)
        + per_subject
}

/// Tables and queues on moto under a fresh prefix, with the patients the events name.
pub async fn prepare(endpoint: &str, patients: u32) -> Result<Vec<(String, String)>, Error> {
    let suffix = jiff::Timestamp::now().as_millisecond() % 10_000_000;
    let variables = Variables {
        table_prefix: format!("fn{suffix}-"),
        stack_name: format!("fn{suffix}"),
        ..Variables::default()
    };
    let sdk = citas_provision::sdk_config(endpoint).await;
    let prepared = citas_provision::prepare(&sdk, &variables).await?;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        TableNames::new(variables.table_prefix.clone()),
    );
    let mut documents: Vec<String> = (0..patients).map(patient_document).collect();
    documents.push("45678912".into());
    documents.push("41234567".into());
    for document in documents {
        let patient = Patient {
            name: "Paciente de prueba".into(),
            email: Some(EmailAddress::parse("paciente@example.pe")?),
            ..testkit::patient(&PERU, &document)
        };
        store.upsert_patient(&PERU, &patient).await?;
    }
    // The appointment the get, assign, notify and complete fixtures name.
    let appointment = testkit::appointment(&PERU, "45678912")
        .created_at("2026-11-22T15:00:00Z")
        .patient_name("Ana Lucía Torres Vega")
        .speciality("medicina-interna")
        .build();
    store.insert_appointment(&appointment).await?;
    // The user pool the post confirmation trigger enrols its user in.
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let pool = cognito
        .create_user_pool()
        .pool_name(format!("{}-users", variables.stack_name))
        .send()
        .await?
        .user_pool
        .and_then(|pool| pool.id)
        .ok_or("moto made a user pool without an id")?;
    cognito
        .create_group()
        .user_pool_id(&pool)
        .group_name("patient")
        .send()
        .await?;
    let confirmation = fixture("cognito-post-confirmation.json")?;
    cognito
        .admin_create_user()
        .user_pool_id(&pool)
        .username(confirmation["userName"].as_str().unwrap_or_default())
        .send()
        .await?;
    let _ = BENCH_USER_POOL.set(pool);
    let mut environment = vec![
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
        ("AWS_ENDPOINT_URL".to_owned(), endpoint.to_owned()),
        ("TABLE_PREFIX".to_owned(), variables.table_prefix.clone()),
        ("SES_SENDER".to_owned(), "citas@example.com".to_owned()),
        // What CalendarKeySecret gives the email function when deployed.
        ("CALENDAR_KEY".to_owned(), "k".repeat(32)),
        ("RUST_LOG".to_owned(), "warn".to_owned()),
    ];
    // Every queue lives under one endpoint and account: the first names them all.
    if let Some((base, _)) = prepared
        .queue_urls
        .values()
        .next()
        .and_then(|url| url.rsplit_once('/'))
    {
        environment.push((
            settings::NOTIFICATION_QUEUE_URL.to_owned(),
            settings::notification_queue_url_setting(base, &variables.stack_name),
        ));
    }
    Ok(environment)
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

async fn spawn(
    subject: &Subject,
    runtime: &RuntimeApi,
    environment: &[(String, String)],
) -> Result<Running, Error> {
    let (program, args) = subject.command.split_first().ok_or("an empty command")?;
    let child = Command::new(program)
        .args(args)
        .envs(runtime.environment(&subject.name))
        .envs(environment.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    Ok(Running(child))
}

fn status_of(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Response(value) => match (
            value["statusCode"].as_u64(),
            value["batchItemFailures"].as_array(),
        ) {
            (Some(status), _) => status.to_string(),
            // A batch answer: the records it asks to have delivered again.
            (None, Some(failures)) if !failures.is_empty() => {
                format!("ok ({} records failed)", failures.len())
            }
            (None, _) => "ok".into(),
        },
        Outcome::Error(_) => "error".into(),
    }
}

/// Peak resident set (VmHWM) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// One cold start: a fresh process, its first answer, the time from spawn to it.
pub async fn cold_start(
    subject: &Subject,
    environment: &[(String, String)],
    event_number: u32,
) -> Result<(f64, String), Error> {
    let runtime = RuntimeApi::start().await?;
    let event = (subject.event)(event_number);
    let started = Instant::now();
    let _process = spawn(subject, &runtime, environment).await?;
    let outcome = runtime.invoke(&event, INVOKE_TIMEOUT).await?;
    Ok((
        started.elapsed().as_secs_f64() * 1000.0,
        status_of(&outcome),
    ))
}

const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Each subject's `runs` cold starts, taken in turns (one of each subject, then
/// the next round) so that the machine's drift over the run touches them all
/// alike; then one process of each answering `requests` events.
pub async fn measure_all(
    subjects: &[Subject],
    environment: &[(String, String)],
    runs: u32,
    requests: u32,
) -> Result<Vec<Measured>, Error> {
    let mut rows: Vec<Measured> = subjects
        .iter()
        .map(|subject| Measured {
            name: subject.name.clone(),
            cold_ms: Vec::new(),
            warm_ms: Vec::new(),
            peak_rss_kib: 0,
            statuses: String::new(),
        })
        .collect();
    let mut statuses = vec![std::collections::BTreeMap::<String, u32>::new(); subjects.len()];
    for run in 0..runs {
        for (index, subject) in subjects.iter().enumerate() {
            let (ms, status) = cold_start(subject, environment, subject.first_event + run).await?;
            rows[index].cold_ms.push(ms);
            *statuses[index].entry(status).or_default() += 1;
        }
    }
    for (index, subject) in subjects.iter().enumerate() {
        eprintln!("measuring {} warm", subject.name);
        let runtime = RuntimeApi::start().await?;
        let process = spawn(subject, &runtime, environment).await?;
        for n in 0..requests {
            let event = (subject.event)(subject.first_event + runs + n);
            let started = Instant::now();
            let outcome = runtime.invoke(&event, INVOKE_TIMEOUT).await?;
            // The first answers the process's cold start.
            if n > 0 {
                rows[index]
                    .warm_ms
                    .push(started.elapsed().as_secs_f64() * 1000.0);
            }
            *statuses[index].entry(status_of(&outcome)).or_default() += 1;
        }
        rows[index].peak_rss_kib = process.0.id().and_then(peak_rss_kib).unwrap_or(0);
        rows[index].statuses = statuses[index]
            .iter()
            .map(|(status, count)| format!("{count}×{status}"))
            .collect::<Vec<_>>()
            .join(", ");
    }
    Ok(rows)
}

/// The `q` quantile (0–1) of `values`, nearest rank.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

pub fn release_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("release")
}

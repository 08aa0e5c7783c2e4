//! A fresh local server on a random port with its own data directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use citas_domain::ManualClock;
use citas_domain::{Country, Role};
use citas_local::auth::{TokenAuthority, TokenRequest};
use citas_local::{LocalConfig, RunningServer};
use jiff::Timestamp;
use serde_json::{Value, json};

/// 2026-11-22 10:00 in Lima, 12:00 in Santiago: before every seeded future slot.
pub const NOW: &str = "2026-11-22T15:00:00Z";

pub fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed")
}

/// Runs each named case (an `async fn(&TestApp)` of the including file)
/// over HTTP on a local server of each store: the embedded one, and the AWS
/// adapters on moto.
#[macro_export]
macro_rules! over_http_on_every_store {
    ($($case:ident),* $(,)?) => {
        mod embedded_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::common::TestApp::spawn().await).await;
                }
            )*
        }
        mod dynamodb_on_moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::common::TestApp::spawn_on_moto().await).await;
                }
            )*
        }
    };
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// Signs tokens the server accepts (the data directory's secret).
    pub tokens: TokenAuthority,
    pub clock: Arc<ManualClock>,
    pub data_dir: tempfile::TempDir,
    server: Option<RunningServer>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(NOW.parse().expect("timestamp")));
        let server = start(data_dir.path(), clock.clone()).await;
        Self {
            base: format!("http://{}", server.addr),
            client: reqwest::Client::new(),
            tokens: TokenAuthority::open(data_dir.path()).expect("token authority"),
            clock,
            data_dir,
            server: Some(server),
        }
    }

    /// A fresh local server on the AWS adapters: DynamoDB tables, queues and
    /// streams of their own (a fresh prefix) on the moto server `scripts/test` starts.
    pub async fn spawn_on_moto() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let endpoint = std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
            panic!(
                "MOTO_ENDPOINT is not set: run scripts/test, which starts moto_server and sets it"
            )
        });
        let prefix = format!(
            "h{}-{}-{}-",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            Timestamp::now().as_millisecond() % 1_000_000
        );
        let data_dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(NOW.parse().expect("timestamp")));
        let mut config = LocalConfig::new(
            "127.0.0.1:0".parse().expect("addr"),
            data_dir.path().to_owned(),
        );
        config.clock = clock.clone();
        // These tests check what the API does, not how fast moto answers
        // while other tests load it (the deadline has its own test).
        config.request_deadline = std::time::Duration::from_secs(60);
        config.aws_timeouts = Some(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .operation_attempt_timeout(std::time::Duration::from_secs(15))
                .operation_timeout(std::time::Duration::from_secs(45))
                .build(),
        );
        config.aws = Some(citas_local::server::AwsTarget {
            endpoint,
            variables: citas_provision::template::Variables {
                table_prefix: prefix.clone(),
                stack_name: prefix.trim_end_matches('-').to_owned(),
                ..citas_provision::template::Variables::default()
            },
        });
        let server = citas_local::start(config).await.expect("server on moto");
        Self {
            base: format!("http://{}", server.addr),
            client: reqwest::Client::new(),
            tokens: TokenAuthority::open(data_dir.path()).expect("token authority"),
            clock,
            data_dir,
            server: Some(server),
        }
    }

    /// Stops the server and starts a new one on the same data directory.
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        let server = start(self.data_dir.path(), self.clock.clone()).await;
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
    }

    pub fn set_now(&self, at: &str) {
        self.clock.set(at.parse::<Timestamp>().expect("timestamp"));
    }

    /// A token of `role` in `country`, valid for an hour.
    pub fn token(&self, role: Role, country: &str, document: Option<&str>) -> String {
        self.tokens
            .mint(&TokenRequest {
                role,
                country: Country::from_code(country).expect("country"),
                document: document.map(str::to_owned),
                ttl: jiff::SignedDuration::from_hours(1),
            })
            .expect("token")
    }

    /// The requests below act as an admin of the path's country (Peru for other paths).
    fn admin_for(&self, path: &str) -> String {
        let code = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        let country = if Country::from_code(code).is_ok() {
            code
        } else {
            "pe"
        };
        self.token(Role::Admin, country, None)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.admin_for(path))
            .send()
            .await
            .expect("request");
        read(response).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.admin_for(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        read(response).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let token = self.admin_for(path);
        self.send_as("PUT", path, &token, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let token = self.admin_for(path);
        self.send_as("DELETE", path, &token, None).await
    }

    /// A request with the given bearer token.
    pub async fn send_as(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "GET" => self.client.get(url),
            "PUT" => self.client.put(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url),
        };
        request = request.bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request")).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.admin_for(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        read(response).await
    }

    pub async fn register(&self, country: &str, document: &str, name: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/{country}/patient"),
                json!({ "document": document, "name": name, "email": "paciente@example.com" }),
            )
            .await;
        assert!(
            status == 201 || status == 200,
            "register {document}: {status} {body}"
        );
        body
    }

    pub async fn create(&self, country: &str, document: &str, speciality: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/{country}/appointment"),
                json!({ "document": document, "speciality": speciality }),
            )
            .await;
        assert_eq!(status, 201, "create {document}: {body}");
        body
    }
}

async fn start(data_dir: &Path, clock: Arc<ManualClock>) -> RunningServer {
    let mut config = LocalConfig::new("127.0.0.1:0".parse().expect("addr"), data_dir.to_owned());
    config.seed_dir = Some(seed_dir());
    config.clock = clock;
    citas_local::start(config).await.expect("server starts")
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    if status >= 400 {
        assert_eq!(
            content_type, "application/problem+json",
            "errors are problem+json: {text}"
        );
    }
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    if status >= 400 {
        assert_eq!(
            body["status"],
            json!(status),
            "problem status member: {body}"
        );
        assert!(body["code"].is_string(), "problem code: {body}");
    }
    (status, body)
}

/// The `.eml` files in the app's outbox, once there are at least `count` (waits up to 5 s).
pub async fn wait_for_emails(app: &TestApp, count: usize) -> Vec<String> {
    let outbox = app.data_dir.path().join("outbox");
    for _ in 0..250 {
        let files = citas_e2e::outbox_files(&outbox);
        if files.len() >= count {
            return files
                .iter()
                .map(|f| std::fs::read_to_string(f).expect("eml"))
                .collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {count} emails arrived in {}", outbox.display());
}

/// The emails in the outbox addressed to `to`, as written.
pub fn emails_to(app: &TestApp, to: &str) -> Vec<String> {
    citas_e2e::outbox_files(&app.data_dir.path().join("outbox"))
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .filter(|email| email.contains(&format!("<{to}>")) || email.contains(&format!("To: {to}")))
        .collect()
}

/// The code in a verification email (its HTML part shows it in `<code>`).
pub fn code_in(email: &str) -> String {
    // Quoted-printable lines end in a soft break that is not part of the text.
    let joined = email.replace("=\r\n", "").replace("=\n", "");
    let start = joined.find("<code>").expect("a code in the email") + "<code>".len();
    let end = joined[start..].find("</code>").expect("the code's end") + start;
    joined[start..end].to_owned()
}

/// Doctors, plans and completed visits for the finding and review tests.
#[allow(dead_code)]
pub mod visits {
    use super::TestApp;
    use serde_json::{Value, json};

    /// Registers `doctor` (a `POST /{country}/doctor` body) with a plan of
    /// 30-minute slots every weekday 08:00–18:00; its id.
    pub async fn doctor_with_plan(app: &TestApp, country: &str, doctor: Value) -> String {
        let (status, created) = app.post(&format!("/{country}/doctor"), doctor).await;
        assert!(status == 201 || status == 200, "{created}");
        let id = created["id"].as_str().expect("a doctor id").to_owned();
        let weekly: Vec<Value> = ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|day| json!({ "weekday": day, "from": "08:00", "to": "18:00" }))
            .collect();
        let (status, applied) = app
            .put(
                &format!("/{country}/doctor/{id}/availability"),
                json!({ "slot_minutes": 30, "valid_from": "2026-11-23", "weekly": weekly }),
            )
            .await;
        assert_eq!(status, 200, "{applied}");
        id
    }

    /// Free slot ids of a doctor, earliest first.
    pub async fn free_slots(
        app: &TestApp,
        country: &str,
        doctor: &str,
        count: usize,
    ) -> Vec<String> {
        let speciality = doctor
            .strip_prefix(&format!("{country}-"))
            .and_then(|rest| rest.rsplit_once('-'))
            .map(|(speciality, _)| speciality.to_owned())
            .expect("a doctor id");
        let (status, page) = app
            .get(&format!(
                "/{country}/slot?speciality={speciality}&doctor={doctor}&limit={count}"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        let slots: Vec<String> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|slot| slot["id"].as_str().expect("a slot id").to_owned())
            .collect();
        assert_eq!(slots.len(), count, "{page}");
        slots
    }

    /// One appointment per patient, booked on the doctor's slots in turn:
    /// their ids, and when the last one starts.
    pub async fn booked_visits(
        app: &TestApp,
        country: &str,
        doctor: &str,
        patients: &[String],
    ) -> (Vec<String>, jiff::Timestamp) {
        let speciality = doctor
            .strip_prefix(&format!("{country}-"))
            .and_then(|rest| rest.rsplit_once('-'))
            .map(|(speciality, _)| speciality.to_owned())
            .expect("a doctor id");
        let slots = free_slots(app, country, doctor, patients.len()).await;
        let mut ids = Vec::with_capacity(patients.len());
        let mut last = jiff::Timestamp::UNIX_EPOCH;
        for (patient, slot) in patients.iter().zip(&slots) {
            app.register(country, patient, &format!("Paciente {patient} Pérez"))
                .await;
            let created = app.create(country, patient, &speciality).await;
            let id = created["id"].as_str().expect("an id").to_owned();
            let (status, booked) = app
                .post(
                    &format!("/{country}/appointment/{id}/assign"),
                    json!({ "slot": slot }),
                )
                .await;
            assert_eq!(status, 200, "{booked}");
            let starts: jiff::Timestamp = booked["starts_at"]
                .as_str()
                .and_then(|at| at.parse().ok())
                .expect("a start");
            last = last.max(starts);
            ids.push(id);
        }
        (ids, last)
    }

    /// As [`booked_visits`], then completed once they all started (the
    /// clock moves on to an hour after the last start).
    pub async fn completed_visits(
        app: &TestApp,
        country: &str,
        doctor: &str,
        patients: &[String],
    ) -> Vec<String> {
        let (ids, last) = booked_visits(app, country, doctor, patients).await;
        app.clock.set(last + jiff::SignedDuration::from_hours(1));
        for id in &ids {
            let (status, completed) = app
                .post(&format!("/{country}/appointment/{id}/complete"), json!({}))
                .await;
            assert_eq!(status, 200, "{completed}");
        }
        ids
    }
}

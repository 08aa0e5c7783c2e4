//! Integration tests live in this package (see tests/); this library holds
//! the support they share with the function tests: a seeded local backend,
//! and reading sent emails back.

use std::path::Path;
use std::sync::Arc;

use citas_domain::{ManualClock, Services};

/// Entity builders with sensible defaults (`build::appointment(&PERU, "45678912").build()`).
pub use citas_domain::testkit as build;
use citas_embedded::EmbeddedStore;
use citas_embedded::queue::InProcessQueue;
use citas_local::seed;
use tokio::task::JoinHandle;

use mail_parser::{MessageParser, MimeHeaders};

/// An email as a patient's mail client would see it, decoded from its MIME source.
#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    /// Its `Message-ID`, without the angle brackets.
    pub message_id: Option<String>,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<ReceivedAttachment>,
}

#[derive(Debug, Clone)]
pub struct ReceivedAttachment {
    pub filename: String,
    /// `type/subtype`, without parameters.
    pub content_type: String,
    pub content: String,
}

/// Decodes an RFC 5322 message; panics (failing the test) if it is not one.
pub fn parse_email(raw: &[u8]) -> ReceivedEmail {
    let message = MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("not an RFC 5322 message: {}", String::from_utf8_lossy(raw)));
    let attachments = message
        .attachments()
        .map(|part| ReceivedAttachment {
            filename: part.attachment_name().unwrap_or_default().to_owned(),
            content_type: part
                .content_type()
                .map(|t| format!("{}/{}", t.ctype(), t.subtype().unwrap_or_default()))
                .unwrap_or_default(),
            content: String::from_utf8_lossy(part.contents()).into_owned(),
        })
        .collect();
    ReceivedEmail {
        message_id: message.message_id().map(str::to_owned),
        to: message
            .to()
            .and_then(|to| to.first())
            .and_then(|to| to.address())
            .unwrap_or_default()
            .to_owned(),
        subject: message.subject().unwrap_or_default().to_owned(),
        text: message.body_text(0).unwrap_or_default().into_owned(),
        html: message.body_html(0).unwrap_or_default().into_owned(),
        attachments,
    }
}

/// The `.eml` files of an outbox directory, oldest first (by when they
/// were written, then name), none if it does not exist.
pub fn outbox_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| {
                    let written = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    (written, e.path())
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.into_iter().map(|(_, path)| path).collect()
}

/// Every `.eml` file in an outbox directory, oldest first (none if it does not exist).
pub fn read_outbox(dir: &Path) -> Vec<ReceivedEmail> {
    outbox_files(dir)
        .iter()
        .map(|f| parse_email(&std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()))))
        .collect()
}

/// The moment the fixtures were captured: 2026-11-22, 10:00 in Lima.
pub const FIXTURES_NOW: &str = "2026-11-22T15:00:00Z";

/// A seeded embedded store under `dir`, its clock (at [`FIXTURES_NOW`]), and
/// the local notification path (in-process queue → email pipeline → `<dir>/outbox`).
pub struct LocalBackend {
    pub services: Services,
    pub store: Arc<EmbeddedStore>,
    pub clock: Arc<ManualClock>,
    /// Ends once the queue (in `services`) is dropped and what it holds is sent.
    pub consumer: JoinHandle<()>,
}

pub async fn local_backend(dir: &Path) -> LocalBackend {
    let store = Arc::new(EmbeddedStore::open(dir).expect("store"));
    let seed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed");
    seed::load_dir(store.as_ref(), &seed_dir)
        .await
        .expect("seed");
    let clock = Arc::new(ManualClock::new(FIXTURES_NOW.parse().expect("time")));
    let (queue, consumer) = InProcessQueue::with_outbox(
        store.clone(),
        dir,
        clock.clone(),
        citas_domain::testkit::jitsi_rooms(),
    )
    .expect("calendar key");
    LocalBackend {
        services: Services {
            meetings: citas_domain::testkit::jitsi_rooms(),
            store: store.clone(),
            queue: Arc::new(queue),
            clock: clock.clone(),
            horizon: Default::default(),
            verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
        },
        store,
        clock,
        consumer,
    }
}

/// Asserts a problem+json answer: its status and its stable `code`.
#[track_caller]
pub fn assert_problem(response: (u16, &serde_json::Value), status: u16, code: &str) {
    let (actual, problem) = response;
    assert_eq!(
        (actual, problem["code"].as_str()),
        (status, Some(code)),
        "{problem}"
    );
}

pub use citas_domain::testkit::{NullQueue, RecordingQueue, callers};

/// The claims of a JWT, read as any JWT library would (not verified: the
/// tests read what an identity provider put in its tokens).
pub fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// A Cognito event document of tests/fixtures for this user and pool.
pub fn cognito_event<T: serde::de::DeserializeOwned>(name: &str, user: &str, pool: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    event["userName"] = serde_json::json!(user);
    event["userPoolId"] = serde_json::json!(pool);
    serde_json::from_value(event).expect("a Cognito event")
}

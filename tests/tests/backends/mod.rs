//! Backends for the port tests: the embedded store on a fresh directory, and
//! the DynamoDB adapter on fresh tables (a prefix of their own) on moto.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use citas_aws::OperationCounter;
use citas_domain::Store;
use citas_embedded::EmbeddedStore;
use citas_provision::template::{Template, Variables, ensure_queues, ensure_tables};
use jiff::Timestamp;

/// Runs each named case (an `async fn(&Backend)` of the including file) on
/// every backend: a test module per backend, a test per case.
#[macro_export]
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod embedded_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(&super::backends::embedded().await).await;
                }
            )*
        }
        mod dynamodb_on_moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(&super::backends::dynamodb().await).await;
                }
            )*
        }
    };
}

pub struct Backend {
    pub store: Arc<dyn Store>,
    /// The notification idempotency records of the same backend.
    pub idempotency: Arc<dyn citas_domain::IdempotencyStore>,
    /// Counts the SDK operations the AWS adapter sends.
    pub counter: Option<OperationCounter>,
    /// The table prefix of the AWS adapter's fresh tables.
    pub table_prefix: Option<String>,
    _data_dir: Option<tempfile::TempDir>,
}

pub async fn embedded() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store opens"));
    Backend {
        idempotency: store.clone(),
        store,
        counter: None,
        table_prefix: None,
        _data_dir: Some(dir),
    }
}

/// The moto endpoint started by `scripts/test`.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("MOTO_ENDPOINT is not set: run scripts/test, which starts moto_server and sets it")
    })
}

/// A name prefix no other test (or earlier run on the same moto) uses.
pub fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "c{}-{}-{}-",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        Timestamp::now().as_millisecond() % 1_000_000
    )
}

/// A DynamoDB store on fresh tables (a prefix of their own) created from template.yaml.
pub async fn dynamodb() -> Backend {
    let prefix = unique_prefix();
    let config = citas_provision::sdk_config(&moto_endpoint()).await;
    let template = Template::project(&Variables {
        table_prefix: prefix.clone(),
        ..Variables::default()
    })
    .expect("template");
    ensure_tables(&aws_sdk_dynamodb::Client::new(&config), &template.tables)
        .await
        .expect("tables created on moto");
    let counter = OperationCounter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(counter.clone())
            .build(),
    );
    Backend {
        idempotency: Arc::new(citas_aws::DynamoIdempotency::new(
            client.clone(),
            &citas_aws::TableNames::new(prefix.clone()),
        )),
        store: Arc::new(citas_aws::DynamoStore::new(
            client,
            citas_aws::TableNames::new(prefix.clone()),
        )),
        counter: Some(counter),
        table_prefix: Some(prefix),
        _data_dir: None,
    }
}

/// SQS queues of their own on moto, created from template.yaml; URLs by country code.
pub async fn sqs_queues(
    counter: &OperationCounter,
) -> (
    aws_sdk_sqs::Client,
    std::collections::HashMap<&'static str, String>,
) {
    let config = citas_provision::sdk_config(&moto_endpoint()).await;
    let stack = unique_prefix().trim_end_matches('-').to_owned();
    let template = Template::project(&Variables {
        stack_name: stack.clone(),
        ..Variables::default()
    })
    .expect("template");
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .interceptor(counter.clone())
            .build(),
    );
    let urls = ensure_queues(&client, &template.queues)
        .await
        .expect("queues created on moto");
    let by_country = citas_domain::COUNTRIES
        .iter()
        .filter_map(|c| {
            urls.get(&citas_aws::settings::queue_name(&stack, c))
                .map(|u| (c.code, u.clone()))
        })
        .collect();
    counter.take();
    (client, by_country)
}

/// moto's whole state. It walks every backend's data while other tests
/// change theirs, and may then answer a 500 instead of JSON: asked again.
pub async fn moto_data() -> serde_json::Value {
    let url = format!("{}/moto-api/data.json", moto_endpoint());
    let mut last_error = String::new();
    for _ in 0..5 {
        match reqwest::get(&url).await {
            Ok(response) if response.status().is_success() => match response.json().await {
                Ok(data) => return data,
                Err(error) => last_error = error.to_string(),
            },
            Ok(response) => last_error = format!("status {}", response.status()),
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("moto's data.json: {last_error}");
}

/// What moto's SES v2 has sent so far: each message's first recipient and
/// the message, decoded as a mail client would.
pub async fn ses_sent() -> Vec<(String, citas_e2e::ReceivedEmail)> {
    let data = moto_data().await;
    data["ses"]["RawMessage"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let to = m["destinations"].as_array()?.first()?.as_str()?.to_owned();
            let raw = m["raw_data"].as_str().unwrap_or_default();
            Some((to, citas_e2e::parse_email(raw.as_bytes())))
        })
        .collect()
}

/// Messages on the queue, visible or in flight (SQS's approximate counts).
pub async fn approximate_count(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("attributes");
    attributes
        .attributes()
        .into_iter()
        .flat_map(|a| a.values())
        .filter_map(|v| v.parse::<usize>().ok())
        .sum()
}

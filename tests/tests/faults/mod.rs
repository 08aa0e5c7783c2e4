//! Faults on the AWS wire: a small HTTP proxy between the SDK and moto that
//! answers a chosen share of a service's (or one operation's) calls with
//! throttling, a 500, a reset connection or a delay. The SDK's own retries
//! and timeouts run on them exactly as in production.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Which AWS service a request is for, read from the request as the SDK sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    DynamoDb,
    DynamoDbStreams,
    Sqs,
    Ses,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// The service's throttling error (retried by the SDK with backoff).
    Throttle,
    /// A 500 (retried by the SDK as transient).
    ServerError,
    /// The connection is closed without an answer.
    Reset,
    /// The call is answered, late.
    Delay(Duration),
    /// SES refuses the message for good (`MessageRejected`): retrying will
    /// not help, so it is dead-lettered at once.
    Reject,
}

/// Inject `fault` into `rate` of the calls of `service` (one `operation`, or all).
#[derive(Debug, Clone)]
pub struct Rule {
    pub service: Service,
    pub operation: Option<&'static str>,
    pub rate: f64,
    pub fault: Fault,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    injected: BTreeMap<(Service, Fault), usize>,
    calls: BTreeMap<Service, usize>,
}

/// The proxy: point the SDK at `endpoint` instead of moto's.
pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client = reqwest::Client::new();
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (state, upstream, client) = (shared.clone(), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let (state, upstream, client) =
                            (state.clone(), upstream.clone(), client.clone());
                        async move { handle(&state, &upstream, &client, request).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            endpoint: format!("http://{addr}"),
            state,
            task,
        }
    }

    pub fn set_rules(&self, rules: Vec<Rule>) {
        self.state.lock().expect("lock").rules = rules;
    }

    /// Faults injected so far, by service and kind.
    pub fn injected(&self) -> BTreeMap<(Service, Fault), usize> {
        self.state.lock().expect("lock").injected.clone()
    }

    /// Calls seen so far, by service.
    pub fn calls(&self) -> BTreeMap<Service, usize> {
        self.state.lock().expect("lock").calls.clone()
    }
}

/// The service and operation of a request, as the SDK addresses them.
fn classify(request: &hyper::Request<Incoming>) -> (Service, String) {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(operation) = target.strip_prefix("DynamoDB_20120810.") {
        return (Service::DynamoDb, operation.to_owned());
    }
    if let Some(operation) = target.strip_prefix("DynamoDBStreams_20120810.") {
        return (Service::DynamoDbStreams, operation.to_owned());
    }
    if let Some(operation) = target.strip_prefix("AmazonSQS.") {
        return (Service::Sqs, operation.to_owned());
    }
    if request
        .uri()
        .path()
        .starts_with("/v2/email/outbound-emails")
    {
        return (Service::Ses, "SendEmail".to_owned());
    }
    (Service::Other, String::new())
}

type Answer = Result<hyper::Response<Full<Bytes>>, std::io::Error>;

async fn handle(
    state: &Mutex<State>,
    upstream: &str,
    client: &reqwest::Client,
    request: hyper::Request<Incoming>,
) -> Answer {
    let (service, operation) = classify(&request);
    let fault = {
        let mut state = state.lock().expect("lock");
        *state.calls.entry(service).or_default() += 1;
        let fault = state
            .rules
            .iter()
            .find(|rule| {
                rule.service == service
                    && rule.operation.is_none_or(|o| o == operation)
                    && fastrand::f64() < rule.rate
            })
            .map(|rule| rule.fault);
        if let Some(fault) = fault {
            *state.injected.entry((service, fault)).or_default() += 1;
        }
        fault
    };
    match fault {
        Some(Fault::Throttle) => return Ok(throttled(service)),
        Some(Fault::ServerError) => return Ok(server_error(service)),
        Some(Fault::Reset) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected reset",
            ));
        }
        Some(Fault::Delay(wait)) => tokio::time::sleep(wait).await,
        Some(Fault::Reject) => {
            return Ok(json_error(
                400,
                &[
                    ("content-type", "application/json"),
                    ("x-amzn-errortype", "MessageRejected"),
                ],
                r#"{"message":"injected: the message was rejected"}"#.to_owned(),
            ));
        }
        None => {}
    }
    forward(upstream, client, request).await
}

async fn forward(
    upstream: &str,
    client: &reqwest::Client,
    request: hyper::Request<Incoming>,
) -> Answer {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let url = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
        .map_err(std::io::Error::other)?;
    let mut outgoing = client.request(method, url).body(body.to_vec());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    let response = outgoing.send().await.map_err(std::io::Error::other)?;
    let mut answer = hyper::Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            answer = answer.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = response.bytes().await.map_err(std::io::Error::other)?;
    answer.body(Full::new(bytes)).map_err(std::io::Error::other)
}

fn json_error(status: u16, headers: &[(&str, &str)], body: String) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

/// Each service's own throttling answer.
fn throttled(service: Service) -> hyper::Response<Full<Bytes>> {
    match service {
        Service::Ses => json_error(
            429,
            &[
                ("content-type", "application/json"),
                ("x-amzn-errortype", "TooManyRequestsException"),
            ],
            r#"{"message":"injected: sending rate exceeded"}"#.to_owned(),
        ),
        Service::Sqs => json_error(
            400,
            &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-query-error", "ThrottlingException;Sender"),
            ],
            r#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"injected"}"#.to_owned(),
        ),
        _ => json_error(
            400,
            &[("content-type", "application/x-amz-json-1.0")],
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"injected"}"#
                .to_owned(),
        ),
    }
}

fn server_error(service: Service) -> hyper::Response<Full<Bytes>> {
    match service {
        Service::Ses => json_error(
            500,
            &[
                ("content-type", "application/json"),
                ("x-amzn-errortype", "InternalFailure"),
            ],
            r#"{"message":"injected"}"#.to_owned(),
        ),
        _ => json_error(
            500,
            &[("content-type", "application/x-amz-json-1.0")],
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}"#
                .to_owned(),
        ),
    }
}

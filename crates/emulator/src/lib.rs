//! A local Lambda Runtime API (the `2018-06-01` interface a function's
//! `bootstrap` polls), so tests and benchmarks can run a built function binary
//! exactly as Lambda does: start the process, hand it events, read its answers.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

/// What a function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    Error(Value),
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("the function did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
}

#[derive(Default)]
struct State {
    queued: Mutex<VecDeque<(String, Bytes)>>,
    arrived: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Value>>,
    next_id: Mutex<u64>,
}

/// The emulated Runtime API; its address goes into `AWS_LAMBDA_RUNTIME_API`.
#[derive(Clone)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl RuntimeApi {
    /// Listens on a free loopback port; serves until the process ends.
    pub async fn start() -> Result<Self, EmulatorError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(route(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, state })
    }

    /// Hands the function one event and waits for its answer.
    pub async fn invoke(&self, event: &Value, timeout: Duration) -> Result<Outcome, EmulatorError> {
        let id = {
            let mut next = self.state.next_id.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            format!("req-{next:08}")
        };
        let (sender, receiver) = oneshot::channel();
        self.state
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), sender);
        self.state
            .queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((id, Bytes::from(event.to_string())));
        self.state.arrived.notify_one();
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(outcome)) => Ok(outcome),
            _ => Err(EmulatorError::Timeout(timeout)),
        }
    }

    /// What the function reported if its initialisation failed.
    pub fn init_error(&self) -> Option<Value> {
        self.state
            .init_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The environment a function process needs besides its own configuration.
    pub fn environment(&self, function_name: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", function_name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// The X-Ray trace header the emulator hands the function with a request
/// (`Lambda-Runtime-Trace-Id`): one trace per request id, sampled.
pub fn trace_id_of(request_id: &str) -> String {
    let digits: String = request_id.chars().filter(char::is_ascii_digit).collect();
    format!("Root=1-67000000-{digits:0>24};Parent={digits:0>16};Sampled=1")
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: Bytes) -> Reply {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

async fn route(state: &State, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let parsed = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => next(state).await,
        (
            Method::POST,
            [
                "2018-06-01",
                "runtime",
                "invocation",
                id,
                kind @ ("response" | "error"),
            ],
        ) => {
            let outcome = if *kind == "response" {
                Outcome::Response(parsed())
            } else {
                Outcome::Error(parsed())
            };
            if let Some(waiter) = state
                .waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(*id)
            {
                let _ = waiter.send(outcome);
            }
            reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}"))
        }
        (Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            *state.init_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(parsed());
            reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}"))
        }
        _ => reply(StatusCode::NOT_FOUND, Bytes::new()),
    }
}

/// Long-polls until an event is queued, as the real Runtime API does.
async fn next(state: &State) -> Reply {
    loop {
        let arrived = state.arrived.notified();
        let queued = state
            .queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        if let Some((id, event)) = queued {
            let deadline = jiff::Timestamp::now().as_millisecond() + 60_000;
            let trace = trace_id_of(&id);
            let mut response = reply(StatusCode::OK, event);
            let headers = response.headers_mut();
            let pairs = [
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:local".to_owned(),
                ),
                ("lambda-runtime-trace-id", trace),
            ];
            for (name, value) in pairs {
                if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            return response;
        }
        arrived.await;
    }
}

//! A stand-in for the Amazon Chime SDK Meetings API, which moto does not
//! serve: an HTTP server answering the three calls the Chime adapter makes
//! with the shapes of Chime's REST-JSON API reference, and recording them.
//!
//! - `POST /meetings` (CreateMeeting): the same `ClientRequestToken` gives
//!   the same meeting, as Chime's idempotency does.
//! - `POST /meetings/{MeetingId}/attendees` (CreateAttendee): a new attendee
//!   with a join token; an unknown or deleted meeting is a 404 `NotFoundException`.
//! - `DELETE /meetings/{MeetingId}` (DeleteMeeting): 204; the meeting is gone.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// One call the stand-in answered.
#[derive(Debug, Clone, PartialEq)]
pub struct ChimeCall {
    /// `CreateMeeting`, `CreateAttendee`, `DeleteMeeting` (or `Unknown …`).
    pub operation: String,
    /// The meeting a path names.
    pub meeting_id: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    calls: Vec<ChimeCall>,
    /// Meeting id by client request token.
    by_token: HashMap<String, String>,
    /// Live meetings by id.
    meetings: HashMap<String, Value>,
    next: u32,
}

#[derive(Clone)]
pub struct ChimeStandIn {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl ChimeStandIn {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("its address");
        let state = Arc::new(Mutex::new(State::default()));
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state }
    }

    /// What the adapter's client is pointed at.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<ChimeCall> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .calls
            .clone()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    /// Ends a meeting as Chime does once everyone has left.
    pub fn end_meeting(&self, id: &str) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .meetings
            .remove(id);
    }
}

fn reply(status: StatusCode, body: Option<Value>) -> Response<Full<Bytes>> {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "stand-in");
    if status == StatusCode::NOT_FOUND {
        response = response.header("x-amzn-errortype", "NotFoundException");
    }
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    response
        .body(Full::new(Bytes::from(bytes)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn not_found() -> Response<Full<Bytes>> {
    reply(
        StatusCode::NOT_FOUND,
        Some(json!({ "Code": "NotFound", "Message": "The requested resource was not found." })),
    )
}

async fn answer(state: &Mutex<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let body: Value = match request.into_body().collect().await {
        Ok(collected) => serde_json::from_slice(&collected.to_bytes()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let (operation, meeting_id) = match (&method, segments.as_slice()) {
        (&Method::POST, ["meetings"]) => ("CreateMeeting", None),
        (&Method::POST, ["meetings", id, "attendees"]) => ("CreateAttendee", Some(id.to_string())),
        (&Method::DELETE, ["meetings", id]) => ("DeleteMeeting", Some(id.to_string())),
        _ => ("Unknown", None),
    };
    state.calls.push(ChimeCall {
        operation: if operation == "Unknown" {
            format!("Unknown {method} {path}")
        } else {
            operation.to_owned()
        },
        meeting_id: meeting_id.clone(),
        body: body.clone(),
    });
    match operation {
        "CreateMeeting" => {
            let token = body["ClientRequestToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let region = body["MediaRegion"]
                .as_str()
                .unwrap_or("us-east-1")
                .to_owned();
            let existing = state
                .by_token
                .get(&token)
                .and_then(|id| state.meetings.get(id))
                .cloned();
            let meeting = match existing {
                Some(meeting) => meeting,
                None => {
                    state.next += 1;
                    let id = format!("{:08x}-0000-4000-8000-{:012x}", state.next, state.next);
                    let host = format!("https://{id}.k.m3.{region}.app.chime.aws");
                    let meeting = json!({
                        "MeetingId": id,
                        "ExternalMeetingId": body["ExternalMeetingId"],
                        "MediaRegion": region,
                        "MeetingArn": format!("arn:aws:chime:us-east-1:123456789012:meeting/{id}"),
                        "MediaPlacement": {
                            "AudioHostUrl": format!("{id}.k.m3.{region}.app.chime.aws:3478"),
                            "AudioFallbackUrl": format!("wss://haxrp.m3.{region}.app.chime.aws:443/calls/{id}"),
                            "SignalingUrl": format!("wss://signal.m3.{region}.app.chime.aws/control/{id}"),
                            "TurnControlUrl": format!("{host}/v2/turn_sessions"),
                            "ScreenDataUrl": format!("wss://bitpw.m3.{region}.app.chime.aws:443/v2/screen/{id}"),
                            "ScreenViewingUrl": format!("wss://bitpw.m3.{region}.app.chime.aws:443/ws/connect?passcode=null&viewer_uuid=null&X-BitHub-Call-Id={id}"),
                            "ScreenSharingUrl": format!("wss://bitpw.m3.{region}.app.chime.aws:443/v2/screen/{id}"),
                            "EventIngestionUrl": format!("https://data.svc.{region}.ingest.chime.aws/v1/client-events"),
                        }
                    });
                    state.by_token.insert(token, id.clone());
                    state.meetings.insert(id, meeting.clone());
                    meeting
                }
            };
            reply(StatusCode::OK, Some(json!({ "Meeting": meeting })))
        }
        "CreateAttendee" => {
            let id = meeting_id.unwrap_or_default();
            if !state.meetings.contains_key(&id) {
                return not_found();
            }
            state.next += 1;
            let attendee = json!({
                "ExternalUserId": body["ExternalUserId"],
                "AttendeeId": format!("a{:07x}-0000-4000-8000-{:012x}", state.next, state.next),
                "JoinToken": format!("token-{}-{}", id, state.next),
            });
            reply(StatusCode::OK, Some(json!({ "Attendee": attendee })))
        }
        "DeleteMeeting" => {
            let id = meeting_id.unwrap_or_default();
            if state.meetings.remove(&id).is_none() {
                return not_found();
            }
            reply(StatusCode::NO_CONTENT, None)
        }
        _ => reply(
            StatusCode::BAD_REQUEST,
            Some(json!({ "Code": "BadRequest" })),
        ),
    }
}

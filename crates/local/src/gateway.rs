//! What API Gateway does in front of a function, played locally: a request
//! becomes the HTTP API's v2 event (path parameters, the authorizer's claims,
//! single-valued headers), CORS preflights are answered, and the handler's
//! response goes back to the client.

use std::collections::HashMap;
use std::net::SocketAddr;

use base64::Engine;
use citas_api::{MAX_BODY_BYTES, Problem, RouteMatch, match_route};
use citas_domain::Services;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use lambda_http::Body;
use serde_json::{Value, json};

use crate::server::{ALLOWED_HEADERS, Local, LocalResponse};

/// CORS preflight: an allowed origin may call the local API with JSON and a
/// bearer token (the allowed headers, not whatever is asked for).
pub(crate) fn preflight(allowed: bool) -> LocalResponse {
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    if !allowed {
        return response;
    }
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

pub(crate) async fn forward(
    services: &Services,
    local: &Local,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> LocalResponse {
    let (parts, body) = request.into_parts();
    // A declared length over the limit is refused before any of it is read.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .and_then(|length| length.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return closing(to_local(
            Problem::payload_too_large(MAX_BODY_BYTES).into_response(None),
        ));
    }
    let collected = tokio::time::timeout(
        local.read_timeout,
        Limited::new(body, MAX_BODY_BYTES).collect(),
    )
    .await;
    let Ok(collected) = collected else {
        return closing(to_local(
            Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    local.read_timeout.as_secs()
                ),
            )
            .into_response(None),
        ));
    };
    let body = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return closing(to_local(
                Problem::payload_too_large(MAX_BODY_BYTES).into_response(None),
            ));
        }
        Err(_) => {
            return to_local(
                Problem::bad_request("invalid_body", "the request body could not be read")
                    .into_response(None),
            );
        }
    };
    let path = parts.uri.path();
    // What API Gateway's JWT authorizer does: no valid token, no handler.
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let verified = || {
        local.tokens.verify(authorization).map_err(|error| {
            tracing::info!(%error, "request without a valid token");
            Box::new(to_local(
                Problem::unauthenticated(error.to_string()).into_response(None),
            ))
        })
    };
    if path == "/openapi.json" && parts.method == Method::GET {
        let mut response = hyper::Response::new(Full::new(Bytes::from_static(
            citas_api::OPENAPI_JSON.as_bytes(),
        )));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return response;
    }
    if path.starts_with(crate::identity::AUTH_PREFIX) {
        return to_local(
            crate::identity::on_request(
                services,
                &local.identity,
                parts.method.as_str(),
                path,
                parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok()),
                &body,
            )
            .await,
        );
    }
    if path == crate::reminders::LOCAL_REMIND_PATH && parts.method == Method::POST {
        let claims = match verified() {
            Ok(claims) => claims,
            Err(response) => return *response,
        };
        return to_local(crate::reminders::on_request(services, &claims, &body).await);
    }
    if path == crate::redrive::LOCAL_REDRIVE_PATH && parts.method == Method::POST {
        let claims = match verified() {
            Ok(claims) => claims,
            Err(response) => return *response,
        };
        return to_local(
            crate::redrive::on_request(services, &claims, &body, local.dead_letters.as_ref()).await,
        );
    }
    let (route, params) = match match_route(parts.method.as_str(), path) {
        RouteMatch::Found { route, params } => (route, params),
        RouteMatch::MethodNotAllowed { mut allowed } => {
            if allowed.contains(&"GET") {
                allowed.push("HEAD");
            }
            return to_local(Problem::method_not_allowed(&allowed).into_response(None));
        }
        RouteMatch::NotFound => return to_local(Problem::route_not_found().into_response(None)),
    };
    // API Gateway hands functions path parameters percent-decoded.
    let params = params
        .into_iter()
        .map(|(name, value)| {
            let decoded = percent_encoding::percent_decode_str(&value)
                .decode_utf8_lossy()
                .into_owned();
            (name, decoded)
        })
        .collect();
    let mut event = api_gateway_event(&parts, &body, &route.key(), params, peer);
    if route.action != citas_api::Action::Health {
        match verified() {
            Ok(claims) => {
                event["requestContext"]["authorizer"] =
                    json!({ "jwt": { "claims": claims, "scopes": null } })
            }
            Err(response) => return *response,
        }
    }
    let lambda_request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(%error, "request could not be expressed as an API Gateway event");
            return to_local(
                Problem::bad_request("invalid_request", "the request could not be read")
                    .into_response(None),
            );
        }
    };
    to_local(
        citas_api::handlers::handle_within(
            services,
            route.action,
            lambda_request,
            local.request_deadline,
        )
        .await,
    )
}

/// The HTTP API payload v2 event API Gateway would send for this request.
pub(crate) fn api_gateway_event(
    parts: &hyper::http::request::Parts,
    body: &Bytes,
    route_key: &str,
    params: Vec<(&'static str, String)>,
    peer: SocketAddr,
) -> Value {
    let headers = single_valued(&parts.headers);
    let now = jiff::Timestamp::now();
    let (body, is_base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    };
    let path_parameters: HashMap<&str, String> = params.into_iter().collect();
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": parts.uri.query().unwrap_or_default(),
        "headers": headers,
        "pathParameters": path_parameters,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host").cloned().unwrap_or_else(|| "localhost".into()),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.as_millisecond(),
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

/// API Gateway joins repeated headers with commas and drops non-text values.
pub(crate) fn single_valued(headers: &HeaderMap) -> HashMap<String, String> {
    let mut joined: HashMap<String, String> = HashMap::new();
    for (name, value) in headers {
        if let Ok(value) = value.to_str() {
            joined
                .entry(name.as_str().to_owned())
                .and_modify(|existing| {
                    existing.push(',');
                    existing.push_str(value);
                })
                .or_insert_with(|| value.to_owned());
        }
    }
    joined
}

/// The answer to a request whose body was not read (whole): the connection
/// closes after it, rather than wait for the rest.
pub(crate) fn closing(mut response: LocalResponse) -> LocalResponse {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub(crate) fn to_local(response: lambda_http::Response<Body>) -> LocalResponse {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

//! Hostile input, generated: random methods, paths, query strings, headers,
//! bodies (bytes and JSON) and claims go through the same parsing and handlers
//! a request takes, locally and in Lambda. Nothing may panic, and nothing a
//! client sends may earn a 5xx.

use std::collections::HashMap;
use std::sync::OnceLock;

use citas_domain::{Caller, Services};
use proptest::prelude::*;
use serde_json::{Value, json};

/// One seeded store for every case (opening and seeding one per case is most of the time).
fn shared() -> &'static (tokio::runtime::Runtime, Services, tempfile::TempDir) {
    static SHARED: OnceLock<(tokio::runtime::Runtime, Services, tempfile::TempDir)> =
        OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let dir = tempfile::tempdir().expect("dir");
        let services = runtime
            .block_on(citas_e2e::local_backend(dir.path()))
            .services;
        (runtime, services, dir)
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::from),
        // Values that reach the use cases: documents, specialities, slots.
        prop::sample::select(vec![
            "45678912",
            "12.345.678-5",
            "123456785",
            "cardiologia",
            "Medicina interna",
            "pe-medicina-interna-9999234-1796652000",
            "registered",
            "",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::hash_map(
                prop::sample::select(vec![
                    "document",
                    "name",
                    "email",
                    "speciality",
                    "slot",
                    "reason",
                    "extra",
                    "",
                ]),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(Some),
        json_value().prop_map(|v| Some(v.to_string().into_bytes())),
    ]
}

/// Mostly the API's own routes, with their own method or another and hostile
/// values in their parameters; sometimes anything.
fn request_line() -> impl Strategy<Value = (String, String)> {
    let value = prop_oneof![
        prop::sample::select(vec![
            "pe",
            "cl",
            "xx",
            "20261122-45678912",
            "20261122-12345678-5",
            "20300101-1",
            "%00",
            "..",
            "PE",
            "45678912",
        ])
        .prop_map(str::to_owned),
        "[^/?#]{1,30}",
    ];
    let method = prop_oneof![
        3 => Just(None),
        1 => prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]).prop_map(Some),
    ];
    let routed = (
        prop::sample::select(citas_api::ROUTES.to_vec()),
        method,
        value.clone(),
        value.clone(),
        value,
    )
        .prop_map(|(route, method, country, id, slot)| {
            (
                method.unwrap_or(route.method).to_owned(),
                route
                    .path
                    .replace("{country}", &country)
                    .replace("{id}", &id)
                    .replace("{slot}", &slot),
            )
        });
    prop_oneof![
        4 => routed,
        1 => (
            prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
            "\\PC{0,60}"
        )
            .prop_map(|(m, p)| (m.to_owned(), format!("/{p}"))),
    ]
}

/// Half the time a valid caller (so requests reach the use cases), else anything.
fn claims() -> impl Strategy<Value = HashMap<String, String>> {
    let valid = |groups: &str, country: &str, document: Option<&str>| {
        let mut claims: HashMap<String, String> = [
            ("sub", "fuzz"),
            ("cognito:groups", groups),
            ("custom:country", country),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(document) = document {
            claims.insert("custom:document".into(), document.into());
        }
        claims
    };
    let callers = prop::sample::select(vec![
        valid("[admin]", "pe", None),
        valid("[admin]", "cl", None),
        valid("[patient]", "pe", Some("45678912")),
        valid("[doctor]", "pe", Some("9999234")),
    ]);
    prop_oneof![callers, random_claims()]
}

fn random_claims() -> impl Strategy<Value = HashMap<String, String>> {
    prop::collection::hash_map(
        prop::sample::select(vec![
            "sub",
            "cognito:groups",
            "custom:country",
            "custom:document",
            "other",
        ])
        .prop_map(str::to_owned),
        prop_oneof![
            prop::sample::select(vec![
                "[admin]",
                "[patient]",
                "[doctor]",
                "pe",
                "cl",
                "45678912",
                "x",
            ])
            .prop_map(str::to_owned),
            "\\PC{0,24}",
        ],
        0..5,
    )
}

thread_local! {
    /// Cases that reached a handler on this thread (checked below, so the
    /// generator cannot drift into testing nothing). Per thread: the
    /// harness may run the property itself at the same time on another.
    static HANDLED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[test]
fn most_generated_requests_reach_a_handler() {
    HANDLED.with(|handled| handled.set(0));
    no_request_panics_or_earns_a_server_error();
    let handled = HANDLED.with(std::cell::Cell::get);
    assert!(
        handled >= 100,
        "only {handled} of 300 cases reached a handler"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_request_panics_or_earns_a_server_error(
        (method, path) in request_line(),
        query in "[a-z=&%0-9]{0,40}",
        content_type in prop::sample::select(vec!["application/json", "text/plain", "application/problem+json", ""]),
        body in body(),
        claims in claims(),
    ) {
        let (runtime, services, _) = shared();
        let method = method.as_str();
        let (route_key, params) = match citas_api::match_route(method, &path) {
            citas_api::RouteMatch::Found { route, params } => (route.key(), params),
            _ => return Ok(()), // the server answers 404/405 before any handler
        };
        HANDLED.with(|handled| handled.set(handled.get() + 1));
        let path_parameters: HashMap<&str, String> = params.into_iter().collect();
        let body_text = body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
        let event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": { "content-type": content_type },
            "pathParameters": path_parameters,
            "requestContext": {
                "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "fuzz" },
                "requestId": "fuzz", "routeKey": route_key, "stage": "$default",
                "authorizer": { "jwt": { "claims": claims, "scopes": null } },
            },
            "body": body_text,
            "isBase64Encoded": false,
        });
        // Claims parsing never panics; claims it refuses, the handler
        // refuses too (any route but the health check), unless the path's
        // country is unknown: that is a 404 before anyone is asked who they are.
        let caller = Caller::from_claims(&claims);
        let Ok(request) = lambda_http::request::from_str(&event.to_string()) else {
            return Ok(());
        };
        let action = citas_api::routed_action(&request).expect("a routed request");
        let response = runtime.block_on(citas_api::handle(services, action, request));
        let status = response.status().as_u16();
        prop_assert!(
            status < 500,
            "{method} {path}?{query} {body_text:?} with {claims:?}: {status}"
        );
        if caller.is_err() && action != citas_api::Action::Health {
            prop_assert!(
                status == 401 || status == 403 || status == 404,
                "{method} {path} with refused claims {claims:?}: {status}"
            );
        }
    }

    #[test]
    fn any_text_as_an_event_is_parsed_or_refused_without_panic(text in "\\PC{0,400}") {
        let _ = lambda_http::request::from_str(&text);
    }
}

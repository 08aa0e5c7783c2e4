//! The HTTP layer shared by the Lambda functions and the local server:
//! the route table, request parsing, use-case calls and problem+json errors.
//! Requests and responses are `lambda_http` types shaped like API Gateway
//! HTTP API (payload v2) events, so local and deployed code paths are one.

pub mod body;
pub mod finding_body;
pub mod handlers;
mod path;
pub mod problem;
pub mod routes;
pub mod schedule_body;
pub mod slot_body;

use citas_domain::Services;
use lambda_http::{Body, Request, RequestExt, Response};

pub use handlers::{MAX_BODY_BYTES, handle};
pub use problem::Problem;
pub use routes::{Action, ROUTES, Route, RouteMatch, match_route};

/// The API's OpenAPI 3.1 description (served by the local server at `/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// The response headers a browser's script may read (CORS
/// `Access-Control-Expose-Headers`), the same in template.yaml and locally:
/// where a created resource is, when to retry, and whether an answer may be stale.
pub const EXPOSED_HEADERS: &[&str] = &["location", "retry-after", "warning", "age"];

/// The action API Gateway routed a request to: from the route key of its
/// request context, else (no API Gateway in front) from its method and path.
pub fn routed_action(request: &Request) -> Option<Action> {
    let route_key = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            context.route_key.clone()
        }
        _ => None,
    };
    match route_key {
        Some(key) => ROUTES.iter().find(|r| r.key() == key).map(|r| r.action),
        None => match match_route(request.method().as_str(), request.uri().path()) {
            RouteMatch::Found { route, .. } => Some(route.action),
            _ => None,
        },
    }
}

/// What one Lambda function does with an API Gateway request: the actions it
/// serves are handled, anything else is a 404 (API Gateway should never send it).
pub async fn handle_routed(
    services: &Services,
    serves: &[Action],
    request: Request,
) -> Response<Body> {
    match routed_action(&request) {
        Some(action) if serves.contains(&action) => handle(services, action, request).await,
        _ => Problem::route_not_found().into_response(None),
    }
}

#[cfg(test)]
mod openapi_tests {
    use std::collections::BTreeSet;

    use super::{Action, OPENAPI_JSON, ROUTES};

    #[test]
    fn the_openapi_document_describes_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut described = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                described.insert(format!("{} {path}", method.to_uppercase()));
                let open = operation["security"] == serde_json::json!([]);
                assert_eq!(
                    open,
                    path == "/health",
                    "{method} {path}: only health is open"
                );
                let responses = operation["responses"].as_object().expect("responses");
                if path != "/health" {
                    for status in ["401", "403", "404"] {
                        assert!(responses.contains_key(status), "{method} {path}: {status}");
                    }
                }
            }
        }
        let routed: BTreeSet<String> = ROUTES.iter().map(|r| r.key()).collect();
        assert_eq!(described, routed);
        assert!(ROUTES.iter().any(|r| r.action == Action::Health));
        assert_eq!(doc["security"], serde_json::json!([{ "bearer": [] }]));
    }

    /// The countries are written once in the document, as the domain lists them.
    #[test]
    fn the_openapi_document_names_the_domains_countries_once() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("JSON");
        let codes: Vec<&str> = citas_domain::COUNTRIES.iter().map(|c| c.code).collect();
        let country = &doc["components"]["parameters"]["Country"];
        assert_eq!(country["schema"]["enum"], serde_json::json!(codes));
        // Every route's country is that parameter, never a copy of it.
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    assert_ne!(parameter["name"], "country", "{method} {path}: a copy");
                }
                if path.starts_with("/{country}") {
                    let shared = serde_json::json!({ "$ref": "#/components/parameters/Country" });
                    assert!(
                        operation["parameters"]
                            .as_array()
                            .is_some_and(|all| all.contains(&shared)),
                        "{method} {path}"
                    );
                }
            }
        }
        // Ids that start with a country code accept exactly the domain's.
        let text = OPENAPI_JSON.replace(' ', "");
        let alternation = format!("^({})-", codes.join("|"));
        let patterns: Vec<&str> = text
            .split("\"pattern\":\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|pattern| pattern.starts_with("^(") && pattern.contains(")-"))
            .collect();
        assert!(!patterns.is_empty());
        for pattern in patterns {
            assert!(pattern.starts_with(&alternation), "{pattern}");
        }
    }
}

//! The HTTP layer shared by the Lambda functions and the local server:
//! the route table, request parsing, use-case calls and problem+json errors.
//! Requests and responses are `lambda_http` types shaped like API Gateway
//! HTTP API (payload v2) events, so local and deployed code paths are one.

pub mod handlers;
pub mod problem;
pub mod routes;

use citas_domain::Services;
use lambda_http::{Body, Request, RequestExt, Response};

pub use handlers::{MAX_BODY_BYTES, handle};
pub use problem::Problem;
pub use routes::{Action, ROUTES, Route, RouteMatch, match_route};

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

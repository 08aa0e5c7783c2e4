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

/// Routes a request by method and path, then handles it. Path parameters
/// are taken from the match, as API Gateway would have set them.
pub async fn dispatch(services: &Services, request: Request) -> Response<Body> {
    let path = request.raw_http_path().to_owned();
    let path = if path.is_empty() {
        request.uri().path().to_owned()
    } else {
        path
    };
    match match_route(request.method().as_str(), &path) {
        RouteMatch::Found { route, params } => {
            let params: std::collections::HashMap<String, String> =
                params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            handle(services, route.action, request.with_path_parameters(params)).await
        }
        RouteMatch::MethodNotAllowed { allowed } => {
            Problem::method_not_allowed(&allowed).into_response(None)
        }
        RouteMatch::NotFound => Problem::route_not_found().into_response(None),
    }
}

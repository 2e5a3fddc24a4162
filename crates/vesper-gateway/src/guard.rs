//! The outermost middleware of the API: limits checked from the request line and headers alone,
//! and the one error shape for every answer.
//!
//! - A URI longer than [`MAX_URI_BYTES`] is `414 uri_too_long`; more than [`MAX_HEADERS`]
//!   headers or [`MAX_HEADER_BYTES`] of them is `431 headers_too_large`.
//! - A body whose `Content-Length` exceeds the route's limit is `413 payload_too_large` before a
//!   byte of it is read (the submit routes take `max_submit_bytes`, `POST /api/programs`
//!   `max_program_bytes`, every other route [`SMALL_BODY_BYTES`]).
//! - Any error answer that the HTTP layer made without a JSON body (a 405 from the router, a
//!   400 from a query that does not parse, …) gets the documented body
//!   `{"error": {"code", "message"}}`, with a code for its status.
//!
//! hyper itself still answers requests it cannot parse as HTTP/1.1 at all (and heads past
//! its own, larger limits) with an empty-bodied 400/414/431 and closes the connection: no
//! handler ever sees those.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use vesper_api::ApiErrorCode;

use crate::{ApiError, Gateway};

/// Longest request target (path and query), bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most request headers.
pub const MAX_HEADERS: usize = 64;
/// Most bytes of request headers (names and values).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest body of routes that take none or a small one.
pub const SMALL_BODY_BYTES: u64 = 64 * 1024;

/// The body limit of the route a request matched.
fn body_limit(gw: &Gateway, route: Option<&str>) -> u64 {
    match route {
        Some("/api/submit" | "/api/submit/batch") => gw.config.max_submit_bytes as u64,
        Some("/api/programs" | "/api/deployments") => gw.config.max_program_bytes as u64,
        _ => SMALL_BODY_BYTES,
    }
}

pub async fn guard(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    if let Some(e) = refuse_from_head(&gw, &req) {
        return e.into_response();
    }
    let resp = next.run(req).await;
    with_error_body(resp).await
}

fn refuse_from_head(gw: &Gateway, req: &Request) -> Option<ApiError> {
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().len())
        .unwrap_or(0);
    if target > MAX_URI_BYTES {
        return Some(ApiError::new(
            ApiErrorCode::UriTooLong,
            format!("the request target is over {MAX_URI_BYTES} bytes"),
        ));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            ApiErrorCode::HeadersTooLarge,
            format!("at most {MAX_HEADERS} headers and {MAX_HEADER_BYTES} bytes of them"),
        ));
    }
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
    let limit = body_limit(gw, route);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Some(ApiError::new(
            ApiErrorCode::PayloadTooLarge,
            format!("this route takes bodies of at most {limit} bytes"),
        ));
    }
    None
}

/// Give an error answer without a JSON body the documented one.
async fn with_error_body(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // What the layer said, if anything (a rejection's reason), as the message; bounded.
    let said = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let said = String::from_utf8_lossy(&said);
    let message = match said.trim() {
        "" => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
        s => s.chars().take(300).collect(),
    };
    let json = ApiError::from_http_layer(status, message).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    for (k, v) in json_parts.headers.iter() {
        if k != header::CONTENT_TYPE {
            parts.headers.entry(k).or_insert(v.clone());
        }
    }
    Response::from_parts(parts, Body::new(json_body))
}

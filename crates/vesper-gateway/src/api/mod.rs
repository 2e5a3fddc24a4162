//! Routes and handlers, by concern: `system` (health, metrics, keys, programs), `submit`
//! (single and batch submission), `jobs` (status, result, cancel, listing) and `admin`
//! (workers, pool-key grants, tenants). This module holds the router and the extractors and
//! parsers they share.

pub(crate) mod admin;
pub(crate) mod jobs;
pub(crate) mod operator;
pub(crate) mod submit;
pub(crate) mod system;
pub(crate) mod zk;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use serde::de::DeserializeOwned;
use vesper_api::ApiErrorCode;
use vesper_core::JobId;

use crate::{ApiError, Gateway};
use admin::{
    admin_disable, admin_enable, admin_key_grant, admin_key_requests, admin_tenants, list_workers,
};
use jobs::{cancel, list_jobs, result, status};
use operator::{
    admin_add_wallet, admin_create_key, admin_create_tenant, admin_grant_credits,
    admin_remove_wallet, admin_revoke_key, admin_tenant_settings, whoami,
};
use submit::{submit, submit_batch};
use system::{health, keys, metrics, upload_program};

/// The whole API, with its middleware: request ids, tracing, metrics, authentication and
/// rate limits.
pub fn router(gw: Arc<Gateway>) -> Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    let submit_limit = gw.config.max_submit_bytes;
    let program_limit = gw.config.max_program_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/keys", get(keys))
        .route(
            "/api/programs",
            post(upload_program).layer(DefaultBodyLimit::max(program_limit)),
        )
        .route(
            "/api/submit",
            post(submit).layer(DefaultBodyLimit::max(submit_limit)),
        )
        .route(
            "/api/submit/batch",
            post(submit_batch).layer(DefaultBodyLimit::max(submit_limit)),
        )
        .route("/api/status/{job_id}", get(status))
        .route("/api/result/{job_id}", get(result))
        .route("/api/jobs", get(list_jobs))
        .route("/api/jobs/{job_id}", delete(cancel))
        .route("/api/events", get(crate::stream::events))
        .route("/api/workers", get(list_workers))
        .route("/api/admin/key-requests", get(admin_key_requests))
        .route(
            "/api/admin/key-grants",
            post(admin_key_grant).layer(DefaultBodyLimit::max(64 << 10)),
        )
        .route(
            "/api/admin/tenants",
            get(admin_tenants).post(admin_create_tenant),
        )
        .route("/api/admin/tenants/{name}/keys", post(admin_create_key))
        .route(
            "/api/admin/tenants/{name}/settings",
            axum::routing::put(admin_tenant_settings),
        )
        .route(
            "/api/admin/tenants/{name}/keys/{key_id}",
            delete(admin_revoke_key),
        )
        .route("/api/admin/tenants/{name}/wallets", post(admin_add_wallet))
        .route("/api/admin/wallets/{wallet}", delete(admin_remove_wallet))
        .route("/api/whoami", get(whoami))
        .route("/api/validate", post(zk::validate))
        .route("/api/compile", post(zk::compile))
        .route("/api/deploy", post(zk::deploy))
        .route(
            "/api/deployments",
            post(zk::register_keys).layer(DefaultBodyLimit::max(program_limit)),
        )
        .route(
            "/api/deployments/{customer_id}",
            get(zk::get_deployment)
                .put(zk::update_deployment)
                .delete(zk::delete_deployment),
        )
        .route(
            "/api/deployments/by-image-id/{image_id}",
            get(zk::get_by_image),
        )
        .route("/api/verify", post(zk::verify))
        .route("/api/prove", post(zk::prove))
        .route("/api/load-program", post(zk::load_program))
        .route("/api/status", get(zk::prover_status))
        .route(
            "/api/admin/tenants/{name}/credits",
            post(admin_grant_credits),
        )
        .route("/api/authz", get(crate::gate::authz))
        .route("/api/metrics/series", get(crate::series::metrics_series))
        .route("/api/admin/tenants/{name}/disable", post(admin_disable))
        .route("/api/admin/tenants/{name}/enable", post(admin_enable))
        .route("/api/openapi.json", get(crate::openapi::openapi_json))
        .route("/api/docs", get(crate::openapi::docs_page))
        .merge(crate::console::router())
        .fallback(|| async {
            ApiError::new(ApiErrorCode::RouteNotFound, "no such route")
        })
        .layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            crate::gate::enforce,
        ))
        .layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            crate::auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            crate::guard::guard,
        ))
        .layer(axum::middleware::from_fn(crate::metrics::http_metrics))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<axum::body::Body>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("http", request_id = %id, method = %req.method(), route = %req.uri().path())
                },
            ),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(gw)
}

/// The request id set by the request-id layer (a client-sent `X-Request-Id` is kept if sane).
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
}

/// JSON body extractor whose rejections are typed API errors (400 with the parser's reason,
/// 413 over the size limit), never plain text.
pub struct ApiJson<T>(pub T, pub Bytes);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                ApiErrorCode::InvalidJson,
                format!("request body is not valid: {e}"),
            )
        })?;
        Ok(ApiJson(value, bytes))
    }
}

fn body_rejection(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ApiErrorCode::PayloadTooLarge, "request body too large")
    } else {
        ApiError::new(ApiErrorCode::InvalidBody, "request body could not be read")
    }
}

fn parse_job_id(s: Result<Path<String>, PathRejection>) -> Result<JobId, ApiError> {
    // A malformed id (or one that is not UTF-8 once percent-decoded) cannot name anyone's job:
    // same answer as an unknown one.
    let Ok(Path(s)) = s else {
        return Err(ApiError::job_not_found());
    };
    s.parse().map_err(|_| ApiError::job_not_found())
}

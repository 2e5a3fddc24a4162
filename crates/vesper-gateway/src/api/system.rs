//! `/health`, `/metrics`, `GET /api/keys` and `POST /api/programs`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vesper_api::ApiErrorCode;
use vesper_core::{KeySet, ProgramId, Scope};

use super::body_rejection;
use crate::auth::Caller;
use crate::dto::*;
use crate::openapi::{Forbidden, TooManyRequests, Unauthorized, Unavailable};
use crate::{ApiError, Gateway};

/// Liveness, queue depth and worker count.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "system",
    responses(
        (status = 200, description = "The node is up (`status` `degraded` names supervised tasks that are down or recently restarted)", body = HealthResponse),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn health(
    State(gw): State<Arc<Gateway>>,
) -> Result<Json<HealthResponse>, ApiError> {
    let depth = gw.store.queue_depth().await?;
    let workers = gw.store.workers().await?.len();
    let degraded: Vec<vesper_api::DegradedTask> = gw
        .health
        .report()
        .degraded()
        .map(|t| vesper_api::DegradedTask {
            task: t.name.clone(),
            state: t.state.as_str().into(),
            restarts: t.restarts,
        })
        .collect();
    let status = if degraded.is_empty() {
        "ok"
    } else {
        "degraded"
    };
    Ok(Json(HealthResponse {
        status: status.into(),
        queue_depth: depth,
        worker_count: workers,
        degraded,
    }))
}

/// The pool keys to seal workloads to and the worker keys that sign receipts, signed by the
/// gateway's Ed25519 key (verify before trusting: docs/RECEIPT.md).
#[utoipa::path(
    get,
    path = "/api/keys",
    operation_id = "keys",
    tag = "system",
    responses(
        (status = 200, description = "Pool keys to seal to and worker keys that sign receipts, signed by the gateway", body = KeysResponse),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn keys(State(gw): State<Arc<Gateway>>) -> Result<Json<KeysResponse>, ApiError> {
    let workers = gw.store.workers().await?;
    let set = KeySet {
        pool_keys: gw.pool_keys.iter().map(|k| *k.as_bytes()).collect(),
        worker_keys: workers
            .iter()
            .map(|w| (w.worker_id.clone(), w.pubkey))
            .collect(),
    };
    let signature = gw.identity.sign(vesper_core::KEYSET_DOMAIN, &set.encode());
    Ok(Json(KeysResponse {
        pool_keys: gw
            .pool_keys
            .iter()
            .map(|k| PoolKeyDto {
                key_id: k.key_id().to_string(),
                public_key: b64_encode(k.as_bytes()),
                suite: SUITE.into(),
            })
            .collect(),
        worker_keys: workers
            .iter()
            .map(|w| WorkerKeyDto {
                worker_id: w.worker_id.clone(),
                public_key: hex::encode(w.pubkey),
            })
            .collect(),
        gateway_key: hex::encode(gw.identity.public_key().0),
        signature: hex::encode(signature),
    }))
}

/// Prometheus metrics (docs/OBSERVABILITY.md). Labels carry codes and route templates only.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "system",
    responses(
        (status = 200, description = "Prometheus text exposition format (docs/OBSERVABILITY.md)", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn metrics(State(gw): State<Arc<Gateway>>) -> Result<Response, ApiError> {
    let depth = gw.store.queue_depth().await?;
    let workers = gw.store.workers().await?.len();
    ::metrics::gauge!(crate::metrics::QUEUE_DEPTH).set(depth as f64);
    ::metrics::gauge!(crate::metrics::WORKER_COUNT).set(workers as f64);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        gw.metrics.render(),
    )
        .into_response())
}

/// Register a WebAssembly module; its id is the SHA-256 of its bytes. Idempotent.
#[utoipa::path(
    post,
    path = "/api/programs",
    operation_id = "upload_program",
    tag = "programs",
    request_body(description = "A WebAssembly binary module (starts with `\\0asm`); at most the gateway's `max_program_bytes`", content = inline(WasmModule), content_type = "application/wasm"),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The module was already registered", body = ProgramResponse),
        (status = 201, description = "The module is registered", body = ProgramResponse),
        (status = 400, description = "`invalid_module`: not a WebAssembly binary; `invalid_body`: the body could not be read", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, description = "`payload_too_large`: the module exceeds the size limit", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn upload_program(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    caller.need(Scope::Submit)?;
    let module = body.map_err(body_rejection)?;
    // Shape check only; the worker's compiler is the real validator.
    if module.len() < 8 || &module[..4] != b"\0asm" {
        return Err(ApiError::new(
            ApiErrorCode::InvalidModule,
            "body is not a WebAssembly binary module (missing \\0asm header)",
        ));
    }
    let id = ProgramId::of_module(&module);
    let size = module.len();
    let created = gw
        .store
        .put_program(id, module.to_vec(), gw.clock.now())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ProgramResponse {
            program_id: id.to_string(),
            size,
            created,
        }),
    )
        .into_response())
}

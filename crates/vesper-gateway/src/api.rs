//! Routes and handlers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use vesper_core::{JobId, JobStatus, KeyId, KeySet, Priority, ProgramId, Scope, WorkloadType};
use vesper_crypto::X25519PublicKey;
use vesper_store::{BatchOutcome, CancelOutcome, NewJob, Principal, SubmitOutcome, SubmitQuota};

use crate::auth::Caller;
use crate::dto::*;
use crate::error::Body as ErrorBody;
use crate::openapi::{Forbidden, JobNotFound, TooManyRequests, Unauthorized, Unavailable};
use crate::{ApiError, Gateway};

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
        .route("/api/admin/tenants", get(admin_tenants))
        .route("/api/admin/tenants/{name}/disable", post(admin_disable))
        .route("/api/admin/tenants/{name}/enable", post(admin_enable))
        .route("/api/openapi.json", get(crate::openapi::openapi_json))
        .route("/api/docs", get(crate::openapi::docs_page))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
        })
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
fn request_id(headers: &HeaderMap) -> Option<String> {
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
            ApiError::bad_request("invalid_json", format!("request body is not valid: {e}"))
        })?;
        Ok(ApiJson(value, bytes))
    }
}

fn body_rejection(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body too large",
        )
    } else {
        ApiError::bad_request("invalid_body", "request body could not be read")
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

/// A page cursor: `c` and a positive decimal without leading zeros, at most 18 digits (the
/// OpenAPI pattern `^c[1-9][0-9]{0,17}$`).
fn parse_cursor(c: &str) -> Option<i64> {
    let n = c.strip_prefix('c')?;
    if n.is_empty() || n.len() > 18 || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    n.parse().ok()
}

fn tenant_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "tenant_not_found", "no such tenant")
}

/// Liveness, queue depth and worker count.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "system",
    responses(
        (status = 200, description = "The node is up", body = HealthResponse),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
async fn health(State(gw): State<Arc<Gateway>>) -> Result<Json<HealthResponse>, ApiError> {
    let depth = gw.store.queue_depth().await?;
    let workers = gw.store.workers().await?.len();
    Ok(Json(HealthResponse {
        status: "ok",
        queue_depth: depth,
        worker_count: workers,
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
async fn keys(State(gw): State<Arc<Gateway>>) -> Result<Json<KeysResponse>, ApiError> {
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
                public_key: base64_encode(k.as_bytes()),
                suite: SUITE,
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

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
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
async fn metrics(State(gw): State<Arc<Gateway>>) -> Result<Response, ApiError> {
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
async fn upload_program(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    caller.need(Scope::Submit)?;
    let module = body.map_err(body_rejection)?;
    // Shape check only; the worker's compiler is the real validator.
    if module.len() < 8 || &module[..4] != b"\0asm" {
        return Err(ApiError::bad_request(
            "invalid_module",
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

const MAX_IDEMPOTENCY_KEY: usize = 128;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().ok().filter(|s| {
                !s.is_empty()
                    && s.len() <= MAX_IDEMPOTENCY_KEY
                    && s.bytes().all(|b| b.is_ascii_graphic())
            });
            Ok(Some(
                s.ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_idempotency_key",
                        "Idempotency-Key must be 1-128 printable ASCII characters",
                    )
                })?
                .to_owned(),
            ))
        }
    }
}

/// Validate one submission and build the job to store. Shared by single and batch submit.
async fn prepare_job(
    gw: &Gateway,
    who: &Principal,
    req: SubmitRequest,
    raw_len: usize,
    request_digest: [u8; 32],
    idempotency_key: Option<String>,
    request_id: Option<String>,
) -> Result<NewJob, ApiError> {
    let quotas = &gw.config.quotas;
    let settings = &who.settings;
    if let Some(max) = settings.max_payload_bytes.or(quotas.max_payload_bytes)
        && raw_len as u64 > max
    {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("this tenant's submissions are limited to {max} bytes"),
        ));
    }
    // Shape first (400), then what the values name (422): a malformed request is refused as
    // such even when it also names something unknown.
    let callback_url = match &req.callback_url {
        None => None,
        Some(u) => Some(
            crate::callbacks::validate_callback_url(u, &gw.callback_policy)
                .map_err(|e| match e {
                    crate::callbacks::CallbackError::AddressRefused { .. } => {
                        ApiError::unprocessable(e.code(), e.to_string())
                    }
                    _ => ApiError::bad_request(e.code(), e.to_string()),
                })?
                .to_string(),
        ),
    };
    let workload_type: WorkloadType = req.workload_type.parse().map_err(|_| {
        ApiError::bad_request(
            "unknown_workload_type",
            "workload_type must be one of general, ai_inference, pos_validation",
        )
    })?;
    let key_id: KeyId = req.key_id.parse().map_err(|_| {
        ApiError::bad_request("invalid_key_id", "key_id must be 16 lowercase hex digits")
    })?;
    let client_pubkey = b64_decode(&req.client_pubkey)
        .and_then(|b| X25519PublicKey::from_bytes(&b).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_envelope",
                "client_pubkey must be a base64 X25519 public key (32 bytes)",
            )
        })?;
    let encrypted_key = b64_decode(&req.encrypted_key)
        .filter(|b| b.len() == vesper_crypto::ENC_LEN)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_envelope",
                "encrypted_key must be base64 of the 32-byte HPKE encapsulated key",
            )
        })?;
    let encrypted_payload = b64_decode(&req.encrypted_payload)
        .filter(|b| b.len() >= 16)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_envelope",
                "encrypted_payload must be base64 of an AES-256-GCM ciphertext (at least 16 bytes)",
            )
        })?;
    let program_id = match &req.program_id {
        None => None,
        Some(p) => Some(p.parse::<ProgramId>().map_err(|_| {
            ApiError::bad_request(
                "invalid_program_id",
                "program_id must be 64 lowercase hex digits",
            )
        })?),
    };
    let priority = match req.priority {
        None => Priority::default(),
        Some(p) => Priority::new(p).map_err(|_| {
            ApiError::bad_request("invalid_priority", "priority must be between 1 and 10")
        })?,
    };
    let max_retries = req.max_retries.unwrap_or(gw.config.default_max_retries);
    if max_retries > gw.config.max_retries_cap {
        return Err(ApiError::bad_request(
            "invalid_max_retries",
            format!("max_retries must be at most {}", gw.config.max_retries_cap),
        ));
    }
    let fuel_cap = settings.max_fuel.or(quotas.max_fuel);
    let max_fuel = match (req.max_fuel, fuel_cap) {
        (Some(0), _) => {
            return Err(ApiError::bad_request(
                "invalid_max_fuel",
                "max_fuel must be at least 1",
            ));
        }
        (Some(f), Some(cap)) if f > cap => {
            return Err(ApiError::bad_request(
                "invalid_max_fuel",
                format!("max_fuel must be at most {cap} for this tenant"),
            ));
        }
        (Some(f), _) => Some(f),
        (None, cap) => cap,
    };
    if !gw.pool_keys.iter().any(|k| k.key_id() == key_id) {
        return Err(ApiError::unprocessable(
            "unknown_key_id",
            "key_id names no current pool key; fetch GET /api/keys",
        ));
    }
    if let Some(id) = program_id
        && !gw.store.has_program(id).await?
    {
        return Err(ApiError::unprocessable(
            "program_not_found",
            "program_id is not registered; POST the module to /api/programs first",
        ));
    }
    Ok(NewJob {
        job_id: JobId::new_random(),
        tenant: who.tenant,
        workload_type,
        program_id,
        key_id,
        client_pubkey: *client_pubkey.as_bytes(),
        encrypted_key,
        encrypted_payload,
        priority,
        max_retries,
        created_at: gw.clock.now(),
        idempotency_key,
        request_digest,
        callback_url,
        request_id,
        max_fuel,
        quota: SubmitQuota {
            max_queued: settings.max_queued.or(quotas.max_queued),
            jobs_per_day: settings.jobs_per_day.or(quotas.jobs_per_day),
        },
    })
}

/// The answer to a refused submission (quota or idempotency), `None` if it was accepted.
fn refusal(gw: &Gateway, outcome: &SubmitOutcome) -> Option<ApiError> {
    match outcome {
        SubmitOutcome::Created(_) | SubmitOutcome::Existing(_) => None,
        SubmitOutcome::IdempotencyConflict { existing } => {
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_conflict",
                format!(
                    "Idempotency-Key was already used with a different request, for job {existing}"
                ),
            );
            e.job_id = Some(existing.to_string());
            Some(e)
        }
        SubmitOutcome::QuotaExceeded(kind) => {
            let retry_after = match kind {
                vesper_store::QuotaKind::MaxQueued => 1,
                vesper_store::QuotaKind::JobsPerDay => {
                    let day = 86_400_000;
                    (day - gw.clock.now().0 % day).div_ceil(1000)
                }
            };
            Some(
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "quota_exceeded",
                    format!("the tenant's {} quota is used up", kind.as_str()),
                )
                .with_headers(vec![(
                    "retry-after",
                    axum::http::HeaderValue::from(retry_after),
                )]),
            )
        }
    }
}

async fn submit_response(gw: &Gateway, outcome: &SubmitOutcome) -> SubmitResponse {
    let record = match outcome {
        SubmitOutcome::Created(r) | SubmitOutcome::Existing(r) => r,
        _ => unreachable!("refusals are answered before"),
    };
    if matches!(outcome, SubmitOutcome::Created(_)) {
        ::metrics::counter!(crate::metrics::JOBS_SUBMITTED, "workload_type" => record.workload_type.as_str())
            .increment(1);
    }
    let ahead = jobs_ahead(gw, record.tenant).await;
    SubmitResponse {
        job_id: record.job_id.to_string(),
        status: record.status.as_str(),
        estimated_wait: gw.stats.estimated_wait_secs(ahead),
        created_at: rfc3339(record.created_at),
    }
}

/// Submit one sealed job. Answered after the job is durable (fsynced).
#[utoipa::path(
    post,
    path = "/api/submit",
    operation_id = "submit",
    tag = "jobs",
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 128, pattern = "^[!-~]+$", description = "Makes retries safe: a repeat with the same key and body answers the original job (with `Idempotent-Replayed: true`); the same key with another body is refused (422). 1-128 printable ASCII characters, kept per tenant"),
    ),
    request_body(content = SubmitRequest, description = "A sealed workload (docs/ENVELOPE.md)"),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 202, description = "Accepted: the job is durably queued", body = SubmitResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers an earlier request with the same `Idempotency-Key`")),
            links(("status" = (operation_id = "status", parameters(("job_id" = "$response.body#/job_id")), description = "Follow the job's status")), ("result" = (operation_id = "result", parameters(("job_id" = "$response.body#/job_id")), description = "Fetch the job's result")), ("cancel" = (operation_id = "cancel", parameters(("job_id" = "$response.body#/job_id")), description = "Cancel the job while it is queued")))),
        (status = 400, description = "Malformed request: `invalid_json`, `invalid_envelope`, `unknown_workload_type`, `invalid_key_id`, `invalid_program_id`, `invalid_priority`, `invalid_max_retries`, `invalid_max_fuel`, `invalid_idempotency_key`, `invalid_callback_url`, `invalid_body`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, description = "`payload_too_large`: over the gateway's or the tenant's size limit", body = ErrorBody),
        (status = 422, description = "Well-formed, but naming something unknown or refused: `idempotency_conflict` (the `Idempotency-Key` was used with a different request; `job_id` names the job it belongs to), `unknown_key_id` (no current pool key has this id: fetch `GET /api/keys`), `program_not_found` (`program_id` is not registered), `callback_address_refused` (`callback_url`'s host is an address the gateway does not call)", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
async fn submit(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req, raw): ApiJson<SubmitRequest>,
) -> Result<Response, ApiError> {
    caller.need(Scope::Submit)?;
    let job = prepare_job(
        &gw,
        &caller.0,
        req,
        raw.len(),
        vesper_core::sha256(&[&raw]),
        idempotency_key(&headers)?,
        request_id(&headers),
    )
    .await?;
    let job_id = job.job_id;
    let outcome = gw.store.submit(job).await?;
    if let Some(e) = refusal(&gw, &outcome) {
        return Err(e);
    }
    let replayed = matches!(outcome, SubmitOutcome::Existing(_));
    let body = submit_response(&gw, &outcome).await;
    if !replayed {
        tracing::info!(%job_id, "job accepted");
    }
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    if replayed {
        resp.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
}

/// Submit up to 100 sealed jobs at once, stored all or none.
#[utoipa::path(
    post,
    path = "/api/submit/batch",
    operation_id = "submit_batch",
    tag = "jobs",
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 128, pattern = "^[!-~]+$", description = "Makes retries safe: a repeat with the same key and body answers the original job (with `Idempotent-Replayed: true`); the same key with another body is refused (422). 1-128 printable ASCII characters, kept per tenant"),
    ),
    request_body(content = BatchRequest, description = "1 to `max_batch` (100 by default) sealed workloads, stored all or none; errors name the index `jobs[i]`. Item `i` uses the idempotency key `<Idempotency-Key>#i`."),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 202, description = "Accepted: every job is durably queued, in order", body = BatchResponse,
            links(("status" = (operation_id = "status", parameters(("job_id" = "$response.body#/jobs/0/job_id")), description = "Follow the job's status")), ("result" = (operation_id = "result", parameters(("job_id" = "$response.body#/jobs/0/job_id")), description = "Fetch the job's result")), ("cancel" = (operation_id = "cancel", parameters(("job_id" = "$response.body#/jobs/0/job_id")), description = "Cancel the job while it is queued")))),
        (status = 400, description = "`invalid_batch` (empty or too many), or any submission error of `POST /api/submit` for one item", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "Any 422 of `POST /api/submit` for one item (`idempotency_conflict`, `unknown_key_id`, `program_not_found`, `callback_address_refused`); nothing was stored", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
async fn submit_batch(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req, _raw): ApiJson<BatchRequest>,
) -> Result<Response, ApiError> {
    caller.need(Scope::Submit)?;
    if req.jobs.is_empty() || req.jobs.len() > gw.config.max_batch {
        return Err(ApiError::bad_request(
            "invalid_batch",
            format!("jobs must hold 1 to {} submissions", gw.config.max_batch),
        ));
    }
    let base_key = idempotency_key(&headers)?;
    let rid = request_id(&headers);
    // Validate everything before storing anything.
    let mut jobs = Vec::with_capacity(req.jobs.len());
    for (i, value) in req.jobs.into_iter().enumerate() {
        let item_bytes = serde_json::to_vec(&value).unwrap_or_default();
        let item: SubmitRequest = serde_json::from_value(value).map_err(|e| {
            ApiError::bad_request("invalid_json", format!("jobs[{i}] is not valid: {e}"))
        })?;
        let key = base_key.as_ref().map(|k| format!("{k}#{i}"));
        let job = prepare_job(
            &gw,
            &caller.0,
            item,
            item_bytes.len(),
            vesper_core::sha256(&[&item_bytes]),
            key,
            rid.clone(),
        )
        .await
        .map_err(|mut e| {
            e.message = format!("jobs[{i}]: {}", e.message);
            e
        })?;
        jobs.push(job);
    }
    match gw.store.submit_batch(jobs).await? {
        BatchOutcome::Rejected { index, outcome } => {
            let mut e = refusal(&gw, &outcome).expect("a rejection is a refusal");
            e.message = format!("jobs[{index}]: {}; nothing was stored", e.message);
            Err(e)
        }
        BatchOutcome::Accepted(outcomes) => {
            let mut out = Vec::with_capacity(outcomes.len());
            for o in &outcomes {
                out.push(submit_response(&gw, o).await);
            }
            tracing::info!(jobs = out.len(), "batch accepted");
            Ok((StatusCode::ACCEPTED, Json(BatchResponse { jobs: out })).into_response())
        }
    }
}

/// Jobs that will start before a new job of `tenant`: its own queued jobs, plus, under fair
/// sharing, about as many of each other busy tenant's (weighted), capped by what they have.
async fn jobs_ahead(gw: &Gateway, tenant: vesper_core::TenantId) -> u64 {
    let tenants = tenants_cached(gw).await;
    let Some(me) = tenants.iter().find(|t| t.id == tenant) else {
        return queue_depth_cached(gw).await;
    };
    let mine = me.queued.max(1);
    let my_weight = u64::from(me.settings.weight.max(1));
    tenants
        .iter()
        .map(|t| {
            if t.id == tenant {
                mine - 1
            } else {
                t.queued
                    .min(mine * u64::from(t.settings.weight.max(1)) / my_weight)
            }
        })
        .sum()
}

/// The tenant table (with queue counts), re-read at most once a second.
async fn tenants_cached(gw: &Gateway) -> Arc<Vec<vesper_store::TenantRecord>> {
    let now = gw.clock.now();
    {
        let cache = gw.tenant_cache.lock().expect("tenant cache");
        if let Some((at, t)) = &*cache
            && now.saturating_since(*at) < 1_000
        {
            return t.clone();
        }
    }
    let fresh = Arc::new(gw.store.tenants().await.unwrap_or_default());
    *gw.tenant_cache.lock().expect("tenant cache") = Some((now, fresh.clone()));
    fresh
}

/// Queue depth, re-read at most once a second: counting is not free on a deep queue.
async fn queue_depth_cached(gw: &Gateway) -> u64 {
    let now = gw.clock.now().0;
    let at = gw.stats.depth_at_ms.load(Ordering::Relaxed);
    if now.saturating_sub(at) >= 1_000 {
        gw.stats.depth_at_ms.store(now, Ordering::Relaxed);
        if let Ok(d) = gw.store.queue_depth().await {
            gw.stats.depth.store(d, Ordering::Relaxed);
        }
    }
    gw.stats.depth.load(Ordering::Relaxed)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitQuery {
    #[serde(default)]
    wait: Option<u64>,
}

fn wait_query(
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<u64, ApiError> {
    match q {
        // Any non-negative 64-bit integer (as documented: int64, minimum 0); clamped later.
        Ok(Query(q)) if q.wait.is_none_or(|w| i64::try_from(w).is_ok()) => Ok(q.wait.unwrap_or(0)),
        _ => Err(ApiError::bad_request(
            "invalid_query",
            "only ?wait=SECONDS is accepted",
        )),
    }
}

/// Wait (bounded) until the job is terminal, then return its latest record.
async fn wait_terminal(
    gw: &Gateway,
    tenant: vesper_core::TenantId,
    id: JobId,
    wait_secs: u64,
) -> Result<vesper_store::JobRecord, ApiError> {
    let wait = Duration::from_secs(wait_secs.min(gw.config.max_wait_secs));
    // Park first, then read: a completion between the two cannot be missed.
    let parked = if wait.is_zero() {
        None
    } else {
        gw.waiters.park(id)
    };
    let job = gw
        .store
        .job(tenant, id)
        .await?
        .ok_or_else(ApiError::job_not_found)?;
    if job.status.is_terminal() {
        if parked.is_some() {
            gw.waiters.prune(&id);
        }
        return Ok(job);
    }
    let Some(rx) = parked else { return Ok(job) };
    let woke = tokio::time::timeout(wait, rx).await.is_ok();
    if !woke {
        gw.waiters.prune(&id);
    }
    gw.store
        .job(tenant, id)
        .await?
        .ok_or_else(ApiError::job_not_found)
}

/// A job's status; with `?wait=`, a long poll until it is terminal.
#[utoipa::path(
    get,
    path = "/api/status/{job_id}",
    operation_id = "status",
    tag = "jobs",
    params(
        ("job_id" = String, Path, format = "uuid", description = "The job's id (canonical hyphenated UUID)"),
        ("wait" = Option<u64>, Query, description = "Wait up to this many seconds (capped at the gateway's `max_wait_secs`, 30 by default) for the job to finish before answering"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The job's status (after waiting, if asked, until it is terminal or the wait is over)", body = StatusResponse),
        (status = 400, description = "`invalid_query`: only `?wait=SECONDS` is accepted", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = JobNotFound),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
async fn status(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    job_id: Result<Path<String>, PathRejection>,
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StatusResponse>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let id = parse_job_id(job_id)?;
    let wait = wait_query(q)?;
    let job = wait_terminal(&gw, tenant, id, wait).await?;
    Ok(Json(StatusResponse::from_record(&job)))
}

/// A completed job's sealed result and signed receipt; with `?wait=`, a long poll.
#[utoipa::path(
    get,
    path = "/api/result/{job_id}",
    operation_id = "result",
    tag = "jobs",
    params(
        ("job_id" = String, Path, format = "uuid", description = "The job's id (canonical hyphenated UUID)"),
        ("wait" = Option<u64>, Query, description = "Wait up to this many seconds (capped at the gateway's `max_wait_secs`, 30 by default) for the job to finish before answering"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The sealed result and its signed receipt", body = ResultResponse),
        (status = 400, description = "`invalid_query`: only `?wait=SECONDS` is accepted", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = JobNotFound),
        (status = 409, description = "No result: `result_not_ready` (queued or processing), `job_failed` or `job_cancelled`; `job_status` says which", body = ErrorBody),
        (status = 410, description = "`result_expired`: the result passed its time to live and was deleted", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
async fn result(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    job_id: Result<Path<String>, PathRejection>,
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ResultResponse>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let id = parse_job_id(job_id)?;
    let wait = wait_query(q)?;
    let job = wait_terminal(&gw, tenant, id, wait).await?;
    match job.status {
        JobStatus::Queued | JobStatus::Processing => Err(ApiError::new(
            StatusCode::CONFLICT,
            "result_not_ready",
            "the job has not finished; retry later or pass ?wait=SECONDS",
        )
        .with_job_status(job.status.as_str())),
        JobStatus::Failed => Err(ApiError::new(
            StatusCode::CONFLICT,
            "job_failed",
            format!(
                "the job failed: {}",
                job.error.map(|c| c.as_str()).unwrap_or("unknown")
            ),
        )
        .with_job_status("failed")),
        JobStatus::Cancelled => Err(ApiError::new(
            StatusCode::CONFLICT,
            "job_cancelled",
            "the job was cancelled",
        )
        .with_job_status("cancelled")),
        JobStatus::Completed => {
            let stored = gw
                .store
                .result(tenant, id)
                .await?
                .ok_or_else(ApiError::job_not_found)?;
            match stored.body {
                Some(body) => Ok(Json(ResultResponse::new(&stored.job, &body))),
                None => Err(ApiError::new(
                    StatusCode::GONE,
                    "result_expired",
                    "the result passed its time to live and was deleted",
                )
                .with_job_status("completed")),
            }
        }
    }
}

/// Cancel a queued job.
#[utoipa::path(
    delete,
    path = "/api/jobs/{job_id}",
    operation_id = "cancel",
    tag = "jobs",
    params(
        ("job_id" = String, Path, format = "uuid", description = "The job's id (canonical hyphenated UUID)"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The job is cancelled", body = StatusResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = JobNotFound),
        (status = 409, description = "`not_cancellable`: only queued jobs can be cancelled; `job_status` says where it is", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
async fn cancel(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    job_id: Result<Path<String>, PathRejection>,
) -> Result<Json<StatusResponse>, ApiError> {
    let tenant = caller.need(Scope::Submit)?;
    let id = parse_job_id(job_id)?;
    match gw.store.cancel(tenant, id, gw.clock.now()).await? {
        CancelOutcome::Cancelled(job) => Ok(Json(StatusResponse::from_record(&job))),
        CancelOutcome::NotCancellable(job) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_cancellable",
            "only queued jobs can be cancelled",
        )
        .with_job_status(job.status.as_str())),
        CancelOutcome::NotFound => Err(ApiError::job_not_found()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

const MAX_PAGE: u32 = 100;

/// The caller's jobs, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/jobs",
    operation_id = "list_jobs",
    tag = "jobs",
    params(
        ("status" = Option<JobStatusName>, Query, description = "Only jobs with this status"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, 50 by default"),
        ("cursor" = Option<String>, Query, pattern = "^c[1-9][0-9]{0,17}$", description = "`next_cursor` of the previous page: `c` and a positive decimal number without leading zeros"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "A page of the caller's jobs, newest first", body = JobListResponse,
            links(("status" = (operation_id = "status", parameters(("job_id" = "$response.body#/jobs/0/job_id")), description = "The first job's status")), ("result" = (operation_id = "result", parameters(("job_id" = "$response.body#/jobs/0/job_id")), description = "The first job's result")), ("cancel" = (operation_id = "cancel", parameters(("job_id" = "$response.body#/jobs/0/job_id")), description = "Cancel the first job")))),
        (status = 400, description = "`invalid_query` (unknown parameter, status or limit) or `invalid_cursor`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
async fn list_jobs(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<JobListResponse>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let Ok(Query(q)) = q else {
        return Err(ApiError::bad_request(
            "invalid_query",
            "accepted: ?status=STATUS&limit=1..100&cursor=CURSOR",
        ));
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<JobStatus>().map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                "status must be queued, processing, completed, failed or cancelled",
            )
        })?),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(parse_cursor(c).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "cursor must be `c` and a positive number without leading zeros, as next_cursor gives",
            )
        })?),
    };
    let page = gw.store.list_jobs(tenant, status, before, limit).await?;
    Ok(Json(JobListResponse {
        jobs: page.jobs.iter().map(StatusResponse::from_record).collect(),
        next_cursor: page.next.map(|n| format!("c{n}")),
    }))
}

/// All tenants with their queues and settings.
#[utoipa::path(
    get,
    path = "/api/workers",
    operation_id = "list_workers",
    tag = "workers",
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The pool's workers: capabilities, load, reputation and \
            liveness", body = crate::workers::WorkerListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn list_workers(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
) -> Result<Json<crate::workers::WorkerListResponse>, ApiError> {
    caller.need(Scope::Read)?;
    let mut workers = gw.directory.get().map(|d| d.workers()).unwrap_or_default();
    let known: std::collections::HashSet<String> = workers.iter().map(|w| w.id.clone()).collect();
    for r in gw.store.workers().await? {
        if known.contains(&r.worker_id) {
            continue;
        }
        workers.push(crate::workers::WorkerInfo {
            name: r.worker_id.clone(),
            declared_name: None,
            id: r.worker_id,
            kind: "local".into(),
            cores: 0,
            memory_mb: 0,
            executors: vec!["wasm".into()],
            gpus: vec![],
            price_per_mfuel: 0,
            region: String::new(),
            connected: None,
            last_seen_ms: r.last_seen.0,
            active_leases: 0,
            completed: 0,
            failed: 0,
            expired: 0,
            reputation: vesper_core::placement::Reputation::START,
            ms_per_job: None,
            key_granted: true,
        });
    }
    workers.sort_by(|a, b| (a.kind.as_str(), a.id.as_str()).cmp(&(b.kind.as_str(), b.id.as_str())));
    Ok(Json(crate::workers::WorkerListResponse { workers }))
}

fn p2p_disabled() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "p2p_disabled",
        "this gateway serves no remote workers (start it with --p2p-listen)",
    )
}

#[utoipa::path(
    get,
    path = "/api/admin/key-requests",
    operation_id = "admin_key_requests",
    tag = "admin",
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "Remote workers waiting for the pool keys, with their \
            signed key-exchange keys (docs/NETWORK.md)", body = crate::workers::KeyRequestList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`p2p_disabled`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
    ),
)]
pub(crate) async fn admin_key_requests(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
) -> Result<Json<crate::workers::KeyRequestList>, ApiError> {
    caller.need(Scope::Admin)?;
    let broker = gw.key_broker.get().ok_or_else(p2p_disabled)?;
    Ok(Json(crate::workers::KeyRequestList {
        requests: broker.pending(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/admin/key-grants",
    operation_id = "admin_key_grant",
    tag = "admin",
    request_body = crate::workers::KeyGrantBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 204, description = "The sealed grant is left for the worker"),
        (status = 400, description = "`invalid_json`, `invalid_grant`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`key_request_not_found`: no pending request from this \
            peer with this key", body = ErrorBody),
        (status = 409, description = "`p2p_disabled`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
    ),
)]
pub(crate) async fn admin_key_grant(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<crate::workers::KeyGrantBody>,
) -> Result<StatusCode, ApiError> {
    caller.need(Scope::Admin)?;
    let broker = gw.key_broker.get().ok_or_else(p2p_disabled)?;
    let invalid = |what: &str| ApiError::bad_request("invalid_grant", format!("invalid {what}"));
    let kx: [u8; 32] =
        vesper_core::hex_array(&body.kx_pubkey).ok_or_else(|| invalid("kx_pubkey"))?;
    let sealed = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &body.sealed)
        .map_err(|_| invalid("sealed"))?;
    // enc (32) + tag (16) + at least one 32-byte key; at most 64 epochs.
    if sealed.len() < 32 + 16 + 32 || sealed.len() > 32 + 16 + 32 * 64 {
        return Err(invalid("sealed (length)"));
    }
    if body.key_ids.is_empty()
        || body.key_ids.len() > 64
        || body
            .key_ids
            .iter()
            .any(|k| k.parse::<vesper_core::KeyId>().is_err())
    {
        return Err(invalid("key_ids"));
    }
    if body.peer_id.len() > 128 {
        return Err(invalid("peer_id"));
    }
    if broker.grant(&body.peer_id, kx, sealed, body.key_ids) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "key_request_not_found",
            "no pending key request from this peer with this key",
        ))
    }
}

#[utoipa::path(
    get,
    path = "/api/admin/tenants",
    operation_id = "admin_tenants",
    tag = "admin",
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "All tenants", body = TenantListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
async fn admin_tenants(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
) -> Result<Json<TenantListResponse>, ApiError> {
    caller.need(Scope::Admin)?;
    let tenants = gw.store.tenants().await?;
    Ok(Json(TenantListResponse {
        tenants: tenants.iter().map(TenantDto::from_record).collect(),
    }))
}

async fn admin_set_disabled(
    gw: &Gateway,
    caller: &Caller,
    name: &str,
    disabled: bool,
) -> Result<Json<TenantDto>, ApiError> {
    caller.need(Scope::Admin)?;
    match gw.store.set_tenant_disabled(name, disabled).await {
        Ok(()) => {}
        Err(vesper_store::StoreError::TenantNotFound) => {
            return Err(tenant_not_found());
        }
        Err(e) => return Err(e.into()),
    }
    let t = gw
        .store
        .tenants()
        .await?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(tenant_not_found)?;
    Ok(Json(TenantDto::from_record(&t)))
}

/// Disable a tenant: all its credentials stop working (within the 5 s credential cache).
#[utoipa::path(
    post,
    path = "/api/admin/tenants/{name}/disable",
    operation_id = "admin_disable",
    tag = "admin",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "acme", description = "The tenant's name"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The tenant is disabled: its credentials stop working within 5 s", body = TenantDto,
            links(("enable" = (operation_id = "admin_enable", parameters(("name" = "$response.body#/name")), description = "Enable the tenant again")))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
async fn admin_disable(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<TenantDto>, ApiError> {
    caller.need(Scope::Admin)?;
    let Ok(Path(name)) = name else {
        return Err(tenant_not_found());
    };
    admin_set_disabled(&gw, &caller, &name, true).await
}

/// Enable a tenant again.
#[utoipa::path(
    post,
    path = "/api/admin/tenants/{name}/enable",
    operation_id = "admin_enable",
    tag = "admin",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "acme", description = "The tenant's name"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The tenant is enabled", body = TenantDto,
            links(("disable" = (operation_id = "admin_disable", parameters(("name" = "$response.body#/name")), description = "Disable the tenant")))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
async fn admin_enable(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<TenantDto>, ApiError> {
    caller.need(Scope::Admin)?;
    let Ok(Path(name)) = name else {
        return Err(tenant_not_found());
    };
    admin_set_disabled(&gw, &caller, &name, false).await
}

//! Routes and handlers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use vesper_core::{JobId, JobStatus, KeyId, KeySet, Priority, ProgramId, WorkloadType};
use vesper_crypto::X25519PublicKey;
use vesper_store::{CancelOutcome, NewJob, SubmitOutcome};

use crate::auth::Tenant;
use crate::dto::*;
use crate::{ApiError, Gateway};

/// The whole API.
pub fn router(gw: Arc<Gateway>) -> Router {
    let submit_limit = gw.config.max_submit_bytes;
    let program_limit = gw.config.max_program_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/api/keys", get(keys))
        .route(
            "/api/programs",
            post(upload_program).layer(DefaultBodyLimit::max(program_limit)),
        )
        .route(
            "/api/submit",
            post(submit).layer(DefaultBodyLimit::max(submit_limit)),
        )
        .route("/api/status/{job_id}", get(status))
        .route("/api/result/{job_id}", get(result))
        .route("/api/jobs/{job_id}", delete(cancel))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
        })
        .with_state(gw)
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

fn parse_job_id(s: &str) -> Result<JobId, ApiError> {
    // A malformed id cannot name anyone's job: same answer as an unknown one.
    s.parse().map_err(|_| ApiError::job_not_found())
}

async fn health(State(gw): State<Arc<Gateway>>) -> Result<Json<HealthResponse>, ApiError> {
    let depth = gw.store.queue_depth().await?;
    let workers = gw.store.workers().await?.len();
    Ok(Json(HealthResponse {
        status: "ok",
        queue_depth: depth,
        worker_count: workers,
    }))
}

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

async fn upload_program(
    State(gw): State<Arc<Gateway>>,
    _tenant: Tenant,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
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

async fn submit(
    State(gw): State<Arc<Gateway>>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    ApiJson(req, raw): ApiJson<SubmitRequest>,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let s = v.to_str().ok().filter(|s| {
                !s.is_empty()
                    && s.len() <= MAX_IDEMPOTENCY_KEY
                    && s.bytes().all(|b| b.is_ascii_graphic())
            });
            Some(
                s.ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_idempotency_key",
                        "Idempotency-Key must be 1-128 printable ASCII characters",
                    )
                })?
                .to_owned(),
            )
        }
    };
    if req.callback_url.is_some() {
        return Err(ApiError::bad_request(
            "unsupported_field",
            "callback_url is not supported yet; poll GET /api/result/{job_id}?wait=30",
        ));
    }
    let workload_type: WorkloadType = req.workload_type.parse().map_err(|_| {
        ApiError::bad_request(
            "unknown_workload_type",
            "workload_type must be one of general, ai_inference, pos_validation",
        )
    })?;
    let key_id: KeyId = req
        .key_id
        .parse()
        .map_err(|_| ApiError::bad_request("unknown_key_id", "key_id must be 16 hex digits"))?;
    if !gw.pool_keys.iter().any(|k| k.key_id() == key_id) {
        return Err(ApiError::bad_request(
            "unknown_key_id",
            "key_id names no pool key; fetch GET /api/keys",
        ));
    }
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
        Some(p) => {
            let id: ProgramId = p.parse().map_err(|_| {
                ApiError::bad_request("invalid_program_id", "program_id must be 64 hex digits")
            })?;
            if !gw.store.has_program(id).await? {
                return Err(ApiError::bad_request(
                    "program_not_found",
                    "program_id is not registered; POST the module to /api/programs first",
                ));
            }
            Some(id)
        }
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
    let now = gw.clock.now();
    let job = NewJob {
        job_id: JobId::new_random(),
        tenant,
        workload_type,
        program_id,
        key_id,
        client_pubkey: *client_pubkey.as_bytes(),
        encrypted_key,
        encrypted_payload,
        priority,
        max_retries,
        created_at: now,
        idempotency_key,
        request_digest: vesper_core::sha256(&[&raw]),
    };
    let (record, replayed) = match gw.store.submit(job).await? {
        SubmitOutcome::Created(r) => (r, false),
        SubmitOutcome::Existing(r) => (r, true),
        SubmitOutcome::IdempotencyConflict => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_conflict",
                "Idempotency-Key was already used with a different request",
            ));
        }
    };
    let depth = queue_depth_cached(&gw).await;
    let body = SubmitResponse {
        job_id: record.job_id.to_string(),
        status: record.status.as_str(),
        estimated_wait: gw.stats.estimated_wait_secs(depth),
        created_at: rfc3339(record.created_at),
    };
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    if replayed {
        resp.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
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
        Ok(Query(q)) => Ok(q.wait.unwrap_or(0)),
        Err(_) => Err(ApiError::bad_request(
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
    Ok(gw
        .store
        .job(tenant, id)
        .await?
        .ok_or_else(ApiError::job_not_found)?)
}

async fn status(
    State(gw): State<Arc<Gateway>>,
    Tenant(tenant): Tenant,
    Path(job_id): Path<String>,
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StatusResponse>, ApiError> {
    let id = parse_job_id(&job_id)?;
    let wait = wait_query(q)?;
    let job = wait_terminal(&gw, tenant, id, wait).await?;
    Ok(Json(StatusResponse::from_record(&job)))
}

async fn result(
    State(gw): State<Arc<Gateway>>,
    Tenant(tenant): Tenant,
    Path(job_id): Path<String>,
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ResultResponse>, ApiError> {
    let id = parse_job_id(&job_id)?;
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

async fn cancel(
    State(gw): State<Arc<Gateway>>,
    Tenant(tenant): Tenant,
    Path(job_id): Path<String>,
) -> Result<Json<StatusResponse>, ApiError> {
    let id = parse_job_id(&job_id)?;
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

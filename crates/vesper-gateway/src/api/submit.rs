//! `POST /api/submit` and `POST /api/submit/batch`: validation, quotas, idempotency.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use vesper_api::ApiErrorCode;
use vesper_core::{JobId, KeyId, Priority, ProgramId, Scope, WorkloadType};
use vesper_crypto::X25519PublicKey;
use vesper_store::{BatchOutcome, NewJob, Principal, SubmitOutcome, SubmitQuota};

use super::{ApiJson, request_id};
use crate::auth::Caller;
use crate::dto::*;
use crate::openapi::{Forbidden, TooManyRequests, Unauthorized, Unavailable};
use crate::{ApiError, Gateway};

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
                    ApiError::new(
                        ApiErrorCode::InvalidIdempotencyKey,
                        "Idempotency-Key must be 1-128 printable ASCII characters",
                    )
                })?
                .to_owned(),
            ))
        }
    }
}

/// Validate one submission and build the job to store. Shared by single and batch submit.
pub(crate) async fn prepare_job(
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
            ApiErrorCode::PayloadTooLarge,
            format!("this tenant's submissions are limited to {max} bytes"),
        ));
    }
    // Shape first (400), then what the values name (422): a malformed request is refused as
    // such even when it also names something unknown.
    let callback_url = match &req.callback_url {
        None => None,
        Some(u) => Some(
            crate::callbacks::validate_callback_url(u, &gw.callback_policy)
                .map_err(ApiError::from)?
                .to_string(),
        ),
    };
    let workload_type: WorkloadType = req.workload_type.parse().map_err(|_| {
        ApiError::new(
            ApiErrorCode::UnknownWorkloadType,
            "workload_type must be one of general, ai_inference, pos_validation, zk_proof",
        )
    })?;
    let key_id: KeyId = req.key_id.parse().map_err(|_| {
        ApiError::new(
            ApiErrorCode::InvalidKeyId,
            "key_id must be 16 lowercase hex digits",
        )
    })?;
    let client_pubkey = b64_decode(&req.client_pubkey)
        .and_then(|b| X25519PublicKey::from_bytes(&b).ok())
        .ok_or_else(|| {
            ApiError::new(
                ApiErrorCode::InvalidEnvelope,
                "client_pubkey must be a base64 X25519 public key (32 bytes)",
            )
        })?;
    let encrypted_key = b64_decode(&req.encrypted_key)
        .filter(|b| b.len() == vesper_crypto::ENC_LEN)
        .ok_or_else(|| {
            ApiError::new(
                ApiErrorCode::InvalidEnvelope,
                "encrypted_key must be base64 of the 32-byte HPKE encapsulated key",
            )
        })?;
    let encrypted_payload = b64_decode(&req.encrypted_payload)
        .filter(|b| b.len() >= 16)
        .ok_or_else(|| {
            ApiError::new(
                ApiErrorCode::InvalidEnvelope,
                "encrypted_payload must be base64 of an AES-256-GCM ciphertext (at least 16 bytes)",
            )
        })?;
    let program_id = match &req.program_id {
        None => None,
        Some(p) => Some(p.parse::<ProgramId>().map_err(|_| {
            ApiError::new(
                ApiErrorCode::InvalidProgramId,
                "program_id must be 64 lowercase hex digits",
            )
        })?),
    };
    let priority = match req.priority {
        None => Priority::default(),
        Some(p) => Priority::new(p).map_err(|_| {
            ApiError::new(
                ApiErrorCode::InvalidPriority,
                "priority must be between 1 and 10",
            )
        })?,
    };
    let max_retries = req.max_retries.unwrap_or(gw.config.default_max_retries);
    if max_retries > gw.config.max_retries_cap {
        return Err(ApiError::new(
            ApiErrorCode::InvalidMaxRetries,
            format!("max_retries must be at most {}", gw.config.max_retries_cap),
        ));
    }
    let fuel_cap = settings.max_fuel.or(quotas.max_fuel);
    let max_fuel = match (req.max_fuel, fuel_cap) {
        (Some(0), _) => {
            return Err(ApiError::new(
                ApiErrorCode::InvalidMaxFuel,
                "max_fuel must be at least 1",
            ));
        }
        (Some(f), Some(cap)) if f > cap => {
            return Err(ApiError::new(
                ApiErrorCode::InvalidMaxFuel,
                format!("max_fuel must be at most {cap} for this tenant"),
            ));
        }
        (Some(f), _) => Some(f),
        (None, cap) => cap,
    };
    if !gw.pool_keys.iter().any(|k| k.key_id() == key_id) {
        return Err(ApiError::new(
            ApiErrorCode::UnknownKeyId,
            "key_id names no current pool key; fetch GET /api/keys",
        ));
    }
    if workload_type == WorkloadType::ZkProof {
        // A proof job names one of the tenant's deployments by its image id (docs/DSL.md).
        let found = match program_id {
            Some(id) => gw
                .store
                .deployment_by_image(Some(who.tenant), &id.to_string())
                .await?
                .is_some(),
            None => false,
        };
        if !found {
            return Err(ApiError::new(
                ApiErrorCode::ProgramNotFound,
                "a zk_proof job's program_id is the image id of one of this tenant's deployments",
            ));
        }
    } else if let Some(id) = program_id
        && !gw.store.has_program(id).await?
    {
        return Err(ApiError::new(
            ApiErrorCode::ProgramNotFound,
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
pub(crate) fn refusal(gw: &Gateway, outcome: &SubmitOutcome) -> Option<ApiError> {
    match outcome {
        SubmitOutcome::Created(_) | SubmitOutcome::Existing(_) => None,
        SubmitOutcome::IdempotencyConflict { existing } => {
            let mut e = ApiError::new(
                ApiErrorCode::IdempotencyConflict,
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
                    ApiErrorCode::QuotaExceeded,
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

pub(crate) async fn submit_response(gw: &Gateway, outcome: &SubmitOutcome) -> SubmitResponse {
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
        status: record.status.as_str().to_owned(),
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
        (status = 402, description = "`payment_required`: a `zk_proof` job costs more prepaid credits than the tenant holds (docs/DSL.md §10)", body = ErrorBody),
        (status = 422, description = "Well-formed, but naming something unknown or refused: `idempotency_conflict` (the `Idempotency-Key` was used with a different request; `job_id` names the job it belongs to), `unknown_key_id` (no current pool key has this id: fetch `GET /api/keys`), `program_not_found` (`program_id` is not registered), `callback_address_refused` (`callback_url`'s host is an address the gateway does not call)", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn submit(
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
    let tenant = job.tenant;
    let pay = payment_of(&gw, &job).await?;
    if pay == Pay::Before {
        gw.payments.charge(tenant, job_id, gw.clock.now()).await?;
    }
    let outcome = match gw.store.submit(job).await {
        Ok(o) => o,
        Err(e) => {
            if pay == Pay::Before {
                gw.payments.refund(job_id).await;
            }
            return Err(e.into());
        }
    };
    let replayed = matches!(outcome, SubmitOutcome::Existing(_));
    settle_payment(&gw, tenant, job_id, pay, &outcome).await?;
    if let Some(e) = refusal(&gw, &outcome) {
        return Err(e);
    }
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
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers an earlier batch with the same `Idempotency-Key`")),
            links(("status" = (operation_id = "status", parameters(("job_id" = "$response.body#/jobs/0/job_id")), description = "Follow the job's status")), ("result" = (operation_id = "result", parameters(("job_id" = "$response.body#/jobs/0/job_id")), description = "Fetch the job's result")), ("cancel" = (operation_id = "cancel", parameters(("job_id" = "$response.body#/jobs/0/job_id")), description = "Cancel the job while it is queued")))),
        (status = 400, description = "`invalid_batch` (empty or too many), or any submission error of `POST /api/submit` for one item", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 402, description = "`payment_required`: the batch's `zk_proof` jobs cost more prepaid credits than the tenant holds; nothing was stored", body = ErrorBody),
        (status = 422, description = "Any 422 of `POST /api/submit` for one item (`idempotency_conflict`, `unknown_key_id`, `program_not_found`, `callback_address_refused`); nothing was stored", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn submit_batch(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req, _raw): ApiJson<BatchRequest>,
) -> Result<Response, ApiError> {
    caller.need(Scope::Submit)?;
    if req.jobs.is_empty() || req.jobs.len() > gw.config.max_batch {
        return Err(ApiError::new(
            ApiErrorCode::InvalidBatch,
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
            ApiError::new(
                ApiErrorCode::InvalidJson,
                format!("jobs[{i}] is not valid: {e}"),
            )
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
    // How each item pays; the ones paid before the batch is stored are charged all or none.
    let tenant = caller.0.tenant;
    let mut pays = Vec::with_capacity(jobs.len());
    for j in &jobs {
        pays.push(payment_of(&gw, j).await?);
    }
    let ids: Vec<JobId> = jobs.iter().map(|j| j.job_id).collect();
    let before: Vec<JobId> = ids
        .iter()
        .zip(&pays)
        .filter(|(_, p)| **p == Pay::Before)
        .map(|(id, _)| *id)
        .collect();
    let refund = |charged: &[JobId]| {
        let gw = gw.clone();
        let charged = charged.to_vec();
        async move {
            for id in charged {
                gw.payments.refund(id).await;
            }
        }
    };
    for (n, id) in before.iter().enumerate() {
        if let Err(e) = gw.payments.charge(tenant, *id, gw.clock.now()).await {
            refund(&before[..n]).await;
            return Err(e);
        }
    }
    let outcome = match gw.store.submit_batch(jobs).await {
        Ok(o) => o,
        Err(e) => {
            refund(&before).await;
            return Err(e.into());
        }
    };
    match &outcome {
        BatchOutcome::Rejected { .. } => refund(&before).await,
        // Per item: a replayed item (its key kept from an earlier batch) gives its charge back,
        // a new one stays paid. The batch is stored: a late charge that fails takes back that
        // job alone.
        BatchOutcome::Accepted(outcomes) => {
            for ((id, pay), o) in ids.iter().zip(&pays).zip(outcomes) {
                if let Err(e) = settle_payment(&gw, tenant, *id, *pay, o).await {
                    tracing::warn!(job_id = %id, error = %e.message, "an unpaid proof job was cancelled");
                }
            }
        }
    }
    match outcome {
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
            // Batches are stored all or none, so a repeat of one is a replay of every item.
            let replayed = outcomes
                .iter()
                .all(|o| matches!(o, SubmitOutcome::Existing(_)));
            if !replayed {
                tracing::info!(jobs = out.len(), "batch accepted");
            }
            let mut resp =
                (StatusCode::ACCEPTED, Json(BatchResponse { jobs: out })).into_response();
            if replayed {
                resp.headers_mut().insert(
                    "idempotent-replayed",
                    axum::http::HeaderValue::from_static("true"),
                );
            }
            Ok(resp)
        }
    }
}

/// How a job pays (docs/DSL.md §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pay {
    /// No price: not a `zk_proof` job, or no payment check.
    Free,
    /// Charged before it is stored.
    Before,
    /// Priced, but its idempotency key names a job the store keeps, whose replay (or conflict)
    /// the store answers without a second charge: a retry of a paid request never pays twice,
    /// nor gets `402` for a job that exists.
    Replay,
}

async fn payment_of(gw: &Gateway, job: &NewJob) -> Result<Pay, ApiError> {
    if job.workload_type != WorkloadType::ZkProof || gw.payments.price() == 0 {
        return Ok(Pay::Free);
    }
    let kept = match &job.idempotency_key {
        Some(key) => gw
            .store
            .job_by_idempotency_key(job.tenant, key)
            .await?
            .is_some(),
        None => false,
    };
    Ok(if kept { Pay::Replay } else { Pay::Before })
}

/// Once the store has answered: a charge for a job not created is given back; a job taken for
/// a replay that turned out new (the job its key named was forgotten in between) is charged
/// now, or taken back.
async fn settle_payment(
    gw: &Gateway,
    tenant: vesper_core::TenantId,
    job_id: JobId,
    pay: Pay,
    outcome: &SubmitOutcome,
) -> Result<(), ApiError> {
    let created = matches!(outcome, SubmitOutcome::Created(_));
    match pay {
        Pay::Before if !created => gw.payments.refund(job_id).await,
        Pay::Replay if created => {
            if let Err(e) = gw.payments.charge(tenant, job_id, gw.clock.now()).await {
                let _ = gw.store.cancel(tenant, job_id, gw.clock.now()).await;
                return Err(e);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Jobs that will start before a new job of `tenant`: its own queued jobs, plus, under fair
/// sharing, about as many of each other busy tenant's (weighted), capped by what they have.
pub(crate) async fn jobs_ahead(gw: &Gateway, tenant: vesper_core::TenantId) -> u64 {
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
pub(crate) async fn tenants_cached(gw: &Gateway) -> Arc<Vec<vesper_store::TenantRecord>> {
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
pub(crate) async fn queue_depth_cached(gw: &Gateway) -> u64 {
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

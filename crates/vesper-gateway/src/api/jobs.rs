//! Reading and cancelling jobs: status and result (with long polls), cancel, listing.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use vesper_api::ApiErrorCode;
use vesper_core::{JobId, JobStatus, Scope};
use vesper_store::CancelOutcome;

use super::parse_job_id;
use crate::auth::Caller;
use crate::dto::*;
use crate::openapi::{Forbidden, JobNotFound, TooManyRequests, Unauthorized, Unavailable};
use crate::{ApiError, Gateway};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitQuery {
    #[serde(default)]
    wait: Option<u64>,
}

fn wait_query(
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<u64, ApiError> {
    match q {
        // Any non-negative 64-bit integer (as documented: int64, minimum 0); clamped later.
        Ok(Query(q)) if q.wait.is_none_or(|w| i64::try_from(w).is_ok()) => Ok(q.wait.unwrap_or(0)),
        _ => Err(ApiError::new(
            ApiErrorCode::InvalidQuery,
            "only ?wait=SECONDS is accepted",
        )),
    }
}

/// Wait (bounded) until the job is terminal, then return its latest record.
pub(crate) async fn wait_terminal(
    gw: &Gateway,
    tenant: vesper_core::TenantId,
    id: JobId,
    wait_secs: u64,
) -> Result<vesper_store::JobRecord, ApiError> {
    wait_read(
        gw,
        id,
        wait_secs,
        || gw.store.job(tenant, id),
        |j: &vesper_store::JobRecord| j.status,
    )
    .await
}

/// Read with `read` (the job's record, or its result with the record) and, when the job is
/// not terminal yet and `wait_secs` allows, wait until it is and read once more. A completed
/// job costs one read, a waited-for one two: the long poll reads exactly what it answers with.
async fn wait_read<T, F, Fut>(
    gw: &Gateway,
    id: JobId,
    wait_secs: u64,
    read: F,
    status: impl Fn(&T) -> JobStatus,
) -> Result<T, ApiError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = vesper_store::Result<Option<T>>>,
{
    let wait = Duration::from_secs(wait_secs.min(gw.config.max_wait_secs));
    // Park first, then read: a completion between the two cannot be missed.
    let parked = if wait.is_zero() {
        None
    } else {
        gw.waiters.park(id)
    };
    let first = read().await?.ok_or_else(ApiError::job_not_found)?;
    if status(&first).is_terminal() {
        if parked.is_some() {
            gw.waiters.prune(&id);
        }
        return Ok(first);
    }
    let Some(rx) = parked else { return Ok(first) };
    let woke = tokio::time::timeout(wait, rx).await.is_ok();
    if !woke {
        gw.waiters.prune(&id);
    }
    read().await?.ok_or_else(ApiError::job_not_found)
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
pub(crate) async fn status(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    job_id: Result<Path<String>, PathRejection>,
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StatusResponse>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let id = parse_job_id(job_id)?;
    let wait = wait_query(q)?;
    let job = wait_terminal(&gw, tenant, id, wait).await?;
    Ok(Json(status_response(&job)))
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
pub(crate) async fn result(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    job_id: Result<Path<String>, PathRejection>,
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ResultResponse>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let id = parse_job_id(job_id)?;
    let wait = wait_query(q)?;
    // The result read carries the job's record: no separate status read.
    let stored = wait_read(
        &gw,
        id,
        wait,
        || gw.store.result(tenant, id),
        |s: &vesper_store::StoredResult| s.job.status,
    )
    .await?;
    let job = &stored.job;
    match job.status {
        JobStatus::Queued | JobStatus::Processing => Err(ApiError::new(
            ApiErrorCode::ResultNotReady,
            "the job has not finished; retry later or pass ?wait=SECONDS",
        )
        .with_job_status(job.status.as_str())),
        JobStatus::Failed => Err(ApiError::new(
            ApiErrorCode::JobFailed,
            format!(
                "the job failed: {}",
                job.error.map(|c| c.as_str()).unwrap_or("unknown")
            ),
        )
        .with_job_status(JobStatus::Failed.as_str())),
        JobStatus::Cancelled => Err(ApiError::new(
            ApiErrorCode::JobCancelled,
            "the job was cancelled",
        )
        .with_job_status(JobStatus::Cancelled.as_str())),
        JobStatus::Completed => match &stored.body {
            Some(body) => Ok(Json(result_response(&stored.job, body))),
            None => Err(ApiError::new(
                ApiErrorCode::ResultExpired,
                "the result passed its time to live and was deleted",
            )
            .with_job_status(JobStatus::Completed.as_str())),
        },
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
pub(crate) async fn cancel(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    job_id: Result<Path<String>, PathRejection>,
) -> Result<Json<StatusResponse>, ApiError> {
    let tenant = caller.need(Scope::Submit)?;
    let id = parse_job_id(job_id)?;
    match gw.store.cancel(tenant, id, gw.clock.now()).await? {
        CancelOutcome::Cancelled(job) => Ok(Json(status_response(&job))),
        CancelOutcome::NotCancellable(job) => Err(ApiError::new(
            ApiErrorCode::NotCancellable,
            "only queued jobs can be cancelled",
        )
        .with_job_status(job.status.as_str())),
        CancelOutcome::NotFound => Err(ApiError::job_not_found()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
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
pub(crate) async fn list_jobs(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<JobListResponse>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let Ok(Query(q)) = q else {
        return Err(ApiError::new(
            ApiErrorCode::InvalidQuery,
            "accepted: ?status=STATUS&limit=1..100&cursor=CURSOR",
        ));
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<JobStatus>().map_err(|_| {
            ApiError::new(
                ApiErrorCode::InvalidQuery,
                "status must be queued, processing, completed, failed or cancelled",
            )
        })?),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::new(
            ApiErrorCode::InvalidQuery,
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(parse_cursor(c).ok_or_else(|| {
            ApiError::new(
                ApiErrorCode::InvalidCursor,
                "cursor must be `c` and a positive number without leading zeros, as next_cursor gives",
            )
        })?),
    };
    let page = gw.store.list_jobs(tenant, status, before, limit).await?;
    Ok(Json(JobListResponse {
        jobs: page.jobs.iter().map(status_response).collect(),
        next_cursor: page.next.map(|n| format!("c{n}")),
    }))
}

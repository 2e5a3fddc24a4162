//! From store records to the wire types of `vesper-api` (re-exported here for the handlers),
//! and the wire encodings the handlers share.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use vesper_core::{JobStatus, Timestamp};
use vesper_store::{JobRecord, NewResult, TenantRecord};

pub use vesper_api::*;

/// A tenant as `GET /api/admin/tenants` shows it.
pub fn tenant_dto(t: &TenantRecord) -> TenantDto {
    TenantDto {
        id: t.id.0,
        name: t.name.clone(),
        disabled: t.disabled,
        created_at: rfc3339(t.created_at),
        queued: t.queued,
        weight: t.settings.weight,
        max_queued: t.settings.max_queued,
        jobs_per_day: t.settings.jobs_per_day,
        max_payload_bytes: t.settings.max_payload_bytes,
        max_fuel: t.settings.max_fuel,
        rate_per_sec: t.settings.rate_per_sec,
        burst: t.settings.burst,
    }
}

/// A job's status as `GET /api/status/{job_id}` shows it.
pub fn status_response(j: &JobRecord) -> StatusResponse {
    StatusResponse {
        job_id: j.job_id.to_string(),
        status: j.status.as_str().to_owned(),
        progress: match j.status {
            JobStatus::Queued => Some(0),
            JobStatus::Completed => Some(100),
            _ => None,
        },
        worker_id: j.worker_id.clone(),
        created_at: rfc3339(j.created_at),
        started_at: j.started_at.map(rfc3339),
        completed_at: j.completed_at.map(rfc3339),
        priority: j.priority.get(),
        workload_type: j.workload_type.as_str().to_owned(),
        program_id: j.program_id.map(|p| p.to_string()),
        retry_count: j.retry_count,
        max_retries: j.max_retries,
        attempts: vesper_core::attempts(j.status, j.retry_count),
        error: match (j.status, j.error) {
            (JobStatus::Failed, Some(code)) => Some(ErrorInfo {
                code: code.as_str().to_owned(),
                message: code.describe().to_owned(),
            }),
            _ => None,
        },
    }
}

/// A completed job's sealed result and receipt as `GET /api/result/{job_id}` shows them.
pub fn result_response(job: &JobRecord, body: &NewResult) -> ResultResponse {
    let r = &body.receipt;
    ResultResponse {
        job_id: job.job_id.to_string(),
        status: JobStatus::Completed.as_str().to_owned(),
        encrypted_result: B64.encode(&body.encrypted_result),
        execution_proof: ExecutionProof {
            version: 1,
            job_id: r.job_id.to_string(),
            program_id: r.program_id.to_string(),
            workload_type: r.workload_type.as_str().to_owned(),
            payload_digest: hex::encode(r.payload_digest),
            result_digest: hex::encode(r.result_digest),
            result_hash: hex::encode(r.result_hash),
            fuel_used: r.fuel_used,
            execution_time_ms: r.execution_time_ms,
            started_at: r.started_at.0,
            completed_at: r.completed_at.0,
            worker_id: r.worker_id.clone(),
            worker_pubkey: hex::encode(r.worker_pubkey),
            worker_signature: hex::encode(body.signature),
        },
        completed_at: rfc3339(job.completed_at.unwrap_or(r.completed_at)),
    }
}

pub fn rfc3339(t: Timestamp) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(t.0))
        .to_string()
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}

pub fn b64_encode(b: &[u8]) -> String {
    B64.encode(b)
}

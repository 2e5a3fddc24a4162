//! Wire types of the HTTP API (the seed's field names). Domain types stay out of serde.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use vesper_core::{JobStatus, Timestamp};
use vesper_store::{JobRecord, NewResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    pub encrypted_payload: String,
    pub encrypted_key: String,
    pub client_pubkey: String,
    pub workload_type: String,
    pub key_id: String,
    #[serde(default)]
    pub program_id: Option<String>,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Fuel ceiling for this job (at most the tenant's `max_fuel` quota).
    #[serde(default)]
    pub max_fuel: Option<u64>,
}

/// `POST /api/submit/batch`: up to `max_batch` submissions, stored all or none.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Each item is a `SubmitRequest` (validated one by one, with its index in errors).
    pub jobs: Vec<serde_json::Value>,
}

#[derive(Serialize)]
pub struct BatchResponse {
    pub jobs: Vec<SubmitResponse>,
}

#[derive(Serialize)]
pub struct JobListResponse {
    pub jobs: Vec<StatusResponse>,
    /// Pass as `?cursor=` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
pub struct TenantDto {
    pub id: i64,
    pub name: String,
    pub disabled: bool,
    pub created_at: String,
    pub queued: u64,
    pub weight: u32,
    pub max_queued: Option<u64>,
    pub jobs_per_day: Option<u64>,
    pub max_payload_bytes: Option<u64>,
    pub max_fuel: Option<u64>,
    pub rate_per_sec: Option<u32>,
    pub burst: Option<u32>,
}

impl TenantDto {
    pub fn from_record(t: &vesper_store::TenantRecord) -> Self {
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
}

#[derive(Serialize)]
pub struct TenantListResponse {
    pub tenants: Vec<TenantDto>,
}

#[derive(Serialize)]
pub struct SubmitResponse {
    pub job_id: String,
    pub status: &'static str,
    pub estimated_wait: u64,
    pub created_at: String,
}

#[derive(Serialize)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: &'static str,
}

#[derive(Serialize)]
pub struct StatusResponse {
    pub job_id: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<u8>,
    pub worker_id: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub priority: u8,
    pub workload_type: &'static str,
    pub program_id: Option<String>,
    pub retry_count: u32,
    pub max_retries: u32,
    pub error: Option<ErrorInfo>,
}

impl StatusResponse {
    pub fn from_record(j: &JobRecord) -> Self {
        StatusResponse {
            job_id: j.job_id.to_string(),
            status: j.status.as_str(),
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
            workload_type: j.workload_type.as_str(),
            program_id: j.program_id.map(|p| p.to_string()),
            retry_count: j.retry_count,
            max_retries: j.max_retries,
            error: match (j.status, j.error) {
                (JobStatus::Failed, Some(code)) => Some(ErrorInfo {
                    code: code.as_str(),
                    message: code.describe(),
                }),
                _ => None,
            },
        }
    }
}

/// The seed's `execution_proof`, extended (docs/RECEIPT.md).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ExecutionProof {
    pub version: u8,
    pub job_id: String,
    pub program_id: String,
    pub workload_type: String,
    pub payload_digest: String,
    pub result_digest: String,
    pub result_hash: String,
    pub fuel_used: u64,
    pub execution_time_ms: u64,
    pub started_at: u64,
    pub completed_at: u64,
    pub worker_id: String,
    pub worker_pubkey: String,
    pub worker_signature: String,
}

#[derive(Serialize)]
pub struct ResultResponse {
    pub job_id: String,
    pub status: &'static str,
    pub encrypted_result: String,
    pub execution_proof: ExecutionProof,
    pub completed_at: String,
}

impl ResultResponse {
    pub fn new(job: &JobRecord, body: &NewResult) -> Self {
        let r = &body.receipt;
        ResultResponse {
            job_id: job.job_id.to_string(),
            status: JobStatus::Completed.as_str(),
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
}

#[derive(Serialize)]
pub struct PoolKeyDto {
    pub key_id: String,
    pub public_key: String,
    pub suite: &'static str,
}

#[derive(Serialize)]
pub struct WorkerKeyDto {
    pub worker_id: String,
    pub public_key: String,
}

#[derive(Serialize)]
pub struct KeysResponse {
    pub pool_keys: Vec<PoolKeyDto>,
    pub worker_keys: Vec<WorkerKeyDto>,
    pub gateway_key: String,
    pub signature: String,
}

#[derive(Serialize)]
pub struct ProgramResponse {
    pub program_id: String,
    pub size: usize,
    pub created: bool,
}

#[derive(Serialize)]
pub struct HealthResponse {
    pub status: &'static str,
    pub queue_depth: u64,
    pub worker_count: usize,
}

pub const SUITE: &str = "DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM";

pub fn rfc3339(t: Timestamp) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(t.0))
        .to_string()
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}

//! Wire types of the HTTP API (the seed's field names). Domain types stay out of serde.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vesper_core::{JobStatus, Timestamp};
use vesper_store::{JobRecord, NewResult};

/// A job's status, as it appears on the wire.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // schema only: the handlers write `JobStatus::as_str()`
pub enum JobStatusName {
    Queued,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

/// The kind of workload; informs scheduling and metrics, not execution.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // schema only: the handlers parse `vesper_core::WorkloadType`
pub enum WorkloadTypeName {
    General,
    AiInference,
    PosValidation,
}

/// A WebAssembly binary module, sent as the raw request body.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary, pattern = "^\\x00asm[\\s\\S]{4}")]
#[allow(dead_code)] // schema only: the handler takes the body as bytes
pub struct WasmModule(Vec<u8>);

/// A sealed workload (docs/ENVELOPE.md): HPKE to the pool key named by `key_id`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// Base64 (standard, padded) of the AES-256-GCM ciphertext of the workload plaintext
    /// ("VWL1"); at least 16 bytes once decoded.
    #[schema(
        min_length = 24,
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$",
        example = "3q2+7wAAAAAAAAAAAAAAAAAAAAA="
    )]
    pub encrypted_payload: String,
    /// Base64 of the 32-byte HPKE encapsulated key.
    #[schema(
        min_length = 44,
        max_length = 44,
        pattern = "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$",
        example = "Hs8dBUjjQGk5mU0kH6yqtk5PQkAaZ1J2vS1iRyVGq0M="
    )]
    pub encrypted_key: String,
    /// Base64 of the client's X25519 public key (32 bytes): results are sealed to it.
    #[schema(
        min_length = 44,
        max_length = 44,
        pattern = "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$",
        example = "o8n1Jx8G1x2zPZ2wq0yMw7Xq0rj3dqH6m1nFhN0a5mU="
    )]
    pub client_pubkey: String,
    #[schema(value_type = WorkloadTypeName)]
    pub workload_type: String,
    /// The pool key the payload is sealed to: 16 lowercase hex digits, from `GET /api/keys`
    /// (a well-formed id of no current pool key: `422 unknown_key_id`).
    #[schema(pattern = "^[0-9a-f]{16}$", example = "4f1c2a9d0b7e3356")]
    pub key_id: String,
    /// A registered program (`POST /api/programs`): 64 lowercase hex digits (uppercase is
    /// refused, never normalised; an unregistered one: `422 program_not_found`). Absent or null
    /// when the module travels inside the sealed payload.
    #[serde(default)]
    #[schema(nullable, pattern = "^[0-9a-f]{64}$")]
    pub program_id: Option<String>,
    /// 1 (lowest) to 10 (highest); 5 when absent.
    #[serde(default, deserialize_with = "integral::opt")]
    #[schema(nullable, minimum = 1, maximum = 10)]
    pub priority: Option<i64>,
    /// Retries after transient failures; the gateway's default when absent, at most its cap
    /// (10 by default).
    #[serde(default, deserialize_with = "integral::opt")]
    #[schema(nullable, maximum = 10)]
    pub max_retries: Option<u32>,
    /// `http(s)://` URL that receives signed status events (docs/CALLBACKS.md): a DNS name or
    /// a dotted-quad IPv4 address (an IPv6 literal in brackets is accepted too; the pattern
    /// leaves it out), an optional port, a path and query of URL characters, no userinfo, no
    /// fragment. At most 2000 characters here (the gateway's own limit, 2048 bytes, applies to
    /// the normalised URL). A host the callback policy refuses is `422 callback_address_refused`.
    #[serde(default)]
    #[schema(
        nullable,
        format = "uri",
        max_length = 2000,
        pattern = "^https?://(?:(?:[A-Za-z0-9-]{1,63}\\.)*[A-Za-z][A-Za-z0-9-]{0,62}|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(?::[0-9]{1,4})?(?:[/?][!$&()*+,;=:@%/?A-Za-z0-9._~-]*)?$"
    )]
    pub callback_url: Option<String>,
    /// Fuel ceiling for this job (at most the tenant's `max_fuel` quota).
    #[serde(default, deserialize_with = "integral::opt")]
    #[schema(nullable, minimum = 1, maximum = 18446744073709551615_u64)]
    pub max_fuel: Option<u64>,
}

/// JSON integers as JSON Schema means them: any number with no fractional part (`10` and
/// `10.0` alike), in the target type's range.
mod integral {
    use serde::{Deserialize, Deserializer, de::Error as _};

    pub fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i128>,
    {
        let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
            return Ok(None);
        };
        let whole: Option<i128> = if let Some(v) = n.as_i64() {
            Some(v.into())
        } else if let Some(v) = n.as_u64() {
            Some(v.into())
        } else {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 2f64.powi(64))
                .map(|f| f as i128)
        };
        whole
            .and_then(|v| T::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} is not an integer in range")))
    }
}

/// `POST /api/submit/batch`: up to `max_batch` submissions, stored all or none.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Each item is a `SubmitRequest` (validated one by one, with its index in errors).
    #[schema(value_type = Vec<SubmitRequest>, min_items = 1, max_items = 100)]
    pub jobs: Vec<serde_json::Value>,
}

/// The accepted batch: one entry per submission, in order.
#[derive(Serialize, ToSchema)]
pub struct BatchResponse {
    pub jobs: Vec<SubmitResponse>,
}

/// One page of the caller's jobs, newest first.
#[derive(Serialize, ToSchema)]
pub struct JobListResponse {
    pub jobs: Vec<StatusResponse>,
    /// Pass as `?cursor=` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^c[1-9][0-9]{0,17}$")]
    pub next_cursor: Option<String>,
}

/// A tenant, its queue and its settings (`null`: the gateway's default applies).
#[derive(Serialize, ToSchema)]
pub struct TenantDto {
    pub id: i64,
    pub name: String,
    pub disabled: bool,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub created_at: String,
    pub queued: u64,
    pub weight: u32,
    #[schema(required = true)]
    pub max_queued: Option<u64>,
    #[schema(required = true)]
    pub jobs_per_day: Option<u64>,
    #[schema(required = true)]
    pub max_payload_bytes: Option<u64>,
    #[schema(required = true)]
    pub max_fuel: Option<u64>,
    #[schema(required = true)]
    pub rate_per_sec: Option<u32>,
    #[schema(required = true)]
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

/// All tenants, by id.
#[derive(Serialize, ToSchema)]
pub struct TenantListResponse {
    pub tenants: Vec<TenantDto>,
}

/// An accepted submission (or, with `Idempotent-Replayed: true`, the job an earlier request
/// with the same `Idempotency-Key` created).
#[derive(Serialize, ToSchema)]
pub struct SubmitResponse {
    #[schema(format = "uuid")]
    pub job_id: String,
    #[schema(value_type = JobStatusName)]
    pub status: &'static str,
    /// Rough seconds until the job starts.
    pub estimated_wait: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Why a job failed: a stable code and a fixed sentence (never derived from the workload).
#[derive(Serialize, ToSchema)]
pub struct ErrorInfo {
    #[schema(example = "fuel_exhausted")]
    pub code: &'static str,
    pub message: &'static str,
}

/// A job's status.
#[derive(Serialize, ToSchema)]
pub struct StatusResponse {
    #[schema(format = "uuid")]
    pub job_id: String,
    #[schema(value_type = JobStatusName)]
    pub status: &'static str,
    /// 0 while queued, 100 when completed; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 100)]
    pub progress: Option<u8>,
    #[schema(required = true)]
    pub worker_id: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true, format = DateTime)]
    pub started_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(minimum = 1, maximum = 10)]
    pub priority: u8,
    #[schema(value_type = WorkloadTypeName)]
    pub workload_type: &'static str,
    #[schema(required = true, pattern = "^[0-9a-f]{64}$")]
    pub program_id: Option<String>,
    /// Retries made so far: attempts after the first (the seed's `retry_count`). A job that
    /// gives up keeps the count it had, so it never exceeds `max_retries`.
    pub retry_count: u32,
    pub max_retries: u32,
    /// Attempts started so far: `retry_count`, plus one while a job runs or once it has
    /// finished (a job cancelled while queued started `retry_count`).
    pub attempts: u32,
    /// Set when `status` is `failed`.
    #[schema(required = true)]
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
            attempts: vesper_core::attempts(j.status, j.retry_count),
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

/// The seed's `execution_proof`, extended (docs/RECEIPT.md): the worker's signed receipt.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, ToSchema)]
pub struct ExecutionProof {
    /// Receipt format version: 1.
    #[schema(minimum = 1, maximum = 1)]
    pub version: u8,
    #[schema(format = "uuid")]
    pub job_id: String,
    /// Hex, 32 bytes.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub program_id: String,
    #[schema(value_type = WorkloadTypeName)]
    pub workload_type: String,
    /// SHA-256(encrypted_key || encrypted_payload), hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub payload_digest: String,
    /// SHA-256 of the sealed result, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub result_digest: String,
    /// Salted commitment to the plaintext result, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub result_hash: String,
    pub fuel_used: u64,
    pub execution_time_ms: u64,
    /// Unix milliseconds.
    pub started_at: u64,
    /// Unix milliseconds.
    pub completed_at: u64,
    pub worker_id: String,
    /// Hex of the worker's Ed25519 public key.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub worker_pubkey: String,
    /// Hex of the Ed25519 signature over the receipt (docs/RECEIPT.md §2).
    #[schema(pattern = "^[0-9a-f]{128}$")]
    pub worker_signature: String,
}

/// A completed job's sealed result and receipt.
#[derive(Serialize, ToSchema)]
pub struct ResultResponse {
    #[schema(format = "uuid")]
    pub job_id: String,
    /// Always `completed`.
    #[schema(value_type = JobStatusName)]
    pub status: &'static str,
    /// Base64 of the result sealed to the job's `client_pubkey` (docs/ENVELOPE.md).
    pub encrypted_result: String,
    pub execution_proof: ExecutionProof,
    #[schema(format = DateTime)]
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

/// A pool public key: seal workloads to it.
#[derive(Serialize, ToSchema)]
pub struct PoolKeyDto {
    #[schema(pattern = "^[0-9a-f]{16}$")]
    pub key_id: String,
    /// Base64 of the 32-byte X25519 public key.
    pub public_key: String,
    #[schema(example = "DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM")]
    pub suite: &'static str,
}

/// A worker's receipt-signing key.
#[derive(Serialize, ToSchema)]
pub struct WorkerKeyDto {
    pub worker_id: String,
    /// Hex of the 32-byte Ed25519 public key.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub public_key: String,
}

/// The key list, signed by the gateway (docs/RECEIPT.md, "key set").
#[derive(Serialize, ToSchema)]
pub struct KeysResponse {
    /// Current key first.
    pub pool_keys: Vec<PoolKeyDto>,
    pub worker_keys: Vec<WorkerKeyDto>,
    /// Hex of the gateway's Ed25519 public key.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub gateway_key: String,
    /// Hex of the Ed25519 signature over the encoded key set.
    #[schema(pattern = "^[0-9a-f]{128}$")]
    pub signature: String,
}

/// A registered program.
#[derive(Serialize, ToSchema)]
pub struct ProgramResponse {
    /// SHA-256 of the module, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub program_id: String,
    /// Module size in bytes.
    pub size: usize,
    /// `false` when the same module was already registered.
    pub created: bool,
}

/// Liveness and queue figures.
#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
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

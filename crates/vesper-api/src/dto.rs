//! Request and response bodies of the HTTP API (the seed's field names). Domain types stay
//! out of serde: the gateway converts store records into these, clients parse them.
//!
//! **Invariant:** the JSON of every type here is the wire format. Renaming a field, reordering
//! the fields of a request (`SubmitRequest`'s bytes are hashed for idempotency) or changing a
//! `skip_serializing_if` is a wire change.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A job's status, as it appears on the wire.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
// Schema only: status fields are `vesper_core::JobStatus::as_str()` strings.
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
// Schema only: workload types travel as `vesper_core::WorkloadType::as_str()` strings.
pub enum WorkloadTypeName {
    General,
    AiInference,
    PosValidation,
    ZkProof,
}

/// A WebAssembly binary module, sent as the raw request body.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary, pattern = "^\\x00asm[\\s\\S]{4}")]
// Schema only: the handler takes the body as bytes.
pub struct WasmModule(pub Vec<u8>);

/// A sealed workload (docs/ENVELOPE.md): HPKE to the pool key named by `key_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable, pattern = "^[0-9a-f]{64}$")]
    pub program_id: Option<String>,
    /// 1 (lowest) to 10 (highest); 5 when absent.
    #[serde(
        default,
        deserialize_with = "integral::opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable, minimum = 1, maximum = 10)]
    pub priority: Option<i64>,
    /// `http(s)://` URL that receives signed status events (docs/CALLBACKS.md): a DNS name or
    /// a dotted-quad IPv4 address (an IPv6 literal in brackets is accepted too; the pattern
    /// leaves it out), an optional port, a path and query of URL characters, no userinfo, no
    /// fragment. At most 2000 characters here (the gateway's own limit, 2048 bytes, applies to
    /// the normalised URL). A host the callback policy refuses is `422 callback_address_refused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable,
        format = "uri",
        max_length = 2000,
        pattern = "^https?://(?:(?:[A-Za-z0-9-]{1,63}\\.)*[A-Za-z][A-Za-z0-9-]{0,62}|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(?::[0-9]{1,4})?(?:[/?][!$&()*+,;=:@%/?A-Za-z0-9._~-]*)?$"
    )]
    pub callback_url: Option<String>,
    /// Fuel ceiling for this job (at most the tenant's `max_fuel` quota).
    #[serde(
        default,
        deserialize_with = "integral::opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable, minimum = 1, maximum = 18446744073709551615_u64)]
    pub max_fuel: Option<u64>,
    /// Retries after transient failures; the gateway's default when absent, at most its cap
    /// (10 by default).
    #[serde(
        default,
        deserialize_with = "integral::opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable, maximum = 10)]
    pub max_retries: Option<u32>,
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
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Each item is a `SubmitRequest` (validated one by one, with its index in errors).
    #[schema(value_type = Vec<SubmitRequest>, min_items = 1, max_items = 100)]
    pub jobs: Vec<serde_json::Value>,
}

impl BatchRequest {
    /// The batch of `jobs`, in order. (Items stay JSON values so that the gateway can refuse
    /// a malformed one by its index.)
    pub fn new(jobs: &[SubmitRequest]) -> Self {
        BatchRequest {
            jobs: jobs
                .iter()
                .map(|j| serde_json::to_value(j).expect("a SubmitRequest is plain JSON"))
                .collect(),
        }
    }
}

/// The accepted batch: one entry per submission, in order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    pub jobs: Vec<SubmitResponse>,
}

/// One page of the caller's jobs, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobListResponse {
    pub jobs: Vec<StatusResponse>,
    /// Pass as `?cursor=` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^c[1-9][0-9]{0,17}$")]
    pub next_cursor: Option<String>,
}

/// A tenant, its queue and its settings (`null`: the gateway's default applies).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
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

/// All tenants, by id.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantListResponse {
    pub tenants: Vec<TenantDto>,
}

/// An accepted submission (or, with `Idempotent-Replayed: true`, the job an earlier request
/// with the same `Idempotency-Key` created).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitResponse {
    #[schema(format = "uuid")]
    pub job_id: String,
    #[schema(value_type = JobStatusName)]
    pub status: String,
    /// Rough seconds until the job starts.
    pub estimated_wait: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Why a job failed: a stable code and a fixed sentence (never derived from the workload).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorInfo {
    #[schema(example = "fuel_exhausted")]
    pub code: String,
    pub message: String,
}

/// A job's status.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    #[schema(format = "uuid")]
    pub job_id: String,
    #[schema(value_type = JobStatusName)]
    pub status: String,
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
    pub workload_type: String,
    #[schema(required = true, pattern = "^[0-9a-f]{64}$")]
    pub program_id: Option<String>,
    /// Retries made so far: attempts after the first (the seed's `retry_count`). A job that
    /// gives up keeps the count it had, so it never exceeds `max_retries`.
    pub retry_count: u32,
    pub max_retries: u32,
    /// Attempts started so far: `retry_count`, plus one while a job runs or once it has
    /// finished (a job cancelled while queued started `retry_count`).
    #[serde(default)]
    #[schema(required = true)]
    pub attempts: u32,
    /// Set when `status` is `failed`.
    #[schema(required = true)]
    pub error: Option<ErrorInfo>,
}

/// The data of an `event: status` on the live stream.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusEvent {
    #[schema(format = "uuid")]
    pub job_id: String,
    #[schema(value_type = JobStatusName)]
    pub status: String,
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
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ResultResponse {
    #[schema(format = "uuid")]
    pub job_id: String,
    /// Always `completed`.
    #[schema(value_type = JobStatusName)]
    pub status: String,
    /// Base64 of the result sealed to the job's `client_pubkey` (docs/ENVELOPE.md).
    pub encrypted_result: String,
    pub execution_proof: ExecutionProof,
    #[schema(format = DateTime)]
    pub completed_at: String,
}

/// A pool public key: seal workloads to it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PoolKeyDto {
    #[schema(pattern = "^[0-9a-f]{16}$")]
    pub key_id: String,
    /// Base64 of the 32-byte X25519 public key.
    pub public_key: String,
    #[schema(example = "DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM")]
    pub suite: String,
}

/// A worker's receipt-signing key.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkerKeyDto {
    pub worker_id: String,
    /// Hex of the 32-byte Ed25519 public key.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub public_key: String,
}

/// The key list, signed by the gateway (docs/RECEIPT.md, "key set").
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
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
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProgramResponse {
    /// SHA-256 of the module, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub program_id: String,
    /// Module size in bytes.
    pub size: usize,
    /// `false` when the same module was already registered.
    pub created: bool,
}

/// Liveness and queue figures. `status` is `ok`, or `degraded` while one of the node's
/// supervised tasks is down or was restarted after a failure less than a minute ago; `degraded`
/// then names them (docs/OBSERVABILITY.md, "Supervision").
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok", pattern = "^(ok|degraded)$")]
    pub status: String,
    pub queue_depth: u64,
    pub worker_count: usize,
    /// The degraded tasks; present only when `status` is `degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<DegradedTask>,
}

/// A supervised task that is down, or was restarted after a failure less than a minute ago.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DegradedTask {
    /// The task's name: `worker/w0`, `http`, `sweep`, `callbacks`, `gateway/events`, `p2p/…`.
    #[schema(example = "worker/w0")]
    pub task: String,
    /// `restarting` (waiting out its backoff), `failed` (for good), or `running` (restarted
    /// after a failure less than a minute ago).
    #[schema(example = "restarting", pattern = "^(restarting|failed|running)$")]
    pub state: String,
    /// Restarts after a failure so far.
    pub restarts: u32,
}

/// The HPKE suite of every pool key (docs/ENVELOPE.md).
pub const SUITE: &str = "DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM";

#[cfg(test)]
mod tests {
    use super::*;

    /// The client sends (and journals) these exact bytes; the gateway hashes them for
    /// idempotency, so field order and omitted fields are part of the format.
    #[test]
    fn submit_request_bytes_are_stable() {
        let mut r = SubmitRequest {
            encrypted_payload: "cA==".into(),
            encrypted_key: "aw==".into(),
            client_pubkey: "Yw==".into(),
            workload_type: "general".into(),
            key_id: "4f1c2a9d0b7e3356".into(),
            program_id: None,
            priority: None,
            callback_url: None,
            max_fuel: None,
            max_retries: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"encrypted_payload":"cA==","encrypted_key":"aw==","client_pubkey":"Yw==","workload_type":"general","key_id":"4f1c2a9d0b7e3356"}"#
        );
        r.program_id = Some("ab".into());
        r.priority = Some(7);
        r.callback_url = Some("https://example.com/h".into());
        r.max_fuel = Some(10);
        r.max_retries = Some(2);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.ends_with(
            r#""program_id":"ab","priority":7,"callback_url":"https://example.com/h","max_fuel":10,"max_retries":2}"#
        ));
        assert_eq!(serde_json::from_str::<SubmitRequest>(&json).unwrap(), r);
    }

    #[test]
    fn integral_numbers_are_accepted_and_others_refused() {
        let base = r#""encrypted_payload":"","encrypted_key":"","client_pubkey":"","workload_type":"general","key_id":"""#;
        let parse =
            |extra: &str| serde_json::from_str::<SubmitRequest>(&format!("{{{base}{extra}}}"));
        assert_eq!(parse(r#","priority":10.0"#).unwrap().priority, Some(10));
        assert_eq!(parse(r#","priority":null"#).unwrap().priority, None);
        assert!(parse(r#","priority":1.5"#).is_err());
        assert!(parse(r#","max_retries":-1"#).is_err());
        assert!(parse(r#","unknown":1"#).is_err());
    }
}

use vesper_core::{
    ErrorCode, JobId, JobStatus, KeyId, Priority, ProgramId, Receipt, TenantId, Timestamp,
    WorkerId, WorkloadType,
};

/// A job as submitted: public metadata plus the sealed payload.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub job_id: JobId,
    pub tenant: TenantId,
    pub workload_type: WorkloadType,
    pub program_id: Option<ProgramId>,
    pub key_id: KeyId,
    pub client_pubkey: [u8; 32],
    pub encrypted_key: Vec<u8>,
    pub encrypted_payload: Vec<u8>,
    pub priority: Priority,
    pub max_retries: u32,
    pub created_at: Timestamp,
    /// Client-chosen key making retries of a submit safe.
    pub idempotency_key: Option<String>,
    /// Digest of the request body, to tell a retry from a different request with the same key.
    pub request_digest: [u8; 32],
}

#[derive(Clone, Debug)]
pub enum SubmitOutcome {
    Created(JobRecord),
    /// The idempotency key was seen before with the same request: the original job.
    Existing(JobRecord),
    /// The idempotency key was seen before with a different request.
    IdempotencyConflict,
}

/// A job's public state (no payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    pub job_id: JobId,
    pub tenant: TenantId,
    pub workload_type: WorkloadType,
    pub program_id: Option<ProgramId>,
    pub key_id: KeyId,
    pub priority: Priority,
    pub status: JobStatus,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub worker_id: Option<String>,
    pub retry_count: u32,
    pub max_retries: u32,
    pub error: Option<ErrorCode>,
    pub payload_digest: [u8; 32],
}

/// Names one lease of one job: the fencing token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRef {
    pub job_id: JobId,
    pub epoch: u64,
    pub worker: WorkerId,
}

/// What a worker receives with a lease: everything needed to run the job.
#[derive(Clone, Debug)]
pub struct LeasedJob {
    pub lease: LeaseRef,
    pub lease_expires_at: Timestamp,
    pub workload_type: WorkloadType,
    pub program_id: Option<ProgramId>,
    pub key_id: KeyId,
    pub client_pubkey: [u8; 32],
    pub encrypted_key: Vec<u8>,
    pub encrypted_payload: Vec<u8>,
    pub payload_digest: [u8; 32],
    pub created_at: Timestamp,
    pub retry_count: u32,
}

/// A sealed result with its signed receipt, as a worker hands it in.
#[derive(Clone, Debug)]
pub struct NewResult {
    pub encrypted_result: Vec<u8>,
    pub receipt: Receipt,
    pub signature: [u8; 64],
    pub expires_at: Timestamp,
}

/// A sealed result as stored; `None` body means it expired and was purged.
#[derive(Clone, Debug)]
pub struct StoredResult {
    pub job: JobRecord,
    pub body: Option<NewResult>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled(JobRecord),
    /// Already running or finished: cannot be cancelled.
    NotCancellable(JobRecord),
    NotFound,
}

/// A durable status change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobEvent {
    pub job_id: JobId,
    pub tenant: TenantId,
    pub status: JobStatus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerRecord {
    pub worker_id: String,
    pub pubkey: [u8; 32],
    pub registered_at: Timestamp,
    pub last_seen: Timestamp,
}

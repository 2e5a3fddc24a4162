use vesper_core::{
    ErrorCode, JobId, JobStatus, KeyId, Priority, ProgramId, Receipt, Scopes, TenantId, Timestamp,
    WorkerId, WorkloadType,
};

/// Per-tenant settings. `None` means "the operator's default" (gateway config).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantSettings {
    /// Share of the workers relative to other tenants (fair scheduling), at least 1.
    pub weight: u32,
    /// Most jobs queued (not yet started) at once.
    pub max_queued: Option<u64>,
    /// Most jobs accepted per UTC day.
    pub jobs_per_day: Option<u64>,
    /// Largest submit body, bytes.
    pub max_payload_bytes: Option<u64>,
    /// Most fuel one job may ask for.
    pub max_fuel: Option<u64>,
    /// Sustained requests per second (rate limit).
    pub rate_per_sec: Option<u32>,
    /// Requests allowed in a burst above the sustained rate.
    pub burst: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
    pub disabled: bool,
    pub settings: TenantSettings,
    /// Jobs queued now.
    pub queued: u64,
}

/// Who a credential speaks for and what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    pub scopes: Scopes,
    pub settings: TenantSettings,
}

/// Limits the store enforces atomically with an insert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubmitQuota {
    pub max_queued: Option<u64>,
    pub jobs_per_day: Option<u64>,
}

/// Which quota refused a submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaKind {
    MaxQueued,
    JobsPerDay,
}

impl QuotaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaKind::MaxQueued => "max_queued",
            QuotaKind::JobsPerDay => "jobs_per_day",
        }
    }
}

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
    /// Where to POST status events (validated by the gateway).
    pub callback_url: Option<String>,
    /// The submitting request's id, carried to the worker's logs.
    pub request_id: Option<String>,
    /// Fuel ceiling asked for by the client (the worker's own limit still applies).
    pub max_fuel: Option<u64>,
    pub quota: SubmitQuota,
}

impl NewJob {
    /// The digest of the sealed payload (key and body), as the job's record carries it.
    pub fn payload_digest(&self) -> [u8; 32] {
        vesper_core::sha256(&[&self.encrypted_key, &self.encrypted_payload])
    }

    /// The record this job has the moment it is accepted (queued, never leased): what a
    /// store answers a submit with, without reading back what it just wrote.
    pub fn queued_record(&self, payload_digest: [u8; 32]) -> JobRecord {
        JobRecord {
            job_id: self.job_id,
            tenant: self.tenant,
            workload_type: self.workload_type,
            program_id: self.program_id,
            key_id: self.key_id.clone(),
            priority: self.priority,
            status: JobStatus::Queued,
            created_at: self.created_at,
            started_at: None,
            completed_at: None,
            worker_id: None,
            retry_count: 0,
            max_retries: self.max_retries,
            error: None,
            payload_digest,
        }
    }
}

#[derive(Clone, Debug)]
pub enum SubmitOutcome {
    Created(JobRecord),
    /// The idempotency key was seen before with the same request: the original job.
    Existing(JobRecord),
    /// The idempotency key was seen before with a different request: the job it names (same
    /// tenant: keys are per tenant).
    IdempotencyConflict {
        existing: JobId,
    },
    /// A quota of the tenant is used up; nothing was stored.
    QuotaExceeded(QuotaKind),
}

/// The outcome of an all-or-nothing batch.
#[derive(Clone, Debug)]
pub enum BatchOutcome {
    /// Every job, in order (some may be idempotent replays).
    Accepted(Vec<SubmitOutcome>),
    /// Job `index` was refused with `outcome`; nothing of the batch was stored.
    Rejected {
        index: usize,
        outcome: SubmitOutcome,
    },
}

/// A page of a tenant's jobs, newest first.
#[derive(Clone, Debug)]
pub struct JobPage {
    pub jobs: Vec<JobRecord>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next: Option<i64>,
}

/// A callback owed to a client, claimed for delivery.
#[derive(Clone, Debug)]
pub struct PendingCallback {
    pub job: JobRecord,
    /// The status the event announces (terminal).
    pub status: JobStatus,
    pub url: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What became of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    Delivered,
    /// Try again at `at`.
    Retry {
        at: Timestamp,
        error: String,
    },
    /// Give up.
    Dead {
        error: String,
    },
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
    pub max_fuel: Option<u64>,
    pub request_id: Option<String>,
    /// The job's priority, where the source says (stores do; the remote protocol does not).
    pub priority: Option<Priority>,
}

/// What a batch lease may take ([`crate::QueueStore::lease_batch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseAsk {
    /// At most this many jobs.
    pub max: u32,
    /// After the first job (whatever the scheduler picks, as a single lease would), only jobs
    /// of at least this priority: a worker that has been running higher-priority work leases
    /// lower-priority work one job at a time, so that none of it waits in its batch ahead of
    /// the higher-priority jobs still arriving. `None`: no floor.
    pub floor: Option<Priority>,
}

impl LeaseAsk {
    /// Up to `max` jobs, no floor.
    pub fn up_to(max: u32) -> Self {
        LeaseAsk { max, floor: None }
    }
}

/// A sealed result with its signed receipt, as a worker hands it in.
#[derive(Clone, Debug)]
pub struct NewResult {
    pub encrypted_result: Vec<u8>,
    pub receipt: Receipt,
    pub signature: [u8; 64],
    pub expires_at: Timestamp,
}

impl NewResult {
    /// Refuse a hand-in whose receipt misstates the job `facts` describe (docs/RECEIPT.md §6):
    /// the one check every backend runs before completing.
    pub(crate) fn check_against(
        &self,
        facts: &vesper_core::JobFacts,
        lease: &LeaseRef,
    ) -> Result<(), crate::StoreError> {
        self.receipt
            .check_hand_in(facts, lease.worker.as_str(), &self.encrypted_result)
            .map_err(|field| crate::StoreError::BadReceipt {
                job_id: lease.job_id,
                field,
            })
    }
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

/// What expiring leases did: jobs put back for another attempt, and jobs failed for good
/// (their retries spent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    pub requeued: u64,
    pub failed: u64,
}

impl Expired {
    pub fn total(&self) -> u64 {
        self.requeued + self.failed
    }
    /// Count one applied decision.
    pub fn count(&mut self, d: vesper_core::RetryDecision) {
        match d {
            vesper_core::RetryDecision::Retry { .. } => self.requeued += 1,
            vesper_core::RetryDecision::Fail { .. } => self.failed += 1,
        }
    }
}

impl std::ops::AddAssign for Expired {
    fn add_assign(&mut self, o: Expired) {
        self.requeued += o.requeued;
        self.failed += o.failed;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerRecord {
    pub worker_id: String,
    pub pubkey: [u8; 32],
    pub registered_at: Timestamp,
    pub last_seen: Timestamp,
}

/// A deployment to register (the proof gateway, docs/DSL.md): a customer id's new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDeployment {
    pub tenant: TenantId,
    /// The seed's customer id, e.g. `customer-age_verification-1764575000`.
    pub customer_id: String,
    /// Content address of the circuit and its verifying key (64 lowercase hex).
    pub image_id: String,
    /// The DSL document, canonical JSON.
    pub program: String,
    /// The verifying key, snarkjs JSON.
    pub verifying_key: String,
    /// The proving key (arkworks' compressed encoding), for the workers.
    pub proving_key: Vec<u8>,
    /// Free-form JSON the tenant attached.
    pub metadata: String,
    pub constraints: u64,
    pub created_at: Timestamp,
}

/// A prover process's report of the programs it holds loaded ([`crate::ProverStore`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedReport {
    pub prover: String,
    pub image_ids: Vec<String>,
    pub reported_at: Timestamp,
}

/// A registered deployment version (without its proving key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub tenant: TenantId,
    pub customer_id: String,
    /// 1 for the first registration of a customer id, then one more per update.
    pub version: u32,
    pub image_id: String,
    pub program: String,
    pub verifying_key: String,
    pub metadata: String,
    pub constraints: u64,
    pub created_at: Timestamp,
}

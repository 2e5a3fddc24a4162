//! Durable job store and queue.
//!
//! [`Store`] is the one interface the gateway and workers use; [`SqliteStore`] is the embedded
//! default (rusqlite, WAL, synchronous commits grouped by one writer thread).
//!
//! **Invariants:**
//! - a job returned by [`Store::submit`] is on disk (fsynced) before the call returns;
//! - a job is held by at most one lease at a time; each lease carries a fencing epoch, and
//!   completion or failure with a stale epoch is refused ([`StoreError::Fenced`]);
//! - only ciphertext is stored: payloads and results arrive sealed and leave sealed.
//!
//! **Boundary:** the only crate that imports rusqlite (and, later, redis).

mod error;
mod sqlite;
mod types;

use std::sync::Arc;

use tokio::sync::{Notify, broadcast};
use vesper_core::{
    ErrorCode, JobId, ProgramId, RetryDecision, RetryPolicy, TenantId, Timestamp, WorkerId,
};

pub use error::StoreError;
pub use sqlite::{SqliteOptions, SqliteStore};
pub use types::{
    CancelOutcome, JobEvent, JobRecord, LeaseRef, LeasedJob, NewJob, NewResult, StoredResult,
    SubmitOutcome, WorkerRecord,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The job store, queue and registry. Every backend implements the same behaviour.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    // Tenants and credentials.
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<TenantId>;
    async fn find_tenant(&self, name: &str) -> Result<Option<TenantId>>;
    async fn add_api_key(&self, tenant: TenantId, key_hash: [u8; 32], now: Timestamp)
    -> Result<()>;
    /// The tenant an API key hash belongs to, if the key is live.
    async fn tenant_for_key(&self, key_hash: [u8; 32]) -> Result<Option<TenantId>>;

    // Program registry (content-addressed).
    /// Store a module under its id. Returns `true` when it was new.
    async fn put_program(&self, id: ProgramId, module: Vec<u8>, now: Timestamp) -> Result<bool>;
    async fn get_program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>>;
    async fn has_program(&self, id: ProgramId) -> Result<bool>;

    // Jobs, as seen by tenants.
    async fn submit(&self, job: NewJob) -> Result<SubmitOutcome>;
    async fn job(&self, tenant: TenantId, id: JobId) -> Result<Option<JobRecord>>;
    async fn result(&self, tenant: TenantId, id: JobId) -> Result<Option<StoredResult>>;
    async fn cancel(&self, tenant: TenantId, id: JobId, now: Timestamp) -> Result<CancelOutcome>;
    async fn queue_depth(&self) -> Result<u64>;

    // Jobs, as seen by workers.
    /// Take the best queued job (highest priority, then oldest) under a lease.
    async fn lease(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<Option<LeasedJob>>;
    /// Extend a live lease. `Err(Fenced)` if the lease is no longer held.
    async fn heartbeat(&self, lease: &LeaseRef, now: Timestamp, lease_ms: u64) -> Result<()>;
    /// Store the sealed result and mark the job completed, if `lease` still holds it.
    async fn complete(&self, lease: &LeaseRef, result: NewResult, now: Timestamp) -> Result<()>;
    /// Record a failed attempt: retry with backoff or fail for good, per `policy`.
    async fn fail(
        &self,
        lease: &LeaseRef,
        code: ErrorCode,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<RetryDecision>;
    /// Give a job back without counting an attempt (graceful shutdown).
    async fn release(&self, lease: &LeaseRef) -> Result<()>;
    /// Put back every job whose lease ran out, counting an attempt. Returns how many.
    async fn requeue_expired(&self, now: Timestamp, policy: RetryPolicy) -> Result<u64>;
    /// Expire every lease held by workers whose id starts with `prefix` (they are known dead:
    /// the process that ran them restarted), as if their leases had run out.
    async fn expire_leases_of(
        &self,
        prefix: &str,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<u64>;
    /// Delete sealed results (and payloads) past their time to live. Returns how many.
    async fn purge_expired_results(&self, now: Timestamp) -> Result<u64>;

    // Workers.
    async fn register_worker(&self, id: &WorkerId, pubkey: [u8; 32], now: Timestamp) -> Result<()>;
    async fn workers(&self) -> Result<Vec<WorkerRecord>>;

    // Notifications (in-process; a hint, never the source of truth).
    /// Status changes after they are durable. Lagging receivers must re-read the store.
    fn events(&self) -> broadcast::Receiver<JobEvent>;
    /// Woken when a job may have become available to lease.
    fn work_available(&self) -> Arc<Notify>;
}

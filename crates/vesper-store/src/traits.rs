//! The store's interfaces, split by concern. A new feature adds a trait here (and a module
//! per backend), not methods to an existing one.

use std::sync::Arc;

use tokio::sync::{Notify, broadcast};
use vesper_core::{
    ErrorCode, JobId, JobStatus, ProgramId, RetryDecision, RetryPolicy, Scopes, TenantId,
    Timestamp, WorkerId,
};

use crate::Result;
use crate::types::*;

/// The job store, queue and registry: every concern, from one backend. Every backend implements
/// the same behaviour; callers hold an `Arc<dyn Store>` and call any concern's methods on it.
pub trait Store:
    TenantStore
    + ProgramStore
    + JobStore
    + QueueStore
    + RetentionStore
    + CallbackStore
    + RateStore
    + WorkerStore
    + DeploymentStore
    + ProverStore
    + CreditStore
{
    /// Status changes after they are durable. Lagging receivers must re-read the store.
    fn events(&self) -> broadcast::Receiver<JobEvent>;
    /// Woken when a job may have become available to lease.
    fn work_available(&self) -> Arc<Notify>;
}

/// Tenants and their credentials: API keys, wallets, request nonces.
#[async_trait::async_trait]
pub trait TenantStore: Send + Sync + 'static {
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<TenantId>;
    async fn find_tenant(&self, name: &str) -> Result<Option<TenantId>>;
    async fn tenants(&self) -> Result<Vec<TenantRecord>>;
    /// Disable or re-enable a tenant: a disabled tenant's credentials stop working and its
    /// queued jobs are not started. `Err(TenantNotFound)` for an unknown name.
    async fn set_tenant_disabled(&self, name: &str, disabled: bool) -> Result<()>;
    async fn set_tenant_settings(&self, tenant: TenantId, settings: TenantSettings) -> Result<()>;
    async fn add_api_key(
        &self,
        tenant: TenantId,
        key_hash: [u8; 32],
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<()>;
    /// Revoke every key whose hash starts with `hash_prefix` (hex, at least 12 digits) within
    /// `tenant`. Returns how many.
    async fn revoke_api_key(&self, tenant: TenantId, hash_prefix: &str) -> Result<u64>;
    /// The principal an API key hash speaks for, if the key and its tenant are live.
    async fn principal_for_key(&self, key_hash: [u8; 32]) -> Result<Option<Principal>>;
    /// Map a wallet (canonical `ed25519:…` / `eip191:0x…` form) to a tenant.
    async fn add_wallet(
        &self,
        tenant: TenantId,
        wallet: &str,
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<()>;
    async fn revoke_wallet(&self, wallet: &str) -> Result<bool>;
    async fn principal_for_wallet(&self, wallet: &str) -> Result<Option<Principal>>;
    /// Remember a request nonce until `expires_at`. `false` when it is already remembered
    /// (a replay). Durable before it returns.
    async fn remember_nonce(
        &self,
        key: [u8; 32],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;
}

/// The program registry (content-addressed).
#[async_trait::async_trait]
pub trait ProgramStore: Send + Sync + 'static {
    /// Store a module under its id. Returns `true` when it was new.
    async fn put_program(&self, id: ProgramId, module: Vec<u8>, now: Timestamp) -> Result<bool>;
    async fn get_program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>>;
    async fn has_program(&self, id: ProgramId) -> Result<bool>;
}

/// Jobs as tenants see them.
#[async_trait::async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Store a job, unless its quota is used up or its idempotency key says it exists.
    async fn submit(&self, job: NewJob) -> Result<SubmitOutcome>;
    /// Store all jobs or none.
    async fn submit_batch(&self, jobs: Vec<NewJob>) -> Result<BatchOutcome>;
    /// A tenant's jobs, newest first, optionally of one status, before cursor `before`.
    async fn list_jobs(
        &self,
        tenant: TenantId,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<JobPage>;
    async fn job(&self, tenant: TenantId, id: JobId) -> Result<Option<JobRecord>>;
    /// The id of `tenant`'s job submitted with idempotency key `key`, while the job is kept.
    /// (The payment check answers a replay before it charges.)
    async fn job_by_idempotency_key(&self, tenant: TenantId, key: &str) -> Result<Option<JobId>>;
    async fn result(&self, tenant: TenantId, id: JobId) -> Result<Option<StoredResult>>;
    async fn cancel(&self, tenant: TenantId, id: JobId, now: Timestamp) -> Result<CancelOutcome>;
    async fn queue_depth(&self) -> Result<u64>;
}

/// Jobs as workers see them: leases and hand-ins. Every transition is a step of
/// [`vesper_core::lifecycle`]; the lease fencing check is [`vesper_core::lifecycle::Lifecycle::holds`].
#[async_trait::async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Take up to `ask.max` jobs under leases in one store call (one commit, one round trip):
    /// the jobs that many leases one by one would have handed out, in that order, stopping
    /// before the first one (after the first) below `ask.floor` (fair between tenants,
    /// priority then FIFO within one: `vesper_core::sched`, docs/SCHEDULING.md). Empty when
    /// nothing is ready.
    async fn lease_batch(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
        ask: LeaseAsk,
    ) -> Result<Vec<LeasedJob>>;
    /// Take the next job under a lease: fair between tenants, priority then FIFO within one
    /// (`vesper_core::sched`, docs/SCHEDULING.md). A batch of one: the same path.
    async fn lease(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<Option<LeasedJob>> {
        Ok(self
            .lease_batch(worker, now, lease_ms, LeaseAsk::up_to(1))
            .await?
            .pop())
    }
    /// Extend a live lease. `Err(Fenced)` if the lease is no longer held.
    async fn heartbeat(&self, lease: &LeaseRef, now: Timestamp, lease_ms: u64) -> Result<()>;
    /// Store the sealed result and mark the job completed, if `lease` still holds it.
    async fn complete(&self, lease: &LeaseRef, result: NewResult, now: Timestamp) -> Result<()>;
    /// [`complete`](Self::complete) several leases in one store call (one commit, one round
    /// trip), each fenced on its own: one answer per item, in order. The outer `Err` means the
    /// store took none of them (unreachable, commit failed).
    async fn complete_batch(
        &self,
        items: Vec<(LeaseRef, NewResult)>,
        now: Timestamp,
    ) -> Result<Vec<Result<()>>>;
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
    /// Put back every job whose lease ran out, counting an attempt (or fail it for good when
    /// its retries are spent).
    async fn requeue_expired(&self, now: Timestamp, policy: RetryPolicy) -> Result<Expired>;
    /// Expire every lease held by workers whose id starts with `prefix` (they are known dead:
    /// the process that ran them restarted), as if their leases had run out.
    async fn expire_leases_of(
        &self,
        prefix: &str,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<Expired>;
}

/// What the store forgets, and when (docs/STORAGE.md, "Retention").
#[async_trait::async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// Delete sealed results past their time to live, and forgotten nonces. Returns how many
    /// results.
    async fn purge_expired_results(&self, now: Timestamp) -> Result<u64>;
    /// Forget up to `limit` jobs that finished (completed, failed or cancelled) at or before
    /// `finished_before`, oldest first, with everything kept about them: the job row, its
    /// result and receipt, its callback records and its idempotency key. A job whose callback
    /// is still being delivered is kept until delivery ends. Returns how many jobs. Callers
    /// sweep in bounded batches (docs/STORAGE.md, "Retention").
    async fn forget_finished(&self, finished_before: Timestamp, limit: u32) -> Result<u64>;
}

/// The callbacks outbox, written with the status change it announces.
#[async_trait::async_trait]
pub trait CallbackStore: Send + Sync + 'static {
    /// Claim up to `limit` due callbacks for `lease_ms` (not handed out again meanwhile).
    async fn claim_callbacks(
        &self,
        now: Timestamp,
        limit: u32,
        lease_ms: u64,
    ) -> Result<Vec<PendingCallback>>;
    async fn finish_callback(
        &self,
        job_id: JobId,
        status: JobStatus,
        outcome: CallbackOutcome,
    ) -> Result<()>;
}

/// Shared rate-limit state (tenant limits enforced across gateways).
#[async_trait::async_trait]
pub trait RateStore: Send + Sync + 'static {
    /// Whether several processes share this store, so that state such as rate limits must
    /// live in it rather than in one gateway's memory.
    fn is_shared(&self) -> bool {
        false
    }
    /// The rate-limit state under `key` (a GCRA theoretical arrival time, `vesper_core::gcra`).
    async fn rate_state(&self, key: &str) -> Result<Option<u64>>;
    /// Replace the state under `key` with `new` if it is still `expected`, for `ttl_ms`.
    /// `false` when another gateway changed it first (the caller decides again).
    async fn rate_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        new: u64,
        ttl_ms: u64,
    ) -> Result<bool>;
}

/// Registered workers and the pool keys they publish.
#[async_trait::async_trait]
pub trait WorkerStore: Send + Sync + 'static {
    async fn register_worker(&self, id: &WorkerId, pubkey: [u8; 32], now: Timestamp) -> Result<()>;
    async fn workers(&self) -> Result<Vec<WorkerRecord>>;
    /// Forget the registrations of workers whose id starts with `prefix` (a dead incarnation's;
    /// its keys stay listed under the ids of the incarnation that reuses them). Returns how many.
    async fn forget_workers(&self, prefix: &str) -> Result<u64>;
    /// Publish a pool public key (workers hold the secret); gateways list it at `/api/keys`.
    async fn publish_pool_key(
        &self,
        key_id: &str,
        public_key: [u8; 32],
        now: Timestamp,
    ) -> Result<()>;
    /// Every published pool public key, oldest first.
    async fn pool_keys(&self) -> Result<Vec<[u8; 32]>>;
}

/// The proof gateway's deployment registry (seed 004): a customer id names a tenant's
/// deployment, with a version per update; an image id names one version. A customer id
/// belongs to the tenant that registered it first; reads are scoped to a tenant.
#[async_trait::async_trait]
pub trait DeploymentStore: Send + Sync + 'static {
    /// Register `d` as the customer id's next version (1 for a new one).
    /// `Err(DeploymentTaken)` when another tenant holds the customer id, or the image id is
    /// registered already.
    async fn put_deployment(&self, d: NewDeployment) -> Result<DeploymentRecord>;
    /// The customer id's current version, if `tenant` holds it.
    async fn deployment(
        &self,
        tenant: TenantId,
        customer_id: &str,
    ) -> Result<Option<DeploymentRecord>>;
    /// The version an image id names; only `tenant`'s unless `tenant` is `None` (operators).
    async fn deployment_by_image(
        &self,
        tenant: Option<TenantId>,
        image_id: &str,
    ) -> Result<Option<DeploymentRecord>>;
    /// Every version of a customer id, oldest first (empty if `tenant` does not hold it).
    async fn deployment_versions(
        &self,
        tenant: TenantId,
        customer_id: &str,
    ) -> Result<Vec<DeploymentRecord>>;
    /// Remove a customer id with all its versions and proving keys. `false` if `tenant` holds
    /// no such customer id.
    async fn delete_deployment(&self, tenant: TenantId, customer_id: &str) -> Result<bool>;
    /// The proving key of an image id (for workers; not tenant-scoped).
    async fn proving_key(&self, image_id: &str) -> Result<Option<Arc<Vec<u8>>>>;
}

/// What the proof workers hold loaded (`POST /api/load-program`, `GET /api/status`): the image
/// ids operators and tenants asked to be preloaded, and each prover process's latest report of
/// what it holds. Reports are advisory (a process may have evicted a program since).
#[async_trait::async_trait]
pub trait ProverStore: Send + Sync + 'static {
    /// Ask provers to hold `image_id` loaded. Only the newest [`MAX_PRELOADS`] asks are kept.
    async fn request_preload(&self, image_id: &str, now: Timestamp) -> Result<()>;
    /// The image ids asked for, newest first.
    async fn preloads(&self) -> Result<Vec<String>>;
    /// A prover process's report of the image ids it holds (replaces its previous one). Reports
    /// older than [`LOADED_REPORT_TTL_MS`] are forgotten.
    async fn report_loaded(&self, prover: &str, image_ids: &[String], now: Timestamp)
    -> Result<()>;
    /// Every prover's latest report made at or after `since`, by prover name.
    async fn loaded_reports(&self, since: Timestamp) -> Result<Vec<LoadedReport>>;
}

/// How many preload asks [`ProverStore`] keeps.
pub const MAX_PRELOADS: usize = 64;
/// How long a prover's report is kept after it was made.
pub const LOADED_REPORT_TTL_MS: u64 = 3_600_000;

/// The largest credit balance (2^53 − 1: Redis scripts count in doubles).
pub const MAX_CREDIT_BALANCE: u64 = (1 << 53) - 1;

/// Prepaid credits per tenant: the proof gateway's payment check (docs/DSL.md §10). A balance,
/// and a ledger with one debit per job, given back when the job does not complete. Amounts
/// are whole credits.
#[async_trait::async_trait]
pub trait CreditStore: Send + Sync + 'static {
    /// Add `amount` to `tenant`'s balance; the balance after. A balance saturates at
    /// [`MAX_CREDIT_BALANCE`] on both backends.
    async fn add_credits(&self, tenant: TenantId, amount: u64, now: Timestamp) -> Result<u64>;
    /// `tenant`'s balance (0 for a tenant never credited).
    async fn credit_balance(&self, tenant: TenantId) -> Result<u64>;
    /// Take `amount` from `tenant` for `job`, once: `Some(balance after)` (also when `job` was
    /// debited already: nothing more is taken), `None` when the balance is short (nothing is
    /// taken).
    async fn debit(
        &self,
        tenant: TenantId,
        job: JobId,
        amount: u64,
        now: Timestamp,
    ) -> Result<Option<u64>>;
    /// Give `job`'s debit back, once. `true` when it was given back by this call.
    async fn refund(&self, job: JobId) -> Result<bool>;
    /// Settle the debits made before `before`: a debit whose job completed is kept and
    /// forgotten, one whose job failed, was cancelled or does not exist (the gateway stopped
    /// between the debit and the submit) is given back; one whose job is still queued or
    /// running waits. Returns how many were given back.
    async fn settle_debits(&self, before: Timestamp) -> Result<u64>;
}

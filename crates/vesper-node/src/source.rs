//! Where a worker's jobs come from. The worker runtime (`worker.rs`) is the same for every
//! source; only this differs:
//! - [`StoreSource`]: straight from a store (in-process workers of `vesper dev`, and pool
//!   workers sharing a Redis store);
//! - [`crate::remote::RemoteSource`]: over `/vesper/jobs/1` from a gateway that runs the lease
//!   on its store on the worker's behalf (`vesper worker --connect`).

use std::sync::Arc;

use tokio::sync::Notify;
use vesper_core::{ErrorCode, ProgramId, RetryDecision, RetryPolicy, Timestamp, WorkerId};
use vesper_store::{LeaseAsk, LeaseRef, LeasedJob, NewResult, Store, StoreError};

/// A deployment as a worker proves with it: its DSL document (JSON text) and its proving key
/// (arkworks' compressed encoding).
pub type ZkDeployment = (String, Arc<Vec<u8>>);

/// Why a job source did not do what the worker asked.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The store's answer, from this process's store or relayed by the gateway (the protocol's
    /// `unavailable`, `busy` and fenced acks map onto it): `Fenced`, `NotFound`, `BadReceipt`,
    /// `Unavailable`, ...
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The remote gateway refused the request (the protocol's `error` code), or answered with
    /// something the protocol does not allow there. Not a store error: the peer said no.
    #[error("refused by the gateway: {0}")]
    Refused(String),
}

impl SourceError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SourceError::Store(e) if e.is_transient())
    }
}

/// The worker's view of a job queue. Errors use the store's vocabulary where the store
/// answered (`Fenced` means the lease is gone; `Unavailable` means try again later), and
/// [`SourceError::Refused`] where a remote gateway refused.
#[async_trait::async_trait]
pub trait JobSource: Send + Sync + 'static {
    async fn lease(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<Option<LeasedJob>, SourceError>;
    async fn heartbeat(
        &self,
        lease: &LeaseRef,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<(), SourceError>;
    async fn complete(
        &self,
        lease: &LeaseRef,
        result: NewResult,
        now: Timestamp,
    ) -> Result<(), SourceError>;
    async fn fail(
        &self,
        lease: &LeaseRef,
        code: ErrorCode,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<RetryDecision, SourceError>;
    /// A registered program's module.
    async fn program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>, SourceError>;
    /// A deployment's DSL document and proving key, by image id (`zk_proof` jobs); `None` if
    /// there is no such deployment (or, by default, the source cannot serve them). Not trusted:
    /// the worker recomputes the image id from both (`crate::zk::load`).
    async fn zk_program(&self, _image_id: &str) -> Result<Option<ZkDeployment>, SourceError> {
        Ok(None)
    }
    /// Woken when a job may be available.
    fn work_available(&self) -> Arc<Notify>;

    /// The most jobs one [`lease_batch`](Self::lease_batch) call hands out. `1` for a source
    /// without batches (the remote protocol leases one job per request): the worker then
    /// neither prefetches nor holds a job it is not running.
    fn max_batch(&self) -> u32 {
        1
    }
    /// Jobs under leases as `ask` says ([`vesper_store::QueueStore::lease_batch`]), in one call
    /// where the source batches; one job where it does not.
    async fn lease_batch(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
        ask: LeaseAsk,
    ) -> Result<Vec<LeasedJob>, SourceError> {
        let _ = ask;
        Ok(self
            .lease(worker, now, lease_ms)
            .await?
            .into_iter()
            .collect())
    }
    /// Complete several leases, each fenced on its own: one answer per item, in order. The
    /// outer `Err` means none was taken. One call where the source batches.
    async fn complete_batch(
        &self,
        items: Vec<(LeaseRef, NewResult)>,
        now: Timestamp,
    ) -> Result<Vec<Result<(), SourceError>>, SourceError> {
        let mut out = Vec::with_capacity(items.len());
        for (lease, result) in items {
            out.push(self.complete(&lease, result, now).await);
        }
        Ok(out)
    }
    /// Give back a prefetched job without counting an attempt (the worker is stopping, or a
    /// long run would keep it waiting). Only called for sources with `max_batch() > 1`.
    async fn release(&self, lease: &LeaseRef) -> Result<(), SourceError>;
}

/// Jobs straight from a store.
pub struct StoreSource(pub Arc<dyn Store>);

impl StoreSource {
    /// A deployment's DSL document and proving key by image id, whoever's tenant it is: what
    /// in-process workers prove with, and what the gateway sends remote ones (`zk_program`).
    pub async fn zk_program_of(&self, image_id: &str) -> Result<Option<ZkDeployment>, StoreError> {
        let Some(d) = self.0.deployment_by_image(None, image_id).await? else {
            return Ok(None);
        };
        Ok(self
            .0
            .proving_key(image_id)
            .await?
            .map(|pk| (d.program, pk)))
    }
}

#[async_trait::async_trait]
impl JobSource for StoreSource {
    async fn lease(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<Option<LeasedJob>, SourceError> {
        Ok(self.0.lease(worker, now, lease_ms).await?)
    }
    async fn heartbeat(
        &self,
        lease: &LeaseRef,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<(), SourceError> {
        Ok(self.0.heartbeat(lease, now, lease_ms).await?)
    }
    async fn complete(
        &self,
        lease: &LeaseRef,
        result: NewResult,
        now: Timestamp,
    ) -> Result<(), SourceError> {
        Ok(self.0.complete(lease, result, now).await?)
    }
    async fn fail(
        &self,
        lease: &LeaseRef,
        code: ErrorCode,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<RetryDecision, SourceError> {
        Ok(self.0.fail(lease, code, now, policy).await?)
    }
    async fn program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>, SourceError> {
        Ok(self.0.get_program(id).await?)
    }
    async fn zk_program(&self, image_id: &str) -> Result<Option<ZkDeployment>, SourceError> {
        Ok(self.zk_program_of(image_id).await?)
    }
    fn work_available(&self) -> Arc<Notify> {
        self.0.work_available()
    }
    fn max_batch(&self) -> u32 {
        MAX_LEASE_BATCH
    }
    async fn lease_batch(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
        ask: LeaseAsk,
    ) -> Result<Vec<LeasedJob>, SourceError> {
        let ask = LeaseAsk {
            max: ask.max.min(MAX_LEASE_BATCH),
            ..ask
        };
        Ok(self.0.lease_batch(worker, now, lease_ms, ask).await?)
    }
    async fn complete_batch(
        &self,
        items: Vec<(LeaseRef, NewResult)>,
        now: Timestamp,
    ) -> Result<Vec<Result<(), SourceError>>, SourceError> {
        Ok(self
            .0
            .complete_batch(items, now)
            .await?
            .into_iter()
            .map(|r| r.map_err(SourceError::from))
            .collect())
    }
    async fn release(&self, lease: &LeaseRef) -> Result<(), SourceError> {
        Ok(self.0.release(lease).await?)
    }
}

/// The most jobs a worker leases from a store in one call.
pub const MAX_LEASE_BATCH: u32 = 64;

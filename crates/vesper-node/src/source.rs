//! Where a worker's jobs come from. The worker runtime (`worker.rs`) is the same for every
//! source; only this differs:
//! - [`StoreSource`]: straight from a store (in-process workers of `vesper dev`, and pool
//!   workers sharing a Redis store);
//! - [`crate::remote::RemoteSource`]: over `/vesper/jobs/1` from a gateway that runs the lease
//!   on its store on the worker's behalf (`vesper worker --connect`).

use std::sync::Arc;

use tokio::sync::Notify;
use vesper_core::{ErrorCode, ProgramId, RetryDecision, RetryPolicy, Timestamp, WorkerId};
use vesper_store::{LeaseRef, LeasedJob, NewResult, Store, StoreError};

/// The worker's view of a job queue. Errors use the store's vocabulary: `Fenced` means the
/// lease is gone; `Unavailable` means try again later.
#[async_trait::async_trait]
pub trait JobSource: Send + Sync + 'static {
    async fn lease(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<Option<LeasedJob>, StoreError>;
    async fn heartbeat(
        &self,
        lease: &LeaseRef,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<(), StoreError>;
    async fn complete(
        &self,
        lease: &LeaseRef,
        result: NewResult,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    async fn fail(
        &self,
        lease: &LeaseRef,
        code: ErrorCode,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<RetryDecision, StoreError>;
    /// A registered program's module.
    async fn program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>, StoreError>;
    /// Woken when a job may be available.
    fn work_available(&self) -> Arc<Notify>;
}

/// Jobs straight from a store.
pub struct StoreSource(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl JobSource for StoreSource {
    async fn lease(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<Option<LeasedJob>, StoreError> {
        self.0.lease(worker, now, lease_ms).await
    }
    async fn heartbeat(
        &self,
        lease: &LeaseRef,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<(), StoreError> {
        self.0.heartbeat(lease, now, lease_ms).await
    }
    async fn complete(
        &self,
        lease: &LeaseRef,
        result: NewResult,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.0.complete(lease, result, now).await
    }
    async fn fail(
        &self,
        lease: &LeaseRef,
        code: ErrorCode,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<RetryDecision, StoreError> {
        self.0.fail(lease, code, now, policy).await
    }
    async fn program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>, StoreError> {
        self.0.get_program(id).await
    }
    fn work_available(&self) -> Arc<Notify> {
        self.0.work_available()
    }
}

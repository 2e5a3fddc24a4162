//! Durable job store and queue.
//!
//! [`Store`] is the one interface the gateway and workers use: the sum of a few traits split by
//! concern (`traits.rs`), each backend implementing them in one module per concern. Backends:
//! - [`SqliteStore::open`]: the embedded default (rusqlite, WAL, synchronous commits grouped
//!   by one writer thread);
//! - [`SqliteStore::open_in_memory`]: the same engine on an in-memory database (tests,
//!   throwaway nodes; nothing survives the process);
//! - [`RedisStore`]: shared by many gateways and workers (`redis_store/`, docs/STORAGE.md).
//!
//! **Invariants:**
//! - a job returned by [`Store::submit`] is on disk (fsynced) before the call returns;
//! - a job is held by at most one lease at a time; each lease carries a fencing epoch, and
//!   completion or failure with a stale epoch is refused ([`StoreError::Fenced`]);
//! - only ciphertext is stored: payloads and results arrive sealed and leave sealed.
//!
//! **Boundary:** the only crate that imports rusqlite and redis.

mod cache;
mod error;
mod redis_store;
mod sqlite;
pub mod testkit;
mod traits;
mod types;

pub use error::StoreError;
pub use redis_store::{RedisOptions, RedisStore};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use traits::{
    CallbackStore, CreditStore, DeploymentStore, JobStore, LOADED_REPORT_TTL_MS,
    MAX_CREDIT_BALANCE, MAX_PRELOADS, ProgramStore, ProverStore, QueueStore, RateStore,
    RetentionStore, Store, TenantStore, WorkerStore,
};
pub use types::{
    BatchOutcome, CallbackOutcome, CancelOutcome, DeploymentRecord, Expired, JobEvent, JobPage,
    JobRecord, LeaseAsk, LeaseRef, LeasedJob, LoadedReport, NewDeployment, NewJob, NewResult,
    PendingCallback, Principal, QuotaKind, StoredResult, SubmitOutcome, SubmitQuota, TenantRecord,
    TenantSettings, WorkerRecord,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

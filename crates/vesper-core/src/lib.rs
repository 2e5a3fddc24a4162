//! Vesper's pure core: identifiers, the job model and its state machine, execution receipts,
//! the workload/result plaintext codecs, retry policy and the pure parts of wallet-signature
//! request authentication.
//!
//! **Invariant:** no I/O, no async runtime, no clock. Time is passed in as [`Timestamp`].
//! Everything here is deterministic and unit-testable.

mod auth;
mod codec;
mod error;
pub mod gcra;
mod ids;
mod job;
pub mod lifecycle;
pub mod placement;
mod receipt;
pub mod sched;
mod scope;

pub use auth::{
    AUTH_DOMAIN, AUTH_WINDOW_SECS, NONCE_MAX_LEN, NONCE_MIN_LEN, WalletId, canonical_request,
    parse_timestamp, valid_nonce, within_window,
};
pub use codec::{ResultPlaintext, WorkloadPlaintext, WorkloadProgram};
pub use error::CoreError;
pub use ids::{JobId, KeyId, ProgramId, TenantId, WorkerId, hex_array, hex_lower};
pub use job::{
    ErrorCode, ExecLimits, JobStatus, Priority, RetryDecision, RetryPolicy, Timestamp,
    WorkloadType, attempts,
};
pub use receipt::{
    JobFacts, RECEIPT_DOMAIN, RESULT_HASH_DOMAIN, Receipt, ReceiptField, result_hash, sha256,
};
pub use scope::{Scope, Scopes};

/// Hard ceilings on sizes that a stranger controls. Used by the gateway and the codecs.
pub mod limits {
    /// Largest WebAssembly module accepted (upload or inline).
    pub const MAX_MODULE_BYTES: usize = 8 * 1024 * 1024;
    /// Largest workload input (stdin) accepted inside a payload.
    pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;
}

/// Reading the time. Core logic never calls this: it takes `now: Timestamp` as a parameter.
/// The trait lets the edges (gateway, workers) inject a clock, and tests a fake one.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The operating system's clock: the only place in Vesper that reads it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as u64)
    }
}

mod keyset;
pub use keyset::{KEYSET_DOMAIN, KeySet};

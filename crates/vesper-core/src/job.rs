use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// Milliseconds since the Unix epoch. The core never reads a clock: callers pass `now` in.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn millis(self) -> u64 {
        self.0
    }
    pub fn plus_ms(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
    pub fn saturating_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A job's lifecycle state.
///
/// ```text
/// queued ──lease──▶ processing ──complete──▶ completed
///   ▲  │                │  │
///   │  └─cancel─▶ cancelled  └─fail(permanent or retries spent)──▶ failed
///   └──── lease expired / retryable failure (retry_count += 1, backoff) ─┘
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum JobStatus {
    Queued,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}
impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl FromStr for JobStatus {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or(CoreError::Invalid { what: "job status" })
    }
}

/// The seed's workload label. It selects nothing at run time; it is kept for accounting and
/// bound into the envelope so a ciphertext cannot be replayed under another label.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum WorkloadType {
    General,
    AiInference,
    PosValidation,
    /// A Groth16 proof for a deployed rule program (docs/DSL.md): `program_id` is the
    /// deployment's image id and the input is the prove request's JSON.
    ZkProof,
}

impl WorkloadType {
    pub const ALL: [WorkloadType; 4] = [
        WorkloadType::General,
        WorkloadType::AiInference,
        WorkloadType::PosValidation,
        WorkloadType::ZkProof,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadType::General => "general",
            WorkloadType::AiInference => "ai_inference",
            WorkloadType::PosValidation => "pos_validation",
            WorkloadType::ZkProof => "zk_proof",
        }
    }
}
impl fmt::Display for WorkloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl FromStr for WorkloadType {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "general" => Ok(WorkloadType::General),
            "ai_inference" => Ok(WorkloadType::AiInference),
            "pos_validation" => Ok(WorkloadType::PosValidation),
            "zk_proof" => Ok(WorkloadType::ZkProof),
            _ => Err(CoreError::UnknownWorkloadType),
        }
    }
}

/// Job priority, 1 (lowest) to 10 (highest); default 5.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Priority(u8);

impl Priority {
    pub const MIN: u8 = 1;
    pub const MAX: u8 = 10;
    pub fn new(p: i64) -> Result<Self, CoreError> {
        if (Self::MIN as i64..=Self::MAX as i64).contains(&p) {
            Ok(Priority(p as u8))
        } else {
            Err(CoreError::OutOfRange {
                what: "priority",
                min: Self::MIN as u64,
                max: Self::MAX as u64,
            })
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}
impl Default for Priority {
    fn default() -> Self {
        Priority(5)
    }
}

/// Why a job attempt failed. Each code is stable: it reaches users as JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The program used up its instruction budget.
    FuelExhausted,
    /// The program tried to grow memory past its limit.
    MemoryLimit,
    /// The program ran past its wall-time limit.
    Timeout,
    /// The program trapped (unreachable, out-of-bounds access, stack overflow, ...).
    Trap,
    /// The program wrote more than the output limit.
    OutputTooLarge,
    /// The module is not a valid WASI command module.
    InvalidModule,
    /// The envelope could not be opened with the pool key (wrong key, tampered metadata).
    DecryptFailed,
    /// The decrypted workload is malformed.
    BadPayload,
    /// The referenced program is not in the registry.
    ProgramNotFound,
    /// The worker holding the job stopped heartbeating and its lease ran out.
    LeaseExpired,
    /// Something went wrong inside the worker; not the job's fault.
    Internal,
    /// A worker handed in a receipt that misstates the job (program, workload type, payload
    /// or result digest); the hand-in was refused. Decided by the gateway, never reported.
    BadReceipt,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::FuelExhausted,
        ErrorCode::MemoryLimit,
        ErrorCode::Timeout,
        ErrorCode::Trap,
        ErrorCode::OutputTooLarge,
        ErrorCode::InvalidModule,
        ErrorCode::DecryptFailed,
        ErrorCode::BadPayload,
        ErrorCode::ProgramNotFound,
        ErrorCode::LeaseExpired,
        ErrorCode::Internal,
        ErrorCode::BadReceipt,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FuelExhausted => "fuel_exhausted",
            ErrorCode::MemoryLimit => "memory_limit",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Trap => "trap",
            ErrorCode::OutputTooLarge => "output_too_large",
            ErrorCode::InvalidModule => "invalid_module",
            ErrorCode::DecryptFailed => "decrypt_failed",
            ErrorCode::BadPayload => "bad_payload",
            ErrorCode::ProgramNotFound => "program_not_found",
            ErrorCode::LeaseExpired => "lease_expired",
            ErrorCode::Internal => "internal",
            ErrorCode::BadReceipt => "bad_receipt",
        }
    }
    /// A human sentence for the code. Fixed text: never derived from the workload, so it
    /// cannot carry plaintext out of the worker.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorCode::FuelExhausted => "program exceeded its instruction (fuel) limit",
            ErrorCode::MemoryLimit => "program exceeded its memory limit",
            ErrorCode::Timeout => "program exceeded its wall-time limit",
            ErrorCode::Trap => "program trapped",
            ErrorCode::OutputTooLarge => "program output exceeded the output limit",
            ErrorCode::InvalidModule => "module is not a valid WASI command module",
            ErrorCode::DecryptFailed => "envelope could not be opened with the pool key",
            ErrorCode::BadPayload => "decrypted workload is malformed",
            ErrorCode::ProgramNotFound => "program is not in the registry",
            ErrorCode::LeaseExpired => "worker lease expired too many times",
            ErrorCode::Internal => "internal worker error",
            ErrorCode::BadReceipt => "workers handed in receipts that misstate the job",
        }
    }
    /// Whether a worker may report this code in a failure (docs/PROTOCOL.md, `failure`). The
    /// others are the gateway's own findings: a lease that ran out, a refused receipt.
    pub fn is_reportable(self) -> bool {
        !matches!(self, ErrorCode::LeaseExpired | ErrorCode::BadReceipt)
    }
    /// Deterministic failures are not retried: running the same module on the same input
    /// again gives the same answer. Only failures that may be the environment's are.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Timeout
                | ErrorCode::LeaseExpired
                | ErrorCode::Internal
                | ErrorCode::BadReceipt
        )
    }
}
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl FromStr for ErrorCode {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(CoreError::Invalid { what: "error code" })
    }
}

/// Attempts a job has started: every retry follows a failed attempt, and a job that is
/// running or finished (other than cancelled while queued) is in or past one more.
pub fn attempts(status: JobStatus, retry_count: u32) -> u32 {
    match status {
        JobStatus::Queued | JobStatus::Cancelled => retry_count,
        JobStatus::Processing | JobStatus::Completed | JobStatus::Failed => retry_count + 1,
    }
}

/// Retry with exponential backoff, capped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_backoff_ms: 500,
            max_backoff_ms: 30_000,
        }
    }
}

/// What to do with a job after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Put it back in the queue, not to be leased before `not_before`.
    Retry {
        not_before: Timestamp,
        retry_count: u32,
    },
    /// Give up: the job ends `failed`.
    Fail { retry_count: u32 },
}

impl RetryPolicy {
    /// Backoff before attempt number `retry_count` (1-based): base * 2^(n-1), capped.
    pub fn backoff_ms(&self, retry_count: u32) -> u64 {
        let exp = retry_count.saturating_sub(1).min(30);
        self.base_backoff_ms
            .saturating_mul(1u64 << exp)
            .min(self.max_backoff_ms)
    }

    /// The pure decision after an attempt failed with `code`. `retry_count` is the number of
    /// retries already made (0 during the first attempt): the seed's `retry_count` counts
    /// retries, not attempts, so a job that gives up keeps the count it had.
    pub fn decide(
        &self,
        code: ErrorCode,
        retry_count: u32,
        max_retries: u32,
        now: Timestamp,
    ) -> RetryDecision {
        if !code.is_retryable() || retry_count >= max_retries {
            return RetryDecision::Fail { retry_count };
        }
        let next = retry_count + 1;
        RetryDecision::Retry {
            not_before: now.plus_ms(self.backoff_ms(next)),
            retry_count: next,
        }
    }
}

/// Per-job execution limits enforced by the executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecLimits {
    /// Instruction budget (wasmtime fuel units).
    pub fuel: u64,
    /// Largest linear memory, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock limit in milliseconds.
    pub wall_ms: u64,
    /// Largest stdout, in bytes.
    pub output_bytes: usize,
    /// Largest stderr, in bytes; stderr past this is truncated, not an error.
    pub stderr_bytes: usize,
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            fuel: 5_000_000_000,
            memory_bytes: 256 * 1024 * 1024,
            wall_ms: 10_000,
            output_bytes: 4 * 1024 * 1024,
            stderr_bytes: 64 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_codes_round_trip() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
        }
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>().unwrap(), c);
        }
        assert!("running".parse::<JobStatus>().is_err());
    }

    #[test]
    fn workload_type_is_closed_set() {
        assert_eq!(
            "ai_inference".parse::<WorkloadType>().unwrap(),
            WorkloadType::AiInference
        );
        assert_eq!(
            "gpu".parse::<WorkloadType>(),
            Err(CoreError::UnknownWorkloadType)
        );
    }

    #[test]
    fn priority_bounds() {
        assert!(Priority::new(0).is_err());
        assert!(Priority::new(11).is_err());
        assert_eq!(Priority::new(10).unwrap().get(), 10);
        assert_eq!(Priority::default().get(), 5);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            base_backoff_ms: 100,
            max_backoff_ms: 1000,
        };
        assert_eq!(p.backoff_ms(1), 100);
        assert_eq!(p.backoff_ms(2), 200);
        assert_eq!(p.backoff_ms(4), 800);
        assert_eq!(p.backoff_ms(5), 1000);
        assert_eq!(p.backoff_ms(60), 1000);
    }

    #[test]
    fn retry_decisions() {
        let p = RetryPolicy::default();
        let now = Timestamp(1_000);
        // Retryable with budget left: retry after backoff.
        assert_eq!(
            p.decide(ErrorCode::Timeout, 0, 3, now),
            RetryDecision::Retry {
                not_before: Timestamp(1_500),
                retry_count: 1
            }
        );
        // Budget spent: the job fails with the retries it had (3 retries = 4 attempts).
        assert_eq!(
            p.decide(ErrorCode::LeaseExpired, 3, 3, now),
            RetryDecision::Fail { retry_count: 3 }
        );
        assert_eq!(
            p.decide(ErrorCode::Timeout, 0, 0, now),
            RetryDecision::Fail { retry_count: 0 }
        );
        // Deterministic failures are never retried.
        assert_eq!(
            p.decide(ErrorCode::Trap, 0, 3, now),
            RetryDecision::Fail { retry_count: 0 }
        );
    }
}

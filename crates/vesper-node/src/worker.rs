//! The pool worker: lease a job, open it, run it in the sandbox, seal the result to the
//! client, sign a receipt, hand both in. The same code serves every job source.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vesper_core::{
    Clock, ErrorCode, ExecLimits, KeyId, ProgramId, Receipt, ResultPlaintext, RetryPolicy,
    WorkerId, WorkloadPlaintext, WorkloadProgram, result_hash, sha256,
};
use vesper_crypto::{
    JobMetadata, SigningIdentity, X25519PublicKey, X25519SecretKey, open_workload, seal_result,
};
use vesper_exec::{Executor, RunRequest};
use vesper_store::{LeaseRef, LeasedJob, NewResult, StoreError};

use crate::handin::{self, HandIn, HandedIn};
use crate::source::{JobSource, SourceError};
use zeroize::Zeroize;

/// Pool secret keys by key id. Only workers hold this.
#[derive(Default)]
pub struct PoolKeys(HashMap<KeyId, X25519SecretKey>);

impl PoolKeys {
    pub fn new(keys: impl IntoIterator<Item = X25519SecretKey>) -> Self {
        PoolKeys(
            keys.into_iter()
                .map(|k| (k.public_key().key_id(), k))
                .collect(),
        )
    }
    pub fn get(&self, id: &KeyId) -> Option<&X25519SecretKey> {
        self.0.get(id)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Every key, in key-id order (for sealing a grant).
    pub fn all(&self) -> Vec<&X25519SecretKey> {
        let mut v: Vec<_> = self.0.iter().collect();
        v.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        v.into_iter().map(|(_, k)| k).collect()
    }
}

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub lease_ms: u64,
    /// How often a running job's lease is extended.
    pub heartbeat_ms: u64,
    /// How long a worker sleeps when the queue looked empty (a wake-up usually comes first).
    pub idle_poll_ms: u64,
    pub limits: ExecLimits,
    pub result_ttl_ms: u64,
    pub retry: RetryPolicy,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease_ms: 30_000,
            heartbeat_ms: 10_000,
            idle_poll_ms: 250,
            limits: ExecLimits::default(),
            result_ttl_ms: 24 * 3600 * 1000,
            retry: RetryPolicy::default(),
        }
    }
}

pub struct Worker {
    pub id: WorkerId,
    pub config: WorkerConfig,
    pub identity: SigningIdentity,
    pub keys: Arc<PoolKeys>,
    pub executor: Arc<Executor>,
    pub source: Arc<dyn JobSource>,
    pub clock: Arc<dyn Clock>,
}

/// What became of one leased job.
enum Outcome {
    Done(NewResult),
    Failed(ErrorCode),
    /// The lease was lost while the job ran (a heartbeat was fenced); the run was stopped and
    /// there is nothing to hand in.
    LeaseLost,
}

impl Worker {
    /// Serve jobs until `shutdown` is cancelled. A job already running is finished first.
    /// Shared, so that its supervisor can start it again after a panic.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let work = self.source.work_available();
        // The previous job's hand-in, still committing while this worker leases and runs the
        // next one: at most one outstanding, so a worker never has more than two jobs.
        let mut handing_in: Option<tokio::task::JoinHandle<()>> = None;
        tracing::info!(worker = %self.id, "worker started");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let notified = work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self
                .source
                .lease(&self.id, self.clock.now(), self.config.lease_ms)
                .await
            {
                Ok(Some(job)) => {
                    let request_id = job.request_id.clone();
                    let (lease, outcome, started) = self.execute(job).await;
                    if let Some(prev) = handing_in.take() {
                        let _ = prev.await;
                    }
                    // A run stopped for a lost lease has nothing to hand in.
                    if !matches!(outcome, Outcome::LeaseLost) {
                        let me = self.clone();
                        handing_in = Some(tokio::spawn(async move {
                            me.hand_in(lease, outcome, started, request_id).await
                        }));
                    }
                }
                Ok(None) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep(Duration::from_millis(self.config.idle_poll_ms)) => {}
                        _ = shutdown.cancelled() => break,
                    }
                }
                Err(e) => {
                    tracing::warn!(worker = %self.id, error = %e, "lease failed; backing off");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
        }
        if let Some(prev) = handing_in.take() {
            let _ = prev.await;
        }
        tracing::info!(worker = %self.id, "worker stopped");
    }

    async fn execute(&self, job: LeasedJob) -> (LeaseRef, Outcome, vesper_core::Timestamp) {
        use tracing::Instrument as _;
        let lease = job.lease.clone();
        let started = self.clock.now();
        // The submitting request's id follows the job into the worker's logs.
        let span = tracing::info_span!(
            "job",
            job_id = %lease.job_id,
            request_id = job.request_id.as_deref().unwrap_or("-"),
        );
        tracing::debug!(parent: &span, worker = %self.id, attempt = job.retry_count + 1, "job started");
        // Keep the lease alive while the job runs; once it is known lost, stop the run (the
        // sandbox checks the flag every tick) and free this worker for other work.
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let outcome = {
            let work = self.process(job, cancel.clone()).instrument(span);
            tokio::pin!(work);
            let mut beat = tokio::time::interval(Duration::from_millis(self.config.heartbeat_ms));
            beat.tick().await;
            loop {
                tokio::select! {
                    o = &mut work => break o,
                    _ = beat.tick() => {
                        match self.source.heartbeat(&lease, self.clock.now(), self.config.lease_ms).await {
                            Ok(()) => {}
                            Err(SourceError::Store(StoreError::Fenced { .. } | StoreError::NotFound { .. })) => {
                                tracing::warn!(job = %lease.job_id, worker = %self.id,
                                    "lease lost while running; stopping the job");
                                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                                let _ = (&mut work).await;
                                break Outcome::LeaseLost;
                            }
                            Err(e) => {
                                tracing::warn!(job = %lease.job_id, error = %e, "heartbeat failed");
                            }
                        }
                    }
                }
            }
        };
        (lease, outcome, started)
    }

    /// Hand the outcome in (the shared path, `handin.rs`). While the store is unreachable
    /// (Redis restarting, a disk hiccup) keep trying, with backoff, for as long as the lease
    /// could still be ours: the work is done and a retry is cheaper than running the job
    /// again. A fenced lease ends it.
    async fn hand_in(
        &self,
        lease: LeaseRef,
        outcome: Outcome,
        started: vesper_core::Timestamp,
        request_id: Option<String>,
    ) {
        let hand_in = match outcome {
            Outcome::Done(result) => HandIn::Completed(result),
            Outcome::Failed(code) => HandIn::Failed(code),
            // Never handed in (`run` spawns no hand-in for it).
            Outcome::LeaseLost => return,
        };
        let request_id = request_id.as_deref().unwrap_or("-");
        let deadline = std::time::Instant::now() + Duration::from_millis(self.config.lease_ms);
        let mut delay = Duration::from_millis(100);
        loop {
            let now = self.clock.now();
            let r = handin::hand_in(
                &*self.source,
                &lease,
                hand_in.clone(),
                now,
                self.config.retry,
            )
            .await;
            match r {
                Ok(HandedIn::Completed) => {
                    tracing::info!(job = %lease.job_id, worker = %self.id, request_id,
                        ms = now.saturating_since(started), "job completed");
                    return;
                }
                Ok(HandedIn::Failed(d)) => {
                    let code = match &hand_in {
                        HandIn::Failed(code) => code.as_str(),
                        HandIn::Completed(_) => "-",
                    };
                    tracing::info!(job = %lease.job_id, worker = %self.id, request_id, code,
                        decision = ?d, "job attempt failed");
                    return;
                }
                Ok(HandedIn::Refused { field, ended }) => {
                    // This worker's own receipt disagrees with the job: a bug, never stored.
                    // The attempt ended now, so that the job is retried without waiting out
                    // the lease.
                    tracing::error!(job = %lease.job_id, worker = %self.id, %field,
                        "hand-in refused: the receipt misstates the job");
                    if let Err(e) = ended {
                        tracing::warn!(job = %lease.job_id, error = %e, "could not report the refused hand-in");
                    }
                    return;
                }
                Err(SourceError::Store(StoreError::Fenced { .. })) => {
                    tracing::warn!(job = %lease.job_id, worker = %self.id,
                        "lease lost before hand-in; result discarded");
                    return;
                }
                Err(e) if e.is_transient() && std::time::Instant::now() + delay < deadline => {
                    tracing::warn!(job = %lease.job_id, error = %e,
                        retry_ms = delay.as_millis() as u64, "hand-in failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(job = %lease.job_id, error = %e, "hand-in failed");
                    return;
                }
            }
        }
    }

    async fn process(&self, job: LeasedJob, cancel: Arc<std::sync::atomic::AtomicBool>) -> Outcome {
        match self.try_process(job, cancel).await {
            Ok(r) => Outcome::Done(r),
            Err(code) => Outcome::Failed(code),
        }
    }

    async fn try_process(
        &self,
        job: LeasedJob,
        cancel: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<NewResult, ErrorCode> {
        let client_pk =
            X25519PublicKey::from_bytes(&job.client_pubkey).map_err(|_| ErrorCode::BadPayload)?;
        let meta = JobMetadata {
            workload_type: job.workload_type,
            program_id: job.program_id,
            client_pubkey: client_pk,
            key_id: job.key_id.clone(),
        };
        let sk = self.keys.get(&job.key_id).ok_or(ErrorCode::DecryptFailed)?;
        let plaintext = open_workload(sk, &meta, &job.encrypted_key, &job.encrypted_payload)
            .map_err(|_| ErrorCode::DecryptFailed)?;
        let mut workload =
            WorkloadPlaintext::decode(&plaintext).map_err(|_| ErrorCode::BadPayload)?;
        drop(plaintext);

        let (program_id, module): (ProgramId, Option<Arc<Vec<u8>>>) = match &mut workload.program {
            WorkloadProgram::Registry => {
                let id = job.program_id.ok_or(ErrorCode::BadPayload)?;
                if self.executor.is_cached(&id) {
                    (id, None)
                } else {
                    let m = self
                        .source
                        .program(id)
                        .await
                        .map_err(|_| ErrorCode::Internal)?
                        .ok_or(ErrorCode::ProgramNotFound)?;
                    (id, Some(m))
                }
            }
            WorkloadProgram::Inline(bytes) => {
                let id = ProgramId::of_module(bytes);
                if job.program_id.is_some_and(|p| p != id) {
                    return Err(ErrorCode::BadPayload);
                }
                (id, Some(Arc::new(std::mem::take(bytes))))
            }
        };

        let executor = self.executor.clone();
        let mut limits = self.config.limits;
        if let Some(f) = job.max_fuel {
            limits.fuel = limits.fuel.min(f);
        }
        let seed = sha256(&[b"vesper/v1/job-seed\0", &job.payload_digest]);
        let clock = job.created_at;
        let started_at = self.clock.now();
        let run = tokio::task::spawn_blocking(move || {
            let out = executor.run(RunRequest {
                program_id,
                module: module.as_deref().map(|m| &m[..]),
                input: &workload.input,
                seed,
                clock,
                limits,
                cancel: Some(cancel),
            });
            workload.input.zeroize();
            out
        })
        .await
        .map_err(|_| ErrorCode::Internal)?;
        let mut out = run.map_err(|e| e.code())?;
        let completed_at = self.clock.now();

        let mut salt = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        let result = ResultPlaintext {
            salt,
            exit_code: out.exit_code,
            stdout: std::mem::take(&mut out.stdout),
            stderr: std::mem::take(&mut out.stderr),
        };
        let mut encoded = result.encode();
        let sealed = seal_result(&client_pk, &job.lease.job_id, &job.payload_digest, &encoded)
            .map_err(|_| ErrorCode::Internal);
        encoded.zeroize();
        let hash = result_hash(&result);
        let ResultPlaintext {
            mut stdout,
            mut stderr,
            ..
        } = result;
        stdout.zeroize();
        stderr.zeroize();
        let sealed = sealed?;

        let receipt = Receipt {
            job_id: job.lease.job_id,
            program_id,
            workload_type: job.workload_type,
            payload_digest: job.payload_digest,
            result_digest: sha256(&[&sealed.0]),
            result_hash: hash,
            fuel_used: out.fuel_used,
            execution_time_ms: out.wall_ms,
            started_at,
            completed_at,
            worker_id: self.id.to_string(),
            worker_pubkey: self.identity.public_key().0,
        };
        let signature = self.identity.sign_receipt(&receipt);
        Ok(NewResult {
            encrypted_result: sealed.0,
            receipt,
            signature,
            expires_at: completed_at.plus_ms(self.config.result_ttl_ms),
        })
    }
}

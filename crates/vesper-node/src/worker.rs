//! The pool worker: lease a job, open it, run it in the sandbox, seal the result to the
//! client, sign a receipt, hand both in. The same code serves every job source.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::futures::OwnedNotified;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vesper_core::{
    Clock, ErrorCode, ExecLimits, KeyId, Priority, ProgramId, Receipt, ResultPlaintext,
    RetryPolicy, WorkerId, WorkloadPlaintext, WorkloadProgram, result_hash, sha256,
};
use vesper_crypto::{
    JobMetadata, SigningIdentity, X25519PublicKey, X25519SecretKey, open_workload, seal_result,
};
use vesper_exec::{Executor, RunRequest};
use vesper_store::{LeaseAsk, LeaseRef, LeasedJob, NewResult, StoreError};

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
    /// Jobs leased per store call (prefetched while the current one runs). 1 turns batching
    /// off. Sources without batches (remote workers) lease one job at a time whatever this is.
    pub batch: u32,
    /// A job running longer than this gives back the jobs prefetched behind it.
    pub prefetch_hold_ms: u64,
    /// How much work, in time, a worker holds leased ahead of what it runs: it leases up to
    /// `prefetch_window_ms / (typical run time)` jobs at once (at most `batch`, at least one).
    /// Short jobs come in batches; long jobs one at a time, leased when the worker is free,
    /// so that a leased job never waits long behind another tenant's (fairness, `started_at`).
    pub prefetch_window_ms: u64,
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
            batch: 16,
            prefetch_hold_ms: 200,
            prefetch_window_ms: 10,
        }
    }
}

/// A worker: a [`Runner`] fed by a [`JobSource`].
pub struct Worker {
    pub runner: Arc<Runner>,
    pub source: Arc<dyn JobSource>,
}

/// What runs a job once it is leased: the worker's identity, pool keys and sandbox. No queue,
/// no I/O (`vesper bench --ceiling` times it alone).
pub struct Runner {
    pub id: WorkerId,
    pub config: WorkerConfig,
    pub identity: SigningIdentity,
    pub keys: Arc<PoolKeys>,
    pub executor: Arc<Executor>,
    pub clock: Arc<dyn Clock>,
}

/// Jobs leased ahead of running them, and the lease call in flight with the wake-up registered
/// before it started.
#[derive(Default)]
struct Prefetch {
    jobs: VecDeque<LeasedJob>,
    leasing: Option<(LeaseCall, Pin<Box<OwnedNotified>>)>,
}

type LeaseCall = tokio::task::JoinHandle<Result<Vec<LeasedJob>, SourceError>>;

/// A finished run, waiting to be handed in.
struct Finished {
    lease: LeaseRef,
    outcome: Outcome,
    started: vesper_core::Timestamp,
    request_id: Option<String>,
}

/// How long a worker remembers the highest priority it ran (`LeaseAsk::floor`).
const TOP_PRIORITY_MEMORY: Duration = Duration::from_secs(1);

/// A leased job, opened: what [`Runner::finish`] runs.
pub struct Opened {
    client_pk: X25519PublicKey,
    workload: WorkloadPlaintext,
    program_id: ProgramId,
}

/// What became of one leased job.
#[allow(clippy::large_enum_variant)] // one per job, moved to the hand-in task, never stored
enum Outcome {
    Done(NewResult),
    Failed(ErrorCode),
    /// The lease was lost while the job ran (a heartbeat was fenced); the run was stopped and
    /// there is nothing to hand in.
    LeaseLost,
}

impl Worker {
    /// Serve jobs until `shutdown` is cancelled. A job already running is finished first, and
    /// jobs prefetched but not started are given back.
    /// Shared, so that its supervisor can start it again after a panic.
    ///
    /// From a source that batches (a store), the worker leases up to `config.batch` jobs per
    /// call and leases the next batch while it runs the current one; its hand-in task hands in
    /// every result that piled up meanwhile with one call. A source without batches (the remote
    /// protocol) gets one lease per job, as before.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let work = self.source.work_available();
        let batch = self.runner.config.batch.clamp(1, self.source.max_batch());
        // Results wait here for the hand-in task; the bound is how far running may get ahead
        // of handing in.
        let (finished, to_hand_in) = mpsc::channel::<Finished>(batch as usize);
        let hand_ins = tokio::spawn(self.clone().hand_in_loop(to_hand_in));
        let mut pre = Prefetch::default();
        // Typical run time (moving average, µs), which sizes the batch: `None` until a job ran.
        let mut typical_us: Option<f64> = None;
        let window_us = self.runner.config.prefetch_window_ms as f64 * 1000.0;
        // The highest priority this worker ran lately, and when: while it is fresh, batches
        // take nothing below it after their first job (`LeaseAsk::floor`), so lower-priority
        // work is leased one job at a time and never waits in a batch ahead of it.
        let mut top: Option<(Priority, std::time::Instant)> = None;
        tracing::info!(worker = %self.runner.id, batch, "worker started");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let batch = match typical_us {
                Some(t) => ((window_us / t.max(1.0)) as u32).clamp(1, batch),
                None => 1,
            };
            // Lease again once half the batch is used, so that the next batch is there when
            // this one runs out. With batches of one (long jobs, or a source without
            // batches) the worker leases when it is free.
            if pre.leasing.is_none() && pre.jobs.len() as u32 <= batch / 2 {
                let mut notified = Box::pin(work.clone().notified_owned());
                notified.as_mut().enable();
                let me = self.clone();
                let ask = LeaseAsk {
                    max: batch - pre.jobs.len() as u32,
                    floor: top
                        .filter(|(_, at)| at.elapsed() < TOP_PRIORITY_MEMORY)
                        .map(|(p, _)| p),
                };
                let call = tokio::spawn(async move {
                    me.source
                        .lease_batch(
                            &me.runner.id,
                            me.runner.clock.now(),
                            me.runner.config.lease_ms,
                            ask,
                        )
                        .await
                });
                pre.leasing = Some((call, notified));
            }
            if let Some(job) = pre.jobs.pop_front() {
                let t = std::time::Instant::now();
                if let Some(p) = job.priority
                    && top.is_none_or(|(tp, at)| p >= tp || at.elapsed() >= TOP_PRIORITY_MEMORY)
                {
                    top = Some((p, t));
                }
                self.run_one(job, &mut pre, &finished).await;
                let us = t.elapsed().as_micros() as f64;
                typical_us = Some(typical_us.map_or(us, |a| 0.8 * a + 0.2 * us));
                continue;
            }
            // Nothing to run: wait for the lease in flight.
            let Some((call, notified)) = pre.leasing.take() else {
                continue;
            };
            match call.await {
                Ok(Ok(jobs)) if !jobs.is_empty() => pre.jobs.extend(jobs),
                Ok(Ok(_)) => {
                    // The queue looked empty when the lease ran: wait for a submit (registered
                    // before the lease, so none is missed) or the idle poll.
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(Duration::from_millis(self.runner.config.idle_poll_ms)) => {}
                        _ = shutdown.cancelled() => break,
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(worker = %self.runner.id, error = %e, "lease failed; backing off");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = shutdown.cancelled() => break,
                    }
                }
                Err(e) => {
                    tracing::error!(worker = %self.runner.id, error = %e, "lease task failed");
                }
            }
        }
        // Stopping: jobs leased but not started go back without counting an attempt.
        if let Some((call, _)) = pre.leasing.take()
            && let Ok(Ok(jobs)) = call.await
        {
            pre.jobs.extend(jobs);
        }
        self.give_back(&mut pre.jobs).await;
        drop(finished);
        let _ = hand_ins.await;
        tracing::info!(worker = %self.runner.id, "worker stopped");
    }

    /// Run one prefetched job and queue its outcome for the hand-in task.
    async fn run_one(
        self: &Arc<Self>,
        mut job: LeasedJob,
        pre: &mut Prefetch,
        finished: &mpsc::Sender<Finished>,
    ) {
        // A job that waited behind a long one may be close to losing its lease: renew it first
        // (and drop it if it is gone).
        let now = self.runner.clock.now();
        if job.lease_expires_at.saturating_since(now) < self.runner.config.lease_ms / 2 {
            match self
                .source
                .heartbeat(&job.lease, now, self.runner.config.lease_ms)
                .await
            {
                Ok(()) => job.lease_expires_at = now.plus_ms(self.runner.config.lease_ms),
                Err(e) => {
                    tracing::warn!(job = %job.lease.job_id, worker = %self.runner.id, error = %e,
                        "prefetched lease lost before the job started");
                    return;
                }
            }
        }
        let request_id = job.request_id.clone();
        let (lease, outcome, started) = self.execute(job, pre).await;
        // A run stopped for a lost lease has nothing to hand in.
        if !matches!(outcome, Outcome::LeaseLost) {
            let _ = finished
                .send(Finished {
                    lease,
                    outcome,
                    started,
                    request_id,
                })
                .await;
        }
    }

    /// Give prefetched jobs back to the queue.
    async fn give_back(&self, jobs: &mut VecDeque<LeasedJob>) {
        for job in jobs.drain(..) {
            if let Err(e) = self.source.release(&job.lease).await {
                tracing::warn!(job = %job.lease.job_id, error = %e,
                    "could not give a prefetched job back; its lease will run out");
            }
        }
    }

    /// Hand in what the runs produce: every completion waiting is handed in with one store
    /// call (one commit, still fenced per lease); failures one by one.
    async fn hand_in_loop(self: Arc<Self>, mut rx: mpsc::Receiver<Finished>) {
        let limit = self.runner.config.batch.max(1) as usize;
        let mut got = Vec::with_capacity(limit);
        while rx.recv_many(&mut got, limit).await > 0 {
            let mut done = Vec::with_capacity(got.len());
            for f in got.drain(..) {
                match f.outcome {
                    Outcome::Done(result) => done.push((f.lease, result, f.started, f.request_id)),
                    Outcome::Failed(code) => {
                        self.hand_in_failure(f.lease, code, f.started, f.request_id)
                            .await
                    }
                    Outcome::LeaseLost => {}
                }
            }
            if !done.is_empty() {
                self.hand_in_completed(done).await;
            }
        }
    }

    /// Log what became of one hand-in. `true`: the store could not be reached, try again.
    fn report(
        &self,
        lease: &LeaseRef,
        code: Option<ErrorCode>,
        started: vesper_core::Timestamp,
        request_id: &Option<String>,
        now: vesper_core::Timestamp,
        answer: Result<HandedIn, SourceError>,
    ) -> bool {
        let request_id = request_id.as_deref().unwrap_or("-");
        match answer {
            Ok(HandedIn::Completed) => {
                tracing::info!(job = %lease.job_id, worker = %self.runner.id, request_id,
                    ms = now.saturating_since(started), "job completed");
            }
            Ok(HandedIn::Failed(d)) => {
                tracing::info!(job = %lease.job_id, worker = %self.runner.id, request_id,
                    code = code.map_or("-", |c| c.as_str()), decision = ?d, "job attempt failed");
            }
            Ok(HandedIn::Refused { field, ended }) => {
                // This worker's own receipt disagrees with the job: a bug, never stored. The
                // attempt ended now, so that the job is retried without waiting out the lease.
                tracing::error!(job = %lease.job_id, worker = %self.runner.id, %field,
                    "hand-in refused: the receipt misstates the job");
                if let Err(e) = ended {
                    tracing::warn!(job = %lease.job_id, error = %e,
                        "could not report the refused hand-in");
                }
            }
            Err(SourceError::Store(StoreError::Fenced { .. })) => {
                tracing::warn!(job = %lease.job_id, worker = %self.runner.id,
                    "lease lost before hand-in; result discarded");
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(job = %lease.job_id, error = %e, "hand-in failed; will retry");
                return true;
            }
            Err(e) => {
                tracing::error!(job = %lease.job_id, error = %e, "hand-in failed");
            }
        }
        false
    }

    /// Hand several completions in with one call; while the store is unreachable, retry them
    /// (as [`hand_in`](Self::hand_in) does for one) for as long as their leases could hold.
    async fn hand_in_completed(
        &self,
        mut pending: Vec<(LeaseRef, NewResult, vesper_core::Timestamp, Option<String>)>,
    ) {
        let deadline =
            std::time::Instant::now() + Duration::from_millis(self.runner.config.lease_ms);
        let mut delay = Duration::from_millis(100);
        while !pending.is_empty() {
            let now = self.runner.clock.now();
            let items = pending
                .iter()
                .map(|(l, r, ..)| (l.clone(), r.clone()))
                .collect();
            let answers =
                match handin::complete_batch(&*self.source, items, now, self.runner.config.retry)
                    .await
                {
                    Ok(a) => a,
                    Err(e) if e.is_transient() && std::time::Instant::now() + delay < deadline => {
                        tracing::warn!(worker = %self.runner.id, jobs = pending.len(), error = %e,
                            retry_ms = delay.as_millis() as u64, "hand-in failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(2));
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(worker = %self.runner.id, jobs = pending.len(), error = %e,
                            "hand-in failed");
                        return;
                    }
                };
            let mut again = Vec::new();
            for (item, answer) in pending.into_iter().zip(answers) {
                let (lease, _, started, request_id) = &item;
                if self.report(lease, None, *started, request_id, now, answer) {
                    again.push(item);
                }
            }
            pending = again;
            if !pending.is_empty() {
                if std::time::Instant::now() + delay >= deadline {
                    tracing::error!(worker = %self.runner.id, jobs = pending.len(), "hand-in failed");
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }

    async fn execute(
        self: &Arc<Self>,
        job: LeasedJob,
        pre: &mut Prefetch,
    ) -> (LeaseRef, Outcome, vesper_core::Timestamp) {
        use tracing::Instrument as _;
        let lease = job.lease.clone();
        let started = self.runner.clock.now();
        // The submitting request's id follows the job into the worker's logs.
        let span = tracing::info_span!(
            "job",
            job_id = %lease.job_id,
            request_id = job.request_id.as_deref().unwrap_or("-"),
        );
        tracing::debug!(parent: &span, worker = %self.runner.id, attempt = job.retry_count + 1, "job started");
        // Keep the lease alive while the job runs; once it is known lost, stop the run (the
        // sandbox checks the flag every tick) and free this worker for other work.
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let outcome = {
            let work = self.process(job, cancel.clone()).instrument(span);
            tokio::pin!(work);
            // The first beat one period in (an interval's immediate first tick would wait for
            // the timer wheel's next millisecond: most of a millisecond per job).
            let period = Duration::from_millis(self.runner.config.heartbeat_ms);
            let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            // A long run gives back the jobs prefetched behind it, so that idle workers can
            // take them rather than wait.
            let hold =
                tokio::time::sleep(Duration::from_millis(self.runner.config.prefetch_hold_ms));
            tokio::pin!(hold);
            let mut long_run = false;
            loop {
                tokio::select! {
                    o = &mut work => break o,
                    _ = &mut hold, if !long_run => {
                        long_run = true;
                        self.give_back(&mut pre.jobs).await;
                    }
                    r = async { (&mut pre.leasing.as_mut().expect("guarded").0).await },
                        if pre.leasing.is_some() => {
                        pre.leasing = None;
                        if let Ok(Ok(jobs)) = r {
                            pre.jobs.extend(jobs);
                        }
                        if long_run {
                            self.give_back(&mut pre.jobs).await;
                        }
                    }
                    _ = beat.tick() => {
                        match self.source.heartbeat(&lease, self.runner.clock.now(), self.runner.config.lease_ms).await {
                            Ok(()) => {}
                            Err(SourceError::Store(StoreError::Fenced { .. } | StoreError::NotFound { .. })) => {
                                tracing::warn!(job = %lease.job_id, worker = %self.runner.id,
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

    /// Hand a failed attempt in (the shared path, `handin.rs`). While the store is unreachable
    /// (Redis restarting, a disk hiccup) keep trying, with backoff, for as long as the lease
    /// could still be ours. A fenced lease ends it.
    async fn hand_in_failure(
        &self,
        lease: LeaseRef,
        code: ErrorCode,
        started: vesper_core::Timestamp,
        request_id: Option<String>,
    ) {
        let deadline =
            std::time::Instant::now() + Duration::from_millis(self.runner.config.lease_ms);
        let mut delay = Duration::from_millis(100);
        loop {
            let now = self.runner.clock.now();
            let answer = handin::hand_in(
                &*self.source,
                &lease,
                HandIn::Failed(code),
                now,
                self.runner.config.retry,
            )
            .await;
            if !self.report(&lease, Some(code), started, &request_id, now, answer) {
                return;
            }
            if std::time::Instant::now() + delay >= deadline {
                tracing::error!(job = %lease.job_id, worker = %self.runner.id, "hand-in failed");
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    async fn process(
        self: &Arc<Self>,
        job: LeasedJob,
        cancel: Arc<std::sync::atomic::AtomicBool>,
    ) -> Outcome {
        match self.try_process(job, cancel).await {
            Ok(r) => Outcome::Done(r),
            Err(code) => Outcome::Failed(code),
        }
    }

    async fn try_process(
        self: &Arc<Self>,
        job: LeasedJob,
        cancel: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<NewResult, ErrorCode> {
        let mut opened = self.runner.open(&job)?;
        if job.workload_type == vesper_core::WorkloadType::ZkProof {
            return self.prove(job, opened).await;
        }
        let module = match &mut opened.workload.program {
            WorkloadProgram::Registry if self.runner.executor.is_cached(&opened.program_id) => None,
            WorkloadProgram::Registry => Some(
                self.source
                    .program(opened.program_id)
                    .await
                    .map_err(|_| ErrorCode::Internal)?
                    .ok_or(ErrorCode::ProgramNotFound)?,
            ),
            WorkloadProgram::Inline(bytes) => Some(Arc::new(std::mem::take(bytes))),
        };
        let runner = self.runner.clone();
        tokio::task::spawn_blocking(move || runner.finish(&job, opened, module, Some(cancel)))
            .await
            .map_err(|_| ErrorCode::Internal)?
    }
}

impl Worker {
    /// A `zk_proof` job: the deployment its image id names, proved on the blocking pool
    /// (`crate::zk`).
    async fn prove(
        self: &Arc<Self>,
        job: LeasedJob,
        opened: Opened,
    ) -> Result<NewResult, ErrorCode> {
        if !matches!(opened.workload.program, WorkloadProgram::Registry) {
            return Err(ErrorCode::BadPayload);
        }
        let program = crate::zk::obtain(&*self.source, opened.program_id).await?;
        let runner = self.runner.clone();
        tokio::task::spawn_blocking(move || runner.finish_zk(&job, opened, &program))
            .await
            .map_err(|_| ErrorCode::Internal)?
    }
}

impl Runner {
    /// Open a leased job: decrypt its workload with the pool key it names and decode it.
    pub fn open(&self, job: &LeasedJob) -> Result<Opened, ErrorCode> {
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
        let workload = WorkloadPlaintext::decode(&plaintext).map_err(|_| ErrorCode::BadPayload)?;
        drop(plaintext);
        let program_id = match &workload.program {
            WorkloadProgram::Registry => job.program_id.ok_or(ErrorCode::BadPayload)?,
            WorkloadProgram::Inline(bytes) => {
                let id = ProgramId::of_module(bytes);
                if job.program_id.is_some_and(|p| p != id) {
                    return Err(ErrorCode::BadPayload);
                }
                id
            }
        };
        Ok(Opened {
            client_pk,
            workload,
            program_id,
        })
    }

    /// The rest of a job's work, on the calling thread (blocking): run the program in the
    /// sandbox (`module` unless it is compiled already), seal the result to the client, sign
    /// the receipt. `vesper bench --ceiling` times [`open`](Self::open) + this, as one job's
    /// pure CPU cost.
    pub fn finish(
        &self,
        job: &LeasedJob,
        mut opened: Opened,
        module: Option<Arc<Vec<u8>>>,
        cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    ) -> Result<NewResult, ErrorCode> {
        let mut limits = self.config.limits;
        if let Some(f) = job.max_fuel {
            limits.fuel = limits.fuel.min(f);
        }
        let seed = sha256(&[b"vesper/v1/job-seed\0", &job.payload_digest]);
        let started_at = self.clock.now();
        let run = self.executor.run(RunRequest {
            program_id: opened.program_id,
            module: module.as_deref().map(|m| &m[..]),
            input: &opened.workload.input,
            seed,
            clock: job.created_at,
            limits,
            cancel,
        });
        opened.workload.input.zeroize();
        let mut out = run.map_err(|e| e.code())?;
        let (stdout, stderr) = (
            std::mem::take(&mut out.stdout),
            std::mem::take(&mut out.stderr),
        );
        self.seal_and_sign(
            job,
            &opened,
            (out.exit_code, stdout, stderr),
            out.fuel_used,
            out.wall_ms,
            started_at,
        )
    }

    /// A `zk_proof` job's work (blocking): prove, then seal and sign as any job.
    pub fn finish_zk(
        &self,
        job: &LeasedJob,
        mut opened: Opened,
        program: &crate::zk::ZkProgram,
    ) -> Result<NewResult, ErrorCode> {
        let started_at = self.clock.now();
        let t = std::time::Instant::now();
        let out = crate::zk::prove(program, &opened.workload.input, job.created_at.0);
        opened.workload.input.zeroize();
        let wall_ms = t.elapsed().as_millis() as u64;
        self.seal_and_sign(
            job,
            &opened,
            (out.exit_code, out.stdout, Vec::new()),
            out.constraints,
            wall_ms,
            started_at,
        )
    }

    /// Seal a result to the client and sign its receipt.
    fn seal_and_sign(
        &self,
        job: &LeasedJob,
        opened: &Opened,
        (exit_code, stdout, stderr): (i32, Vec<u8>, Vec<u8>),
        fuel_used: u64,
        wall_ms: u64,
        started_at: vesper_core::Timestamp,
    ) -> Result<NewResult, ErrorCode> {
        let completed_at = self.clock.now();
        let client_pk = opened.client_pk;
        let program_id = opened.program_id;

        let mut salt = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        let result = ResultPlaintext {
            salt,
            exit_code,
            stdout,
            stderr,
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
            fuel_used,
            execution_time_ms: wall_ms,
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

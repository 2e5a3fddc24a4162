//! `vesper bench --ceiling`: the pure CPU cost of one job, measured on this thread with no
//! store, no HTTP and no other threads, so that every throughput figure can be read as a
//! fraction of what the machine could do at best.
//!
//! What is timed is exactly the work inside `vesper bench`'s timed window that is not queueing:
//! the worker's share of a job, through the worker's own code ([`Runner::open`] +
//! [`Runner::finish`]): open the sealed workload (HPKE), run the trivial program in a warm
//! sandbox (compiled module, pooled instance), seal the result to the client (HPKE), hash and
//! sign the receipt (Ed25519). The in-process benchmark client seals every job before its timer
//! starts and does not open results inside it, so no client crypto is in that window.
//!
//! Also reported: the same worker work on every core at once (one thread per core), which shows
//! how much less than `cores` times one thread the machine does when all its cores are busy.
//! Also reported, for the whole picture: the client's crypto per job (seal the workload; open
//! the result and verify the receipt, as `vesper bench --target` does inside its window), and
//! the wasm instantiate + run of the trivial program alone.

use std::sync::Arc;
use std::time::Instant;

use vesper_client::{Program, seal_job};
use vesper_core::{JobId, Priority, ProgramId, SystemClock, Timestamp, WorkerId, WorkloadType};
use vesper_crypto::{SigningIdentity, X25519SecretKey, open_result, verify_receipt};
use vesper_exec::{Executor, ExecutorConfig, RunRequest};
use vesper_node::worker::{PoolKeys, Runner, WorkerConfig};
use vesper_store::{LeaseRef, LeasedJob};

/// One job's CPU cost, in microseconds, medians over rounds.
pub struct Ceiling {
    /// Worker: open → run → seal result → sign receipt.
    pub worker_us: f64,
    /// Client: seal the workload.
    pub client_seal_us: f64,
    /// Client: open the result and verify the receipt.
    pub client_open_us: f64,
    /// The sandbox alone: instantiate + run the trivial program (module compiled).
    pub wasm_us: f64,
    /// Cores the ceiling is for (workers, at most the machine's cores).
    pub cores: usize,
    /// The worker's share with one thread per core at once (no store, no HTTP): what the cores
    /// do together, which on a shared or throttled machine is less than `cores` times one.
    pub parallel_jobs_per_sec: f64,
}

impl Ceiling {
    /// Jobs/s the worker side alone could do on `cores` cores.
    pub fn jobs_per_sec(&self) -> f64 {
        self.cores as f64 * 1e6 / self.worker_us
    }
    /// Jobs/s on `cores` cores if client and worker crypto shared them.
    pub fn full_jobs_per_sec(&self) -> f64 {
        self.cores as f64 * 1e6 / (self.worker_us + self.client_seal_us + self.client_open_us)
    }
    /// Jobs/s on `cores` cores for the work inside `vesper bench --target`'s window: the
    /// worker's share plus the client's open + verify.
    pub fn target_jobs_per_sec(&self) -> f64 {
        self.cores as f64 * 1e6 / (self.worker_us + self.client_open_us)
    }
    /// The faster of two measurements of the same work, part by part: the ceiling measured
    /// before and after a run, so that a fraction of it never rests on a slow moment of the
    /// machine (on a shared machine the same code runs up to 1.5x faster after a light spell
    /// than after a heavy one).
    pub fn faster(&self, other: &Ceiling) -> Ceiling {
        Ceiling {
            worker_us: self.worker_us.min(other.worker_us),
            client_seal_us: self.client_seal_us.min(other.client_seal_us),
            client_open_us: self.client_open_us.min(other.client_open_us),
            wasm_us: self.wasm_us.min(other.wasm_us),
            cores: self.cores,
            parallel_jobs_per_sec: self.parallel_jobs_per_sec.max(other.parallel_jobs_per_sec),
        }
    }
    /// `jobs_per_sec` as a fraction of `ceiling`, for printing.
    pub fn fraction(jobs_per_sec: f64, ceiling: f64) -> String {
        format!(
            "{:.0} % of the in-run ceiling of {ceiling:.0} jobs/s",
            100.0 * jobs_per_sec / ceiling
        )
    }
    pub fn print(&self) {
        println!(
            "ceiling: {:.0} jobs/s on {} core(s) (worker open → run → seal → sign: {:.0} µs/job, \
             one thread, no store, no HTTP)",
            self.jobs_per_sec(),
            self.cores,
            self.worker_us
        );
        println!(
            "  the same work on {} threads at once: {:.0} jobs/s ({:.2}x one thread's rate)",
            self.cores,
            self.parallel_jobs_per_sec,
            self.parallel_jobs_per_sec * self.worker_us / 1e6
        );
        println!(
            "full client + worker crypto: {:.0} µs/job (client seal {:.0} µs, client open + \
             verify {:.0} µs) = {:.0} jobs/s on {} core(s); wasm instantiate + run {:.1} µs",
            self.worker_us + self.client_seal_us + self.client_open_us,
            self.client_seal_us,
            self.client_open_us,
            self.full_jobs_per_sec(),
            self.cores,
            self.wasm_us
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Per-job µs of `f` over `rounds` rounds of `n` calls each: the median round.
fn time_rounds(rounds: usize, n: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut per = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let t = Instant::now();
        for i in 0..n {
            f(r * n + i);
        }
        per.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    median(per)
}

/// Measure the ceiling for `workers` workers, on this thread (blocking, about a second).
pub fn measure(module: &[u8], workers: usize, config: &WorkerConfig) -> anyhow::Result<Ceiling> {
    const ROUNDS: usize = 7;
    const N: usize = 200;
    let pid = ProgramId::of_module(module);
    let pool = X25519SecretKey::generate();
    let client = X25519SecretKey::generate();
    let executor = Arc::new(Executor::new(ExecutorConfig {
        max_memory_bytes: config.limits.memory_bytes,
        max_concurrent: 4,
    })?);
    executor.prepare(pid, Some(module))?;
    let runner = Runner {
        id: WorkerId::new("bench/ceiling".to_owned())?,
        config: config.clone(),
        identity: SigningIdentity::generate(),
        keys: Arc::new(PoolKeys::new([pool.clone()])),
        executor: executor.clone(),
        clock: Arc::new(SystemClock),
    };

    // The client's seal, and the leased jobs the worker will open.
    let total = ROUNDS * N;
    let mut sealed = Vec::with_capacity(total);
    let client_seal_us = time_rounds(ROUNDS, N, |_| {
        let s = seal_job(
            &pool.public_key(),
            &client.public_key(),
            WorkloadType::General,
            Program::Registered(pid),
            b"x".to_vec(),
            Some(10),
        )
        .expect("seal");
        sealed.push(s);
    });
    let jobs: Vec<LeasedJob> = sealed
        .iter()
        .map(|s| leased(s, &runner.id, &client, pid))
        .collect::<anyhow::Result<_>>()?;

    // The worker's share, through the worker's own code.
    let mut results = Vec::with_capacity(total);
    let worker_us = time_rounds(ROUNDS, N, |i| {
        let job = &jobs[i];
        let opened = runner.open(job).expect("open");
        results.push(runner.finish(job, opened, None, None).expect("run"));
    });
    // The client's open + verify of each result.
    let client_open_us = time_rounds(ROUNDS, N, |i| {
        let (job, r) = (&jobs[i], &results[i]);
        verify_receipt(&r.receipt, &r.signature).expect("receipt");
        open_result(
            &client,
            &job.lease.job_id,
            &job.payload_digest,
            &r.encrypted_result,
        )
        .expect("open result");
    });
    // The sandbox alone.
    let wasm_us = time_rounds(ROUNDS, N, |i| {
        executor
            .run(RunRequest {
                program_id: pid,
                module: None,
                input: b"x",
                seed: [i as u8; 32],
                clock: Timestamp(0),
                limits: config.limits,
                cancel: None,
            })
            .expect("run");
    });
    let cores = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(workers.max(1));
    // The same work on every core at once: each thread its own share of the jobs.
    let per = jobs.len() / cores;
    let t = Instant::now();
    std::thread::scope(|s| {
        for part in jobs.chunks(per).take(cores) {
            let runner = &runner;
            s.spawn(move || {
                for job in part {
                    let opened = runner.open(job).expect("open");
                    runner.finish(job, opened, None, None).expect("run");
                }
            });
        }
    });
    let parallel_jobs_per_sec = (per * cores) as f64 / t.elapsed().as_secs_f64();
    Ok(Ceiling {
        worker_us,
        client_seal_us,
        client_open_us,
        wasm_us,
        cores,
        parallel_jobs_per_sec,
    })
}

/// A sealed job as a worker would receive it from a lease.
fn leased(
    s: &vesper_client::SealedJob,
    worker: &WorkerId,
    client: &X25519SecretKey,
    pid: ProgramId,
) -> anyhow::Result<LeasedJob> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(LeasedJob {
        lease: LeaseRef {
            job_id: JobId::new_random(),
            epoch: 1,
            worker: worker.clone(),
        },
        lease_expires_at: Timestamp(u64::MAX / 2),
        workload_type: WorkloadType::General,
        program_id: Some(pid),
        key_id: s.request.key_id.parse()?,
        client_pubkey: *client.public_key().as_bytes(),
        encrypted_key: b64.decode(&s.request.encrypted_key)?,
        encrypted_payload: b64.decode(&s.request.encrypted_payload)?,
        payload_digest: s.payload_digest,
        created_at: Timestamp(1),
        retry_count: 0,
        max_fuel: None,
        request_id: None,
        priority: Priority::new(10).ok(),
    })
}

//! `vesper bench`: end-to-end jobs/s and submit→result latency on an in-process dev node
//! (real HTTP on loopback, real store on disk, real sandbox). Not a test: figures go to
//! docs/PERFORMANCE.md.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use tokio::task::JoinSet;
use vesper_client::{Client, Program, seal_job};
use vesper_core::{JobId, Priority, ProgramId, TenantId, WorkloadType};
use vesper_crypto::X25519SecretKey;
use vesper_store::NewJob;

/// The trivial program: echoes nothing, exits 0.
const TRIVIAL: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

#[derive(Args)]
pub struct BenchArgs {
    /// Jobs to run in the throughput phase.
    #[arg(long, default_value_t = 10_000)]
    jobs: usize,
    /// Jobs in flight at once (each = submit, then long-poll the result).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Sequential jobs for the low-load latency phase.
    #[arg(long, default_value_t = 500)]
    low_load_jobs: usize,
    /// In-process workers (default: number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Queue this many low-priority jobs first, so the measured jobs run against a deep queue.
    #[arg(long, default_value_t = 0)]
    prefill: usize,
    /// Data directory (default: a fresh temporary directory).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub async fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let tmp;
    let dir = match &a.data {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_owned()
        }
    };
    let mut cfg = vesper_node::dev::DevConfig::new(dir.clone(), "127.0.0.1:0".parse()?);
    if let Some(w) = a.workers {
        cfg.workers = w.max(1);
    }
    // The benchmark is one tenant on loopback: measure the pipeline, not the rate limits.
    cfg.gateway.limits = vesper_gateway::LimitsConfig {
        tenant_rate_per_sec: 0,
        tenant_burst: 0,
        ip_rate_per_sec: 0,
        ip_burst: 0,
    };
    cfg.gateway.quotas.max_queued = None;
    let workers = cfg.workers;
    let node = vesper_node::dev::DevNode::start(cfg).await?;
    let base = format!("http://{}", node.addr);
    let client = Client::new(&base, Some(node.api_key.expose().to_owned()))?;
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(TRIVIAL)?;
    let pid = client.upload_program(module).await?;
    let keys = client.keys(None).await?;
    let pool = keys.pool_keys[0].1;
    let seal = |prio| {
        seal_job(
            &pool,
            &sk.public_key(),
            WorkloadType::General,
            Program::Registered(pid),
            b"x".to_vec(),
            prio,
        )
    };
    println!("vesper bench: {workers} workers, store {}", dir.display());

    if a.prefill > 0 {
        prefill(&node, &pool, &sk, pid, a.prefill).await?;
        println!("prefilled {} queued jobs (priority 1)", a.prefill);
    }

    // Phase 1: low load, one job at a time.
    let mut lat = Vec::with_capacity(a.low_load_jobs);
    for _ in 0..a.low_load_jobs {
        let req = seal(Some(10))?;
        let t = Instant::now();
        let r = client.submit(&req, None).await?;
        client.result(&r.job_id, 30).await.context("result")?;
        lat.push(t.elapsed());
    }
    lat.sort();
    if !lat.is_empty() {
        println!(
            "low load ({} sequential jobs): p50 {:.2} ms, p99 {:.2} ms",
            lat.len(),
            pct(&lat, 0.5),
            pct(&lat, 0.99)
        );
    }

    // Phase 2: throughput with `concurrency` jobs in flight.
    let reqs: Vec<_> = (0..a.jobs)
        .map(|_| seal(Some(10)))
        .collect::<Result<_, _>>()?;
    let reqs = Arc::new(tokio::sync::Mutex::new(reqs));
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..a.concurrency.max(1) {
        let client = client.clone();
        let reqs = reqs.clone();
        set.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let Some(req) = reqs.lock().await.pop() else {
                    break;
                };
                let t = Instant::now();
                let r = client.submit(&req, None).await?;
                client.result(&r.job_id, 30).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, vesper_client::ClientError>(lat)
        });
    }
    let mut all = Vec::with_capacity(a.jobs);
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    println!(
        "throughput ({} jobs, {} in flight): {:.0} jobs/s, p50 {:.2} ms, p99 {:.2} ms",
        all.len(),
        a.concurrency,
        all.len() as f64 / secs,
        pct(&all, 0.5),
        pct(&all, 0.99)
    );
    if a.prefill > 0 {
        println!("queue depth after run: {}", node.store.queue_depth().await?);
    }
    node.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Queue `n` valid low-priority jobs straight through the store (fast, batched).
async fn prefill(
    node: &vesper_node::dev::DevNode,
    pool: &vesper_crypto::X25519PublicKey,
    sk: &X25519SecretKey,
    pid: ProgramId,
    n: usize,
) -> anyhow::Result<()> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let req = seal_job(
        pool,
        &sk.public_key(),
        WorkloadType::General,
        Program::Registered(pid),
        b"x".to_vec(),
        Some(1),
    )?;
    let ek = b64.decode(&req.encrypted_key)?;
    let ep = b64.decode(&req.encrypted_payload)?;
    let tenant = node.store.find_tenant("dev").await?.unwrap_or(TenantId(1));
    let mut set = JoinSet::new();
    for i in 0..n {
        let store = node.store.clone();
        let job = NewJob {
            job_id: JobId::new_random(),
            tenant,
            workload_type: WorkloadType::General,
            program_id: Some(pid),
            key_id: pool.key_id(),
            client_pubkey: *sk.public_key().as_bytes(),
            encrypted_key: ek.clone(),
            encrypted_payload: ep.clone(),
            priority: Priority::new(1)?,
            max_retries: 3,
            created_at: vesper_core::Clock::now(&vesper_core::SystemClock),
            idempotency_key: None,
            request_digest: [0; 32],
            callback_url: None,
            request_id: None,
            max_fuel: None,
            quota: Default::default(),
        };
        set.spawn(async move { store.submit(job).await });
        if set.len() >= 1024 || i + 1 == n {
            while let Some(r) = set.join_next().await {
                r??;
            }
        }
    }
    Ok(())
}

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

mod ceiling;
use ceiling::Ceiling;

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
    /// On Redis the append-only file is then rewritten (and waited for) before the run.
    #[arg(long, default_value_t = 0)]
    prefill: usize,
    /// Data directory (default: a fresh temporary directory).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// Store: `embedded` (default), `memory`, or `redis://HOST:PORT/DB`. On Redis the run
    /// uses a fresh namespace and deletes it afterwards.
    #[arg(long, default_value = "embedded")]
    store: String,
    /// Drive running gateways instead of an in-process node: comma-separated base URLs, used
    /// round-robin. Every result's receipt is verified and decrypted, and the tenant's job
    /// listing is checked for exactly one job per submission. Needs `--api-key` or
    /// `VESPER_API_KEY`.
    #[arg(long, value_delimiter = ',')]
    target: Vec<String>,
    /// API key for `--target`.
    #[arg(long, env = "VESPER_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Also measure, in this run and on the cores it uses, the pure CPU cost of the work in
    /// the timed window (no store, no HTTP, one thread), print it as a ceiling in jobs/s and
    /// every throughput as a fraction of it (`bench/ceiling.rs` says what is timed).
    #[arg(long)]
    ceiling: bool,
    /// Jobs each in-process worker leases per store call at most (1: no batching).
    #[arg(long)]
    batch: Option<u32>,
    /// Work, in milliseconds, a worker leases ahead of what it runs (sizes its batches).
    #[arg(long)]
    prefetch_window_ms: Option<u64>,
}

/// Measure the ceiling off the async runtime's threads and print it.
async fn measure_ceiling(workers: usize) -> anyhow::Result<Ceiling> {
    let c = measure_quietly(workers).await?;
    c.print();
    Ok(c)
}

async fn measure_quietly(workers: usize) -> anyhow::Result<Ceiling> {
    let module = wat::parse_str(TRIVIAL)?;
    let config = vesper_node::worker::WorkerConfig::default();
    tokio::task::spawn_blocking(move || ceiling::measure(&module, workers, &config)).await?
}

/// Measure the ceiling again after the run and keep the faster of the two, part by part: the
/// fractions printed never rest on a slow moment of the machine.
async fn remeasure(before: Option<Ceiling>, workers: usize) -> anyhow::Result<Option<Ceiling>> {
    let Some(before) = before else {
        return Ok(None);
    };
    let after = measure_quietly(workers).await?;
    let best = before.faster(&after);
    println!(
        "ceiling again, after the run: worker open → run → seal → sign {:.0} µs/job (before \
         the run: {:.0}); the fractions below use the faster of the two",
        after.worker_us, before.worker_us,
    );
    Ok(Some(best))
}

/// One sealed job for the trivial program (input `x`).
fn trivial_job(
    pool: &vesper_crypto::X25519PublicKey,
    sk: &X25519SecretKey,
    pid: ProgramId,
    priority: Option<u8>,
) -> Result<vesper_client::SubmitRequest, vesper_client::ClientError> {
    seal_job(
        pool,
        &sk.public_key(),
        WorkloadType::General,
        Program::Registered(pid),
        b"x".to_vec(),
        priority,
    )
    .map(|s| s.request)
}

/// CPU time this process has used so far, all threads (user + system).
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct passed to it.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return Duration::ZERO;
        }
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Where the window's CPU went, per job: this process (client, gateway, workers, store) and,
/// on Redis, the server; and how much of it is the ceiling's work.
fn print_cpu(jobs: usize, process: Duration, redis: Option<Duration>, ceiling: Option<&Ceiling>) {
    let per = |d: Duration| d.as_secs_f64() * 1e6 / jobs.max(1) as f64;
    let mut line = format!(
        "CPU per job in the window: {:.0} µs in this process",
        per(process)
    );
    let mut total = per(process);
    if let Some(r) = redis {
        line += &format!(" + {:.0} µs in redis-server", per(r));
        total += per(r);
    }
    if let Some(c) = ceiling {
        line += &format!(
            "; the ceiling's work is {:.0} µs of the {:.0} ({:.0} %)",
            c.worker_us,
            total,
            100.0 * c.worker_us / total.max(1.0)
        );
    }
    println!("{line}");
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub async fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    if !a.target.is_empty() {
        return run_against(a).await;
    }
    let tmp;
    let dir = match &a.data {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_owned()
        }
    };
    let mut cfg = vesper::node::DevConfig::new(dir.clone(), "127.0.0.1:0".parse()?);
    let namespace = format!("bench-{}", hex::encode(rand::random::<[u8; 4]>()));
    cfg.store = vesper::node::StoreSpec::parse(&a.store, &namespace)
        .context("--store must be embedded, memory or redis://HOST:PORT/DB")?;
    let store_desc = match &cfg.store {
        vesper::node::StoreSpec::Redis { url, .. } => format!("{url} (namespace {namespace})"),
        vesper::node::StoreSpec::Memory => "memory".to_owned(),
        vesper::node::StoreSpec::Embedded => format!("embedded in {}", dir.display()),
    };
    let redis_url = match &cfg.store {
        vesper::node::StoreSpec::Redis { url, .. } => Some(url.clone()),
        _ => None,
    };
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
    if let Some(b) = a.batch {
        cfg.worker.batch = b.max(1);
    }
    if let Some(w) = a.prefetch_window_ms {
        cfg.worker.prefetch_window_ms = w;
    }
    let workers = cfg.workers;
    let ceiling = if a.ceiling {
        Some(measure_ceiling(workers).await?)
    } else {
        None
    };
    let node = vesper::node::DevNode::start(cfg).await?;
    let base = format!("http://{}", node.addr);
    let client = Client::new(&base, Some(node.api_key().expose().to_owned()))?;
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(TRIVIAL)?;
    let pid = client.upload_program(module).await?;
    let keys = client.keys(None).await?;
    let pool = keys.pool_keys[0].1;
    let seal = |prio| trivial_job(&pool, &sk, pid, prio);
    println!("vesper bench: {workers} workers, store {store_desc}");

    if a.prefill > 0 {
        prefill(&node, &pool, &sk, pid, a.prefill).await?;
        println!("prefilled {} queued jobs (priority 1)", a.prefill);
        if let Some(url) = &redis_url {
            // The prefill grew the append-only file: rewrite it now, so that the rewrite it
            // made due does not run (forking, writing the whole data set) beside the
            // measurement on the same cores.
            let t = Instant::now();
            let done =
                vesper_store::RedisStore::rewrite_aof_and_wait(url, Duration::from_secs(600))
                    .await?;
            println!(
                "redis append-only file rewritten after the prefill: {} ({:.1} s)",
                if done {
                    "yes"
                } else {
                    "no (no AOF, or it took too long)"
                },
                t.elapsed().as_secs_f64()
            );
        }
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
    let depth_before = if a.prefill > 0 {
        node.store.queue_depth().await?
    } else {
        0
    };
    let redis_before = match &redis_url {
        Some(url) => Some(vesper_store::RedisStore::server_cpu(url).await?),
        None => None,
    };
    let cpu_before = process_cpu();
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
    let cpu = process_cpu().saturating_sub(cpu_before);
    let redis_used = match (&redis_url, redis_before) {
        (Some(url), Some(b)) => Some(
            vesper_store::RedisStore::server_cpu(url)
                .await?
                .saturating_sub(b),
        ),
        _ => None,
    };
    all.sort();
    let rate = all.len() as f64 / secs;
    // The workers also ran prefilled jobs whenever no measured one was waiting.
    let depth_after = if a.prefill > 0 {
        Some(node.store.queue_depth().await?)
    } else {
        None
    };
    node.stop().await;
    let ceiling = remeasure(ceiling, workers).await?;
    println!(
        "throughput ({} jobs, {} in flight): {:.0} jobs/s, p50 {:.2} ms, p99 {:.2} ms{}",
        all.len(),
        a.concurrency,
        rate,
        pct(&all, 0.5),
        pct(&all, 0.99),
        ceiling.as_ref().map_or(String::new(), |c| format!(
            " ({}; {:.0} % of what {} threads do at once)",
            Ceiling::fraction(rate, c.jobs_per_sec()),
            100.0 * rate / c.parallel_jobs_per_sec,
            c.cores
        ))
    );
    print_cpu(all.len(), cpu, redis_used, ceiling.as_ref());
    if let Some(after) = depth_after {
        let ran = depth_before.saturating_sub(after);
        println!(
            "queue depth after run: {after}; prefilled jobs run during the throughput phase: \
             {ran} ({:.0} jobs/s; measured + prefilled: {:.0} jobs/s)",
            ran as f64 / secs,
            (all.len() as u64 + ran) as f64 / secs
        );
    }
    if let Some(url) = redis_url {
        let store = vesper_store::RedisStore::open(
            &url,
            vesper_store::RedisOptions {
                namespace,
                ..Default::default()
            },
        )
        .await?;
        store.wipe().await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Queue `n` valid low-priority jobs straight through the store (fast, batched).
async fn prefill(
    node: &vesper::node::DevNode,
    pool: &vesper_crypto::X25519PublicKey,
    sk: &X25519SecretKey,
    pid: ProgramId,
    n: usize,
) -> anyhow::Result<()> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let req = trivial_job(pool, sk, pid, Some(1))?;
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

/// `--target`: load running gateways, verify every receipt, check exactly-once.
async fn run_against(a: BenchArgs) -> anyhow::Result<ExitCode> {
    use vesper_client::verify_result;
    let key = a
        .api_key
        .clone()
        .context("--target needs --api-key or VESPER_API_KEY")?;
    let clients: Vec<Client> = a
        .target
        .iter()
        .map(|u| Client::new(u.trim_end_matches('/'), Some(key.clone())))
        .collect::<Result<_, _>>()?;
    // Workers run elsewhere; on one machine they share its cores with this client.
    let ceiling_cores = a
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let ceiling = if a.ceiling {
        let c = measure_ceiling(ceiling_cores).await?;
        println!(
            "ceiling for this mode (worker share + the client's open + verify, inside the \
             window): {:.0} jobs/s",
            c.target_jobs_per_sec()
        );
        Some(c)
    } else {
        None
    };
    let sk = Arc::new(X25519SecretKey::generate());
    let pid = clients[0].upload_program(wat::parse_str(TRIVIAL)?).await?;
    let keys = clients[0].keys(None).await?;
    let pool = keys.pool_keys[0].1;
    let before = list_all(&clients[0]).await?.len();
    println!(
        "vesper bench: {} jobs through {} gateway(s), {} in flight",
        a.jobs,
        clients.len(),
        a.concurrency
    );
    let reqs: Vec<_> = (0..a.jobs)
        .map(|_| trivial_job(&pool, &sk, pid, None))
        .collect::<Result<_, _>>()?;
    let reqs = Arc::new(tokio::sync::Mutex::new(
        reqs.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let cpu_before = process_cpu();
    let start = Instant::now();
    let mut set = JoinSet::new();
    for w in 0..a.concurrency.max(1) {
        let clients = clients.clone();
        let reqs = reqs.clone();
        let sk = sk.clone();
        let mut trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        set.spawn(async move {
            let mut out = Vec::new();
            loop {
                let Some((i, req)) = reqs.lock().await.pop() else {
                    break;
                };
                let c = &clients[(i + w) % clients.len()];
                let t = Instant::now();
                let idem = format!("bench-{i}");
                let r = c.submit(&req, Some(&idem)).await?;
                let (_, body) = c.result(&r.job_id, 60).await?;
                let lat = t.elapsed();
                let v = match verify_result(&body, &trusted, Some(&sk), None) {
                    Ok(v) => v,
                    // A worker that joined since: trust the gateway's current list.
                    Err(_) => {
                        trusted = c
                            .keys(None)
                            .await?
                            .worker_keys
                            .iter()
                            .map(|(_, k)| *k)
                            .collect();
                        verify_result(&body, &trusted, Some(&sk), None)?
                    }
                };
                if v.plaintext.map(|p| p.exit_code) != Some(0) {
                    return Err(anyhow::anyhow!("job {} did not run cleanly", r.job_id));
                }
                out.push((r.job_id, lat));
            }
            Ok::<_, anyhow::Error>(out)
        });
    }
    let mut all = Vec::with_capacity(a.jobs);
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let ceiling = remeasure(ceiling, ceiling_cores).await?;
    let ids: std::collections::HashSet<&String> = all.iter().map(|(id, _)| id).collect();
    let listed = list_all(&clients[0]).await?;
    let mut lat: Vec<Duration> = all.iter().map(|(_, l)| *l).collect();
    lat.sort();
    let rate = all.len() as f64 / secs;
    println!(
        "throughput ({} jobs): {:.0} jobs/s, p50 {:.2} ms, p99 {:.2} ms{}",
        all.len(),
        rate,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        ceiling.as_ref().map_or(String::new(), |c| format!(
            " ({})",
            Ceiling::fraction(rate, c.target_jobs_per_sec())
        ))
    );
    println!(
        "client CPU per job in the window: {:.0} µs (open + verify: {})",
        cpu.as_secs_f64() * 1e6 / all.len().max(1) as f64,
        ceiling
            .as_ref()
            .map_or("not measured".to_owned(), |c| format!(
                "{:.0} µs",
                c.client_open_us
            ))
    );
    println!(
        "receipts verified and results decrypted: {}; distinct job ids: {}; new jobs listed: {}",
        all.len(),
        ids.len(),
        listed.len().saturating_sub(before)
    );
    if ids.len() != a.jobs || listed.len().saturating_sub(before) != a.jobs {
        anyhow::bail!("lost or duplicated jobs");
    }
    println!("zero loss, zero duplicates");
    Ok(ExitCode::SUCCESS)
}

async fn list_all(c: &Client) -> anyhow::Result<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = c.list_jobs(None, 100, cursor.as_deref()).await?;
        for j in page.jobs {
            if !out.insert(j.job_id.clone()) {
                anyhow::bail!("job {} listed twice", j.job_id);
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

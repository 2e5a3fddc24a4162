//! Client and dev commands.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use vesper_client::{Client, ClientError, Program, ResultBody, seal_job, verify_result};
use vesper_core::{ProgramId, WorkloadType};
use vesper_crypto::{KeyKind, X25519SecretKey, read_key_file, write_key_file};

#[derive(Args, Clone)]
pub struct ClientOpts {
    /// Gateway URL.
    #[arg(long, env = "VESPER_GATEWAY", global = true)]
    gateway: Option<String>,
    /// File holding the API key (default: the config file, else ./.vesper/dev-api-key).
    #[arg(long, global = true)]
    api_key_file: Option<PathBuf>,
    /// Client config file (TOML: gateway, api_key_file, identity).
    #[arg(long, env = "VESPER_CONFIG", global = true)]
    config: Option<PathBuf>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClientConfig {
    gateway: Option<String>,
    api_key_file: Option<PathBuf>,
    identity: Option<PathBuf>,
}

pub(crate) fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl ClientOpts {
    fn config(&self) -> anyhow::Result<ClientConfig> {
        let path = match &self.config {
            Some(p) => p.clone(),
            None => {
                let p = home().join(".config/vesper/client.toml");
                if !p.exists() {
                    return Ok(ClientConfig::default());
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))
    }
    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        let cfg = self.config()?;
        let gateway = self
            .gateway
            .clone()
            .or(cfg.gateway)
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let key = match std::env::var("VESPER_API_KEY") {
            Ok(k) if !k.is_empty() => Some(k),
            _ => {
                let path = self
                    .api_key_file
                    .clone()
                    .or(cfg.api_key_file)
                    .unwrap_or_else(|| PathBuf::from(".vesper/dev-api-key"));
                match read_key_file(&path, KeyKind::ApiKey) {
                    Ok(k) => Some(String::from_utf8_lossy(&k).into_owned()),
                    Err(_) if self.api_key_file.is_none() => None,
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("reading API key {}", path.display()));
                    }
                }
            }
        };
        Ok(Client::new(&gateway, key)?)
    }
    pub(crate) fn identity_path(&self, flag: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
        if let Some(p) = flag {
            return Ok(p.clone());
        }
        if let Ok(p) = std::env::var("VESPER_IDENTITY") {
            return Ok(PathBuf::from(p));
        }
        Ok(self.config()?.identity.unwrap_or_else(default_identity))
    }
}

fn default_identity() -> PathBuf {
    home().join(".config/vesper/client.key")
}

pub(crate) fn load_identity(path: &Path) -> anyhow::Result<X25519SecretKey> {
    let bytes = read_key_file(path, KeyKind::X25519Secret).with_context(|| {
        format!(
            "reading client key {} (create one with `vesper keygen`)",
            path.display()
        )
    })?;
    Ok(X25519SecretKey::from_bytes(&bytes)?)
}

// ---- dev -------------------------------------------------------------------------------

#[derive(Args)]
pub struct DevArgs {
    /// Config file (default ./vesper.toml when present; `vesper config init` writes one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (store, keys, dev API key) [config: node.data_dir].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address to listen on [config: node.listen].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// In-process workers (default: number of cores; 0 = none, remote workers only)
    /// [config: node.workers, node.local_workers].
    #[arg(long)]
    workers: Option<u32>,
    /// Time to live of results, seconds [config: worker.result_ttl_secs].
    #[arg(long)]
    result_ttl: Option<u64>,
    /// Lease length, milliseconds [config: worker.lease_ms].
    #[arg(long)]
    lease_ms: Option<u64>,
    /// Also write per-component log files (gateway.log, worker.log, scheduler.log) here
    /// [config: log.dir].
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Log as JSON lines [config: log.format = "json"].
    #[arg(long)]
    pub log_json: bool,
    /// The store: `embedded` (default), `memory`, or `redis://HOST:PORT/DB` [config: node.store].
    #[arg(long)]
    store: Option<String>,
    /// Key namespace in a shared Redis [config: node.namespace].
    #[arg(long)]
    namespace: Option<String>,
    /// The pool's secret key file (workers) [config: node.pool_key].
    #[arg(long)]
    pool_key: Option<PathBuf>,
    /// Serve remote workers over libp2p on this multiaddr, e.g. /ip4/0.0.0.0/tcp/9000
    /// (repeatable) [config: p2p.listen].
    #[arg(long = "p2p-listen", value_name = "MULTIADDR")]
    p2p_listen: Vec<String>,
    /// `vesper worker`: dial this gateway and lease jobs over libp2p instead of sharing a
    /// store (repeatable; `mdns` = find a trusted gateway on the local network)
    /// [config: p2p.connect].
    #[arg(long, value_name = "MULTIADDR")]
    connect: Vec<String>,
    /// Discover peers with mDNS [config: p2p.mdns].
    #[arg(long)]
    mdns: bool,
    /// The node's home: identity and trusted_peers.json [config: p2p.home; env VESPER_HOME].
    #[arg(long)]
    home: Option<PathBuf>,
    /// A remote worker's locality label [config: p2p.region].
    #[arg(long)]
    region: Option<String>,
}

impl DevArgs {
    /// The effective configuration: file and environment, then these flags.
    pub fn resolve(&self) -> anyhow::Result<crate::config::Config> {
        let env = |k: &str| std::env::var(k).ok();
        let (mut cfg, _) = crate::config::load(self.config.as_deref(), &env)?;
        if let Some(d) = &self.data {
            cfg.node.data_dir = d.clone();
        }
        if let Some(l) = self.listen {
            cfg.node.listen = l.to_string();
        }
        if let Some(w) = self.workers {
            if w > 256 {
                bail!("--workers must be between 0 and 256");
            }
            // 0: no in-process workers (remote workers only).
            cfg.node.local_workers = w > 0;
            cfg.node.workers = w;
        }
        if let Some(t) = self.result_ttl {
            cfg.worker.result_ttl_secs = t;
        }
        if let Some(l) = self.lease_ms {
            cfg.worker.lease_ms = l.max(1000);
        }
        if let Some(d) = &self.log_dir {
            cfg.log.dir = d.display().to_string();
        }
        if self.log_json {
            cfg.log.format = "json".into();
        }
        if let Some(s) = &self.store {
            cfg.node.store = s.clone();
        }
        if let Some(n) = &self.namespace {
            cfg.node.namespace = n.clone();
        }
        if let Some(p) = &self.pool_key {
            cfg.node.pool_key = p.display().to_string();
        }
        if !self.p2p_listen.is_empty() {
            cfg.p2p.listen = self.p2p_listen.clone();
        }
        for c in &self.connect {
            if c == "mdns" {
                cfg.p2p.mdns = true;
            } else {
                cfg.p2p.connect.push(c.clone());
            }
        }
        if self.mdns {
            cfg.p2p.mdns = true;
        }
        if let Some(h) = &self.home {
            cfg.p2p.home = h.display().to_string();
        }
        if let Some(r) = &self.region {
            cfg.p2p.region = r.clone();
        }
        // Validate what the flags added, naming the flag's config key.
        cfg.p2p_listen()?;
        cfg.p2p_connect()?;
        Ok(cfg)
    }
}

pub async fn dev(c: crate::config::Config, role: vesper::node::Role) -> anyhow::Result<ExitCode> {
    use vesper::node::{Role, StoreSpec};
    let data = c.node.data_dir.clone();
    let mut cfg = vesper::node::DevConfig::new(data.clone(), c.listen()?);
    cfg.role = role;
    cfg.store = StoreSpec::parse(&c.node.store, &c.node.namespace).with_context(|| {
        format!(
            "config key `node.store` must be \"\", \"embedded\", \"memory\" or \"redis://HOST:PORT/DB\", got {:?}",
            c.node.store
        )
    })?;
    if !c.node.pool_key.is_empty() {
        cfg.pool_key = Some(PathBuf::from(&c.node.pool_key));
    }
    let remote_worker = role == Role::Worker && (!c.p2p.connect.is_empty() || c.p2p.mdns);
    if remote_worker {
        return remote_worker_main(&c).await;
    }
    // Separate gateway and worker processes must share their store: only Redis is shared
    // (status events and wake-ups cross processes over it).
    if role != Role::Dev && !matches!(cfg.store, StoreSpec::Redis { .. }) {
        if role == Role::Gateway {
            bail!(
                "`vesper gateway` runs against a shared store: pass --store redis://HOST:PORT/DB \
                 (or set node.store); on one machine, `vesper dev` runs everything"
            );
        }
        bail!(
            "`vesper worker` takes its jobs from a shared store (--store redis://HOST:PORT/DB) \
             or from a gateway over libp2p (--connect MULTIADDR, or --connect mdns); on one \
             machine, `vesper dev` runs everything"
        );
    }
    if c.node.workers > 0 {
        cfg.workers = c.node.workers as usize;
    }
    if !c.node.local_workers {
        cfg.workers = 0;
    }
    cfg.worker.result_ttl_ms = c.worker.result_ttl_secs.saturating_mul(1000);
    cfg.worker.lease_ms = c.worker.lease_ms.max(1000);
    cfg.worker.heartbeat_ms = (cfg.worker.lease_ms / 3).max(200);
    cfg.worker.limits.fuel = c.worker.fuel;
    cfg.worker.limits.memory_bytes = (c.worker.memory_mb as usize) << 20;
    cfg.worker.limits.wall_ms = c.worker.wall_ms;
    cfg.gateway = c.gateway_config()?;
    if role != Role::Worker {
        // Every HTTP connection is a descriptor: raise the soft limit to the hard one and keep
        // the connection cap below it (with room for the store, logs and peers).
        let nofile = raise_nofile_limit();
        let room = nofile.saturating_sub(256) as usize;
        if cfg.gateway.conn.max_connections > room {
            tracing::warn!(
                max_connections = cfg.gateway.conn.max_connections,
                open_files_limit = nofile,
                lowered_to = room.max(1),
                "gateway.max_connections is above what the open-files limit allows; lowered"
            );
            cfg.gateway.conn.max_connections = room.max(1);
        }
    }
    cfg.fair = vesper_core::sched::FairPolicy {
        quantum: c.scheduler.quantum,
        burst: c.scheduler.burst,
    };
    cfg.reap_interval = Duration::from_millis(c.scheduler.reap_interval_ms.max(50));
    cfg.retention = c.retention_jobs()?;
    let p2p_listen = c.p2p_listen()?;
    if !p2p_listen.is_empty() && role != Role::Worker {
        cfg.p2p = Some(vesper::node::P2pConfig {
            home: c.p2p_home()?,
            listen: p2p_listen,
            mdns: c.p2p.mdns,
            remote: vesper_node::remote::server::RemotePoolConfig {
                lease_ms: cfg.worker.lease_ms,
                heartbeat_ms: cfg.worker.heartbeat_ms,
                result_ttl_ms: cfg.worker.result_ttl_ms,
                retry: cfg.worker.retry,
                placement: c.placement()?,
                ..Default::default()
            },
        });
    }
    let workers = cfg.workers;
    let store_desc = match &cfg.store {
        StoreSpec::Embedded => format!("embedded ({}/vesper.db)", data.display()),
        StoreSpec::Memory => "memory (nothing kept)".to_owned(),
        StoreSpec::Redis { url, namespace } => format!("{url} (namespace {namespace})"),
    };
    let what = match role {
        Role::Dev => "dev node",
        Role::Gateway => "gateway",
        Role::Worker => "worker",
    };
    let node = vesper::node::DevNode::start(cfg)
        .await
        .with_context(|| format!("starting vesper {what}"))?;
    use base64::Engine as _;
    if role == Role::Worker {
        println!("Vesper worker node {} ({workers} workers)", node.node_id);
    } else {
        println!(
            "Vesper {what} {} listening on http://{}",
            node.node_id, node.addr
        );
    }
    if role != Role::Worker {
        println!(
            "  web console:      http://{}/console/  (sign in with an API key)",
            node.addr
        );
    }
    println!("  data directory:   {}", data.display());
    println!("  store:            {store_desc}");
    if role != Role::Gateway {
        println!("  workers:          {workers}");
    }
    println!(
        "  pool public key:  {} (key id {})",
        base64::engine::general_purpose::STANDARD.encode(node.pool_public_key.as_bytes()),
        node.pool_public_key.key_id()
    );
    match (&node.operator_key, role) {
        (Some(k), Role::Dev) => println!(
            "  dev API key:      {}  (also in {}/dev-api-key)",
            k.expose(),
            data.display()
        ),
        (Some(k), _) => println!(
            "  bootstrap API key (tenant \"default\", all scopes; shown once, store it now):\n    {}",
            k.expose()
        ),
        (None, _) => {}
    }
    if let Some(p) = &node.p2p {
        println!("  peer id:          {}", p.peer_id);
        for a in &p.listen_addrs {
            println!(
                "  remote workers:   vesper worker --connect {a}/p2p/{}",
                p.peer_id
            );
        }
        println!(
            "  trust a worker:   vesper peers add WORKER_PEER_ID --home {}",
            c.p2p_home()?.display()
        );
    }
    println!("Press Ctrl-C to stop.");
    let token = node.shutdown_token();
    let run = node.run_until_stopped();
    stopped(until_interrupted(run, token).await)
}

/// Exit status 70 (`EX_SOFTWARE`) when a fail-fast task stopped the node (its panic or error
/// is in the log, with the task's name).
const EXIT_TASK_FAILED: u8 = 70;

fn stopped(r: Result<(), vesper_supervise::Failure>) -> anyhow::Result<ExitCode> {
    match r {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(f) => {
            eprintln!("error: {f}; stopped");
            Ok(ExitCode::from(EXIT_TASK_FAILED))
        }
    }
}

/// Drive `run` (a node's life) to its end; on Ctrl-C, cancel `token` first.
async fn until_interrupted<T>(
    run: impl std::future::Future<Output = T>,
    token: tokio_util::sync::CancellationToken,
) -> T {
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("shutting down: finishing running jobs...");
            token.cancel();
            run.await
        }
    }
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                tracing::debug!(
                    from = lim.rlim_cur,
                    to = lim.rlim_max,
                    "open-files limit raised"
                );
                return lim.rlim_max;
            }
        }
        lim.rlim_cur
    }
}

/// `vesper worker --connect`: a worker that leases over libp2p from a trusted gateway.
async fn remote_worker_main(c: &crate::config::Config) -> anyhow::Result<ExitCode> {
    let workers = if c.node.workers > 0 {
        c.node.workers as usize
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    };
    let mut worker = vesper_node::worker::WorkerConfig::default();
    worker.limits.fuel = c.worker.fuel;
    worker.limits.memory_bytes = (c.worker.memory_mb as usize) << 20;
    worker.limits.wall_ms = c.worker.wall_ms;
    let home = c.p2p_home()?;
    let cfg = vesper_node::remote::client::RemoteWorkerConfig {
        home: home.clone(),
        connect: c.p2p_connect()?,
        mdns: c.p2p.mdns,
        workers,
        exec: vesper_exec::ExecutorConfig {
            max_memory_bytes: worker.limits.memory_bytes,
            max_concurrent: (workers as u32) * 2 + 2,
        },
        worker,
        name: hostname(),
        capabilities: vesper_node::remote::capabilities(
            workers,
            &c.p2p.region,
            c.p2p.price_per_mfuel,
        ),
    };
    let identity = vesper_net::NodeIdentity::load_or_create(&home.join(vesper_net::IDENTITY_FILE))?;
    println!(
        "Vesper remote worker {} ({workers} workers)",
        identity.peer_id()
    );
    println!("  home:             {}", home.display());
    match (c.p2p.connect.is_empty(), c.p2p.mdns) {
        (false, _) => println!("  gateway:          {}", c.p2p.connect.join(", ")),
        (true, _) => println!("  gateway:          any trusted one found with mDNS"),
    }
    println!(
        "  the gateway's operator trusts it with: vesper peers add {}",
        identity.peer_id()
    );
    println!("Press Ctrl-C to stop.");
    let tasks = vesper_supervise::Supervisor::new(tokio_util::sync::CancellationToken::new());
    let token = tasks.token();
    let run = async {
        vesper_node::remote::client::start(cfg, &tasks).await?;
        tasks.token().cancelled().await;
        Ok::<_, vesper_node::NodeError>(())
    };
    let started = until_interrupted(run, token).await;
    // Running jobs get the same grace as a dev node's.
    let r = tasks.shutdown(Duration::from_secs(10)).await;
    started.context("remote worker")?;
    stopped(r)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| {
            s.trim()
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect()
        })
        .ok()
        .filter(|s: &String| !s.is_empty())
        .unwrap_or_else(|| "worker".into())
}

// ---- keygen ----------------------------------------------------------------------------

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (default ~/.config/vesper/client.key).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing key.
    #[arg(long)]
    force: bool,
}

pub fn keygen(a: KeygenArgs) -> anyhow::Result<ExitCode> {
    let path = a.out.unwrap_or_else(default_identity);
    let sk = X25519SecretKey::generate();
    write_key_file(&path, KeyKind::X25519Secret, &sk.to_bytes(), a.force)
        .with_context(|| format!("writing {} (use --force to replace)", path.display()))?;
    use base64::Engine as _;
    println!("wrote {} (mode 0600)", path.display());
    println!(
        "public key: {}",
        base64::engine::general_purpose::STANDARD.encode(sk.public_key().as_bytes())
    );
    Ok(ExitCode::SUCCESS)
}

// ---- submit ----------------------------------------------------------------------------

#[derive(Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    opts: ClientOpts,
    /// The program: a WebAssembly module (.wasm) or its text form (.wat).
    #[arg(long)]
    program: PathBuf,
    /// Input file, given to the program on stdin ("-" for this process's stdin).
    #[arg(long)]
    input: PathBuf,
    /// Priority 1 (low) to 10 (high).
    #[arg(long)]
    priority: Option<u8>,
    /// general, ai_inference or pos_validation.
    #[arg(long, default_value = "general")]
    workload_type: String,
    /// Send the module inside the encrypted payload instead of registering it.
    #[arg(long)]
    secret_program: bool,
    /// Wait for the result, verify and decrypt it.
    #[arg(long)]
    wait: bool,
    /// With --wait: write the program's stdout here instead of to stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Client secret key (default ~/.config/vesper/client.key).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Makes retrying this command safe.
    #[arg(long)]
    idempotency_key: Option<String>,
}

pub fn load_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "wat") {
        return wat::parse_bytes(&bytes)
            .map(|c| c.into_owned())
            .with_context(|| format!("assembling {}", path.display()));
    }
    Ok(bytes)
}

pub async fn submit(a: SubmitArgs) -> anyhow::Result<ExitCode> {
    let client = a.opts.client()?;
    let sk = load_identity(&a.opts.identity_path(&a.identity)?)?;
    let module = load_module(&a.program)?;
    let input = zeroize::Zeroizing::new(if a.input.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
        v
    } else {
        std::fs::read(&a.input).with_context(|| format!("reading {}", a.input.display()))?
    });
    let workload_type: WorkloadType = a.workload_type.parse().map_err(|_| {
        anyhow::anyhow!("--workload-type must be general, ai_inference or pos_validation")
    })?;
    let journal = crate::journal::Journal::open()?;
    journal.prune();
    let keys = client.keys(None).await?;
    let (_, pool_key) = keys
        .pool_keys
        .first()
        .context("gateway publishes no pool key")?;
    let program_id = ProgramId::of_module(&module);
    if !a.secret_program {
        let registered = client.upload_program(module.clone()).await?;
        if registered != program_id {
            bail!("gateway registered the program under an unexpected id");
        }
    }
    // With an idempotency key, a run after a crash resends the very request the first run
    // sealed (kept in the journal before it was sent), so the gateway answers with the
    // original job instead of a conflict.
    let intent = crate::journal::intent_digest(&[
        &module,
        &input,
        workload_type.as_str().as_bytes(),
        &[a.priority.unwrap_or(0), a.secret_program as u8],
        sk.public_key().as_bytes(),
    ]);
    let earlier = match &a.idempotency_key {
        Some(k) => journal.earlier_submit(client.base(), k, &intent)?,
        None => None,
    };
    let sealed = match earlier {
        Some(s) => s,
        None => {
            let program = if a.secret_program {
                Program::Inline(module)
            } else {
                Program::Registered(program_id)
            };
            let s = seal_job(
                pool_key,
                &sk.public_key(),
                workload_type,
                program,
                input.to_vec(),
                a.priority,
            )?;
            if let Some(k) = &a.idempotency_key {
                journal.save_submit(client.base(), k, &intent, &s)?;
            }
            s
        }
    };
    let resp = match client
        .submit(&sealed.request, a.idempotency_key.as_deref())
        .await
    {
        Ok(r) => r,
        Err(ClientError::Api {
            code,
            job_id: Some(existing),
            ..
        }) if code == "idempotency_conflict" => bail!(
            "--idempotency-key {} already belongs to job {existing}, submitted with a different              request (from another machine, or before this client kept its requests); that job              is the one the key names: `vesper status {existing}`",
            a.idempotency_key.as_deref().unwrap_or_default()
        ),
        Err(e) => return Err(e.into()),
    };
    journal.record_job(&resp.job_id, &sealed)?;
    if !a.wait {
        println!("{}", resp.job_id);
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "submitted job {} (estimated wait {} s)",
        resp.job_id, resp.estimated_wait
    );
    let job_id: vesper_core::JobId = resp
        .job_id
        .parse()
        .map_err(|_| anyhow::anyhow!("gateway answered an invalid job id"))?;
    wait_and_open(
        &client,
        &resp.job_id,
        &sk,
        &keys,
        Some(&sealed.facts(job_id)),
        a.out.as_deref(),
    )
    .await
}

async fn wait_and_open(
    client: &Client,
    job: &str,
    sk: &X25519SecretKey,
    keys: &vesper_client::Keys,
    expected: Option<&vesper_client::JobFacts>,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(100));
    // Follow the live status stream; if it cannot be used, long-poll instead.
    let followed = client
        .follow(job, |s| spinner.set_message(format!("job {job}: {s}")))
        .await;
    if let Err(e) = &followed {
        tracing::debug!(error = %e, "live status unavailable; polling");
    }
    let body = loop {
        match client.result(job, 2).await {
            Ok((_, body)) => break body,
            Err(ClientError::Api {
                code, job_status, ..
            }) if code == "result_not_ready" => {
                spinner.set_message(format!("job {job}: {}", job_status.unwrap_or_default()));
            }
            Err(e) => {
                spinner.finish_and_clear();
                if let Ok(st) = client.status(job, 0).await
                    && let Some(err) = st.error
                {
                    bail!("job {job} failed: {} ({})", err.code, err.message);
                }
                return Err(e.into());
            }
        }
    };
    spinner.finish_and_clear();
    let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
    let v = verify_result(&body, &trusted, Some(sk), expected)?;
    let r = v.plaintext.expect("opened with key");
    eprintln!(
        "receipt verified: worker {} ran program {} in {} ms ({} fuel)",
        v.receipt.worker_id, v.receipt.program_id, v.receipt.execution_time_ms, v.receipt.fuel_used
    );
    note_unchecked(&v.unchecked, job);
    match out {
        Some(p) => {
            std::fs::write(p, &r.stdout).with_context(|| format!("writing {}", p.display()))?
        }
        None => std::io::Write::write_all(&mut std::io::stdout(), &r.stdout)?,
    }
    if !r.stderr.is_empty() {
        std::io::Write::write_all(&mut std::io::stderr(), &r.stderr)?;
    }
    Ok(ExitCode::from(u8::try_from(r.exit_code).unwrap_or(1)))
}

/// Say which receipt fields could not be checked against the submission (no local record).
fn note_unchecked(fields: &[vesper_client::ReceiptField], job: &str) {
    if !fields.is_empty() {
        let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
        eprintln!(
            "not checked against your submission (this client has no record of job {job}): {}",
            names.join(", ")
        );
    }
}

// ---- workers ------------------------------------------------------------------------------

#[derive(Args)]
pub struct WorkersArgs {
    #[command(flatten)]
    opts: ClientOpts,
    /// Print the JSON body of `GET /api/workers`.
    #[arg(long)]
    json: bool,
}

pub async fn workers(a: WorkersArgs) -> anyhow::Result<ExitCode> {
    let body = a.opts.client()?.workers().await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let list = body["workers"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<54} {:<6} {:<8} {:>5} {:>7} {:>6} {:>9} {:>6} {:>8} {:<10} GPUS",
        "WORKER",
        "KIND",
        "ALIVE",
        "CORES",
        "MEM_MB",
        "LEASES",
        "DONE/FAIL",
        "REP",
        "MS/JOB",
        "REGION"
    );
    for w in &list {
        let alive = match w["connected"].as_bool() {
            Some(true) => "up",
            Some(false) => "down",
            None => "-",
        };
        let gpus: Vec<&str> = w["gpus"]
            .as_array()
            .map(|g| g.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let speed = w["ms_per_job"]
            .as_f64()
            .map(|ms| format!("{ms:.1}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<54} {:<6} {:<8} {:>5} {:>7} {:>6} {:>9} {:>6.2} {:>8} {:<10} {}",
            w["id"].as_str().unwrap_or("?"),
            w["kind"].as_str().unwrap_or("?"),
            alive,
            w["cores"].as_u64().unwrap_or(0),
            w["memory_mb"].as_u64().unwrap_or(0),
            w["active_leases"].as_u64().unwrap_or(0),
            format!(
                "{}/{}",
                w["completed"].as_u64().unwrap_or(0),
                w["failed"].as_u64().unwrap_or(0)
            ),
            w["reputation"].as_f64().unwrap_or(0.0),
            speed,
            w["region"].as_str().unwrap_or(""),
            if gpus.is_empty() {
                "-".to_owned()
            } else {
                gpus.join(",")
            },
        );
    }
    println!("{} workers", list.len());
    Ok(ExitCode::SUCCESS)
}

// ---- status / result / cancel / verify ----------------------------------------------------

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    opts: ClientOpts,
    job: String,
    /// Wait up to this many seconds for the job to finish.
    #[arg(long, default_value_t = 0)]
    wait: u64,
}

pub async fn status(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let s = a.opts.client()?.status(&a.job, a.wait).await?;
    println!("{} {}", s.job_id, s.status);
    if let Some(w) = s.worker_id {
        println!("  worker: {w}");
    }
    println!("  created: {}", s.created_at);
    if let Some(t) = s.started_at {
        println!("  started: {t}");
    }
    if let Some(t) = s.completed_at {
        println!("  finished: {t}");
    }
    println!(
        "  attempts: {} (retries: {} of at most {})",
        s.attempts, s.retry_count, s.max_retries
    );
    if let Some(e) = s.error {
        println!("  error: {} ({})", e.code, e.message);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct ResultArgs {
    #[command(flatten)]
    opts: ClientOpts,
    job: String,
    /// Write the program's stdout here (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also save the raw result JSON (for `vesper verify`).
    #[arg(long)]
    save: Option<PathBuf>,
    #[arg(long)]
    identity: Option<PathBuf>,
}

pub async fn result(a: ResultArgs) -> anyhow::Result<ExitCode> {
    let client = a.opts.client()?;
    let sk = load_identity(&a.opts.identity_path(&a.identity)?)?;
    let keys = client.keys(None).await?;
    if let Some(p) = &a.save {
        let (raw, _) = client.result(&a.job, 0).await?;
        std::fs::write(p, raw)?;
    }
    let expected = match a.job.parse() {
        Ok(id) => crate::journal::Journal::open()?.job_facts(&id),
        Err(_) => None,
    };
    wait_and_open(
        &client,
        &a.job,
        &sk,
        &keys,
        expected.as_ref(),
        a.out.as_deref(),
    )
    .await
}

#[derive(Args)]
pub struct CancelArgs {
    #[command(flatten)]
    opts: ClientOpts,
    job: String,
}

pub async fn cancel(a: CancelArgs) -> anyhow::Result<ExitCode> {
    let s = a.opts.client()?.cancel(&a.job).await?;
    println!("{} {}", s.job_id, s.status);
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    opts: ClientOpts,
    /// The JSON body of GET /api/result/{job_id}.
    file: PathBuf,
    /// Trust this worker key (hex) instead of asking the gateway (repeatable).
    #[arg(long = "worker-key")]
    worker_keys: Vec<String>,
    /// Also decrypt with this client key and check the result hash.
    #[arg(long)]
    identity: Option<PathBuf>,
}

pub async fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("reading {}", a.file.display()))?;
    let body: ResultBody = match serde_json::from_str(&text) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("NOT VERIFIED: not a result body: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let trusted: Vec<[u8; 32]> = if a.worker_keys.is_empty() {
        let keys = a
            .opts
            .client()?
            .keys(None)
            .await
            .context("fetching worker keys from the gateway")?;
        keys.worker_keys.iter().map(|(_, k)| *k).collect()
    } else {
        a.worker_keys
            .iter()
            .map(|h| {
                vesper_core::hex_array::<32>(h)
                    .context("--worker-key must be 64 lowercase hex digits")
            })
            .collect::<anyhow::Result<_>>()?
    };
    let sk = match &a.identity {
        Some(p) => Some(load_identity(p)?),
        None => None,
    };
    let expected = match body.job_id.parse() {
        Ok(id) => crate::journal::Journal::open()?.job_facts(&id),
        Err(_) => None,
    };
    match verify_result(&body, &trusted, sk.as_ref(), expected.as_ref()) {
        Ok(v) => {
            println!(
                "VERIFIED: job {} ran program {} on worker {} ({}){}",
                v.receipt.job_id,
                v.receipt.program_id,
                v.receipt.worker_id,
                hex::encode(v.receipt.worker_pubkey),
                if v.plaintext.is_some() {
                    "; result hash matches the decrypted result"
                } else {
                    ""
                }
            );
            if v.unchecked.is_empty() {
                println!(
                    "  program_id, workload_type and payload_digest match the job this client submitted"
                );
            } else {
                let names: Vec<&str> = v.unchecked.iter().map(|f| f.as_str()).collect();
                println!(
                    "  not checked against a submission (no local record of job {}): {}",
                    v.receipt.job_id,
                    names.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("NOT VERIFIED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

//! Node assembly for every role: the runtime parts of `vesper dev` (scheduler sweeps and N
//! workers in one process, on the embedded store under one data directory), `vesper gateway`
//! (the sweeps, start-up set-up and the remote pool, over a shared store; holds no pool secret)
//! and `vesper worker` (pool workers taking jobs straight from a shared store). See [`Role`].
//! [`Node::start`] runs every long-running task under the caller's
//! [`vesper_supervise::Supervisor`]; the HTTP front end (the gateway) is composed on top of a
//! [`Node`] by the binary (`crates/vesper/src/node.rs`): this crate knows no HTTP.
//!
//! Data directory layout (created 0700):
//! - `vesper.db` (+ `-wal`, `-shm`): the SQLite store (0600)
//! - `keys/pool.x25519`: the pool's decryption key: loaded by workers only; later epochs
//!   (`vesper pool rotate`) are `keys/pool.x25519.1`, `.2`, …, all kept so that jobs sealed to
//!   an earlier epoch still complete
//! - `keys/gateway.ed25519`: the gateway identity that signs `GET /api/keys`
//! - `keys/worker-N.ed25519`: each worker's receipt-signing key
//! - `dev-api-key`: the development tenant's API key (shown at start)
//! - `node-id`: this node's name; worker ids are `<node-id>/<incarnation>/w<N>`
//! - `lock`: held (`flock`) by the running process, which writes its PID there: a second
//!   process on the same directory refuses to start (`datadir.rs`)
//! - `incarnations`: this node's earlier starts whose leases start-up recovery still owes
//!
//! A gateway-only node has no `keys/pool.x25519`: it learns the pool's public keys from the
//! store, where workers publish them. A worker-only node has no gateway key.
//!
//! Tasks ([`Node::start`]; policies in docs/OBSERVABILITY.md, "Supervision"):
//! `worker/wN` and `sweep` restart; `p2p/swarm` and `p2p/pool` fail fast (they own the swarm
//! and its channels); `p2p/trust` and `p2p/custodian` restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vesper_core::{Clock, RetryPolicy, Scopes, SystemClock, Timestamp, WorkerId};
use vesper_crypto::{
    ApiKey, KeyKind, SigningIdentity, X25519PublicKey, X25519SecretKey, read_key_file,
    write_key_file,
};
use vesper_exec::{Executor, ExecutorConfig};
use vesper_store::{RedisOptions, RedisStore, SqliteOptions, SqliteStore, Store};
use vesper_supervise::{Policy, Supervisor};

use crate::NodeError;
use crate::datadir::{DirLock, Incarnations};
use crate::remote::server::{RemotePool, RemotePoolConfig};
use crate::source::StoreSource;
use crate::worker::{PoolKeys, Runner, Worker, WorkerConfig};

/// What a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Gateway, scheduler and workers in one process.
    Dev,
    /// The API and the scheduler's sweeps; no pool secret, no workers.
    Gateway,
    /// Pool workers and the scheduler's sweeps; no HTTP.
    Worker,
}

impl Role {
    /// Whether this role serves the API (and so holds a gateway identity).
    pub fn serves(self) -> bool {
        self != Role::Worker
    }
    /// Whether this role runs workers (and so holds the pool secrets).
    pub fn works(self) -> bool {
        self != Role::Gateway
    }
}

/// Which store a node opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// SQLite file `vesper.db` in the data directory (the default).
    Embedded,
    /// SQLite in memory: nothing survives the process.
    Memory,
    /// A Redis server shared by many nodes.
    Redis { url: String, namespace: String },
}

impl StoreSpec {
    /// Parse `--store`: empty or `embedded`, `memory`, or `redis://…` (namespace separately).
    pub fn parse(s: &str, namespace: &str) -> Option<StoreSpec> {
        match s {
            "" | "embedded" | "sqlite" => Some(StoreSpec::Embedded),
            "memory" => Some(StoreSpec::Memory),
            s if s.starts_with("redis://") || s.starts_with("rediss://") => {
                Some(StoreSpec::Redis {
                    url: s.to_owned(),
                    namespace: namespace.to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// The node's settings (the HTTP side's are the binary's).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub role: Role,
    pub store: StoreSpec,
    /// The pool's secret key file (workers); default `keys/pool.x25519` in the data directory.
    pub pool_key: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub workers: usize,
    pub worker: WorkerConfig,
    /// How often expired leases and results are swept.
    pub reap_interval: Duration,
    /// How long finished jobs are kept before the sweep forgets them; `None` = forever
    /// (docs/STORAGE.md, "Retention").
    pub retention: Option<Duration>,
    /// Fairness between tenants.
    pub fair: vesper_core::sched::FairPolicy,
    /// Serve remote workers over libp2p (`/vesper/jobs/1`); off when `None`. Only roles that
    /// serve the API do.
    pub p2p: Option<P2pConfig>,
}

/// The node's libp2p side: where it listens, and whom it trusts.
#[derive(Clone, Debug)]
pub struct P2pConfig {
    /// The node's home: `identity.ed25519` and `trusted_peers.json` (re-read every second, so
    /// `vesper peers add|remove` take effect on a running node).
    pub home: PathBuf,
    pub listen: Vec<vesper_net::Multiaddr>,
    pub mdns: bool,
    pub remote: RemotePoolConfig,
}

/// What a node's libp2p side looks like once started.
#[derive(Clone, Debug)]
pub struct P2pInfo {
    pub peer_id: vesper_net::PeerId,
    pub listen_addrs: Vec<vesper_net::Multiaddr>,
}

/// A started node: its tasks run under the supervisor [`Node::start`] was given.
pub struct Node {
    /// The operator's key: the dev tenant's (dev), or the bootstrap tenant's when this gateway
    /// created it on an empty store (shown once).
    pub operator_key: Option<ApiKey>,
    /// The pool public keys clients seal to, current first.
    pub pool_public_keys: Vec<X25519PublicKey>,
    /// The key that signs `GET /api/keys` (roles that serve the API).
    pub gateway_identity: Option<SigningIdentity>,
    pub node_id: String,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The libp2p side, when enabled.
    pub p2p: Option<P2pInfo>,
    /// The remote pool (gateway side of `/vesper/jobs/1`), when enabled: the gateway lists
    /// its workers and relays key grants through it.
    pub remote: Option<Arc<RemotePool>>,
    /// Held while the node runs: one node per data directory.
    _lock: DirLock,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.to_owned(),
        source,
    }
}

fn load_or_create(
    path: &Path,
    kind: KeyKind,
    make: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, NodeError> {
    if path.exists() {
        return Ok(read_key_file(path, kind)?.to_vec());
    }
    let secret = zeroize::Zeroizing::new(make());
    write_key_file(path, kind, &secret, false)?;
    Ok(secret.to_vec())
}

/// Count the jobs that expiring leases failed for good (`vesper_jobs_failed_total`).
pub(crate) fn record_expired(x: &vesper_store::Expired) {
    if x.failed > 0 {
        metrics::counter!(vesper_api::metrics::JOBS_FAILED,
            "error_code" => vesper_core::ErrorCode::LeaseExpired.as_str())
        .increment(x.failed);
    }
}

/// Open the store a node's configuration names.
/// A Redis store's event listener runs under `tasks` (`store/events`).
pub async fn open_store(
    spec: &StoreSpec,
    data_dir: &Path,
    fair: vesper_core::sched::FairPolicy,
    tasks: &Supervisor,
) -> Result<Arc<dyn Store>, NodeError> {
    Ok(match spec {
        StoreSpec::Embedded => Arc::new(SqliteStore::open(
            &data_dir.join("vesper.db"),
            SqliteOptions {
                fair,
                ..SqliteOptions::default()
            },
        )?),
        StoreSpec::Memory => Arc::new(SqliteStore::open_in_memory(SqliteOptions {
            fair,
            ..SqliteOptions::default()
        })?),
        StoreSpec::Redis { url, namespace } => Arc::new(
            RedisStore::open_supervised(
                url,
                RedisOptions {
                    namespace: namespace.clone(),
                    fair,
                    ..RedisOptions::default()
                },
                tasks,
            )
            .await?,
        ),
    })
}

/// The files of a pool key's epochs, oldest first: `path` (epoch 0), then `path.1`, `path.2`,
/// … while they exist (`vesper pool rotate` writes the next one).
pub fn pool_key_epochs(path: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if path.exists() {
        v.push(path.to_owned());
    }
    for n in 1.. {
        let p = epoch_path(path, n);
        if !p.exists() {
            break;
        }
        v.push(p);
    }
    v
}

/// The file of epoch `n` (≥ 1) of the pool key at `path`.
pub fn epoch_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Write the next epoch's pool key beside `path`. Returns its epoch and public key.
pub fn rotate_pool_key(path: &Path) -> Result<(u32, X25519PublicKey), NodeError> {
    let epochs = pool_key_epochs(path);
    if epochs.is_empty() {
        return Err(NodeError::Setup(format!(
            "no pool key at {}: start the node once (or pass the right --data / --pool-key)",
            path.display()
        )));
    }
    let n = epochs.len() as u32;
    let sk = X25519SecretKey::generate();
    write_key_file(
        &epoch_path(path, n),
        KeyKind::X25519Secret,
        &sk.to_bytes(),
        false,
    )?;
    Ok((n, sk.public_key()))
}

/// The pool public keys workers have published, waiting for the first if there is none yet.
async fn published_pool_keys(store: &dyn Store) -> Result<Vec<X25519PublicKey>, NodeError> {
    let mut told = false;
    loop {
        match store.pool_keys().await {
            Ok(keys) if !keys.is_empty() => {
                return Ok(keys
                    .iter()
                    .map(|k| X25519PublicKey::from_bytes(k))
                    .collect::<Result<_, _>>()?);
            }
            Ok(_) => {}
            Err(vesper_store::StoreError::Unavailable) => {}
            Err(e) => return Err(e.into()),
        }
        if !told {
            tracing::info!("waiting for a worker to publish the pool's public key");
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Node {
    /// Set the node up (data directory, store, keys, start-up recovery) and start its tasks
    /// under `tasks`: workers, the scheduler's sweeps and, when configured, the libp2p side.
    /// Workers are registered before this returns, so that an API started next lists their
    /// receipt keys from its first answer.
    pub async fn start(cfg: NodeConfig, tasks: &Supervisor) -> Result<Node, NodeError> {
        let dir = &cfg.data_dir;
        // One node per data directory: before anything in it is read or written.
        let lock = DirLock::acquire(dir)?;
        prepare_dir(dir)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = open_store(&cfg.store, dir, cfg.fair, tasks).await?;
        let role = cfg.role;

        let pool_sks = if role.works() {
            pool_secrets(&cfg, &*store, &*clock).await?
        } else {
            Vec::new()
        };
        let pool_public_keys = if role.works() {
            pool_sks.iter().rev().map(|sk| sk.public_key()).collect()
        } else {
            let mut v = published_pool_keys(&*store).await?;
            v.reverse();
            v
        };
        let gateway_identity = if role.serves() {
            Some(SigningIdentity::from_bytes(&load_or_create(
                &dir.join("keys/gateway.ed25519"),
                KeyKind::Ed25519Secret,
                || SigningIdentity::generate().to_bytes().to_vec(),
            )?)?)
        } else {
            None
        };
        let node_id = node_id(dir, role)?;
        let operator_key = operator_key(role, dir, &*store, &*clock).await?;
        // (Only nodes with workers have incarnations: a gateway holds no leases.)
        let worker_prefix = if role.works() {
            recover(dir, &lock, &node_id, &*store, &*clock, cfg.worker.retry).await?
        } else {
            String::new()
        };

        let keys = Arc::new(PoolKeys::new(pool_sks));
        let workers = if role.works() { cfg.workers } else { 0 };
        start_workers(&cfg, workers, &worker_prefix, &keys, &store, &clock, tasks).await?;
        start_sweep(&cfg, store.clone(), clock.clone(), tasks);

        let (p2p, remote) = match &cfg.p2p {
            Some(p) if role.serves() => {
                let keys = role.works().then(|| keys.clone());
                let (info, pool) = start_p2p(p, store.clone(), clock.clone(), keys, tasks).await?;
                (Some(info), Some(pool))
            }
            _ => (None, None),
        };

        Ok(Node {
            operator_key,
            pool_public_keys,
            gateway_identity,
            node_id,
            store,
            clock,
            p2p,
            remote,
            _lock: lock,
        })
    }
}

fn prepare_dir(dir: &Path) -> Result<(), NodeError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("keys")).map_err(io(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

/// The pool secrets, one per key epoch (workers only). Their public halves are published for
/// gateways; the newest is the one clients seal to.
async fn pool_secrets(
    cfg: &NodeConfig,
    store: &dyn Store,
    clock: &dyn Clock,
) -> Result<Vec<X25519SecretKey>, NodeError> {
    let path = cfg
        .pool_key
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("keys/pool.x25519"));
    if !path.exists() {
        load_or_create(&path, KeyKind::X25519Secret, || {
            X25519SecretKey::generate().to_bytes().to_vec()
        })?;
    }
    let mut sks = Vec::new();
    for file in pool_key_epochs(&path) {
        let sk = X25519SecretKey::from_bytes(&read_key_file(&file, KeyKind::X25519Secret)?)?;
        let pk = sk.public_key();
        store
            .publish_pool_key(pk.key_id().as_str(), *pk.as_bytes(), clock.now())
            .await?;
        sks.push(sk);
    }
    Ok(sks)
}

/// This node's name, kept in `node-id` (made on first start).
fn node_id(dir: &Path, role: Role) -> Result<String, NodeError> {
    let path = dir.join("node-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok(s.trim().to_owned());
    }
    let prefix = match role {
        Role::Dev => "dev",
        Role::Gateway => "gw",
        Role::Worker => "worker",
    };
    let id = format!("{prefix}-{}", hex::encode(rand::random::<[u8; 4]>()));
    std::fs::write(&path, &id).map_err(io(&path))?;
    Ok(id)
}

/// The operator's API key: the development tenant's (dev, kept across restarts), or on an
/// empty store a bootstrap tenant's, shown once (gateway).
async fn operator_key(
    role: Role,
    dir: &Path,
    store: &dyn Store,
    clock: &dyn Clock,
) -> Result<Option<ApiKey>, NodeError> {
    match role {
        Role::Dev => {
            let key_path = dir.join("dev-api-key");
            // An existing key file that cannot be read (wrong mode, damaged) is an error,
            // never silently replaced: the old key would stay valid, unknown to its owner.
            let api_key = if key_path.exists() {
                let k = read_key_file(&key_path, KeyKind::ApiKey)?;
                ApiKey::from_string(String::from_utf8_lossy(&k).into_owned())
            } else {
                let k = ApiKey::generate();
                write_key_file(&key_path, KeyKind::ApiKey, k.expose().as_bytes(), false)?;
                k
            };
            if store.principal_for_key(api_key.hash()).await?.is_none() {
                let tenant = match store.find_tenant("dev").await? {
                    Some(t) => t,
                    None => store.create_tenant("dev", clock.now()).await?,
                };
                store
                    .add_api_key(tenant, api_key.hash(), Scopes::ALL, clock.now())
                    .await?;
            }
            Ok(Some(api_key))
        }
        // Two gateways starting together: one creates it, the other finds the name taken.
        Role::Gateway if store.tenants().await?.is_empty() => {
            match store.create_tenant("default", clock.now()).await {
                Ok(tenant) => {
                    let k = ApiKey::generate();
                    store
                        .add_api_key(tenant, k.hash(), Scopes::ALL, clock.now())
                        .await?;
                    Ok(Some(k))
                }
                Err(vesper_store::StoreError::TenantExists) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        _ => Ok(None),
    }
}

/// Start-up recovery. What this node's earlier incarnations held is known dead (the lock says
/// no other process runs on this directory; a live process with the same node id elsewhere
/// has its own incarnation): put it back now rather than waiting for the leases to run out.
/// Returns this incarnation's worker-id prefix.
async fn recover(
    dir: &Path,
    lock: &DirLock,
    node_id: &str,
    store: &dyn Store,
    clock: &dyn Clock,
    retry: RetryPolicy,
) -> Result<String, NodeError> {
    let incarnation = Incarnations::begin(dir, lock)?;
    let mut expired = vesper_store::Expired::default();
    for prefix in incarnation.dead_prefixes(node_id) {
        expired += store.expire_leases_of(&prefix, clock.now(), retry).await?;
        store.forget_workers(&prefix).await?;
    }
    incarnation.recovered()?;
    if incarnation.foreign > 0 {
        tracing::warn!(
            incarnations = incarnation.foreign,
            "this data directory records starts made elsewhere (a copy?): their leases \
             are left to expire on their own, since their process may still be running"
        );
    }
    record_expired(&expired);
    if expired.total() > 0 {
        tracing::info!(
            requeued = expired.requeued,
            failed = expired.failed,
            "recovered jobs interrupted by the last shutdown"
        );
    }
    Ok(format!("{node_id}/{}", incarnation.current))
}

/// The pool workers, `worker/wN`, restarted after a panic. One executor (compiled-module
/// cache, instance pool) shared by all.
async fn start_workers(
    cfg: &NodeConfig,
    workers: usize,
    prefix: &str,
    keys: &Arc<PoolKeys>,
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    tasks: &Supervisor,
) -> Result<(), NodeError> {
    let executor = Arc::new(Executor::new(ExecutorConfig {
        max_memory_bytes: cfg.worker.limits.memory_bytes,
        max_concurrent: (workers as u32) * 2 + 2,
    })?);
    for i in 0..workers {
        let identity = SigningIdentity::from_bytes(&load_or_create(
            &cfg.data_dir.join(format!("keys/worker-{i}.ed25519")),
            KeyKind::Ed25519Secret,
            || SigningIdentity::generate().to_bytes().to_vec(),
        )?)?;
        let id = WorkerId::new(format!("{prefix}/w{i}"))?;
        store
            .register_worker(&id, identity.public_key().0, clock.now())
            .await?;
        let worker = Arc::new(Worker {
            runner: Arc::new(Runner {
                id,
                config: cfg.worker.clone(),
                identity,
                keys: keys.clone(),
                executor: executor.clone(),
                clock: clock.clone(),
            }),
            source: Arc::new(StoreSource(store.clone())),
        });
        tasks.spawn(format!("worker/w{i}"), Policy::RESTART, move |stop| {
            worker.clone().run(stop)
        });
    }
    if workers > 0 {
        let (store, clock) = (store.clone(), clock.clone());
        let source: Arc<dyn crate::source::JobSource> = Arc::new(StoreSource(store.clone()));
        let prover = prefix.to_owned();
        tasks.spawn("zk/preload", Policy::RESTART, move |stop| {
            crate::zk::preload_loop(
                store.clone(),
                source.clone(),
                prover.clone(),
                clock.clone(),
                stop,
            )
        });
    }
    Ok(())
}

/// The scheduler's duties, `sweep`: expire dead leases, purge results past their TTL, and
/// forget finished jobs past their retention.
fn start_sweep(cfg: &NodeConfig, store: Arc<dyn Store>, clock: Arc<dyn Clock>, tasks: &Supervisor) {
    let duties = Sweep {
        retry: cfg.worker.retry,
        every: cfg.reap_interval,
        retention: cfg.retention,
    };
    tracing::info!(
        every_ms = duties.every.as_millis() as u64,
        retention_secs = duties.retention.map(|d| d.as_secs()),
        "scheduler started: lease reaper, result purge, retention"
    );
    tasks.spawn("sweep", Policy::RESTART, move |stop| {
        sweep(store.clone(), clock.clone(), duties, stop)
    });
}

#[derive(Clone, Copy, Debug)]
struct Sweep {
    retry: RetryPolicy,
    every: Duration,
    retention: Option<Duration>,
}

/// How often the sweep settles prepaid-credit debits, and how old a debit must be: older than
/// any proof request waits (`POST /api/prove` gives up after a minute and gives the debit back
/// itself), so a debit still unsettled then has a job that ended, or none (the gateway stopped
/// between the debit and the submit).
const SETTLE_EVERY_MS: u64 = 60_000;
const SETTLE_AFTER_MS: u64 = 10 * 60_000;

/// Finished jobs forgotten per store call (one transaction or script).
const RETENTION_BATCH: u32 = 500;
/// Batches per pass: a long backlog is caught up over several passes.
const RETENTION_BATCHES: u32 = 20;

impl Sweep {
    /// How often the retention pass runs: once a minute, more often for short windows.
    fn retention_every(&self, retention: Duration) -> Duration {
        (retention / 2).clamp(self.every, Duration::from_secs(60))
    }
}

async fn sweep(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    duties: Sweep,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(duties.every);
    let mut next_retention = clock.now();
    let mut next_settle = clock.now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        let now = clock.now();
        if now >= next_settle {
            next_settle = now.plus_ms(SETTLE_EVERY_MS);
            match store
                .settle_debits(Timestamp(now.0.saturating_sub(SETTLE_AFTER_MS)))
                .await
            {
                Ok(n) if n > 0 => tracing::info!(refunded = n, "proof debits settled"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "settling proof debits failed"),
            }
        }
        match store.requeue_expired(now, duties.retry).await {
            Ok(x) if x.total() > 0 => {
                record_expired(&x);
                tracing::info!(
                    requeued = x.requeued,
                    failed = x.failed,
                    "expired leases swept"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "lease sweep failed"),
        }
        if let Err(e) = store.purge_expired_results(now).await {
            tracing::warn!(error = %e, "result purge failed");
        }
        if let Some(keep) = duties.retention
            && now >= next_retention
        {
            next_retention = now.plus_ms(duties.retention_every(keep).as_millis() as u64);
            forget_finished(
                &*store,
                Timestamp(now.0.saturating_sub(keep.as_millis() as u64)),
            )
            .await;
        }
    }
}

/// One retention pass: forget jobs finished at or before `cutoff`, in bounded batches.
async fn forget_finished(store: &dyn Store, cutoff: Timestamp) {
    let mut total = 0;
    for _ in 0..RETENTION_BATCHES {
        match store.forget_finished(cutoff, RETENTION_BATCH).await {
            Ok(n) => {
                total += n;
                if n < RETENTION_BATCH as u64 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention sweep failed");
                break;
            }
        }
    }
    if total > 0 {
        metrics::counter!(vesper_api::metrics::JOBS_FORGOTTEN).increment(total);
        tracing::info!(jobs = total, "finished jobs past their retention forgotten");
    }
}

/// Start the libp2p node (`p2p/swarm`), the remote pool serving it (`p2p/pool`), the
/// trust-list watcher (`p2p/trust`) and, in a node that holds the pool keys, the key custodian
/// (`p2p/custodian`).
async fn start_p2p(
    p: &P2pConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: Option<Arc<PoolKeys>>,
    tasks: &Supervisor,
) -> Result<(P2pInfo, Arc<RemotePool>), NodeError> {
    use std::collections::HashSet;
    use std::sync::RwLock;
    use vesper_net::{Net, NetConfig, NetEvent, NodeIdentity, TrustList};

    let identity = NodeIdentity::load_or_create(&p.home.join(vesper_net::IDENTITY_FILE))?;
    let trust_path = p.home.join(vesper_net::TRUST_FILE);
    let initial: HashSet<_> = TrustList::load(&trust_path)?
        .peer_ids()
        .into_iter()
        .collect();
    let (mut net, driver) = Net::new(
        &identity,
        initial.iter().copied(),
        NetConfig {
            listen: p.listen.clone(),
            mdns: p.mdns,
            ..NetConfig::default()
        },
    )?;
    // It owns the swarm, which cannot be rebuilt in place: a panic stops the node.
    tasks.spawn_once("p2p/swarm", driver.run());
    // The listen addresses, as the OS assigned them. Other events of these first moments are
    // dropped: the pool only acts on disconnects, and no peer holds a lease yet.
    let mut listen_addrs = Vec::new();
    if !p.listen.is_empty() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let wait = if listen_addrs.is_empty() {
                deadline.saturating_duration_since(tokio::time::Instant::now())
            } else {
                Duration::from_millis(100)
            };
            match tokio::time::timeout(wait, net.events.recv()).await {
                Ok(Some(NetEvent::Listening(a))) => listen_addrs.push(a),
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        if listen_addrs.is_empty() {
            return Err(NodeError::Setup(format!(
                "p2p: could not listen on {:?}",
                p.listen
            )));
        }
    }
    let peer_id = identity.peer_id();
    for a in &listen_addrs {
        tracing::info!("p2p: remote workers connect to {a}/p2p/{peer_id}");
    }

    let pool = RemotePool::new(store, clock, p.remote.clone());
    // Requests and events go to the pool (disconnects expire leases). It owns the channels'
    // receiving ends: fail-fast.
    {
        let stop = tasks.token();
        tasks.spawn_once("p2p/pool", pool.clone().run(net.requests, net.events, stop));
    }

    // The trust list: re-read every second; changes reach the gate and the custodian. This
    // task holds a network handle until shutdown, which keeps the network node running.
    let trusted = Arc::new(RwLock::new(initial));
    {
        let handle = net.handle.clone();
        let trusted = trusted.clone();
        let pool = pool.clone();
        tasks.spawn("p2p/trust", Policy::RESTART, move |stop| {
            watch_trust(
                trust_path.clone(),
                handle.clone(),
                trusted.clone(),
                pool.clone(),
                stop,
            )
        });
    }
    if keys.is_none() {
        tracing::warn!(
            "this gateway holds no pool keys: remote workers wait in `pending` until the \
             operator runs `vesper pool grant` where the keys are (docs/NETWORK.md)"
        );
    }
    if let Some(keys) = keys {
        let pool = pool.clone();
        let trusted = trusted.clone();
        tasks.spawn("p2p/custodian", Policy::RESTART, move |stop| {
            crate::remote::custodian::run(pool.clone(), keys.clone(), trusted.clone(), stop)
        });
    }
    Ok((
        P2pInfo {
            peer_id,
            listen_addrs,
        },
        pool,
    ))
}

/// Follow `trusted_peers.json`: tell the trust gate and the pool what changed.
async fn watch_trust(
    path: PathBuf,
    handle: vesper_net::NetHandle,
    trusted: Arc<std::sync::RwLock<std::collections::HashSet<vesper_net::PeerId>>>,
    pool: Arc<RemotePool>,
    stop: tokio_util::sync::CancellationToken,
) {
    use std::collections::HashSet;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        let now: HashSet<_> = match vesper_net::TrustList::load(&path) {
            Ok(l) => l.peer_ids().into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "trust list unreadable; keeping the last one");
                continue;
            }
        };
        let before = trusted.read().unwrap().clone();
        for added in now.difference(&before) {
            tracing::info!(peer = %added, "peer trusted");
            let _ = handle.set_trusted(*added, true).await;
        }
        for removed in before.difference(&now) {
            tracing::info!(peer = %removed, "peer no longer trusted");
            let _ = handle.set_trusted(*removed, false).await;
            pool.revoke(removed);
        }
        *trusted.write().unwrap() = now;
    }
}

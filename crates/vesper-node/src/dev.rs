//! Node assembly for every role: `vesper dev` (gateway, scheduler and N workers in one
//! process, on the embedded store under one data directory), `vesper gateway` (the stateless
//! API over a shared store; holds no pool secret) and `vesper worker` (a pool worker taking
//! jobs straight from a shared store; serves no HTTP). See [`Role`].
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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vesper_core::{Clock, RetryPolicy, Scopes, SystemClock, WorkerId};
use vesper_crypto::{
    ApiKey, KeyKind, SigningIdentity, X25519PublicKey, X25519SecretKey, read_key_file,
    write_key_file,
};
use vesper_exec::{Executor, ExecutorConfig};
use vesper_gateway::{Gateway, GatewayConfig};
use vesper_store::{RedisOptions, RedisStore, SqliteOptions, SqliteStore, Store};

use crate::NodeError;
use crate::datadir::{DirLock, Incarnations};
use crate::remote::server::{RemotePool, RemotePoolConfig};
use crate::source::StoreSource;
use crate::worker::{PoolKeys, Worker, WorkerConfig};

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

#[derive(Clone, Debug)]
pub struct DevConfig {
    pub role: Role,
    pub store: StoreSpec,
    /// The pool's secret key file (workers); default `keys/pool.x25519` in the data directory.
    pub pool_key: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub workers: usize,
    pub worker: WorkerConfig,
    pub gateway: GatewayConfig,
    /// How long shutdown waits for running jobs before leaving them to lease recovery.
    pub shutdown_grace: Duration,
    /// How often expired leases and results are swept.
    pub reap_interval: Duration,
    /// Fairness between tenants.
    pub fair: vesper_core::sched::FairPolicy,
    /// Serve remote workers over libp2p (`/vesper/jobs/1`); off when `None`.
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

impl DevConfig {
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Self {
        DevConfig {
            role: Role::Dev,
            store: StoreSpec::Embedded,
            pool_key: None,
            data_dir,
            listen,
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            worker: WorkerConfig::default(),
            gateway: GatewayConfig::default(),
            shutdown_grace: Duration::from_secs(10),
            reap_interval: Duration::from_millis(500),
            fair: vesper_core::sched::FairPolicy::default(),
            p2p: None,
        }
    }
}

/// A running node.
pub struct DevNode {
    /// Where the API listens (the unspecified address `0.0.0.0:0` for a worker-only node).
    pub addr: SocketAddr,
    /// The operator's key: the dev tenant's (dev), or the bootstrap tenant's when this gateway
    /// created it on an empty store (shown once).
    pub operator_key: Option<ApiKey>,
    pub pool_public_key: X25519PublicKey,
    pub node_id: String,
    pub store: Arc<dyn Store>,
    /// The libp2p side, when enabled.
    pub p2p: Option<P2pInfo>,
    /// The remote pool (gateway side of `/vesper/jobs/1`), when enabled.
    pub remote: Option<Arc<RemotePool>>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    grace: Duration,
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
        metrics::counter!(vesper_gateway::metrics::JOBS_FAILED,
            "error_code" => vesper_core::ErrorCode::LeaseExpired.as_str())
        .increment(x.failed);
    }
}

/// Open the store a node's configuration names.
pub async fn open_store(
    spec: &StoreSpec,
    data_dir: &Path,
    fair: vesper_core::sched::FairPolicy,
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
            RedisStore::open(
                url,
                RedisOptions {
                    namespace: namespace.clone(),
                    fair,
                    ..RedisOptions::default()
                },
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

impl DevNode {
    pub async fn start(cfg: DevConfig) -> Result<DevNode, NodeError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = &cfg.data_dir;
        // One node per data directory: before anything in it is read or written.
        let lock = DirLock::acquire(dir)?;
        // The metrics recorder before anything counts (start-up recovery does).
        vesper_gateway::metrics::Metrics::install();
        std::fs::create_dir_all(dir.join("keys")).map_err(io(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = open_store(&cfg.store, dir, cfg.fair).await?;
        let serves = cfg.role != Role::Worker;
        let works = cfg.role != Role::Gateway;

        // The pool secrets, one per key epoch: workers only. Their public halves are
        // published for gateways; the newest is the one clients seal to.
        let pool_sks = if works {
            let path = cfg
                .pool_key
                .clone()
                .unwrap_or_else(|| dir.join("keys/pool.x25519"));
            if !path.exists() {
                load_or_create(&path, KeyKind::X25519Secret, || {
                    X25519SecretKey::generate().to_bytes().to_vec()
                })?;
            }
            let mut sks = Vec::new();
            for file in pool_key_epochs(&path) {
                let sk =
                    X25519SecretKey::from_bytes(&read_key_file(&file, KeyKind::X25519Secret)?)?;
                let pk = sk.public_key();
                store
                    .publish_pool_key(pk.key_id().as_str(), *pk.as_bytes(), clock.now())
                    .await?;
                sks.push(sk);
            }
            sks
        } else {
            Vec::new()
        };
        let pool_pks = if works {
            pool_sks.iter().rev().map(|sk| sk.public_key()).collect()
        } else {
            let mut v = published_pool_keys(&*store).await?;
            v.reverse();
            v
        };
        let gateway_id = if serves {
            Some(SigningIdentity::from_bytes(&load_or_create(
                &dir.join("keys/gateway.ed25519"),
                KeyKind::Ed25519Secret,
                || SigningIdentity::generate().to_bytes().to_vec(),
            )?)?)
        } else {
            None
        };
        let node_id_path = dir.join("node-id");
        let node_id = match std::fs::read_to_string(&node_id_path) {
            Ok(s) => s.trim().to_owned(),
            Err(_) => {
                let prefix = match cfg.role {
                    Role::Dev => "dev",
                    Role::Gateway => "gw",
                    Role::Worker => "worker",
                };
                let id = format!("{prefix}-{}", hex::encode(rand::random::<[u8; 4]>()));
                std::fs::write(&node_id_path, &id).map_err(io(&node_id_path))?;
                id
            }
        };

        let operator_key = match cfg.role {
            // The development tenant and its API key, kept across restarts.
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
                Some(api_key)
            }
            // On an empty store, a bootstrap tenant whose key is shown once. Two gateways
            // starting together: one creates it, the other finds the name taken.
            Role::Gateway if store.tenants().await?.is_empty() => {
                match store.create_tenant("default", clock.now()).await {
                    Ok(tenant) => {
                        let k = ApiKey::generate();
                        store
                            .add_api_key(tenant, k.hash(), Scopes::ALL, clock.now())
                            .await?;
                        Some(k)
                    }
                    Err(vesper_store::StoreError::TenantExists) => None,
                    Err(e) => return Err(e.into()),
                }
            }
            _ => None,
        };

        // What this node's earlier incarnations held is known dead (the lock says no other
        // process runs on this directory; a live process with the same node id elsewhere has
        // its own incarnation): put it back now rather than waiting for the leases to run out.
        // (Only nodes with workers have incarnations: a gateway holds no leases.)
        let worker_prefix = if works {
            let incarnation = Incarnations::begin(dir, &lock)?;
            let mut expired = vesper_store::Expired::default();
            for prefix in incarnation.dead_prefixes(&node_id) {
                expired += store
                    .expire_leases_of(&prefix, clock.now(), cfg.worker.retry)
                    .await?;
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
            format!("{node_id}/{}", incarnation.current)
        } else {
            String::new()
        };

        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();

        // Workers first, so that `GET /api/keys` lists their receipt keys as soon as the API
        // answers. One executor (compiled-module cache, instance pool) shared by all.
        let workers = if works { cfg.workers } else { 0 };
        let executor = Arc::new(Executor::new(ExecutorConfig {
            max_memory_bytes: cfg.worker.limits.memory_bytes,
            max_concurrent: (workers as u32) * 2 + 2,
        })?);
        let keys = Arc::new(PoolKeys::new(pool_sks));
        for i in 0..workers {
            let identity = SigningIdentity::from_bytes(&load_or_create(
                &dir.join(format!("keys/worker-{i}.ed25519")),
                KeyKind::Ed25519Secret,
                || SigningIdentity::generate().to_bytes().to_vec(),
            )?)?;
            let id = WorkerId::new(format!("{worker_prefix}/w{i}"))?;
            store
                .register_worker(&id, identity.public_key().0, clock.now())
                .await?;
            let worker = Worker {
                id,
                config: cfg.worker.clone(),
                identity,
                keys: keys.clone(),
                executor: executor.clone(),
                source: Arc::new(StoreSource(store.clone())),
                clock: clock.clone(),
            };
            tasks.spawn(worker.run(shutdown.clone()));
        }

        // Gateway: public keys only.
        let gateway = match gateway_id {
            Some(id) => Some(Gateway::new(
                store.clone(),
                clock.clone(),
                cfg.gateway.clone(),
                pool_pks.clone(),
                Arc::new(id),
            )),
            None => None,
        };
        let addr =
            match &gateway {
                None => SocketAddr::from(([0, 0, 0, 0], 0)),
                Some(gateway) => {
                    let listener =
                        tokio::net::TcpListener::bind(cfg.listen)
                            .await
                            .map_err(|source| NodeError::Listen {
                                addr: cfg.listen,
                                source,
                            })?;
                    let addr = listener.local_addr().map_err(|source| NodeError::Listen {
                        addr: cfg.listen,
                        source,
                    })?;
                    let app = vesper_gateway::router(gateway.clone());
                    let stop = shutdown.clone();
                    let conn = cfg.gateway.conn;
                    tasks.spawn(async move {
                        vesper_gateway::serve(listener, app, conn, async move {
                            stop.cancelled().await
                        })
                        .await;
                    });
                    addr
                }
            };

        // Remote workers over libp2p.
        let (p2p, remote) = match (&cfg.p2p, &gateway) {
            (Some(p), Some(gw)) => {
                let keys = if works { Some(keys.clone()) } else { None };
                let (info, pool) =
                    start_p2p(p, store.clone(), clock.clone(), keys, &shutdown, &mut tasks).await?;
                gw.set_worker_directory(pool.clone());
                gw.set_key_broker(pool.clone());
                (Some(info), Some(pool))
            }
            _ => (None, None),
        };

        // Callbacks: deliver what the outbox owes (gateways sign them).
        if let Some(gateway) = &gateway {
            tasks.spawn(vesper_gateway::run_callback_dispatcher(
                gateway.clone(),
                shutdown.clone(),
            ));
        }

        // Scheduler duties: expire dead leases, purge results past their TTL.
        {
            let gateway = gateway.clone();
            let store = store.clone();
            let clock = clock.clone();
            let stop = shutdown.clone();
            let retry: RetryPolicy = cfg.worker.retry;
            let every = cfg.reap_interval;
            tracing::info!(
                every_ms = every.as_millis() as u64,
                "scheduler started: lease reaper and result purge"
            );
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.cancelled() => break,
                    }
                    let now = clock.now();
                    match store.requeue_expired(now, retry).await {
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
                    if let Some(gateway) = &gateway {
                        gateway.housekeeping();
                    }
                }
            });
        }

        Ok(DevNode {
            addr,
            operator_key,
            pool_public_key: pool_pks[0],
            node_id,
            store,
            p2p,
            remote,
            shutdown,
            tasks,
            grace: cfg.shutdown_grace,
            _lock: lock,
        })
    }

    /// The operator's API key. Panics on a node that has none (worker-only, or a gateway that
    /// found its store already set up): for tests and the dev banner.
    pub fn api_key(&self) -> &ApiKey {
        self.operator_key
            .as_ref()
            .expect("this node holds no operator API key")
    }

    /// A token that stops the node when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Wait until shutdown is requested, then stop: stop accepting requests, let running jobs
    /// finish (up to the grace period), and leave anything still running to lease recovery.
    pub async fn run_until_stopped(mut self) {
        self.shutdown.cancelled().await;
        let grace = self.grace;
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "shutdown grace period over; unfinished jobs will be re-queued at next start"
            );
            self.tasks.abort_all();
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.run_until_stopped().await;
    }
}

/// Start the libp2p node, the remote pool serving it, the trust-list watcher and, in a node
/// that holds the pool keys, the key custodian.
async fn start_p2p(
    p: &P2pConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: Option<Arc<PoolKeys>>,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
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
    let mut net = Net::spawn(
        &identity,
        initial.iter().copied(),
        NetConfig {
            listen: p.listen.clone(),
            mdns: p.mdns,
            ..NetConfig::default()
        },
    )?;
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
    // Events go to the pool: disconnects expire leases.
    tasks.spawn(pool.clone().run(net.requests, net.events, shutdown.clone()));

    // The trust list: re-read every second; changes reach the gate and the custodian. This
    // task holds a network handle until shutdown, which keeps the network node running.
    let trusted = Arc::new(RwLock::new(initial));
    {
        let handle = net.handle.clone();
        let trusted = trusted.clone();
        let pool = pool.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => break,
                }
                let now: HashSet<_> = match TrustList::load(&trust_path) {
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
        });
    }
    if keys.is_none() {
        tracing::warn!(
            "this gateway holds no pool keys: remote workers wait in `pending` until the \
             operator runs `vesper pool grant` where the keys are (docs/NETWORK.md)"
        );
    }
    if let Some(keys) = keys {
        tasks.spawn(crate::remote::custodian::run(
            pool.clone(),
            keys,
            trusted,
            shutdown.clone(),
        ));
    }
    Ok((
        P2pInfo {
            peer_id,
            listen_addrs,
        },
        pool,
    ))
}

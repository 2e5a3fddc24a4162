//! `vesper dev`: gateway, scheduler (lease reaper) and N workers in one process, on the
//! embedded store under one data directory.
//!
//! Data directory layout (created 0700):
//! - `vesper.db` (+ `-wal`, `-shm`): the SQLite store (0600)
//! - `keys/pool.x25519`: the pool's decryption key: loaded by workers only
//! - `keys/gateway.ed25519`: the gateway identity that signs `GET /api/keys`
//! - `keys/worker-N.ed25519`: each worker's receipt-signing key
//! - `dev-api-key`: the development tenant's API key (shown at start)
//! - `node-id`: this node's name; worker ids are `<node-id>/w<N>`

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
use vesper_store::{SqliteOptions, SqliteStore, Store};

use crate::NodeError;
use crate::worker::{PoolKeys, Worker, WorkerConfig};

#[derive(Clone, Debug)]
pub struct DevConfig {
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
}

impl DevConfig {
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Self {
        DevConfig {
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
        }
    }
}

/// A running dev node.
pub struct DevNode {
    pub addr: SocketAddr,
    pub api_key: ApiKey,
    pub pool_public_key: X25519PublicKey,
    pub node_id: String,
    pub store: Arc<dyn Store>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    grace: Duration,
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

impl DevNode {
    pub async fn start(cfg: DevConfig) -> Result<DevNode, NodeError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = &cfg.data_dir;
        std::fs::create_dir_all(dir.join("keys")).map_err(io(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);

        let db = dir.join("vesper.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(
            &db,
            SqliteOptions {
                fair: cfg.fair,
                ..SqliteOptions::default()
            },
        )?);

        let pool_sk = X25519SecretKey::from_bytes(&load_or_create(
            &dir.join("keys/pool.x25519"),
            KeyKind::X25519Secret,
            || X25519SecretKey::generate().to_bytes().to_vec(),
        )?)?;
        let pool_pk = pool_sk.public_key();
        let gateway_id = SigningIdentity::from_bytes(&load_or_create(
            &dir.join("keys/gateway.ed25519"),
            KeyKind::Ed25519Secret,
            || SigningIdentity::generate().to_bytes().to_vec(),
        )?)?;
        let node_id_path = dir.join("node-id");
        let node_id = match std::fs::read_to_string(&node_id_path) {
            Ok(s) => s.trim().to_owned(),
            Err(_) => {
                let id = format!("dev-{}", &hex::encode(gateway_id.public_key().0)[..8]);
                std::fs::write(&node_id_path, &id).map_err(io(&node_id_path))?;
                id
            }
        };

        // The development tenant and its API key, kept across restarts.
        let key_path = dir.join("dev-api-key");
        let api_key = match read_key_file(&key_path, KeyKind::ApiKey) {
            Ok(k) => ApiKey::from_string(String::from_utf8_lossy(&k).into_owned()),
            Err(_) => {
                let k = ApiKey::generate();
                write_key_file(&key_path, KeyKind::ApiKey, k.expose().as_bytes(), true)?;
                k
            }
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

        // Anything this node's workers held before a crash is known dead: put it back now
        // rather than waiting for the leases to run out.
        let prefix = format!("{node_id}/");
        let recovered = store
            .expire_leases_of(&prefix, clock.now(), cfg.worker.retry)
            .await?;
        if recovered > 0 {
            tracing::info!(
                jobs = recovered,
                "re-queued jobs interrupted by the last shutdown"
            );
        }

        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();

        // Gateway: public keys only.
        let gateway = Gateway::new(
            store.clone(),
            clock.clone(),
            cfg.gateway.clone(),
            vec![pool_pk],
            Arc::new(gateway_id),
        );
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| NodeError::Listen {
                addr: cfg.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| NodeError::Listen {
            addr: cfg.listen,
            source,
        })?;
        {
            let app = vesper_gateway::router(gateway.clone())
                .into_make_service_with_connect_info::<SocketAddr>();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                let r = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(e) = r {
                    tracing::error!(error = %e, "gateway server stopped");
                }
            });
        }

        // Workers: one executor (compiled-module cache, instance pool) shared by all.
        let executor = Arc::new(Executor::new(ExecutorConfig {
            max_memory_bytes: cfg.worker.limits.memory_bytes,
            max_concurrent: (cfg.workers as u32) * 2 + 2,
        })?);
        let keys = Arc::new(PoolKeys::new([pool_sk]));
        for i in 0..cfg.workers {
            let identity = SigningIdentity::from_bytes(&load_or_create(
                &dir.join(format!("keys/worker-{i}.ed25519")),
                KeyKind::Ed25519Secret,
                || SigningIdentity::generate().to_bytes().to_vec(),
            )?)?;
            let id = WorkerId::new(format!("{node_id}/w{i}"))?;
            store
                .register_worker(&id, identity.public_key().0, clock.now())
                .await?;
            let worker = Worker {
                id,
                config: cfg.worker.clone(),
                identity,
                keys: keys.clone(),
                executor: executor.clone(),
                store: store.clone(),
                clock: clock.clone(),
            };
            tasks.spawn(worker.run(shutdown.clone()));
        }

        // Callbacks: deliver what the outbox owes.
        tasks.spawn(vesper_gateway::run_callback_dispatcher(
            gateway.clone(),
            shutdown.clone(),
        ));

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
                        Ok(n) if n > 0 => tracing::info!(jobs = n, "expired leases re-queued"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "lease sweep failed"),
                    }
                    if let Err(e) = store.purge_expired_results(now).await {
                        tracing::warn!(error = %e, "result purge failed");
                    }
                    gateway.housekeeping();
                }
            });
        }

        Ok(DevNode {
            addr,
            api_key,
            pool_public_key: pool_pk,
            node_id,
            store,
            shutdown,
            tasks,
            grace: cfg.shutdown_grace,
        })
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

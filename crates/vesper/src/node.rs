//! A whole node: `vesper dev`, `vesper gateway` and `vesper worker` (store-sharing). The
//! runtime parts (workers, sweeps, the remote pool) are `vesper_node`'s [`Node`]; this module
//! composes the HTTP front end on top (the gateway's router, its server, the callback
//! dispatcher, housekeeping) and runs every long-running task under one
//! [`Supervisor`], whose health `GET /health` reports.
//!
//! Supervision policies (docs/OBSERVABILITY.md, "Supervision"): `http` fails fast (the
//! process stops and exits non-zero: nothing could report its absence); `callbacks`,
//! `gateway/events`, `gateway/housekeeping`, and the node's `worker/wN`, `sweep`, `p2p/trust`
//! and `p2p/custodian` restart; `p2p/swarm` and `p2p/pool` fail fast.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vesper_crypto::{ApiKey, X25519PublicKey};
use vesper_gateway::{Gateway, GatewayConfig};
use vesper_node::NodeError;
use vesper_node::dev::{Node, NodeConfig};
use vesper_node::remote::server::RemotePool;
use vesper_node::worker::WorkerConfig;
use vesper_store::Store;
use vesper_supervise::{Failure, Health, Policy, Supervisor};

pub use vesper_node::dev::{P2pConfig, P2pInfo, Role, StoreSpec};

/// Everything a node is started with.
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
    /// How long finished jobs are kept; `None` = forever (docs/STORAGE.md, "Retention").
    pub retention: Option<Duration>,
    /// Fairness between tenants.
    pub fair: vesper_core::sched::FairPolicy,
    /// Serve remote workers over libp2p (`/vesper/jobs/1`); off when `None`.
    pub p2p: Option<P2pConfig>,
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
            retention: Some(Duration::from_secs(30 * 86_400)),
            fair: vesper_core::sched::FairPolicy::default(),
            p2p: None,
        }
    }

    fn node(&self) -> NodeConfig {
        NodeConfig {
            role: self.role,
            store: self.store.clone(),
            pool_key: self.pool_key.clone(),
            data_dir: self.data_dir.clone(),
            workers: self.workers,
            worker: self.worker.clone(),
            reap_interval: self.reap_interval,
            retention: self.retention,
            fair: self.fair,
            p2p: self.p2p.clone(),
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
    tasks: Supervisor,
    grace: Duration,
    /// Holds the data directory's lock while the node runs.
    _node: Node,
}

impl DevNode {
    pub async fn start(cfg: DevConfig) -> Result<DevNode, NodeError> {
        // The metrics recorder before anything counts (start-up recovery does).
        vesper_gateway::metrics::Metrics::install();
        let tasks = Supervisor::new(CancellationToken::new());
        let mut node = Node::start(cfg.node(), &tasks).await?;
        let addr = match node.gateway_identity.take() {
            Some(identity) => start_gateway(&cfg, &node, identity, &tasks).await?,
            None => SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        Ok(DevNode {
            addr,
            operator_key: node.operator_key.take(),
            pool_public_key: node.pool_public_keys[0],
            node_id: node.node_id.clone(),
            store: node.store.clone(),
            p2p: node.p2p.clone(),
            remote: node.remote.clone(),
            tasks,
            grace: cfg.shutdown_grace,
            _node: node,
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
        self.tasks.token()
    }

    /// The supervised tasks, as `/health` sees them.
    pub fn health(&self) -> Health {
        self.tasks.health()
    }

    /// Wait until shutdown is requested (or a fail-fast task failed), then stop: stop
    /// accepting requests, let running jobs finish (up to the grace period), and leave
    /// anything still running to lease recovery. `Err` names the task that stopped the node.
    pub async fn run_until_stopped(self) -> Result<(), Failure> {
        self.tasks.token().cancelled().await;
        self.tasks.shutdown(self.grace).await
    }

    /// Stop now (see [`DevNode::run_until_stopped`]).
    pub async fn stop(self) {
        self.tasks.token().cancel();
        if let Err(f) = self.run_until_stopped().await {
            tracing::warn!(task = %f.task, "the node had stopped for a failed task");
        }
    }
}

/// The HTTP front end: the gateway (public keys only) over the node's store, served on
/// `cfg.listen` (`http`), its callback dispatcher (`callbacks`) and housekeeping
/// (`gateway/housekeeping`). Returns where it listens.
async fn start_gateway(
    cfg: &DevConfig,
    node: &Node,
    identity: vesper_crypto::SigningIdentity,
    tasks: &Supervisor,
) -> Result<SocketAddr, NodeError> {
    let gateway = Gateway::new(
        node.store.clone(),
        node.clock.clone(),
        cfg.gateway.clone(),
        node.pool_public_keys.clone(),
        Arc::new(identity),
        node.remote
            .as_ref()
            .map(|pool| vesper_gateway::RemoteWorkers {
                directory: pool.clone(),
                broker: pool.clone(),
            }),
        tasks,
    );
    let listen_error = |source| NodeError::Listen {
        addr: cfg.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    // The listener cannot be rebuilt in place: a failed server stops the process.
    let app = vesper_gateway::router(gateway.clone());
    let stop = tasks.token();
    tasks.spawn_once(
        "http",
        vesper_gateway::serve(listener, app, cfg.gateway.conn, async move {
            stop.cancelled().await
        }),
    );
    {
        let gateway = gateway.clone();
        tasks.spawn("callbacks", Policy::RESTART, move |stop| {
            vesper_gateway::run_callback_dispatcher(gateway.clone(), stop)
        });
    }
    let every = cfg.reap_interval;
    tasks.spawn("gateway/housekeeping", Policy::RESTART, move |stop| {
        let gateway = gateway.clone();
        async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => gateway.housekeeping(),
                    _ = stop.cancelled() => break,
                }
            }
        }
    });
    Ok(addr)
}

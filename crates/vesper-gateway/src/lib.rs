//! The HTTP API (axum): authentication, validation, the seed's job endpoints, long-polling.
//!
//! **Invariant:** the gateway handles ciphertext only. It never holds a pool secret key, never
//! decrypts, and never logs request bodies. It validates shapes (sizes, encodings, known key
//! ids), not contents.
//!
//! **Boundary:** the only crate that knows HTTP on the server side. Errors are mapped to HTTP
//! statuses in one place: [`error::ApiError`].

mod api;
mod auth;
pub mod callbacks;
pub mod console;
mod dispatch;
mod dto;
mod error;
pub mod gate;
mod guard;
mod limits;
pub mod metrics;
mod openapi;
pub mod payments;
mod series;
mod serve;
mod stream;
mod waiters;

/// The worker-pool interfaces and wire types, defined in `vesper-api` (re-exported).
pub use vesper_api::workers;

use std::sync::Arc;

use vesper_core::Clock;
use vesper_crypto::{SigningIdentity, X25519PublicKey};
use vesper_store::Store;

pub use api::router;
pub use dispatch::run_callback_dispatcher;
pub use error::ApiError;
pub use serve::{ConnLimits, serve};

/// The node's remote pool as the gateway sees it (both interfaces are `vesper_api::workers`,
/// implemented by `vesper-node`), given at construction.
#[derive(Clone)]
pub struct RemoteWorkers {
    /// Lists the remote workers for `GET /api/workers`.
    pub directory: Arc<dyn workers::WorkerDirectory>,
    /// Serves `/api/admin/key-requests` and `/api/admin/key-grants`.
    pub broker: Arc<dyn workers::KeyBroker>,
}

impl Gateway {
    /// Periodic upkeep (forget idle rate-limit state). Call every few seconds.
    pub fn housekeeping(&self) {
        self.limiters.housekeeping();
        self.metrics.upkeep();
    }
}

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Largest request body for `POST /api/submit`.
    pub max_submit_bytes: usize,
    /// Largest module for `POST /api/programs`.
    pub max_program_bytes: usize,
    /// Longest `?wait=` a client may ask for, seconds.
    pub max_wait_secs: u64,
    /// `max_retries` when the client names none, and the most it may ask for.
    pub default_max_retries: u32,
    pub max_retries_cap: u32,
    /// Most jobs in one batch submission.
    pub max_batch: usize,
    /// Accepted clock skew of wallet-signed requests, seconds (either way).
    pub wallet_window_secs: u64,
    pub limits: LimitsConfig,
    /// Quotas for tenants that have none of their own.
    pub quotas: QuotaDefaults,
    /// Most live-status streams open at once.
    pub max_streams: usize,
    /// Networks callbacks may reach although private (loopback, RFC 1918, …); empty by default.
    pub callback_allow: Vec<ipnet::IpNet>,
    /// Connection caps and the header timeout ([`serve`]).
    pub conn: ConnLimits,
    /// Proof-gated routes (docs/DSL.md §10); none by default.
    pub proof_gates: Vec<gate::ProofGate>,
    /// Credits one proof costs (`POST /api/prove` and `zk_proof` submissions), taken from the
    /// tenant's prepaid credits; 0 (the default) turns the payment check off
    /// ([`payments`]).
    pub proof_price: u64,
}

/// Rate limits (requests per second and burst). `0` per second disables a limit.
#[derive(Clone, Debug)]
pub struct LimitsConfig {
    pub tenant_rate_per_sec: u32,
    pub tenant_burst: u32,
    pub ip_rate_per_sec: u32,
    pub ip_burst: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            tenant_rate_per_sec: 200,
            tenant_burst: 400,
            ip_rate_per_sec: 1000,
            ip_burst: 2000,
        }
    }
}

/// Default per-tenant quotas; `None` is unlimited.
#[derive(Clone, Debug, Default)]
pub struct QuotaDefaults {
    pub max_queued: Option<u64>,
    pub jobs_per_day: Option<u64>,
    pub max_payload_bytes: Option<u64>,
    pub max_fuel: Option<u64>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_submit_bytes: 32 << 20,
            max_program_bytes: vesper_core::limits::MAX_MODULE_BYTES,
            max_wait_secs: 30,
            default_max_retries: 3,
            max_retries_cap: 10,
            max_batch: 100,
            wallet_window_secs: 300,
            limits: LimitsConfig::default(),
            quotas: QuotaDefaults {
                max_queued: Some(100_000),
                jobs_per_day: None,
                max_payload_bytes: None,
                max_fuel: None,
            },
            max_streams: 1024,
            callback_allow: Vec::new(),
            conn: ConnLimits::default(),
            proof_gates: Vec::new(),
            proof_price: 0,
        }
    }
}

/// Everything the handlers share.
pub struct Gateway {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: GatewayConfig,
    /// Pool public keys, current first. The gateway holds no pool secret.
    pub pool_keys: Vec<X25519PublicKey>,
    /// Signs the published key list.
    pub identity: Arc<SigningIdentity>,
    waiters: Arc<waiters::Waiters>,
    stats: Arc<waiters::Stats>,
    auth_cache: auth::AuthCache,
    limiters: limits::Limiters,
    streams: Arc<tokio::sync::Semaphore>,
    stream_counts: Arc<stream::StreamCounts>,
    metrics: metrics::Metrics,
    tenant_cache:
        std::sync::Mutex<Option<(vesper_core::Timestamp, Arc<Vec<vesper_store::TenantRecord>>)>>,
    callback_policy: callbacks::AddressPolicy,
    /// The remote pool, when this node serves remote workers: `GET /api/workers` and the
    /// key-grant endpoints go through it.
    remote: Option<RemoteWorkers>,
    /// The node's supervised tasks, for `GET /health`.
    health: vesper_supervise::Health,
    /// The last minutes of the metrics, for `GET /api/metrics/series`.
    series: series::Series,
    /// Compilations and key setups of the proof gateway running at once (`api/zk.rs`).
    zk_permits: Arc<tokio::sync::Semaphore>,
    /// The proof gateway's payment check.
    pub(crate) payments: Arc<dyn payments::PaymentCheck>,
}

impl Gateway {
    /// Build the shared state and start, under `tasks`, the task that turns store events into
    /// wake-ups (`gateway/events`). `GET /health` reports `tasks`' health. Must be called
    /// inside a tokio runtime.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: GatewayConfig,
        pool_keys: Vec<X25519PublicKey>,
        identity: Arc<SigningIdentity>,
        remote: Option<RemoteWorkers>,
        tasks: &vesper_supervise::Supervisor,
    ) -> Arc<Self> {
        let waiters = Arc::new(waiters::Waiters::default());
        let stats = Arc::new(waiters::Stats::default());
        {
            let (store, waiters, stats, clock) =
                (store.clone(), waiters.clone(), stats.clone(), clock.clone());
            tasks.spawn(
                "gateway/events",
                vesper_supervise::Policy::RESTART,
                move |stop| {
                    waiters::event_pump(
                        store.events(),
                        waiters.clone(),
                        stats.clone(),
                        clock.clone(),
                        stop,
                    )
                },
            );
        }
        let limiters = limits::Limiters::new(limits::Rate {
            per_sec: config.limits.ip_rate_per_sec,
            burst: config.limits.ip_burst,
        });
        let streams = Arc::new(tokio::sync::Semaphore::new(config.max_streams));
        let callback_policy = callbacks::AddressPolicy {
            allow: config.callback_allow.clone(),
        };
        let payments = payments::check(store.clone(), config.proof_price);
        let gw = Arc::new(Gateway {
            payments,
            store,
            clock,
            config,
            pool_keys,
            identity,
            waiters,
            stats,
            auth_cache: auth::AuthCache::default(),
            limiters,
            streams,
            stream_counts: Arc::default(),
            metrics: metrics::Metrics::install(),
            tenant_cache: std::sync::Mutex::new(None),
            callback_policy,
            remote,
            health: tasks.health(),
            series: series::Series::default(),
            zk_permits: Arc::new(tokio::sync::Semaphore::new(api::zk::ZK_CONCURRENCY)),
        });
        {
            let gw = gw.clone();
            tasks.spawn(
                "gateway/series",
                vesper_supervise::Policy::RESTART,
                move |stop| gw.clone().run_series(stop),
            );
        }
        gw
    }
}

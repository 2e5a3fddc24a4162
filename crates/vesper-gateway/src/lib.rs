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
mod dto;
mod error;
mod waiters;

use std::sync::Arc;

use vesper_core::Clock;
use vesper_crypto::{SigningIdentity, X25519PublicKey};
use vesper_store::Store;

pub use api::router;
pub use error::ApiError;

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
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_submit_bytes: 32 << 20,
            max_program_bytes: vesper_core::limits::MAX_MODULE_BYTES,
            max_wait_secs: 30,
            default_max_retries: 3,
            max_retries_cap: 10,
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
}

impl Gateway {
    /// Build the shared state and start the task that turns store events into wake-ups.
    /// Must be called inside a tokio runtime.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: GatewayConfig,
        pool_keys: Vec<X25519PublicKey>,
        identity: Arc<SigningIdentity>,
    ) -> Arc<Self> {
        let waiters = Arc::new(waiters::Waiters::default());
        let stats = Arc::new(waiters::Stats::default());
        waiters::spawn_event_pump(
            store.events(),
            waiters.clone(),
            stats.clone(),
            clock.clone(),
        );
        Arc::new(Gateway {
            store,
            clock,
            config,
            pool_keys,
            identity,
            waiters,
            stats,
            auth_cache: auth::AuthCache::default(),
        })
    }
}

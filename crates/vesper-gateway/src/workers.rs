//! `GET /api/workers`: the pool as the gateway sees it. Remote workers are tracked by whoever
//! serves the job protocol (`vesper-node`'s remote pool), which the gateway reads through
//! [`WorkerDirectory`]; in-process and store-sharing workers come from the store's registry.

use serde::Serialize;
use utoipa::ToSchema;

/// One worker: what it offers, how loaded and how reliable it is, and whether it is alive.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct WorkerInfo {
    /// Worker id: the node's PeerId for remote workers, `<node>/w<N>` for local ones.
    pub id: String,
    /// The name the worker gave itself.
    pub name: String,
    /// `remote` (over libp2p) or `local` (in-process or sharing the store).
    pub kind: String,
    pub cores: u32,
    pub memory_mb: u64,
    /// Executors, e.g. `["wasm"]`.
    pub executors: Vec<String>,
    /// GPUs detected with NVML, by model name.
    pub gpus: Vec<String>,
    /// Asking price per million units of fuel.
    pub price_per_mfuel: u64,
    /// Locality label.
    pub region: String,
    /// Whether its connection is up; `null` for local workers, whose liveness the gateway
    /// does not track (their leases expire if they die).
    pub connected: Option<bool>,
    /// Last time it was heard from, ms since the epoch.
    pub last_seen_ms: u64,
    /// Jobs it holds leases on now.
    pub active_leases: u32,
    pub completed: u64,
    pub failed: u64,
    /// Leases it let run out (or lost with its connection), and results that came too late.
    pub expired: u64,
    /// 0.0–1.0, an exponentially weighted average of outcomes (docs/SCHEDULING.md).
    pub reputation: f64,
    /// Measured mean execution time per job, ms (`null` until it has finished one, and for
    /// local workers); the scored placement's speed term.
    pub ms_per_job: Option<f64>,
    /// Whether it holds the pool keys (granted by a custodian that trusts it); local workers
    /// load them from their own key file.
    pub key_granted: bool,
}

/// Something that knows about workers the store does not track.
pub trait WorkerDirectory: Send + Sync + 'static {
    fn workers(&self) -> Vec<WorkerInfo>;
}

/// The response of `GET /api/workers`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WorkerListResponse {
    pub workers: Vec<WorkerInfo>,
}

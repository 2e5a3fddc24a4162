//! `GET /api/workers` and the admin key-grant routes: their wire types, and the two
//! interfaces through which the gateway reaches whoever serves the job protocol
//! (`vesper-node`'s remote pool) without depending on it. The gateway reads remote workers
//! through [`WorkerDirectory`]; in-process and store-sharing workers come from the store's
//! registry. Pool-key requests and sealed grants are relayed through [`KeyBroker`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One worker: what it offers, how loaded and how reliable it is, and whether it is alive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkerInfo {
    /// Worker id: the node's PeerId for remote workers, `<node>/<incarnation>/w<N>` for local
    /// ones.
    pub id: String,
    /// A display name the gateway derived, never one a worker chose: `peer-` and the last 8
    /// characters of a remote worker's PeerId; a local worker's id.
    pub name: String,
    /// The label a remote worker declared for itself (`hello.worker_id`, e.g. its host name):
    /// self-declared and unverified, shown for convenience only; `null` for local workers.
    pub declared_name: Option<String>,
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
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkerListResponse {
    pub workers: Vec<WorkerInfo>,
}

/// A remote worker's pending request for the pool keys: its key-exchange key, signed by its
/// identity (docs/PROTOCOL.md, "Pool keys"). Whoever grants checks the signature against the
/// PeerId; the gateway only relays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyRequestInfo {
    pub peer_id: String,
    /// Hex X25519 public key to seal the grant to.
    pub kx_pubkey: String,
    /// Hex Ed25519 signature by the peer over `"vesper/v1/kx-announce\0" ‖ PeerId ‖ kx_pubkey`.
    pub signature: String,
}

/// The response of `GET /api/admin/key-requests`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyRequestList {
    pub requests: Vec<KeyRequestInfo>,
}

/// The body of `POST /api/admin/key-grants`: pool keys sealed to one pending request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyGrantBody {
    pub peer_id: String,
    /// The announced key the grant is sealed to (hex); must match the pending request.
    pub kx_pubkey: String,
    /// Standard base64 of `seal_pool_grant`'s output (docs/PROTOCOL.md).
    pub sealed: String,
    /// Hex ids of the keys inside, oldest epoch first.
    pub key_ids: Vec<String>,
}

/// Relays pool-key requests and sealed grants between remote workers and a custodian (the
/// remote pool implements it; the gateway never sees a key in the clear).
pub trait KeyBroker: Send + Sync + 'static {
    fn pending(&self) -> Vec<KeyRequestInfo>;
    /// Leave a sealed grant for `peer_id`'s pending request with key `kx_pubkey`. `false`
    /// when there is no such pending request.
    fn grant(
        &self,
        peer_id: &str,
        kx_pubkey: [u8; 32],
        sealed: Vec<u8>,
        key_ids: Vec<String>,
    ) -> bool;
}

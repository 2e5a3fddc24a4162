//! Wire types of the operator routes (`/api/admin/tenants`, keys and wallets), of
//! `GET /api/whoami` and of the metrics time series (`GET /api/metrics/series`) that the web
//! console draws.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/admin/tenants`: create a tenant.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantBody {
    /// 1–64 characters of `[A-Za-z0-9._-]`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "acme")]
    pub name: String,
}

/// `PUT /api/admin/tenants/{name}/settings`: a tenant's weight, quotas and rate limit, whole.
/// A quota or limit that is absent or `null` takes the gateway's default.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsBody {
    /// Share of the workers relative to other tenants (fair scheduling), 1–1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub weight: u32,
    /// Most jobs queued (not yet started) at once.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_queued: Option<u64>,
    /// Most jobs accepted per UTC day.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub jobs_per_day: Option<u64>,
    /// Largest submit body, bytes.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_payload_bytes: Option<u64>,
    /// Most fuel one job may ask for.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_fuel: Option<u64>,
    /// Sustained requests per second.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub rate_per_sec: Option<u32>,
    /// Requests allowed in a burst above the sustained rate.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub burst: Option<u32>,
}

/// `POST /api/admin/tenants/{name}/keys`: create an API key for a tenant.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    /// Comma list of `submit`, `read`, `admin`; `submit,read` when absent.
    #[serde(default)]
    #[schema(example = "submit,read")]
    pub scopes: Option<String>,
}

/// A new API key. The key itself is in this answer only: the store keeps its hash.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedKeyResponse {
    /// The bearer token (`vsk_` and 64 hex digits). Shown once.
    #[schema(pattern = "^vsk_[0-9a-f]{64}$")]
    pub key: String,
    /// The first 12 hex digits of the key's hash: what revoking names.
    #[schema(pattern = "^[0-9a-f]{12}$")]
    pub key_id: String,
    pub tenant: String,
    /// The key's scopes, e.g. `submit,read`.
    pub scopes: String,
}

/// The answer to a revocation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokedResponse {
    /// How many credentials stopped working (1 for a key id; keys whose hash shares a
    /// 12-digit prefix are revoked together).
    pub revoked: u64,
}

/// `POST /api/admin/tenants/{name}/wallets`: let a wallet sign requests for a tenant.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddWalletBody {
    /// `ed25519:<64 hex>` or `eip191:0x<40 hex>` (docs/AUTH.md §3.1).
    #[schema(example = "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")]
    pub wallet: String,
    /// Comma list of `submit`, `read`, `admin`; `submit,read` when absent.
    #[serde(default)]
    pub scopes: Option<String>,
}

/// A wallet mapped to a tenant.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WalletResponse {
    /// The wallet in its canonical form.
    pub wallet: String,
    pub tenant: String,
    pub scopes: String,
}

/// `GET /api/whoami`: whom the presented credential acts for.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WhoAmIResponse {
    pub tenant: String,
    pub tenant_id: i64,
    /// e.g. `["submit", "read"]`.
    pub scopes: Vec<String>,
}

/// One sample of the gateway's own metrics, taken every `interval_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesSample {
    /// When it was taken, ms since the epoch.
    pub t_ms: u64,
    /// Jobs accepted per second since the previous sample.
    pub submitted_per_sec: f64,
    /// Jobs completed per second since the previous sample (this process's workers).
    pub completed_per_sec: f64,
    /// Jobs failed for good per second since the previous sample.
    pub failed_per_sec: f64,
    /// Jobs queued, not yet started.
    pub queue_depth: u64,
    /// Run time of the jobs finished since the previous sample, median and 99th percentile,
    /// milliseconds, estimated from the histogram's buckets; `null` when none finished.
    #[schema(required = true)]
    pub run_ms_p50: Option<f64>,
    #[schema(required = true)]
    pub run_ms_p99: Option<f64>,
    /// HTTP answers per second since the previous sample, and how many of them were 5xx.
    pub http_per_sec: f64,
    pub http_5xx_per_sec: f64,
}

/// `GET /api/metrics/series`: the last minutes of the gateway's metrics, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SeriesResponse {
    pub interval_ms: u64,
    pub samples: Vec<SeriesSample>,
}

//! Who is calling: Bearer API keys or wallet signatures (docs/AUTH.md), then rate limits.
//!
//! The [`authenticate`] middleware runs on every request. It refuses presented-but-invalid
//! credentials at once (401), fails closed (503) when the store cannot answer, applies the
//! per-IP and per-tenant limits, and leaves the [`Principal`] in the request's extensions.
//! Handlers take a [`Caller`] and state the scope they need.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vesper_api::ApiErrorCode;
use vesper_core::{Scope, TenantId, Timestamp, WalletId};
use vesper_store::Principal;

use crate::limits::{self, Rate};
use crate::{ApiError, Gateway};

/// Longest Authorization header accepted.
const MAX_KEY_LEN: usize = 256;
/// Longest wallet header value (an `ed25519:` key or `eip191:0x` address, with room).
const MAX_WALLET_HEADER: usize = 128;
/// Longest signature header (65 bytes in hex with `0x`).
const MAX_SIGNATURE_HEADER: usize = 160;
/// The headers of a wallet-signed request: any one of them makes a request a wallet request.
const WALLET_HEADERS: [&str; 4] = [
    "x-vesper-wallet",
    "x-vesper-timestamp",
    "x-vesper-nonce",
    "x-vesper-signature",
];

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller(pub Principal);

impl Caller {
    /// `Err(403 forbidden)` unless the credential carries `scope`.
    pub fn need(&self, scope: Scope) -> Result<TenantId, ApiError> {
        if self.0.scopes.contains(scope) {
            Ok(self.0.tenant)
        } else {
            Err(ApiError::forbidden(scope))
        }
    }
}

impl FromRequestParts<Arc<Gateway>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &Arc<Gateway>) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// Middleware: authenticate (if credentials are presented) and rate-limit.
pub async fn authenticate(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    match authenticate_inner(&gw, req).await {
        Ok((req, verdict)) => {
            let mut resp = next.run(req).await;
            if let Some(v) = verdict {
                limits::apply(resp.headers_mut(), v);
            }
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn authenticate_inner(
    gw: &Gateway,
    mut req: Request,
) -> Result<(Request, Option<limits::Verdict>), ApiError> {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        let ip: IpAddr = addr.ip();
        // `/health` has a limiter of its own: a flood of API requests from an address does
        // not make its health checks fail.
        if req.uri().path() == "/health" {
            gw.limiters.check_health(ip)?;
        } else {
            gw.limiters.check_ip(ip)?;
        }
    }
    let headers = req.headers();
    let has_bearer = headers.contains_key(axum::http::header::AUTHORIZATION);
    let has_wallet = WALLET_HEADERS.iter().any(|h| headers.contains_key(*h));
    let principal = match (has_bearer, has_wallet) {
        // One kind of credential or the other, never both (docs/AUTH.md): refused before
        // either is checked, so the answer says nothing about whether one was valid.
        (true, true) => {
            return Err(ApiError::new(
                ApiErrorCode::AmbiguousCredentials,
                "send either Authorization: Bearer or the X-Vesper-* wallet headers, not both",
            ));
        }
        (true, false) => {
            let value = headers
                .get(axum::http::header::AUTHORIZATION)
                .expect("checked above");
            Some(bearer(gw, value).await?)
        }
        (false, true) => {
            let (principal, rebuilt) = wallet(gw, req).await?;
            req = rebuilt;
            Some(principal)
        }
        (false, false) => None,
    };
    let Some(principal) = principal else {
        return Ok((req, None));
    };
    let rate = Rate {
        per_sec: principal
            .settings
            .rate_per_sec
            .unwrap_or(gw.config.limits.tenant_rate_per_sec),
        burst: principal
            .settings
            .burst
            .unwrap_or(gw.config.limits.tenant_burst),
    };
    let verdict = if gw.store.is_shared() {
        limits::check_tenant_shared(&*gw.store, &*gw.clock, principal.tenant, rate).await?
    } else {
        gw.limiters.check_tenant(principal.tenant, rate)?
    };
    req.extensions_mut().insert(Caller(principal));
    Ok((req, Some(verdict)))
}

async fn bearer(gw: &Gateway, value: &axum::http::HeaderValue) -> Result<Principal, ApiError> {
    let value = value.to_str().map_err(|_| ApiError::unauthorized())?;
    if value.len() > MAX_KEY_LEN {
        return Err(ApiError::unauthorized());
    }
    let key = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    // Looked up by hash: equality is decided by an index on a SHA-256 digest, so timing
    // reveals nothing about the key itself.
    let hash = vesper_crypto::hash_api_key(key);
    let now = gw.clock.now();
    if let Some(p) = gw.auth_cache.get(&hash, now) {
        return Ok(p);
    }
    match gw.store.principal_for_key(hash).await? {
        Some(p) => {
            gw.auth_cache.put(hash, p.clone(), now);
            Ok(p)
        }
        None => Err(ApiError::unauthorized()),
    }
}

fn header<'a>(req: &'a Request, name: &str, max: usize) -> Result<&'a str, ApiError> {
    let v = req
        .headers()
        .get(name)
        .ok_or_else(|| {
            ApiError::new(
                ApiErrorCode::Unauthorized,
                format!("wallet request lacks {name}"),
            )
        })?
        .to_str()
        .map_err(|_| ApiError::new(ApiErrorCode::Unauthorized, format!("{name} is not ASCII")))?;
    if v.len() > max {
        return Err(ApiError::new(
            ApiErrorCode::Unauthorized,
            format!("{name} is too long"),
        ));
    }
    Ok(v)
}

/// Verify a wallet-signed request (docs/AUTH.md). Reads the body (bounded), and gives back a
/// request with the same body.
async fn wallet(gw: &Gateway, req: Request) -> Result<(Principal, Request), ApiError> {
    let wallet: WalletId = header(&req, "x-vesper-wallet", MAX_WALLET_HEADER)?
        .parse()
        .map_err(|_| {
            ApiError::new(
                ApiErrorCode::Unauthorized,
                "X-Vesper-Wallet must be ed25519:<64 hex> or eip191:0x<40 hex>",
            )
        })?;
    let ts_raw = header(&req, "x-vesper-timestamp", 20)?.to_owned();
    let nonce = header(&req, "x-vesper-nonce", 64)?.to_owned();
    let signature = header(&req, "x-vesper-signature", MAX_SIGNATURE_HEADER)?.to_owned();
    // Header formats first (docs/AUTH.md §3.7 step 1): a malformed header is `unauthorized`.
    let ts = vesper_core::parse_timestamp(&ts_raw).ok_or_else(|| {
        ApiError::new(
            ApiErrorCode::Unauthorized,
            "X-Vesper-Timestamp must be unix seconds (decimal digits, no leading zero)",
        )
    })?;
    if !vesper_core::valid_nonce(&nonce) {
        return Err(ApiError::new(
            ApiErrorCode::Unauthorized,
            "X-Vesper-Nonce must be 16-64 characters of [A-Za-z0-9_-]",
        ));
    }
    let sig = vesper_crypto::parse_signature_hex(&signature).map_err(|_| {
        ApiError::new(
            ApiErrorCode::Unauthorized,
            "X-Vesper-Signature must be hex (64 or 65 bytes, optional 0x prefix)",
        )
    })?;
    let now = gw.clock.now();
    let window = gw.config.wallet_window_secs;
    if !vesper_core::within_window(ts, now, window) {
        return Err(ApiError::new(
            ApiErrorCode::StaleRequest,
            format!("X-Vesper-Timestamp is more than {window} s from the gateway's clock"),
        ));
    }
    let method = req.method().as_str().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let (parts, body) = req.into_parts();
    let limit = gw.config.max_submit_bytes.max(gw.config.max_program_bytes);
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::new(ApiErrorCode::PayloadTooLarge, "request body too large"))?;
    let message =
        vesper_core::canonical_request(&method, &path_and_query, &bytes, ts, &nonce, &wallet);
    vesper_crypto::verify_wallet_signature(&wallet, message.as_bytes(), &sig).map_err(|_| {
        ApiError::new(
            ApiErrorCode::SignatureInvalid,
            "the signature does not verify for this wallet and request",
        )
    })?;
    let wallet_str = wallet.to_string();
    let principal = gw
        .store
        .principal_for_wallet(&wallet_str)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ApiErrorCode::UnknownWallet,
                "this wallet is not mapped to a tenant",
            )
        })?;
    // Each (wallet, nonce) once, remembered durably for as long as the timestamp is valid.
    let key = vesper_core::sha256(&[
        b"vesper/v1/nonce\0",
        wallet_str.as_bytes(),
        b"\n",
        nonce.as_bytes(),
    ]);
    let expires = Timestamp((ts + window) * 1000 + 1000);
    if !gw.store.remember_nonce(key, expires, now).await? {
        return Err(ApiError::new(
            ApiErrorCode::ReplayedNonce,
            "this nonce was already used by this wallet",
        ));
    }
    Ok((principal, Request::from_parts(parts, Body::from(bytes))))
}

/// Positive lookups of key hash → principal, kept for a few seconds so that a busy client does
/// not cost a store read per request. Bounded; a revoked key stops working within the TTL.
#[derive(Default)]
pub struct AuthCache {
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], (Principal, Timestamp)>>,
}

const AUTH_CACHE_TTL_MS: u64 = 5_000;
const AUTH_CACHE_ENTRIES: usize = 10_000;

impl AuthCache {
    fn get(&self, hash: &[u8; 32], now: Timestamp) -> Option<Principal> {
        let map = self.map.lock().expect("auth cache");
        map.get(hash)
            .filter(|(_, at)| now.saturating_since(*at) < AUTH_CACHE_TTL_MS)
            .map(|(p, _)| p.clone())
    }
    fn put(&self, hash: [u8; 32], p: Principal, now: Timestamp) {
        let mut map = self.map.lock().expect("auth cache");
        if map.len() >= AUTH_CACHE_ENTRIES {
            map.clear();
        }
        map.insert(hash, (p, now));
    }
}

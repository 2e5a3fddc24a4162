//! Bearer API keys. Keys are looked up by their SHA-256 hash; the plaintext key is never stored.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use vesper_core::TenantId;

use crate::{ApiError, Gateway};

/// The authenticated tenant of a request.
pub struct Tenant(pub TenantId);

/// Longest Authorization header accepted.
const MAX_KEY_LEN: usize = 256;

impl FromRequestParts<Arc<Gateway>> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gw: &Arc<Gateway>) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(ApiError::unauthorized)?;
        let value = header.to_str().map_err(|_| ApiError::unauthorized())?;
        if value.len() > MAX_KEY_LEN {
            return Err(ApiError::unauthorized());
        }
        let key = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        // Looking up by hash: equality is decided by the index on a SHA-256 digest, so timing
        // reveals nothing about the key itself.
        let hash = vesper_crypto::hash_api_key(key);
        let now = gw.clock.now();
        if let Some(t) = gw.auth_cache.get(&hash, now) {
            return Ok(Tenant(t));
        }
        match gw.store.tenant_for_key(hash).await? {
            Some(t) => {
                gw.auth_cache.put(hash, t, now);
                Ok(Tenant(t))
            }
            None => Err(ApiError::unauthorized()),
        }
    }
}

/// Positive lookups of key hash → tenant, kept for a few seconds so that a busy client does
/// not cost a store read per request. Bounded; a revoked key stops working within the TTL.
#[derive(Default)]
pub struct AuthCache {
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], (TenantId, vesper_core::Timestamp)>>,
}

const AUTH_CACHE_TTL_MS: u64 = 5_000;
const AUTH_CACHE_ENTRIES: usize = 10_000;

impl AuthCache {
    fn get(&self, hash: &[u8; 32], now: vesper_core::Timestamp) -> Option<TenantId> {
        let map = self.map.lock().expect("auth cache");
        map.get(hash)
            .filter(|(_, at)| now.saturating_since(*at) < AUTH_CACHE_TTL_MS)
            .map(|(t, _)| *t)
    }
    fn put(&self, hash: [u8; 32], tenant: TenantId, now: vesper_core::Timestamp) {
        let mut map = self.map.lock().expect("auth cache");
        if map.len() >= AUTH_CACHE_ENTRIES {
            map.clear();
        }
        map.insert(hash, (tenant, now));
    }
}

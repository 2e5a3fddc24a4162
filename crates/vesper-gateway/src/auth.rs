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
        match gw.store.tenant_for_key(hash).await? {
            Some(t) => Ok(Tenant(t)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

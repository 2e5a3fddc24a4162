//! API keys: random bearer tokens, stored only as SHA-256 hashes, compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A freshly generated API key. Shown once; only its hash is stored.
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// `vsk_` followed by 64 lowercase hex digits (256 random bits).
    pub fn generate() -> Self {
        let mut raw = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw[..]);
        ApiKey(Zeroizing::new(format!("vsk_{}", hex::encode(&raw[..]))))
    }
    pub fn from_string(s: String) -> Self {
        ApiKey(Zeroizing::new(s))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn hash(&self) -> [u8; 32] {
        hash_api_key(&self.0)
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

pub fn hash_api_key(key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"vesper/v1/api-key\0");
    h.update(key.as_bytes());
    h.finalize().into()
}

/// Constant-time equality for secrets and their hashes.
pub fn tokens_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_stably() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("vsk_") && a.expose().len() == 68);
        assert!(tokens_equal(&a.hash(), &hash_api_key(a.expose())));
        assert!(!tokens_equal(&a.hash(), &b.hash()));
        assert!(!format!("{a:?}").contains(&a.expose()[4..]));
    }
}

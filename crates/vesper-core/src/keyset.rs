//! The signed list of keys a gateway publishes at `GET /api/keys` (docs/RECEIPT.md).

/// Prefix of the message the gateway identity signs.
pub const KEYSET_DOMAIN: &[u8] = b"vesper/v1/keys\0";

/// Pool encryption keys (current first) and worker receipt keys.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KeySet {
    pub pool_keys: Vec<[u8; 32]>,
    pub worker_keys: Vec<(String, [u8; 32])>,
}

impl KeySet {
    /// `u16 BE n || n x pool key (32)` then `u16 BE m || m x (u8 len || worker_id || key (32))`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.pool_keys.len() as u16).to_be_bytes());
        for k in &self.pool_keys {
            out.extend_from_slice(k);
        }
        out.extend_from_slice(&(self.worker_keys.len() as u16).to_be_bytes());
        for (id, k) in &self.worker_keys {
            out.push(id.len() as u8);
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(k);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_exact() {
        let ks = KeySet {
            pool_keys: vec![[1; 32]],
            worker_keys: vec![("w".into(), [2; 32])],
        };
        let e = ks.encode();
        assert_eq!(&e[..2], &[0, 1]);
        assert_eq!(&e[34..36], &[0, 1]);
        assert_eq!(e[36], 1);
        assert_eq!(e[37], b'w');
        assert_eq!(e.len(), 2 + 32 + 2 + 1 + 1 + 32);
    }
}

//! Explicit trust (seed `001`): a node serves and schedules only to peers on its list,
//! `trusted_peers.json` under its home. Trust is mutual because each side checks its own list:
//! a connection works only when both have added each other.

use std::path::Path;

use libp2p_identity::PeerId;
use serde::{Deserialize, Serialize};

use crate::NetError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedPeer {
    pub peer_id: String,
    #[serde(default)]
    pub name: String,
    /// Unix milliseconds.
    pub added_at_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustList {
    pub version: u32,
    pub peers: Vec<TrustedPeer>,
}

/// Most peers on one list (a bound on what a hand-edited file can make us hold).
const MAX_PEERS: usize = 10_000;

fn parse_peer(s: &str) -> Result<PeerId, NetError> {
    s.parse::<PeerId>()
        .map_err(|_| NetError::InvalidPeerId(s.to_owned()))
}

impl TrustList {
    /// Load `path`; a missing file is an empty list. Every entry must be a valid PeerId.
    pub fn load(path: &Path) -> Result<TrustList, NetError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TrustList {
                    version: 1,
                    peers: Vec::new(),
                });
            }
            Err(source) => {
                return Err(NetError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let corrupt = |reason: String| NetError::CorruptTrustList {
            path: path.to_owned(),
            reason,
        };
        let list: TrustList = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if list.version != 1 {
            return Err(corrupt(format!("unsupported version {}", list.version)));
        }
        if list.peers.len() > MAX_PEERS {
            return Err(corrupt(format!("more than {MAX_PEERS} peers")));
        }
        for p in &list.peers {
            parse_peer(&p.peer_id).map_err(|_| corrupt(format!("bad peer id {:?}", p.peer_id)))?;
        }
        Ok(list)
    }

    /// Write atomically (temporary file, then rename) so a crash never leaves half a list.
    pub fn save(&self, path: &Path) -> Result<(), NetError> {
        let io = |source| NetError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut text = serde_json::to_vec_pretty(self).expect("a trust list serializes");
        text.push(b'\n');
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    pub fn add(&mut self, peer: &str, name: &str, now_ms: u64) -> Result<PeerId, NetError> {
        let id = parse_peer(peer)?;
        if name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(NetError::InvalidName);
        }
        if self.contains(&id) {
            return Err(NetError::AlreadyTrusted(id.to_string()));
        }
        if self.peers.len() >= MAX_PEERS {
            return Err(NetError::CorruptTrustList {
                path: Default::default(),
                reason: format!("more than {MAX_PEERS} peers"),
            });
        }
        self.peers.push(TrustedPeer {
            peer_id: id.to_string(),
            name: name.to_owned(),
            added_at_ms: now_ms,
        });
        Ok(id)
    }

    /// Remove by PeerId or by name.
    pub fn remove(&mut self, peer_or_name: &str) -> Result<TrustedPeer, NetError> {
        let i = self
            .peers
            .iter()
            .position(|p| {
                p.peer_id == peer_or_name || (!p.name.is_empty() && p.name == peer_or_name)
            })
            .ok_or_else(|| NetError::NotTrusted(peer_or_name.to_owned()))?;
        Ok(self.peers.remove(i))
    }

    /// Every trusted PeerId (entries were validated when loaded or added).
    pub fn peer_ids(&self) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter_map(|p| parse_peer(&p.peer_id).ok())
            .collect()
    }

    pub fn contains(&self, peer: &PeerId) -> bool {
        let s = peer.to_string();
        self.peers.iter().any(|p| p.peer_id == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeIdentity;

    #[test]
    fn add_list_remove_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted_peers.json");
        let mut list = TrustList::load(&path).unwrap();
        assert!(list.peers.is_empty());
        let bob = NodeIdentity::generate().peer_id();
        let carol = NodeIdentity::generate().peer_id();
        list.add(&bob.to_string(), "bob", 1).unwrap();
        list.add(&carol.to_string(), "", 2).unwrap();
        assert!(matches!(
            list.add(&bob.to_string(), "again", 3),
            Err(NetError::AlreadyTrusted(_))
        ));
        assert!(matches!(
            list.add("not-a-peer", "x", 3),
            Err(NetError::InvalidPeerId(_))
        ));
        assert!(matches!(
            list.add(
                &NodeIdentity::generate().peer_id().to_string(),
                "bad\nname",
                3
            ),
            Err(NetError::InvalidName)
        ));
        list.save(&path).unwrap();
        let again = TrustList::load(&path).unwrap();
        assert_eq!(again, list);
        assert!(again.contains(&bob));
        let mut again = again;
        assert_eq!(again.remove("bob").unwrap().peer_id, bob.to_string());
        assert!(!again.contains(&bob));
        assert!(matches!(again.remove("bob"), Err(NetError::NotTrusted(_))));
        assert_eq!(again.remove(&carol.to_string()).unwrap().added_at_ms, 2);
    }

    #[test]
    fn a_corrupt_list_is_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted_peers.json");
        for bad in [
            "not json",
            r#"{"version":2,"peers":[]}"#,
            r#"{"version":1,"peers":[{"peer_id":"nope","added_at_ms":1}]}"#,
            r#"{"version":1,"peers":[],"extra":1}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                matches!(
                    TrustList::load(&path),
                    Err(NetError::CorruptTrustList { .. })
                ),
                "{bad}"
            );
        }
    }
}

//! A node's Ed25519 identity. The secret stays in a 0600 key file under the node's home and is
//! never transmitted; the PeerId is the multihash of the public key, exactly as libp2p derives
//! it, so the id `vesper id` prints is the one peers see after the Noise handshake.

use std::path::Path;

use libp2p_identity::{Keypair, PeerId};
use vesper_crypto::{KeyKind, read_key_file, write_key_file};
use zeroize::Zeroizing;

use crate::NetError;

pub struct NodeIdentity {
    keypair: Keypair,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeIdentity({})", self.peer_id())
    }
}

impl NodeIdentity {
    /// A fresh random identity (not saved).
    pub fn generate() -> NodeIdentity {
        NodeIdentity {
            keypair: Keypair::generate_ed25519(),
        }
    }

    /// From a 32-byte Ed25519 secret seed.
    pub fn from_seed(seed: &[u8]) -> Result<NodeIdentity, NetError> {
        let mut copy = Zeroizing::new(seed.to_vec());
        let keypair = Keypair::ed25519_from_bytes(&mut copy[..])
            .map_err(|e| NetError::InvalidKey(e.to_string()))?;
        Ok(NodeIdentity { keypair })
    }

    /// Load the identity at `path`, creating it (0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<NodeIdentity, NetError> {
        if path.exists() {
            let seed = read_key_file(path, KeyKind::Ed25519Secret)?;
            return NodeIdentity::from_seed(&seed);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| NetError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let id = NodeIdentity::generate();
        write_key_file(path, KeyKind::Ed25519Secret, &id.secret_seed(), false)?;
        Ok(id)
    }

    pub(crate) fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The 32-byte Ed25519 seed, for signing with the same key outside libp2p (receipts and
    /// key announcements, `vesper_crypto::SigningIdentity`). Never transmitted.
    pub fn secret_seed(&self) -> Zeroizing<Vec<u8>> {
        let kp = self
            .keypair
            .clone()
            .try_into_ed25519()
            .expect("an Ed25519 identity");
        // The libp2p encoding is secret ‖ public; the seed is the first 32 bytes.
        Zeroizing::new(kp.to_bytes()[..32].to_vec())
    }

    pub fn peer_id(&self) -> PeerId {
        self.keypair.public().to_peer_id()
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.keypair
            .public()
            .try_into_ed25519()
            .expect("an Ed25519 identity")
            .to_bytes()
    }
}

/// The Ed25519 public key a PeerId embeds (ids of Ed25519 keys are identity multihashes of
/// the key itself). `None` for ids that hash their key.
pub fn peer_public_key(peer: &PeerId) -> Option<[u8; 32]> {
    let mh = multihash_digest(peer)?;
    let pk = libp2p_identity::PublicKey::try_decode_protobuf(&mh).ok()?;
    Some(pk.try_into_ed25519().ok()?.to_bytes())
}

fn multihash_digest(peer: &PeerId) -> Option<Vec<u8>> {
    let bytes = peer.to_bytes();
    // Identity multihash: code 0x00, then a one-byte length (36 for Ed25519 keys).
    match bytes.as_slice() {
        [0x00, len, rest @ ..] if *len as usize == rest.len() => Some(rest.to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_persists_with_a_private_file_and_a_stable_peer_id() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home/identity.ed25519");
        let a = NodeIdentity::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = NodeIdentity::load_or_create(&path).unwrap();
        assert_eq!(a.peer_id(), b.peer_id());
        assert_eq!(a.public_key(), b.public_key());
        // The PeerId is libp2p's: the identity multihash of the protobuf public key.
        let expected = libp2p_identity::PublicKey::from(
            libp2p_identity::ed25519::PublicKey::try_from_bytes(&a.public_key()).unwrap(),
        )
        .to_peer_id();
        assert_eq!(a.peer_id(), expected);
        assert!(a.peer_id().to_string().starts_with("12D3KooW"));
        assert_ne!(a.peer_id(), NodeIdentity::generate().peer_id());
    }

    #[test]
    fn a_known_seed_gives_a_known_peer_id() {
        // RFC 8032 test 1 secret key; its PeerId computed with rust-libp2p's own derivation
        // (identity multihash over the protobuf-encoded public key).
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let id = NodeIdentity::from_seed(&seed).unwrap();
        assert_eq!(
            hex::encode(id.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let bytes = id.peer_id().to_bytes();
        // 0x00 (identity multihash), length 36, protobuf {KeyType=Ed25519, Data=pubkey}.
        assert_eq!(&bytes[..6], &[0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
        assert_eq!(&bytes[6..], &id.public_key()[..]);
        assert_eq!(peer_public_key(&id.peer_id()), Some(id.public_key()));
    }
}

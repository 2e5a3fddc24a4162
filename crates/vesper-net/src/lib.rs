//! The node fabric: node identities, the trust list, and the libp2p node (TCP + Noise +
//! Yamux, identify, ping, mDNS, Kademlia) that carries `vesper-proto` frames between trusted
//! peers ([`Net`], `node.rs`).
//!
//! **Boundary:** the only crate that imports libp2p.

mod codec;
mod error;
mod identity;
mod node;
pub mod testkit;
mod trust;

/// The identity key file in a node's home (`~/.vesper`).
pub const IDENTITY_FILE: &str = "identity.ed25519";
/// The trust list in a node's home.
pub const TRUST_FILE: &str = "trusted_peers.json";

pub use codec::FrameBudget;
pub use error::NetError;
pub use identity::{NodeIdentity, peer_public_key};
pub use libp2p::Multiaddr;
pub use libp2p_identity::PeerId;
pub use node::{
    InboundRequest, Net, NetConfig, NetDriver, NetEvent, NetHandle, NetInfo, Reply, peer_of,
};
pub use trust::{TrustList, TrustedPeer};

//! The node fabric (issue [D]). Today: node identities and the trust list. Next: the libp2p
//! transport (TCP + Noise + Yamux, identify, ping, mDNS, Kademlia) that carries
//! `vesper-proto` frames between trusted peers.
//!
//! **Boundary:** the only crate that imports libp2p.

mod error;
mod identity;
mod trust;

pub use error::NetError;
pub use identity::NodeIdentity;
pub use libp2p_identity::PeerId;
pub use trust::{TrustList, TrustedPeer};

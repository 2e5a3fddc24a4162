//! The key custodian: runs in a node that holds the pool's secret keys (the `vesper dev` node,
//! whose in-process workers already hold them). For each worker whose key request is pending
//! and whom this node's operator trusts (`trusted_peers.json`), it checks the announcement's
//! signature against the worker's PeerId, seals the pool keys to the announced key-exchange key
//! (HPKE, bound to the PeerId) and leaves the sealed grant with the remote pool, which relays
//! it. The plaintext keys never leave this function; the gateway side only sees sealed bytes.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vesper_crypto::{X25519PublicKey, seal_pool_grant, verify_signature};
use vesper_net::{PeerId, peer_public_key};

use super::server::RemotePool;
use super::{KX_DOMAIN, kx_message};
use crate::worker::PoolKeys;

/// Seal grants for trusted, pending workers until `shutdown`.
pub async fn run(
    pool: Arc<RemotePool>,
    keys: Arc<PoolKeys>,
    trusted: Arc<RwLock<HashSet<PeerId>>>,
    shutdown: CancellationToken,
) {
    loop {
        let wake = pool.key_requests.clone();
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        grant_pending(&pool, &keys, &trusted);
        tokio::select! {
            _ = &mut notified => {}
            // Trust changes (a `peers add`) are picked up on this tick.
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

/// Why a key request gets no grant.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The PeerId does not embed an Ed25519 key.
    NotEd25519,
    /// The announcement's signature is not the peer's.
    BadSignature,
    BadKey,
    SealFailed,
}

/// Check a key request against the peer's own identity and seal `keys` to it: the sealed
/// grant and the key ids inside. Trust is the caller's question (asked first).
pub fn seal_for(
    peer: &PeerId,
    kx_pubkey: &[u8; 32],
    signature: &[u8],
    keys: &PoolKeys,
) -> Result<(Vec<u8>, Vec<String>), Refusal> {
    // The gateway relayed this announcement; only the worker's own signature makes it the
    // worker's.
    let pk = peer_public_key(peer).ok_or(Refusal::NotEd25519)?;
    verify_signature(&pk, KX_DOMAIN, &kx_message(peer, kx_pubkey), signature)
        .map_err(|_| Refusal::BadSignature)?;
    let kx = X25519PublicKey::from_bytes(kx_pubkey).map_err(|_| Refusal::BadKey)?;
    let all = keys.all();
    let blob = seal_pool_grant(&kx, &peer.to_bytes(), &all).map_err(|_| Refusal::SealFailed)?;
    let ids = all
        .iter()
        .map(|k| k.public_key().key_id().to_string())
        .collect();
    Ok((blob, ids))
}

/// One pass: returns how many grants were sealed.
pub fn grant_pending(
    pool: &RemotePool,
    keys: &PoolKeys,
    trusted: &RwLock<HashSet<PeerId>>,
) -> usize {
    let mut sealed = 0;
    for (peer, slot) in pool.pending_grants() {
        if !trusted.read().unwrap().contains(&peer) {
            continue;
        }
        match seal_for(&peer, &slot.kx_pubkey, &slot.signature, keys) {
            Ok((blob, ids)) => {
                let n = ids.len();
                pool.put_grant(peer, slot.kx_pubkey, blob, ids);
                tracing::info!(%peer, keys = n, "pool keys sealed to a trusted worker");
                sealed += 1;
            }
            Err(r) => tracing::warn!(%peer, refusal = ?r, "key request not granted"),
        }
    }
    sealed
}

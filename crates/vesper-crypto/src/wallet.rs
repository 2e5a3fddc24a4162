//! Wallet signatures over a request's canonical string (docs/AUTH.md §3): Ed25519 wallets sign
//! the bytes directly, Ethereum accounts sign them with EIP-191 `personal_sign`.
//!
//! Ed25519 is `ed25519-dalek`'s `verify_strict`; secp256k1 public-key recovery is `k256`;
//! Keccak-256 is `sha3`. Nothing here is hand-rolled: this module only frames bytes.

use ed25519_dalek::{Signature as EdSignature, VerifyingKey as EdVerifyingKey};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, VerifyingKey as EcdsaVerifyingKey};
use sha3::{Digest, Keccak256};
use vesper_core::WalletId;

use crate::CryptoError;

/// Length of an Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;
/// Length of an EIP-191 signature: `r || s || v`.
pub const EIP191_SIGNATURE_LEN: usize = 65;

/// Parse the `X-Vesper-Signature` header: hex in either case, with an optional `0x` prefix.
/// Only the encoding is checked here; the length belongs to the wallet's scheme.
pub fn parse_signature_hex(s: &str) -> Result<Vec<u8>, CryptoError> {
    const WHAT: &str = "wallet signature";
    let h = s.strip_prefix("0x").unwrap_or(s);
    // No signature is longer than 65 bytes: refuse to decode more than that.
    if h.is_empty() || h.len() > 2 * EIP191_SIGNATURE_LEN {
        return Err(CryptoError::Malformed { what: WHAT });
    }
    hex::decode(h).map_err(|_| CryptoError::Malformed { what: WHAT })
}

/// Check that `wallet` signed `message` (the canonical request's bytes).
///
/// - [`WalletId::Ed25519`]: a 64-byte Ed25519 signature over `message`, checked with
///   `verify_strict` (no small-order keys, no non-canonical signatures).
/// - [`WalletId::Eth`]: a 65-byte `r || s || v` signature, `v` ∈ {27, 28} or {0, 1}, over
///   `keccak256("\x19Ethereum Signed Message:\n" || len(message) in decimal || message)`. `s`
///   must be in the lower half of the curve order (EIP-2). The address recovered from it
///   must be the wallet's.
pub fn verify_wallet_signature(
    wallet: &WalletId,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    match wallet {
        WalletId::Ed25519(pk) => verify_ed25519(pk, message, signature),
        WalletId::Eth(address) => verify_eip191(address, message, signature),
    }
}

fn verify_ed25519(pk: &[u8; 32], message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    let sig: [u8; ED25519_SIGNATURE_LEN] =
        signature
            .try_into()
            .map_err(|_| CryptoError::SignatureLength {
                expected: ED25519_SIGNATURE_LEN,
                actual: signature.len(),
            })?;
    let vk = EdVerifyingKey::from_bytes(pk).map_err(|_| CryptoError::BadSignature)?;
    vk.verify_strict(message, &EdSignature::from_bytes(&sig))
        .map_err(|_| CryptoError::BadSignature)
}

/// `keccak256("\x19Ethereum Signed Message:\n" || decimal length || message)`.
pub(crate) fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(b"\x19Ethereum Signed Message:\n");
    h.update(message.len().to_string().as_bytes());
    h.update(message);
    h.finalize().into()
}

/// The Ethereum address of a public key: the last 20 bytes of keccak256 of the uncompressed
/// point without its `0x04` prefix.
fn eth_address(vk: &EcdsaVerifyingKey) -> [u8; 20] {
    let point = vk.to_sec1_point(false);
    let digest = Keccak256::digest(&point.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest[12..]);
    out
}

fn verify_eip191(address: &[u8; 20], message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    let sig: &[u8; EIP191_SIGNATURE_LEN] =
        signature
            .try_into()
            .map_err(|_| CryptoError::SignatureLength {
                expected: EIP191_SIGNATURE_LEN,
                actual: signature.len(),
            })?;
    let y_odd = match sig[64] {
        0 | 27 => false,
        1 | 28 => true,
        _ => {
            return Err(CryptoError::Malformed {
                what: "eip191 recovery id",
            });
        }
    };
    // Rejects r or s equal to zero or not below the group order.
    let rs = EcdsaSignature::from_slice(&sig[..64]).map_err(|_| CryptoError::BadSignature)?;
    // One signature per message and key: the high-s twin of a valid signature is refused.
    if rs.normalize_s() != rs {
        return Err(CryptoError::BadSignature);
    }
    let prehash = eip191_hash(message);
    let vk = EcdsaVerifyingKey::recover_from_prehash(&prehash, &rs, RecoveryId::new(y_odd, false))
        .map_err(|_| CryptoError::BadSignature)?;
    // Recovery already implies this; verifying again costs little and states the intent.
    vk.verify_prehash(&prehash, &rs)
        .map_err(|_| CryptoError::BadSignature)?;
    if eth_address(&vk) != *address {
        return Err(CryptoError::BadSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer as _;
    use k256::ecdsa::SigningKey as EcdsaSigningKey;

    const MSG: &[u8] = b"vesper-auth-v1\nPOST\n/api/submit\n\
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
        1700000000\nabcdefghijklmnop\ned25519:00";

    fn ed_key(seed: u8) -> (ed25519_dalek::SigningKey, WalletId) {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let w = WalletId::Ed25519(sk.verifying_key().to_bytes());
        (sk, w)
    }

    fn eth_key(seed: u8) -> (EcdsaSigningKey, WalletId) {
        let sk = EcdsaSigningKey::from_slice(&[seed; 32]).unwrap();
        let w = WalletId::Eth(eth_address(sk.verifying_key()));
        (sk, w)
    }

    /// `r || s || v` with `v` in {27, 28}, as `personal_sign` returns it.
    fn eth_sign(sk: &EcdsaSigningKey, msg: &[u8]) -> [u8; 65] {
        let (sig, recid) = sk.sign_prehash_recoverable(&eip191_hash(msg));
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = 27 + recid.to_byte();
        out
    }

    #[test]
    fn ed25519_verifies_and_rejects_tampering() {
        let (sk, w) = ed_key(1);
        let sig = sk.sign(MSG).to_bytes();
        verify_wallet_signature(&w, MSG, &sig).unwrap();
        for i in 0..MSG.len() {
            let mut m = MSG.to_vec();
            m[i] ^= 0x01;
            assert!(
                verify_wallet_signature(&w, &m, &sig).is_err(),
                "msg byte {i}"
            );
        }
        for i in 0..sig.len() {
            let mut s = sig;
            s[i] ^= 0x01;
            assert!(
                verify_wallet_signature(&w, MSG, &s).is_err(),
                "sig byte {i}"
            );
        }
        let (_, other) = ed_key(2);
        assert!(matches!(
            verify_wallet_signature(&other, MSG, &sig),
            Err(CryptoError::BadSignature)
        ));
    }

    #[test]
    fn eip191_verifies_and_rejects_tampering() {
        let (sk, w) = eth_key(1);
        let sig = eth_sign(&sk, MSG);
        verify_wallet_signature(&w, MSG, &sig).unwrap();
        for i in 0..MSG.len() {
            let mut m = MSG.to_vec();
            m[i] ^= 0x01;
            assert!(
                verify_wallet_signature(&w, &m, &sig).is_err(),
                "msg byte {i}"
            );
        }
        for i in 0..sig.len() {
            let mut s = sig;
            s[i] ^= 0x01;
            assert!(
                verify_wallet_signature(&w, MSG, &s).is_err(),
                "sig byte {i}"
            );
        }
        let (_, other) = eth_key(2);
        assert!(matches!(
            verify_wallet_signature(&other, MSG, &sig),
            Err(CryptoError::BadSignature)
        ));
        // The same key as an Ed25519 wallet: wrong scheme, wrong length.
        assert!(verify_wallet_signature(&WalletId::Ed25519([1; 32]), MSG, &sig).is_err());
    }

    #[test]
    fn eip191_accepts_both_v_conventions_and_nothing_else() {
        let (sk, w) = eth_key(3);
        let sig = eth_sign(&sk, MSG);
        let mut zero_based = sig;
        zero_based[64] -= 27;
        assert!(zero_based[64] <= 1);
        verify_wallet_signature(&w, MSG, &sig).unwrap();
        verify_wallet_signature(&w, MSG, &zero_based).unwrap();
        // The other parity recovers another key.
        let mut flipped = sig;
        flipped[64] = 55 - sig[64]; // 27 <-> 28
        assert!(matches!(
            verify_wallet_signature(&w, MSG, &flipped),
            Err(CryptoError::BadSignature)
        ));
        for v in [2u8, 3, 26, 29, 35, 36, 37, 38, 255] {
            let mut s = sig;
            s[64] = v;
            assert!(
                matches!(
                    verify_wallet_signature(&w, MSG, &s),
                    Err(CryptoError::Malformed { .. })
                ),
                "v = {v}"
            );
        }
    }

    #[test]
    fn eip191_rejects_high_s_twin() {
        let (sk, w) = eth_key(4);
        let sig = eth_sign(&sk, MSG);
        let low = EcdsaSignature::from_slice(&sig[..64]).unwrap();
        let (r, s) = low.split_scalars();
        let high = EcdsaSignature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        assert_ne!(high.normalize_s(), high);
        let mut twin = [0u8; 65];
        twin[..64].copy_from_slice(&high.to_bytes());
        twin[64] = 55 - sig[64]; // negating s flips the parity of the recovered point
        assert!(matches!(
            verify_wallet_signature(&w, MSG, &twin),
            Err(CryptoError::BadSignature)
        ));
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        let (_, ed) = ed_key(1);
        let (_, eth) = eth_key(1);
        for len in [0usize, 1, 63, 65, 128] {
            assert!(matches!(
                verify_wallet_signature(&ed, MSG, &vec![0; len]),
                Err(CryptoError::SignatureLength { expected: 64, actual }) if actual == len
            ));
        }
        for len in [0usize, 1, 64, 66, 130] {
            assert!(matches!(
                verify_wallet_signature(&eth, MSG, &vec![27; len]),
                Err(CryptoError::SignatureLength { expected: 65, actual }) if actual == len
            ));
        }
        // Right length, nonsense content.
        assert!(verify_wallet_signature(&ed, MSG, &[0; 64]).is_err());
        assert!(verify_wallet_signature(&eth, MSG, &[0; 65]).is_err());
        let mut ones = [0xff; 65];
        ones[64] = 27;
        assert!(verify_wallet_signature(&eth, MSG, &ones).is_err());
    }

    #[test]
    fn signature_hex() {
        assert_eq!(parse_signature_hex("0x00ff").unwrap(), vec![0x00, 0xff]);
        assert_eq!(parse_signature_hex("00FF").unwrap(), vec![0x00, 0xff]);
        let max = "ab".repeat(65);
        assert_eq!(parse_signature_hex(&max).unwrap().len(), 65);
        assert_eq!(parse_signature_hex(&format!("0x{max}")).unwrap().len(), 65);
        for bad in [
            "",
            "0x",
            "0",
            "0x0",
            "zz",
            "0X00",
            " 00",
            "00 ",
            &"ab".repeat(66),
        ] {
            assert!(
                matches!(
                    parse_signature_hex(bad),
                    Err(CryptoError::Malformed {
                        what: "wallet signature"
                    })
                ),
                "{bad:?}"
            );
        }
    }

    /// personal_sign's prefix uses the decimal byte length, not the character count.
    #[test]
    fn eip191_hash_known_answer() {
        // keccak256("\x19Ethereum Signed Message:\n11hello world"), as returned by ethers'
        // `hashMessage("hello world")` and web3.py's `encode_defunct`.
        assert_eq!(
            hex::encode(eip191_hash(b"hello world")),
            "d9eba16ed0ecae432b71fe008c98cc872bb4cc214d3220a36f365326cf807d68"
        );
    }
}

//! Wallet signatures (docs/AUTH.md §3) made by libraries that Vesper does not use to verify
//! them: Ed25519 by `ed25519-compact`, EIP-191 `personal_sign` by bitcoin-core's libsecp256k1
//! (`secp256k1` crate) with Keccak-256 from `tiny-keccak`. Vesper verifies with
//! `ed25519-dalek`, `k256` and `sha3`. The fixed vectors here are also printed in AUTH.md §5.

use vesper_core::{WalletId, canonical_request};
use vesper_crypto::{CryptoError, parse_signature_hex, verify_wallet_signature};

// ---------------------------------------------------------------------------------------------
// The independent signers

fn ed_wallet(seed: [u8; 32]) -> (ed25519_compact::KeyPair, WalletId) {
    let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
    let w = WalletId::Ed25519(*kp.pk);
    (kp, w)
}

/// Deterministic RFC 8032 Ed25519 (what Solana's `signMessage` does), no added noise.
fn ed_sign(kp: &ed25519_compact::KeyPair, msg: &[u8]) -> Vec<u8> {
    kp.sk.sign(msg, None).to_vec()
}

fn keccak256(parts: &[&[u8]]) -> [u8; 32] {
    use tiny_keccak::Hasher as _;
    let mut k = tiny_keccak::Keccak::v256();
    for p in parts {
        k.update(p);
    }
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

fn eth_wallet(secret: [u8; 32]) -> (secp256k1::SecretKey, WalletId) {
    let sk = secp256k1::SecretKey::from_secret_bytes(secret).unwrap();
    let pk = secp256k1::PublicKey::from_secret_key(&sk).serialize_uncompressed();
    let digest = keccak256(&[&pk[1..]]);
    let mut addr = [0u8; 20];
    addr.copy_from_slice(&digest[12..]);
    (sk, WalletId::Eth(addr))
}

/// `personal_sign`: RFC 6979 ECDSA over keccak256("\x19Ethereum Signed Message:\n" || len ||
/// msg), returned as `r || s || v` with `v` in {27, 28}.
fn eth_personal_sign(sk: &secp256k1::SecretKey, msg: &[u8]) -> [u8; 65] {
    let len = msg.len().to_string();
    let h = keccak256(&[b"\x19Ethereum Signed Message:\n", len.as_bytes(), msg]);
    let sig = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(
        secp256k1::Message::from_digest(h),
        sk,
    );
    let (recid, rs) = sig.serialize_compact();
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&rs);
    out[64] = 27 + u8::from(recid);
    out
}

// ---------------------------------------------------------------------------------------------
// Requests

fn request(wallet: &WalletId) -> String {
    canonical_request(
        "POST",
        "/api/submit",
        br#"{"hello":"vesper"}"#,
        1_700_000_000,
        "n_0123456789-abcdef",
        wallet,
    )
}

/// The canonical request with line `i` replaced by another value that a request could carry.
fn with_line_changed(canonical: &str, i: usize, other_wallet: &WalletId) -> String {
    let mut lines: Vec<String> = canonical.split('\n').map(str::to_owned).collect();
    assert_eq!(lines.len(), 7);
    lines[i] = match i {
        0 => "vesper-auth-v2".to_owned(),
        1 => "PUT".to_owned(),
        2 => "/api/submit?x=1".to_owned(),
        3 => hex::encode(vesper_core::sha256(&[br#"{"hello":"vesper!"}"#])),
        4 => "1700000001".to_owned(),
        5 => "n_0123456789-abcdeg".to_owned(),
        6 => other_wallet.to_string(),
        _ => unreachable!(),
    };
    lines.join("\n")
}

// ---------------------------------------------------------------------------------------------
// Ed25519

#[test]
fn ed25519_compact_signs_vesper_verifies() {
    let (kp, w) = ed_wallet([7; 32]);
    let msg = request(&w);
    let sig = ed_sign(&kp, msg.as_bytes());
    verify_wallet_signature(&w, msg.as_bytes(), &sig).unwrap();
    // Through the header encoding, with and without 0x.
    let h = hex::encode(&sig);
    verify_wallet_signature(&w, msg.as_bytes(), &parse_signature_hex(&h).unwrap()).unwrap();
    let h = format!("0x{h}");
    verify_wallet_signature(&w, msg.as_bytes(), &parse_signature_hex(&h).unwrap()).unwrap();
}

#[test]
fn ed25519_any_changed_line_fails() {
    let (kp, w) = ed_wallet([7; 32]);
    let (_, other) = ed_wallet([8; 32]);
    let msg = request(&w);
    let sig = ed_sign(&kp, msg.as_bytes());
    for i in 0..7 {
        let changed = with_line_changed(&msg, i, &other);
        assert_ne!(changed, msg);
        assert!(
            verify_wallet_signature(&w, changed.as_bytes(), &sig).is_err(),
            "line {i}"
        );
    }
    let trailing = format!("{msg}\n");
    assert!(verify_wallet_signature(&w, trailing.as_bytes(), &sig).is_err());
}

#[test]
fn ed25519_other_key_fails() {
    let (_, w) = ed_wallet([7; 32]);
    let (other_kp, other) = ed_wallet([8; 32]);
    let msg = request(&w);
    // Another key signs the request that names `w`.
    let sig = ed_sign(&other_kp, msg.as_bytes());
    assert!(matches!(
        verify_wallet_signature(&w, msg.as_bytes(), &sig),
        Err(CryptoError::BadSignature)
    ));
    // And its own correct signature does not stand for `w`.
    let own = request(&other);
    let sig = ed_sign(&other_kp, own.as_bytes());
    verify_wallet_signature(&other, own.as_bytes(), &sig).unwrap();
    assert!(verify_wallet_signature(&w, own.as_bytes(), &sig).is_err());
}

// ---------------------------------------------------------------------------------------------
// EIP-191

#[test]
fn libsecp256k1_signs_vesper_verifies_both_v_conventions() {
    let (sk, w) = eth_wallet([0x11; 32]);
    let msg = request(&w);
    let sig = eth_personal_sign(&sk, msg.as_bytes());
    assert!(sig[64] == 27 || sig[64] == 28);
    verify_wallet_signature(&w, msg.as_bytes(), &sig).unwrap();
    let mut zero_based = sig;
    zero_based[64] -= 27;
    verify_wallet_signature(&w, msg.as_bytes(), &zero_based).unwrap();
    // Through the header encoding.
    let h = format!("0x{}", hex::encode(zero_based));
    verify_wallet_signature(&w, msg.as_bytes(), &parse_signature_hex(&h).unwrap()).unwrap();
}

#[test]
fn eip191_both_recovery_ids_occur_and_verify() {
    // Over enough nonces, libsecp256k1 produces both parities; each verifies in both
    // conventions, and the other parity never does.
    let (sk, w) = eth_wallet([0x11; 32]);
    let mut seen = [false; 2];
    for n in 0..64u32 {
        let msg = canonical_request(
            "GET",
            "/api/jobs",
            b"",
            1_700_000_000,
            &format!("nonce-{n:011}"),
            &w,
        );
        let sig = eth_personal_sign(&sk, msg.as_bytes());
        let parity = usize::from(sig[64] - 27);
        seen[parity] = true;
        verify_wallet_signature(&w, msg.as_bytes(), &sig).unwrap();
        let mut zero_based = sig;
        zero_based[64] -= 27;
        verify_wallet_signature(&w, msg.as_bytes(), &zero_based).unwrap();
        let mut flipped = sig;
        flipped[64] = 55 - sig[64];
        assert!(verify_wallet_signature(&w, msg.as_bytes(), &flipped).is_err());
    }
    assert_eq!(seen, [true, true]);
}

#[test]
fn eip191_any_changed_line_fails() {
    let (sk, w) = eth_wallet([0x11; 32]);
    let (_, other) = eth_wallet([0x22; 32]);
    let msg = request(&w);
    let sig = eth_personal_sign(&sk, msg.as_bytes());
    for i in 0..7 {
        let changed = with_line_changed(&msg, i, &other);
        assert!(
            verify_wallet_signature(&w, changed.as_bytes(), &sig).is_err(),
            "line {i}"
        );
    }
    let trailing = format!("{msg}\n");
    assert!(verify_wallet_signature(&w, trailing.as_bytes(), &sig).is_err());
}

#[test]
fn eip191_other_key_fails() {
    let (_, w) = eth_wallet([0x11; 32]);
    let (other_sk, other) = eth_wallet([0x22; 32]);
    let msg = request(&w);
    let sig = eth_personal_sign(&other_sk, msg.as_bytes());
    assert!(matches!(
        verify_wallet_signature(&w, msg.as_bytes(), &sig),
        Err(CryptoError::BadSignature)
    ));
    let own = request(&other);
    let sig = eth_personal_sign(&other_sk, own.as_bytes());
    verify_wallet_signature(&other, own.as_bytes(), &sig).unwrap();
    assert!(verify_wallet_signature(&w, own.as_bytes(), &sig).is_err());
}

// ---------------------------------------------------------------------------------------------
// Fixed vectors (AUTH.md §5)

/// AUTH.md §5.1. Secret key: RFC 8032 §7.1 TEST 1.
#[test]
fn ed25519_fixed_vector() {
    const SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const WALLET: &str = "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const CANONICAL: &str = "vesper-auth-v1\n\
        POST\n\
        /api/submit\n\
        a385c172e1aaf527c21e30e5b9ec7d0c3e38a4a3fd354647327716430c6de676\n\
        1700000000\n\
        vesper-vector-nonce-0001\n\
        ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const SIGNATURE: &str = "98f7f81caebfd8883e20307fcad854769070432ea58e3fb7a25772c907314d29\
                             39178ce99a0b455db9f7e2ff875ee24cf15c45f52fcf70b992047d6021b9f20f";

    let (kp, w) = ed_wallet(hex::decode(SECRET).unwrap().try_into().unwrap());
    assert_eq!(w.to_string(), WALLET);
    assert_eq!(WALLET.parse::<WalletId>().unwrap(), w);
    let msg = canonical_request(
        "POST",
        "/api/submit",
        br#"{"hello":"vesper"}"#,
        1_700_000_000,
        "vesper-vector-nonce-0001",
        &w,
    );
    assert_eq!(msg, CANONICAL);
    assert_eq!(CANONICAL.len(), 205);
    assert_eq!(hex::encode(ed_sign(&kp, msg.as_bytes())), SIGNATURE);
    let sig = parse_signature_hex(SIGNATURE).unwrap();
    verify_wallet_signature(&w, CANONICAL.as_bytes(), &sig).unwrap();
}

/// AUTH.md §5.2. Secret key: the well-known first Hardhat/Anvil development account.
#[test]
fn eip191_fixed_vector() {
    const SECRET: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const WALLET: &str = "eip191:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    const CANONICAL: &str = "vesper-auth-v1\n\
        GET\n\
        /api/jobs?status=queued\n\
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
        1700000000\n\
        vesper-vector-nonce-0002\n\
        eip191:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    const SIGNATURE: &str = "0xabc1d24942d5b89c69fd3327bbbfc5a05f63a6f2f5c7f276e9655e9ab61fbb53\
                             025c2d984d42d42e2d9ba6ad092123b479ce72af5ec9e2a0e126a5ede0ab2eb0\
                             1c";

    let (sk, w) = eth_wallet(hex::decode(SECRET).unwrap().try_into().unwrap());
    assert_eq!(w.to_string(), WALLET);
    // The EIP-55 spelling that wallets display names the same wallet.
    assert_eq!(
        "eip191:0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse::<WalletId>()
            .unwrap(),
        w
    );
    let msg = canonical_request(
        "get",
        "/api/jobs?status=queued",
        b"",
        1_700_000_000,
        "vesper-vector-nonce-0002",
        &w,
    );
    assert_eq!(msg, CANONICAL);
    assert_eq!(CANONICAL.len(), 193);
    assert_eq!(
        hex::encode(keccak256(&[
            b"\x19Ethereum Signed Message:\n193",
            CANONICAL.as_bytes()
        ])),
        "44b5b9cf859f60a2f9febaa96f588e92cb505430d99218eaca92d22df63e363c"
    );
    let sig = eth_personal_sign(&sk, msg.as_bytes());
    assert_eq!(format!("0x{}", hex::encode(sig)), SIGNATURE);
    let mut sig = parse_signature_hex(SIGNATURE).unwrap();
    verify_wallet_signature(&w, CANONICAL.as_bytes(), &sig).unwrap();
    sig[64] -= 27; // v = 1
    verify_wallet_signature(&w, CANONICAL.as_bytes(), &sig).unwrap();
}

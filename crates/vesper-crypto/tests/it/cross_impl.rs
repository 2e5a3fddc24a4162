//! Our exact suite, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, against a second,
//! independent HPKE implementation (`hpke-rs` with its RustCrypto backend): seal with one,
//! open with the other, in both directions, through Vesper's own envelope functions.

use hpke_rs::hpke_types::{AeadAlgorithm, KdfAlgorithm, KemAlgorithm};
use hpke_rs::{Hpke, HpkePrivateKey, HpkePublicKey, Mode};
use hpke_rs_rust_crypto::HpkeRustCrypto;
use vesper_core::{JobId, ProgramId, WorkloadType};
use vesper_crypto::{
    JOB_INFO, JobMetadata, RESULT_INFO, X25519SecretKey, open_result, open_workload, result_aad,
    seal_result, seal_workload,
};

fn other() -> Hpke<HpkeRustCrypto> {
    Hpke::new(
        Mode::Base,
        KemAlgorithm::DhKem25519,
        KdfAlgorithm::HkdfSha256,
        AeadAlgorithm::Aes256Gcm,
    )
}

fn meta(client: &X25519SecretKey, pool: &X25519SecretKey) -> JobMetadata {
    JobMetadata {
        workload_type: WorkloadType::AiInference,
        program_id: Some(ProgramId::of_module(b"\0asm\x01\0\0\0")),
        client_pubkey: client.public_key(),
        key_id: pool.public_key().key_id(),
    }
}

#[test]
fn other_implementation_seals_vesper_opens() {
    let pool = X25519SecretKey::generate();
    let client = X25519SecretKey::generate();
    let m = meta(&client, &pool);
    for len in [0usize, 1, 15, 16, 17, 1000, 65_536] {
        let pt: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let pk = HpkePublicKey::new(pool.public_key().as_bytes().to_vec());
        let (enc, ct) = other()
            .seal(&pk, JOB_INFO, &m.aad(), &pt, None, None, None)
            .unwrap();
        let opened = open_workload(&pool, &m, &enc, &ct).unwrap();
        assert_eq!(&opened[..], &pt[..], "len {len}");
    }
}

#[test]
fn vesper_seals_other_implementation_opens() {
    let pool = X25519SecretKey::generate();
    let client = X25519SecretKey::generate();
    let m = meta(&client, &pool);
    let pt = b"the quick brown fox".repeat(100);
    let (enc, ct) = seal_workload(&pool.public_key(), &m, &pt).unwrap();
    let sk = HpkePrivateKey::new(pool.to_bytes().to_vec());
    let opened = other()
        .open(&enc, &sk, JOB_INFO, &m.aad(), &ct, None, None, None)
        .unwrap();
    assert_eq!(opened, pt);
    // The other implementation also refuses a tampered AAD.
    let mut aad = m.aad();
    *aad.last_mut().unwrap() ^= 1;
    assert!(
        other()
            .open(&enc, &sk, JOB_INFO, &aad, &ct, None, None, None)
            .is_err()
    );
}

#[test]
fn results_interoperate_both_ways() {
    let client = X25519SecretKey::generate();
    let job = JobId::new_random();
    let digest = [0x5a; 32];
    // Vesper seals a result; the other implementation opens `enc || ct`.
    let sealed = seal_result(&client.public_key(), &job, &digest, b"result!").unwrap();
    let sk = HpkePrivateKey::new(client.to_bytes().to_vec());
    let (enc, ct) = sealed.0.split_at(32);
    let pt = other()
        .open(
            enc,
            &sk,
            RESULT_INFO,
            &result_aad(&job, &digest),
            ct,
            None,
            None,
            None,
        )
        .unwrap();
    assert_eq!(pt, b"result!");
    // The other implementation seals; Vesper opens.
    let pk = HpkePublicKey::new(client.public_key().as_bytes().to_vec());
    let (enc, ct) = other()
        .seal(
            &pk,
            RESULT_INFO,
            &result_aad(&job, &digest),
            b"back",
            None,
            None,
            None,
        )
        .unwrap();
    let mut wire = enc.clone();
    wire.extend_from_slice(&ct);
    assert_eq!(
        &open_result(&client, &job, &digest, &wire).unwrap()[..],
        b"back"
    );
}

/// docs/ENVELOPE.md §5.1: a vector for our exact suite (AES-256-GCM) computed by a third,
/// independent implementation (Python `cryptography` primitives following the document).
/// Vesper must open both envelopes and derive the same AAD, key id and digest.
#[test]
fn documented_end_to_end_vector() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let h = |s: &str| hex::decode(s).unwrap();
    let pool = X25519SecretKey::from_bytes(&h(
        "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
    ))
    .unwrap();
    let client = X25519SecretKey::from_bytes(&h(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ))
    .unwrap();
    assert_eq!(pool.public_key().key_id().as_str(), "8b228cd75ab70bad");
    let meta = JobMetadata {
        workload_type: WorkloadType::General,
        program_id: Some(ProgramId::of_module(&h("0061736d01000000"))),
        client_pubkey: client.public_key(),
        key_id: pool.public_key().key_id(),
    };
    assert_eq!(
        hex::encode(meta.aad()),
        "7665737065722f76312f6a6f622d616164000767656e6572616c0193a44bbb96\
         c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f94768520f00989\
         30a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a3862323238\
         6364373561623730626164"
    );
    let enc = b64
        .decode("N/2jVnvb1ijohmjDyNfpfR0SU7bU6m1EwVD3QfG/RDE=")
        .unwrap();
    let ct = b64
        .decode("cbC1UyxzycNuuxNvpqxIKMYqQ0n1WPtIJIpjoQ==")
        .unwrap();
    let pt = open_workload(&pool, &meta, &enc, &ct).unwrap();
    assert_eq!(hex::encode(&pt[..]), "56574c31000000000334320a");
    let digest: [u8; 32] = vesper_core::sha256(&[&enc, &ct]);
    assert_eq!(
        hex::encode(digest),
        "f784bb74535945237513431f3c5aec0ee5eef70d7a7f779f06e25d1e06a3208a"
    );
    let job: JobId = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b".parse().unwrap();
    let sealed = b64
        .decode("3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08RRfRo87Lbc2rGH6JaBL2n5cLnI4PoBcYzUFWei6lw9+msRKQiYGqWSpHtCMyb5GY7qaqu9XfVrMwvvRWfV3f/Nxj/")
        .unwrap();
    let result = open_result(&client, &job, &digest, &sealed).unwrap();
    let r = vesper_core::ResultPlaintext::decode(&result).unwrap();
    assert_eq!(r.stdout, b"84\n");
    assert_eq!(r.exit_code, 0);
    assert_eq!(r.salt.to_vec(), (0u8..32).collect::<Vec<_>>());
}

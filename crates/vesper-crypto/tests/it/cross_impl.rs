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

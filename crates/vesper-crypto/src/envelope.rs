//! HPKE base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM.
//! The byte layout is specified in docs/ENVELOPE.md; keep the two in step.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use vesper_core::{JobId, KeyId, ProgramId, WorkloadType};
use zeroize::Zeroizing;

use crate::{CryptoError, ENC_LEN};

type Kem = X25519HkdfSha256;
type Kdf = HkdfSha256;
type Aead = AesGcm256;

/// HPKE `info` for workload envelopes.
pub const JOB_INFO: &[u8] = b"vesper/v1/job";
/// HPKE `info` for result envelopes.
pub const RESULT_INFO: &[u8] = b"vesper/v1/result";
const JOB_AAD_DOMAIN: &[u8] = b"vesper/v1/job-aad\0";
const RESULT_AAD_DOMAIN: &[u8] = b"vesper/v1/result-aad\0";

/// An X25519 public key (pool key or client key), 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct X25519PublicKey([u8; 32]);

impl X25519PublicKey {
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = b.try_into().map_err(|_| CryptoError::Malformed {
            what: "x25519 public key",
        })?;
        // Reject encodings the KEM would not accept.
        <Kem as hpke::Kem>::PublicKey::from_bytes(&arr).map_err(|_| CryptoError::Malformed {
            what: "x25519 public key",
        })?;
        Ok(X25519PublicKey(arr))
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn key_id(&self) -> KeyId {
        KeyId::of_public_key(&self.0)
    }
    fn to_hpke(self) -> <Kem as hpke::Kem>::PublicKey {
        <Kem as hpke::Kem>::PublicKey::from_bytes(&self.0).expect("validated at construction")
    }
}

impl std::fmt::Debug for X25519PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "X25519PublicKey({})", hex::encode(self.0))
    }
}

/// An X25519 secret key. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct X25519SecretKey(<Kem as hpke::Kem>::PrivateKey);

impl X25519SecretKey {
    pub fn generate() -> Self {
        let (sk, _) = Kem::gen_keypair();
        X25519SecretKey(sk)
    }
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(b)
            .map(X25519SecretKey)
            .map_err(|_| CryptoError::Malformed {
                what: "x25519 secret key",
            })
    }
    /// The secret's bytes, for writing a key file. Zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.to_bytes().to_vec())
    }
    pub fn public_key(&self) -> X25519PublicKey {
        let pk = Kem::sk_to_pk(&self.0);
        X25519PublicKey(pk.to_bytes().into())
    }
}

impl std::fmt::Debug for X25519SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("X25519SecretKey(<redacted>)")
    }
}

/// The public metadata of a job that the workload envelope is bound to (its AAD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobMetadata {
    pub workload_type: WorkloadType,
    /// `None` when the program travels inside the payload.
    pub program_id: Option<ProgramId>,
    pub client_pubkey: X25519PublicKey,
    pub key_id: KeyId,
}

impl JobMetadata {
    /// `aad = "vesper/v1/job-aad\0" || u8 len(workload_type) || workload_type
    ///        || u8 has_program || [program_id (32)] || client_pubkey (32) || key_id (16 ASCII)`
    pub fn aad(&self) -> Vec<u8> {
        let wt = self.workload_type.as_str().as_bytes();
        let mut aad = Vec::with_capacity(JOB_AAD_DOMAIN.len() + 1 + wt.len() + 1 + 32 + 32 + 16);
        aad.extend_from_slice(JOB_AAD_DOMAIN);
        aad.push(wt.len() as u8);
        aad.extend_from_slice(wt);
        match &self.program_id {
            None => aad.push(0),
            Some(p) => {
                aad.push(1);
                aad.extend_from_slice(&p.0);
            }
        }
        aad.extend_from_slice(self.client_pubkey.as_bytes());
        aad.extend_from_slice(self.key_id.as_str().as_bytes());
        aad
    }
}

/// Seal a workload plaintext to the pool key. Returns `(encrypted_key, encrypted_payload)`:
/// the HPKE encapsulated key and the AEAD ciphertext (with its 16-byte tag).
pub fn seal_workload(
    pool_pk: &X25519PublicKey,
    meta: &JobMetadata,
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &pool_pk.to_hpke(),
        JOB_INFO,
        plaintext,
        &meta.aad(),
    )
    .map_err(|_| CryptoError::SealFailed)?;
    Ok((enc.to_bytes().to_vec(), ct))
}

/// Open a workload envelope with the pool secret key. Any change to the ciphertext, the
/// encapsulated key or the metadata makes this fail.
pub fn open_workload(
    pool_sk: &X25519SecretKey,
    meta: &JobMetadata,
    encrypted_key: &[u8],
    encrypted_payload: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(encrypted_key).map_err(|_| {
        CryptoError::Malformed {
            what: "encrypted_key",
        }
    })?;
    hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &pool_sk.0,
        &enc,
        JOB_INFO,
        encrypted_payload,
        &meta.aad(),
    )
    .map(Zeroizing::new)
    .map_err(|_| CryptoError::OpenFailed)
}

/// `aad = "vesper/v1/result-aad\0" || job_id (16) || payload_digest (32)`: a result cannot be
/// moved to another job.
pub fn result_aad(job_id: &JobId, payload_digest: &[u8; 32]) -> Vec<u8> {
    let mut aad = RESULT_AAD_DOMAIN.to_vec();
    aad.extend_from_slice(job_id.as_bytes());
    aad.extend_from_slice(payload_digest);
    aad
}

/// A sealed result: `enc (32) || ciphertext`, as carried base64 in `encrypted_result`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedResult(pub Vec<u8>);

pub fn seal_result(
    client_pk: &X25519PublicKey,
    job_id: &JobId,
    payload_digest: &[u8; 32],
    plaintext: &[u8],
) -> Result<SealedResult, CryptoError> {
    let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &client_pk.to_hpke(),
        RESULT_INFO,
        plaintext,
        &result_aad(job_id, payload_digest),
    )
    .map_err(|_| CryptoError::SealFailed)?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok(SealedResult(out))
}

pub fn open_result(
    client_sk: &X25519SecretKey,
    job_id: &JobId,
    payload_digest: &[u8; 32],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < ENC_LEN + 16 {
        return Err(CryptoError::Malformed {
            what: "encrypted_result",
        });
    }
    let (enc, ct) = sealed.split_at(ENC_LEN);
    let enc =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| CryptoError::Malformed {
            what: "encrypted_result",
        })?;
    hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &client_sk.0,
        &enc,
        RESULT_INFO,
        ct,
        &result_aad(job_id, payload_digest),
    )
    .map(Zeroizing::new)
    .map_err(|_| CryptoError::OpenFailed)
}

/// HPKE `info` for pool-key grants (the pool's secret keys sealed to one trusted worker).
pub const GRANT_INFO: &[u8] = b"vesper/v1/pool-grant";
const GRANT_AAD_DOMAIN: &[u8] = b"vesper/v1/pool-grant-aad\0";

/// Seal the pool's secret keys to one worker's key-exchange key. `recipient_id` (the worker's
/// PeerId bytes) is bound as associated data, so a grant cannot be replayed to another worker.
/// Layout: `enc (32) || AES-256-GCM(k1 || k2 || …)`, 32 bytes per key, oldest epoch first.
pub fn seal_pool_grant(
    recipient: &X25519PublicKey,
    recipient_id: &[u8],
    keys: &[&X25519SecretKey],
) -> Result<Vec<u8>, CryptoError> {
    let mut plaintext = Zeroizing::new(Vec::with_capacity(32 * keys.len()));
    for k in keys {
        plaintext.extend_from_slice(&k.to_bytes());
    }
    let mut aad = GRANT_AAD_DOMAIN.to_vec();
    aad.extend_from_slice(recipient_id);
    let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &recipient.to_hpke(),
        GRANT_INFO,
        &plaintext,
        &aad,
    )
    .map_err(|_| CryptoError::SealFailed)?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Open a grant sealed by [`seal_pool_grant`] to `kx` for `recipient_id`.
pub fn open_pool_grant(
    kx: &X25519SecretKey,
    recipient_id: &[u8],
    sealed: &[u8],
) -> Result<Vec<X25519SecretKey>, CryptoError> {
    const WHAT: &str = "pool grant";
    if sealed.len() < ENC_LEN + 16 {
        return Err(CryptoError::Malformed { what: WHAT });
    }
    let (enc, ct) = sealed.split_at(ENC_LEN);
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
        .map_err(|_| CryptoError::Malformed { what: WHAT })?;
    let mut aad = GRANT_AAD_DOMAIN.to_vec();
    aad.extend_from_slice(recipient_id);
    let plaintext = Zeroizing::new(
        hpke::single_shot_open::<Aead, Kdf, Kem>(&OpModeR::Base, &kx.0, &enc, GRANT_INFO, ct, &aad)
            .map_err(|_| CryptoError::OpenFailed)?,
    );
    if plaintext.is_empty() || plaintext.len() % 32 != 0 {
        return Err(CryptoError::Malformed { what: WHAT });
    }
    plaintext
        .chunks(32)
        .map(X25519SecretKey::from_bytes)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_grant_round_trip_is_bound_to_its_recipient() {
        let kx = X25519SecretKey::generate();
        let k1 = X25519SecretKey::generate();
        let k2 = X25519SecretKey::generate();
        let sealed = seal_pool_grant(&kx.public_key(), b"worker-a", &[&k1, &k2]).unwrap();
        // Neither secret appears in the sealed bytes.
        for k in [&k1, &k2] {
            let raw = k.to_bytes();
            assert!(!sealed.windows(32).any(|w| w == &raw[..]));
        }
        let opened = open_pool_grant(&kx, b"worker-a", &sealed).unwrap();
        let ids: Vec<_> = opened.iter().map(|k| k.public_key().key_id()).collect();
        assert_eq!(
            ids,
            vec![k1.public_key().key_id(), k2.public_key().key_id()]
        );
        // Another recipient id, another key, or a flipped bit: refused.
        assert!(open_pool_grant(&kx, b"worker-b", &sealed).is_err());
        assert!(open_pool_grant(&X25519SecretKey::generate(), b"worker-a", &sealed).is_err());
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(open_pool_grant(&kx, b"worker-a", &bad).is_err());
        assert!(open_pool_grant(&kx, b"worker-a", &sealed[..40]).is_err());
    }

    fn meta(client: &X25519SecretKey, pool: &X25519PublicKey) -> JobMetadata {
        JobMetadata {
            workload_type: WorkloadType::General,
            program_id: Some(ProgramId([7; 32])),
            client_pubkey: client.public_key(),
            key_id: pool.key_id(),
        }
    }

    #[test]
    fn workload_round_trip() {
        let pool = X25519SecretKey::generate();
        let client = X25519SecretKey::generate();
        let m = meta(&client, &pool.public_key());
        let (enc, ct) = seal_workload(&pool.public_key(), &m, b"hello").unwrap();
        assert_eq!(enc.len(), 32);
        assert_eq!(ct.len(), 5 + 16);
        let pt = open_workload(&pool, &m, &enc, &ct).unwrap();
        assert_eq!(&pt[..], b"hello");
    }

    #[test]
    fn every_byte_and_every_metadata_field_is_bound() {
        let pool = X25519SecretKey::generate();
        let client = X25519SecretKey::generate();
        let m = meta(&client, &pool.public_key());
        let (enc, ct) = seal_workload(&pool.public_key(), &m, b"hello world").unwrap();
        for i in 0..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 0x01;
            assert!(open_workload(&pool, &m, &enc, &bad).is_err(), "ct byte {i}");
        }
        for i in 0..enc.len() {
            let mut bad = enc.clone();
            bad[i] ^= 0x01;
            assert!(open_workload(&pool, &m, &bad, &ct).is_err(), "enc byte {i}");
        }
        let variants = [
            JobMetadata {
                workload_type: WorkloadType::AiInference,
                ..m.clone()
            },
            JobMetadata {
                program_id: None,
                ..m.clone()
            },
            JobMetadata {
                program_id: Some(ProgramId([8; 32])),
                ..m.clone()
            },
            JobMetadata {
                client_pubkey: X25519SecretKey::generate().public_key(),
                ..m.clone()
            },
            JobMetadata {
                key_id: "0000000000000000".parse().unwrap(),
                ..m.clone()
            },
        ];
        for v in variants {
            assert!(open_workload(&pool, &v, &enc, &ct).is_err(), "{v:?}");
        }
        // Wrong pool key.
        assert!(open_workload(&X25519SecretKey::generate(), &m, &enc, &ct).is_err());
    }

    #[test]
    fn result_bound_to_job_and_payload() {
        let client = X25519SecretKey::generate();
        let job = JobId::new_random();
        let digest = [3u8; 32];
        let sealed = seal_result(&client.public_key(), &job, &digest, b"42").unwrap();
        assert_eq!(
            &open_result(&client, &job, &digest, &sealed.0).unwrap()[..],
            b"42"
        );
        assert!(open_result(&client, &JobId::new_random(), &digest, &sealed.0).is_err());
        assert!(open_result(&client, &job, &[4u8; 32], &sealed.0).is_err());
        for i in 0..sealed.0.len() {
            let mut bad = sealed.0.clone();
            bad[i] ^= 0x80;
            assert!(
                open_result(&client, &job, &digest, &bad).is_err(),
                "byte {i}"
            );
        }
        assert!(open_result(&client, &job, &digest, &sealed.0[..10]).is_err());
    }

    #[test]
    fn secret_debug_is_redacted() {
        let sk = X25519SecretKey::generate();
        let hexed = hex::encode(&*sk.to_bytes());
        let dbg = format!("{sk:?}");
        assert!(!dbg.contains(&hexed));
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn public_key_parsing() {
        assert!(X25519PublicKey::from_bytes(&[1; 31]).is_err());
        let pk = X25519SecretKey::generate().public_key();
        assert_eq!(X25519PublicKey::from_bytes(pk.as_bytes()).unwrap(), pk);
    }
}

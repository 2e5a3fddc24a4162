//! Ed25519 identities (workers, gateways) and receipt signatures.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use vesper_core::Receipt;
use zeroize::Zeroizing;

use crate::CryptoError;

/// An Ed25519 signing identity. The secret never leaves this type except to a key file.
pub struct SigningIdentity(SigningKey);

impl SigningIdentity {
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed[..]);
        SigningIdentity(SigningKey::from_bytes(&seed))
    }
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let seed: [u8; 32] = b.try_into().map_err(|_| CryptoError::Malformed {
            what: "ed25519 secret key",
        })?;
        Ok(SigningIdentity(SigningKey::from_bytes(&seed)))
    }
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.to_bytes().to_vec())
    }
    pub fn public_key(&self) -> Ed25519PublicKey {
        Ed25519PublicKey(self.0.verifying_key().to_bytes())
    }
    /// Sign `domain || message`. Every use has its own domain so signatures never cross over.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> [u8; 64] {
        let mut m = Vec::with_capacity(domain.len() + message.len());
        m.extend_from_slice(domain);
        m.extend_from_slice(message);
        self.0.sign(&m).to_bytes()
    }
    /// Sign a receipt's canonical message (docs/RECEIPT.md).
    pub fn sign_receipt(&self, receipt: &Receipt) -> [u8; 64] {
        self.0.sign(&receipt.signing_message()).to_bytes()
    }
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningIdentity({:?}, <redacted>)", self.public_key())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ed25519PublicKey(pub [u8; 32]);

impl std::fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519PublicKey({})", hex::encode(self.0))
    }
}

/// Verify `signature` over `domain || message` with `verify_strict` (no malleable or
/// small-order keys/signatures).
pub fn verify_signature(
    pubkey: &[u8; 32],
    domain: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let vk = VerifyingKey::from_bytes(pubkey).map_err(|_| CryptoError::BadSignature)?;
    let sig = Signature::from_slice(signature).map_err(|_| CryptoError::BadSignature)?;
    let mut m = Vec::with_capacity(domain.len() + message.len());
    m.extend_from_slice(domain);
    m.extend_from_slice(message);
    vk.verify_strict(&m, &sig)
        .map_err(|_| CryptoError::BadSignature)
}

/// Verify a receipt's signature against the public key it names.
/// Whether that key belongs to a trusted worker is the caller's question.
pub fn verify_receipt(receipt: &Receipt, signature: &[u8]) -> Result<(), CryptoError> {
    verify_signature(
        &receipt.worker_pubkey,
        &[],
        &receipt.signing_message(),
        signature,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use vesper_core::{JobId, ProgramId, Timestamp, WorkloadType};

    fn receipt(pk: [u8; 32]) -> Receipt {
        Receipt {
            job_id: JobId::new_random(),
            program_id: ProgramId([1; 32]),
            workload_type: WorkloadType::General,
            payload_digest: [2; 32],
            result_digest: [3; 32],
            result_hash: [4; 32],
            fuel_used: 100,
            execution_time_ms: 5,
            started_at: Timestamp(1),
            completed_at: Timestamp(6),
            worker_id: "w-0".into(),
            worker_pubkey: pk,
        }
    }

    #[test]
    fn receipt_sign_verify_and_tamper() {
        let id = SigningIdentity::generate();
        let r = receipt(id.public_key().0);
        let sig = id.sign_receipt(&r);
        verify_receipt(&r, &sig).unwrap();
        // Any bit of the canonical body changes the message.
        let body = r.encode();
        for i in 0..body.len() {
            let mut b = body.clone();
            b[i] ^= 0x01;
            if let Ok(r2) = Receipt::decode(&b) {
                assert!(verify_receipt(&r2, &sig).is_err(), "byte {i}");
            }
        }
        for i in 0..64 {
            let mut s = sig;
            s[i] ^= 0x01;
            assert!(verify_receipt(&r, &s).is_err(), "sig byte {i}");
        }
        // Another key signing the same receipt body is rejected.
        let other = SigningIdentity::generate();
        assert!(verify_receipt(&r, &other.sign_receipt(&r)).is_err());
    }

    /// RFC 8032 section 7.1, TEST 2: our wrapper signs and verifies like the standard says.
    #[test]
    fn rfc8032_test_vector_2() {
        let sk = hex::decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
            .unwrap();
        let id = SigningIdentity::from_bytes(&sk).unwrap();
        assert_eq!(
            hex::encode(id.public_key().0),
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
        );
        let sig = id.sign(&[], &[0x72]);
        assert_eq!(
            hex::encode(sig),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
             085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        );
        verify_signature(&id.public_key().0, &[], &[0x72], &sig).unwrap();
    }

    #[test]
    fn domains_separate_signatures() {
        let id = SigningIdentity::generate();
        let sig = id.sign(b"a/", b"msg");
        assert!(verify_signature(&id.public_key().0, b"b/", b"msg", &sig).is_err());
    }
}

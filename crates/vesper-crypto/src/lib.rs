//! Vesper's cryptography: HPKE envelopes (RFC 9180), Ed25519 receipts and identities,
//! API-key hashing, wallet signatures (Ed25519, EIP-191) and key files.
//!
//! **Invariant:** this crate wraps vetted crates (`hpke`, `ed25519-dalek`, `sha2`, `k256`,
//! `sha3`) and implements no primitive. Secret types zeroize on drop and print `<redacted>`.

mod envelope;
mod error;
mod keyfile;
mod sign;
mod token;
mod wallet;

pub use envelope::{
    GRANT_INFO, JOB_INFO, JobMetadata, RESULT_INFO, SealedResult, X25519PublicKey, X25519SecretKey,
    open_pool_grant, open_result, open_workload, result_aad, seal_pool_grant, seal_result,
    seal_workload,
};
pub use error::CryptoError;
pub use keyfile::{KeyKind, read_key_file, write_key_file};
pub use sign::{Ed25519PublicKey, SigningIdentity, verify_receipt, verify_signature};
pub use token::{ApiKey, hash_api_key, tokens_equal};
pub use wallet::{
    ED25519_SIGNATURE_LEN, EIP191_SIGNATURE_LEN, parse_signature_hex, verify_wallet_signature,
};

/// Length of an HPKE encapsulated key for DHKEM(X25519, HKDF-SHA256).
pub const ENC_LEN: usize = 32;

//! Execution receipts (docs/RECEIPT.md): what a worker signs about a job it ran.

use sha2::{Digest, Sha256};

use crate::codec::Reader;
use crate::{CoreError, JobId, ProgramId, ResultPlaintext, Timestamp, WorkloadType};

/// Prefix of the signed message; the trailing NUL separates it from the body.
pub const RECEIPT_DOMAIN: &[u8] = b"vesper/v1/receipt\0";
/// Prefix of the salted result commitment.
pub const RESULT_HASH_DOMAIN: &[u8] = b"vesper/v1/result-hash\0";
const RECEIPT_VERSION: u8 = 1;

/// `result_hash = SHA-256(RESULT_HASH_DOMAIN || encoded result plaintext)`.
/// The plaintext carries a random salt, so the hash of a tiny result cannot be guessed.
pub fn result_hash(result: &ResultPlaintext) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(RESULT_HASH_DOMAIN);
    h.update(result.encode());
    h.finalize().into()
}

/// Everything a worker attests about one execution. The signature is kept beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub job_id: JobId,
    pub program_id: ProgramId,
    pub workload_type: WorkloadType,
    /// SHA-256(encrypted_key || encrypted_payload): the exact ciphertext that was run.
    pub payload_digest: [u8; 32],
    /// SHA-256(encrypted_result): the exact ciphertext handed back.
    pub result_digest: [u8; 32],
    /// Salted commitment to the plaintext result, see [`result_hash`].
    pub result_hash: [u8; 32],
    pub fuel_used: u64,
    pub execution_time_ms: u64,
    pub started_at: Timestamp,
    pub completed_at: Timestamp,
    pub worker_id: String,
    /// Ed25519 public key of the worker.
    pub worker_pubkey: [u8; 32],
}

impl Receipt {
    /// The canonical body: fixed field order, big-endian integers, length-prefixed strings.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(RECEIPT_VERSION);
        out.extend_from_slice(self.job_id.as_bytes());
        out.extend_from_slice(&self.program_id.0);
        put_short_str(&mut out, self.workload_type.as_str());
        out.extend_from_slice(&self.payload_digest);
        out.extend_from_slice(&self.result_digest);
        out.extend_from_slice(&self.result_hash);
        out.extend_from_slice(&self.fuel_used.to_be_bytes());
        out.extend_from_slice(&self.execution_time_ms.to_be_bytes());
        out.extend_from_slice(&self.started_at.0.to_be_bytes());
        out.extend_from_slice(&self.completed_at.0.to_be_bytes());
        put_short_str(&mut out, &self.worker_id);
        out.extend_from_slice(&self.worker_pubkey);
        out
    }

    /// The exact bytes the worker's Ed25519 key signs.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut m = RECEIPT_DOMAIN.to_vec();
        m.extend_from_slice(&self.encode());
        m
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CoreError> {
        let mut r = Reader::new(bytes, "receipt");
        if r.u8()? != RECEIPT_VERSION {
            return Err(CoreError::Invalid {
                what: "receipt version",
            });
        }
        let job_id = JobId::from_bytes(r.take(16)?.try_into().expect("16"));
        let program_id = ProgramId(r.array32()?);
        let workload_type = r.short_str()?.parse()?;
        let payload_digest = r.array32()?;
        let result_digest = r.array32()?;
        let result_hash = r.array32()?;
        let fuel_used = r.u64()?;
        let execution_time_ms = r.u64()?;
        let started_at = Timestamp(r.u64()?);
        let completed_at = Timestamp(r.u64()?);
        let worker_id = r.short_str()?.to_owned();
        let worker_pubkey = r.array32()?;
        r.finish()?;
        Ok(Receipt {
            job_id,
            program_id,
            workload_type,
            payload_digest,
            result_digest,
            result_hash,
            fuel_used,
            execution_time_ms,
            started_at,
            completed_at,
            worker_id,
            worker_pubkey,
        })
    }
}

/// What is known about a job independently of any worker: the gateway's store knows all of it
/// (but `program_id` only when the program was registered rather than sent inside the sealed
/// payload); the client that sealed the job knows all of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobFacts {
    pub job_id: JobId,
    /// `None` when the program travelled inside the sealed payload and its id is not known to
    /// the checker (the gateway, for a secret program).
    pub program_id: Option<ProgramId>,
    pub workload_type: WorkloadType,
    /// SHA-256(encrypted_key || encrypted_payload).
    pub payload_digest: [u8; 32],
}

/// A receipt field that disagrees with what is known about the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceiptField {
    JobId,
    ProgramId,
    WorkloadType,
    PayloadDigest,
    ResultDigest,
    WorkerId,
}

impl ReceiptField {
    pub const ALL: [ReceiptField; 6] = [
        ReceiptField::JobId,
        ReceiptField::ProgramId,
        ReceiptField::WorkloadType,
        ReceiptField::PayloadDigest,
        ReceiptField::ResultDigest,
        ReceiptField::WorkerId,
    ];
    /// The receipt field's name as in docs/RECEIPT.md (stable: used in error messages and
    /// metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptField::JobId => "job_id",
            ReceiptField::ProgramId => "program_id",
            ReceiptField::WorkloadType => "workload_type",
            ReceiptField::PayloadDigest => "payload_digest",
            ReceiptField::ResultDigest => "result_digest",
            ReceiptField::WorkerId => "worker_id",
        }
    }
}

impl std::fmt::Display for ReceiptField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Receipt {
    /// The first field that misstates the job, if any: the job id, the program (when `facts`
    /// knows it), the workload type and the exact ciphertext that was submitted. Used by the
    /// store at hand-in and by clients against what they sealed (docs/RECEIPT.md §6).
    pub fn mismatch(&self, facts: &JobFacts) -> Option<ReceiptField> {
        if self.job_id != facts.job_id {
            return Some(ReceiptField::JobId);
        }
        if facts.program_id.is_some_and(|p| p != self.program_id) {
            return Some(ReceiptField::ProgramId);
        }
        if self.workload_type != facts.workload_type {
            return Some(ReceiptField::WorkloadType);
        }
        if self.payload_digest != facts.payload_digest {
            return Some(ReceiptField::PayloadDigest);
        }
        None
    }

    /// The check a store runs before accepting a hand-in: [`Receipt::mismatch`], and that the
    /// receipt names the lease holder and signs the exact sealed result handed in with it.
    pub fn check_hand_in(
        &self,
        facts: &JobFacts,
        lease_holder: &str,
        encrypted_result: &[u8],
    ) -> Result<(), ReceiptField> {
        if let Some(f) = self.mismatch(facts) {
            return Err(f);
        }
        if self.worker_id != lease_holder {
            return Err(ReceiptField::WorkerId);
        }
        if sha256(&[encrypted_result]) != self.result_digest {
            return Err(ReceiptField::ResultDigest);
        }
        Ok(())
    }
}

/// Digest helpers shared by workers, gateway and clients.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn put_short_str(out: &mut Vec<u8>, s: &str) {
    let len = u8::try_from(s.len()).expect("short string over 255 bytes");
    out.push(len);
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Receipt {
        Receipt {
            job_id: JobId::from_bytes([1; 16]),
            program_id: ProgramId([2; 32]),
            workload_type: WorkloadType::General,
            payload_digest: [3; 32],
            result_digest: [4; 32],
            result_hash: [5; 32],
            fuel_used: 6,
            execution_time_ms: 7,
            started_at: Timestamp(8),
            completed_at: Timestamp(9),
            worker_id: "w-1".into(),
            worker_pubkey: [10; 32],
        }
    }

    #[test]
    fn encoding_round_trips_and_is_stable() {
        let r = sample();
        let enc = r.encode();
        assert_eq!(Receipt::decode(&enc).unwrap(), r);
        // 1 + 16 + 32 + (1+7) + 32*3 + 8*4 + (1+3) + 32
        assert_eq!(enc.len(), 1 + 16 + 32 + 8 + 96 + 32 + 4 + 32);
        // Snapshot: the digest of the canonical encoding must never change silently.
        assert_eq!(
            hex::encode(sha256(&[&r.signing_message()])),
            SNAPSHOT_SIGNING_MESSAGE_SHA256
        );
    }

    const SNAPSHOT_SIGNING_MESSAGE_SHA256: &str =
        "2f6c53bd07e3146902cb0d9124f63828975e6d7b6de4eda20ca6553d088f5e88";

    #[test]
    fn decode_rejects_trailing_and_truncated() {
        let mut enc = sample().encode();
        enc.push(0);
        assert!(Receipt::decode(&enc).is_err());
        enc.truncate(enc.len() - 2);
        assert!(Receipt::decode(&enc).is_err());
    }

    #[test]
    fn hand_in_check_names_each_misstated_field() {
        let sealed = b"sealed result".to_vec();
        let mut r = sample();
        r.result_digest = sha256(&[&sealed]);
        let facts = JobFacts {
            job_id: r.job_id,
            program_id: Some(r.program_id),
            workload_type: r.workload_type,
            payload_digest: r.payload_digest,
        };
        assert_eq!(r.check_hand_in(&facts, "w-1", &sealed), Ok(()));
        let lie = |f: &dyn Fn(&mut Receipt)| {
            let mut bad = r.clone();
            f(&mut bad);
            bad.check_hand_in(&facts, "w-1", &sealed)
        };
        assert_eq!(
            lie(&|b| b.job_id = JobId::from_bytes([9; 16])),
            Err(ReceiptField::JobId)
        );
        assert_eq!(
            lie(&|b| b.program_id = ProgramId([0; 32])),
            Err(ReceiptField::ProgramId)
        );
        assert_eq!(
            lie(&|b| b.workload_type = WorkloadType::AiInference),
            Err(ReceiptField::WorkloadType)
        );
        assert_eq!(
            lie(&|b| b.payload_digest = [0; 32]),
            Err(ReceiptField::PayloadDigest)
        );
        assert_eq!(
            lie(&|b| b.result_digest = [0; 32]),
            Err(ReceiptField::ResultDigest)
        );
        assert_eq!(
            lie(&|b| b.worker_id = "w-2".into()),
            Err(ReceiptField::WorkerId)
        );
        assert_eq!(
            r.check_hand_in(&facts, "w-1", b"other bytes"),
            Err(ReceiptField::ResultDigest)
        );
        // A secret program's id is unknown to the gateway: any id passes its check, and the
        // client (which knows the module) checks it instead.
        let secret = JobFacts {
            program_id: None,
            ..facts
        };
        let mut other = r.clone();
        other.program_id = ProgramId([0; 32]);
        assert_eq!(other.check_hand_in(&secret, "w-1", &sealed), Ok(()));
        assert_eq!(other.mismatch(&facts), Some(ReceiptField::ProgramId));
    }

    #[test]
    fn result_hash_depends_on_salt() {
        let mut r = ResultPlaintext {
            salt: [0; 32],
            exit_code: 0,
            stdout: b"true".to_vec(),
            stderr: vec![],
        };
        let h1 = result_hash(&r);
        r.salt[0] = 1;
        assert_ne!(h1, result_hash(&r));
    }
}

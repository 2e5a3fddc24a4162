//! Receipt and result verification (docs/RECEIPT.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use vesper_core::{JobId, ProgramId, Receipt, ResultPlaintext, Timestamp, result_hash, sha256};
use vesper_crypto::{X25519SecretKey, open_result, verify_receipt};

use crate::ClientError;

/// The JSON body of `GET /api/result/{job_id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ResultBody {
    pub job_id: String,
    pub status: String,
    pub encrypted_result: String,
    pub execution_proof: ExecutionProof,
    pub completed_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExecutionProof {
    pub version: u8,
    pub job_id: String,
    pub program_id: String,
    pub workload_type: String,
    pub payload_digest: String,
    pub result_digest: String,
    pub result_hash: String,
    pub fuel_used: u64,
    pub execution_time_ms: u64,
    pub started_at: u64,
    pub completed_at: u64,
    pub worker_id: String,
    pub worker_pubkey: String,
    pub worker_signature: String,
}

/// A result whose receipt checked out; `plaintext` is set when a client key was given.
pub struct VerifiedResult {
    pub receipt: Receipt,
    pub plaintext: Option<ResultPlaintext>,
}

fn hex32(s: &str, what: &'static str) -> Result<[u8; 32], ClientError> {
    hex::decode(s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(ClientError::Verify(what))
}

/// Verify a result body: the receipt's signature (Ed25519, strict), that it signs this exact
/// ciphertext and this job, and that its key is one of `trusted_workers`. With `client_key`,
/// also open the result and check the salted `result_hash`.
pub fn verify_result(
    body: &ResultBody,
    trusted_workers: &[[u8; 32]],
    client_key: Option<&X25519SecretKey>,
) -> Result<VerifiedResult, ClientError> {
    let p = &body.execution_proof;
    if p.version != 1 {
        return Err(ClientError::Verify("unknown receipt version"));
    }
    let job_id: JobId = p
        .job_id
        .parse()
        .map_err(|_| ClientError::Verify("job_id"))?;
    if body.job_id != p.job_id {
        return Err(ClientError::Verify("receipt is for another job"));
    }
    let receipt = Receipt {
        job_id,
        program_id: p
            .program_id
            .parse::<ProgramId>()
            .map_err(|_| ClientError::Verify("program_id"))?,
        workload_type: p
            .workload_type
            .parse()
            .map_err(|_| ClientError::Verify("workload_type"))?,
        payload_digest: hex32(&p.payload_digest, "payload_digest")?,
        result_digest: hex32(&p.result_digest, "result_digest")?,
        result_hash: hex32(&p.result_hash, "result_hash")?,
        fuel_used: p.fuel_used,
        execution_time_ms: p.execution_time_ms,
        started_at: Timestamp(p.started_at),
        completed_at: Timestamp(p.completed_at),
        worker_id: p.worker_id.clone(),
        worker_pubkey: hex32(&p.worker_pubkey, "worker_pubkey")?,
    };
    if receipt.worker_id.len() > 255 {
        return Err(ClientError::Verify("worker_id"));
    }
    let sig = hex::decode(&p.worker_signature).map_err(|_| ClientError::Verify("signature"))?;
    verify_receipt(&receipt, &sig).map_err(|_| ClientError::Verify("receipt signature"))?;
    if !trusted_workers.contains(&receipt.worker_pubkey) {
        return Err(ClientError::Verify(
            "receipt signed by a key that is not a pool worker",
        ));
    }
    let sealed = B64
        .decode(&body.encrypted_result)
        .map_err(|_| ClientError::Verify("encrypted_result"))?;
    if sha256(&[&sealed]) != receipt.result_digest {
        return Err(ClientError::Verify(
            "encrypted_result does not match the receipt",
        ));
    }
    let plaintext = match client_key {
        None => None,
        Some(sk) => {
            let pt = open_result(sk, &job_id, &receipt.payload_digest, &sealed)
                .map_err(|_| ClientError::Verify("result could not be opened with this key"))?;
            let result = ResultPlaintext::decode(&pt).map_err(|_| ClientError::Verify("result"))?;
            if result_hash(&result) != receipt.result_hash {
                return Err(ClientError::Verify("result_hash does not match the result"));
            }
            Some(result)
        }
    };
    Ok(VerifiedResult { receipt, plaintext })
}

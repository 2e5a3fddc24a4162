//! Receipt and result verification (docs/RECEIPT.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use vesper_core::{
    JobFacts, JobId, ProgramId, Receipt, ReceiptField, ResultPlaintext, Timestamp, result_hash,
    sha256,
};
use vesper_crypto::{X25519SecretKey, open_result, verify_receipt};

use crate::ClientError;

/// The JSON body of `GET /api/result/{job_id}`.
pub type ResultBody = vesper_api::ResultResponse;

/// A result whose receipt checked out; `plaintext` is set when a client key was given.
pub struct VerifiedResult {
    pub receipt: Receipt,
    pub plaintext: Option<ResultPlaintext>,
    /// Receipt fields that could not be checked against the submission because none was
    /// given (`program_id`, `workload_type`, `payload_digest`); empty when it was.
    pub unchecked: Vec<ReceiptField>,
}

/// 64 lowercase hex digits: receipts have one spelling (docs/RECEIPT.md).
fn hex32(s: &str, what: &'static str) -> Result<[u8; 32], ClientError> {
    let mut out = [0u8; 32];
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ClientError::Verify(what));
    }
    hex::decode_to_slice(s, &mut out).map_err(|_| ClientError::Verify(what))?;
    Ok(out)
}

/// Verify a result body: the receipt's signature (Ed25519, strict), that it signs this exact
/// ciphertext and this job, and that its key is one of `trusted_workers`. With `expected`
/// (what the client sealed: [`crate::SealedJob::facts`]), also that the receipt states that
/// job's program, workload type and ciphertext; without it, those fields are listed in
/// [`VerifiedResult::unchecked`]. With `client_key`, also open the result and check the
/// salted `result_hash`.
pub fn verify_result(
    body: &ResultBody,
    trusted_workers: &[[u8; 32]],
    client_key: Option<&X25519SecretKey>,
    expected: Option<&JobFacts>,
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
    if p.worker_signature.len() != 128
        || !p
            .worker_signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ClientError::Verify("signature"));
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
    let unchecked = match expected {
        Some(facts) => {
            if let Some(field) = receipt.mismatch(facts) {
                return Err(ClientError::Mismatch(field));
            }
            Vec::new()
        }
        None => vec![
            ReceiptField::ProgramId,
            ReceiptField::WorkloadType,
            ReceiptField::PayloadDigest,
        ],
    };
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
    Ok(VerifiedResult {
        receipt,
        plaintext,
        unchecked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/RECEIPT.md §8 with docs/ENVELOPE.md §5.1: computed by the independent Python
    /// reference; the signature is deterministic (RFC 8032), so it must match to the byte.
    #[test]
    fn documented_receipt_vector_verifies_and_reproduces() {
        let body: ResultBody = serde_json::from_str(
            r#"{"job_id":"6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b","status":"completed",
            "encrypted_result":"3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08RRfRo87Lbc2rGH6JaBL2n5cLnI4PoBcYzUFWei6lw9+msRKQiYGqWSpHtCMyb5GY7qaqu9XfVrMwvvRWfV3f/Nxj/",
            "completed_at":"2026-01-01T00:00:00.003Z",
            "execution_proof":{"version":1,"job_id":"6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
            "program_id":"93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476",
            "workload_type":"general",
            "payload_digest":"f784bb74535945237513431f3c5aec0ee5eef70d7a7f779f06e25d1e06a3208a",
            "result_digest":"fe0486cda4aa455278aa14928e10bb1dc40c766fde1454b05879ffe0417e0118",
            "result_hash":"2611e131df8416ed379dd674eeac65fefc04f52dd99f2b87cb207628eeb769b1",
            "fuel_used":12345,"execution_time_ms":3,"started_at":1767225600000,
            "completed_at":1767225600003,"worker_id":"w-1",
            "worker_pubkey":"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "worker_signature":"824dcaf489c685bafc953f13cac496e2eab0b9299883b3d6331c9576a747ea9a1454d3f8f70d2ec9b58b1efa62746aa2c174f15a0c8a779034fa0b75d779f70b"}}"#,
        )
        .unwrap();
        let worker_sk =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap();
        let worker = vesper_crypto::SigningIdentity::from_bytes(&worker_sk).unwrap();
        let client = X25519SecretKey::from_bytes(
            &hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap(),
        )
        .unwrap();
        let v = verify_result(&body, &[worker.public_key().0], Some(&client), None).unwrap();
        assert_eq!(
            v.unchecked,
            [
                ReceiptField::ProgramId,
                ReceiptField::WorkloadType,
                ReceiptField::PayloadDigest
            ]
        );
        // Against the submission it describes: every field checked.
        let facts = JobFacts {
            job_id: v.receipt.job_id,
            program_id: Some(v.receipt.program_id),
            workload_type: v.receipt.workload_type,
            payload_digest: v.receipt.payload_digest,
        };
        let checked =
            verify_result(&body, &[worker.public_key().0], Some(&client), Some(&facts)).unwrap();
        assert!(checked.unchecked.is_empty());
        // A genuine receipt about another program is refused when the client knows better.
        let other = JobFacts {
            program_id: Some(ProgramId([0; 32])),
            ..facts
        };
        assert!(matches!(
            verify_result(&body, &[worker.public_key().0], Some(&client), Some(&other)),
            Err(ClientError::Mismatch(ReceiptField::ProgramId))
        ));
        // One spelling: the same receipt with uppercase hex is not verified.
        let mut upper = body.clone();
        upper.execution_proof.program_id = upper.execution_proof.program_id.to_uppercase();
        assert!(verify_result(&upper, &[worker.public_key().0], Some(&client), None).is_err());
        assert_eq!(v.plaintext.unwrap().stdout, b"84\n");
        assert_eq!(
            hex::encode(worker.sign_receipt(&v.receipt)),
            body.execution_proof.worker_signature
        );
        assert_eq!(v.receipt.encode().len(), 221);
    }
}

//! Rust client for the Vesper API: seals workloads locally, talks HTTP to a gateway, opens
//! results and verifies receipts. Used by the `vesper` CLI, the benchmark and the tests.
//!
//! **Invariant:** plaintext workloads and results exist only in the caller's memory here;
//! only sealed envelopes go over the wire.

mod verify;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use thiserror::Error;
use vesper_core::{
    JobId, KEYSET_DOMAIN, KeyId, KeySet, ProgramId, WorkloadPlaintext, WorkloadProgram,
    WorkloadType,
};
use vesper_crypto::{JobMetadata, X25519PublicKey, seal_workload};

pub use verify::{ResultBody, VerifiedResult, verify_result};
use vesper_api::workers::KeyGrantBody;
pub use vesper_api::{
    ApiErrorCode, ExecutionProof, ProveBody, StatusResponse, SubmitRequest, SubmitResponse,
};
use vesper_api::{
    BatchRequest, BatchResponse, ErrorBody, KeysResponse, ProgramResponse, StatusEvent,
};
pub use vesper_core::{JobFacts, ReceiptField};

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("cannot reach the gateway: {0}")]
    Http(#[from] reqwest::Error),
    #[error("gateway answered {status}: {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        job_status: Option<String>,
        /// The job the error is about, where the gateway names one (`idempotency_conflict`
        /// names the job the key already belongs to).
        job_id: Option<String>,
    },
    #[error("verification failed: {0}")]
    Verify(&'static str),
    /// The receipt is genuine but misstates the job the client submitted.
    #[error("verification failed: the receipt's {0} does not match the job you submitted")]
    Mismatch(vesper_core::ReceiptField),
    #[error("crypto error: {0}")]
    Crypto(#[from] vesper_crypto::CryptoError),
    #[error("malformed gateway response: {0}")]
    Malformed(&'static str),
}

impl ClientError {
    pub fn api_code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The gateway's error code, typed; `None` for other errors and for codes this client
    /// does not know (a newer gateway's).
    pub fn api_error_code(&self) -> Option<ApiErrorCode> {
        self.api_code().and_then(ApiErrorCode::parse)
    }
}

/// Why a job failed, as `StatusResponse::error` states it.
pub type JobError = vesper_api::ErrorInfo;
/// A page of `GET /api/jobs`.
pub type JobList = vesper_api::JobListResponse;

/// What to run: a registered program (by id) or a secret module carried in the payload.
pub enum Program {
    Registered(ProgramId),
    Inline(Vec<u8>),
}

/// A sealed job, ready to submit, and what its client must remember to check the receipt:
/// the program it runs (also a secret one, whose id the gateway never learns).
#[derive(Debug, Clone)]
pub struct SealedJob {
    pub request: SubmitRequest,
    pub program_id: ProgramId,
    pub workload_type: WorkloadType,
    /// SHA-256(encrypted_key || encrypted_payload): names the exact ciphertext.
    pub payload_digest: [u8; 32],
}

impl SealedJob {
    /// What the receipt of job `job_id` (this job, once accepted) must state; pass it to
    /// [`verify_result`].
    pub fn facts(&self, job_id: JobId) -> JobFacts {
        JobFacts {
            job_id,
            program_id: Some(self.program_id),
            workload_type: self.workload_type,
            payload_digest: self.payload_digest,
        }
    }
}

/// SHA-256(encrypted_key || encrypted_payload) of a request's envelope, as receipts state it
/// (docs/RECEIPT.md); `None` when its base64 does not decode.
pub fn payload_digest(req: &SubmitRequest) -> Option<[u8; 32]> {
    let enc = B64.decode(&req.encrypted_key).ok()?;
    let ct = B64.decode(&req.encrypted_payload).ok()?;
    Some(vesper_core::sha256(&[&enc, &ct]))
}

/// Seal `input` for the pool key and build the submit request. Pure: no network.
pub fn seal_job(
    pool_key: &X25519PublicKey,
    client_key: &X25519PublicKey,
    workload_type: WorkloadType,
    program: Program,
    input: Vec<u8>,
    priority: Option<u8>,
) -> Result<SealedJob, ClientError> {
    let (program_id, sealed_id, wl_program) = match program {
        Program::Registered(id) => (Some(id), id, WorkloadProgram::Registry),
        Program::Inline(m) => (None, ProgramId::of_module(&m), WorkloadProgram::Inline(m)),
    };
    let meta = JobMetadata {
        workload_type,
        program_id,
        client_pubkey: *client_key,
        key_id: pool_key.key_id(),
    };
    let plaintext = zeroize::Zeroizing::new(
        WorkloadPlaintext {
            program: wl_program,
            input,
        }
        .encode(),
    );
    let (enc, ct) = seal_workload(pool_key, &meta, &plaintext)?;
    let payload_digest = vesper_core::sha256(&[&enc, &ct]);
    Ok(SealedJob {
        request: SubmitRequest {
            encrypted_payload: B64.encode(ct),
            encrypted_key: B64.encode(enc),
            client_pubkey: B64.encode(client_key.as_bytes()),
            workload_type: workload_type.as_str().to_owned(),
            key_id: meta.key_id.to_string(),
            program_id: program_id.map(|p| p.to_string()),
            priority: priority.map(i64::from),
            callback_url: None,
            max_fuel: None,
            max_retries: None,
        },
        program_id: sealed_id,
        workload_type,
        payload_digest,
    })
}

/// The gateway's published keys, after checking the gateway's signature over them.
#[derive(Debug, Clone)]
pub struct Keys {
    pub gateway_key: [u8; 32],
    pub pool_keys: Vec<(KeyId, X25519PublicKey)>,
    pub worker_keys: Vec<(String, [u8; 32])>,
}

#[derive(Clone)]
pub struct Client {
    base: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, api_key: Option<String>) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            api_key,
            http,
        })
    }

    /// The gateway's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, format!("{}{}", self.base, path));
        match &self.api_key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    }

    async fn parse<T: for<'de> Deserialize<'de>>(
        resp: reqwest::Response,
    ) -> Result<T, ClientError> {
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| ClientError::Malformed("body"));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(ClientError::Api {
                status: status.as_u16(),
                code: e.error.code,
                message: e.error.message,
                job_status: e.job_status,
                job_id: e.job_id,
            }),
            Err(_) => Err(ClientError::Api {
                status: status.as_u16(),
                code: "unknown".into(),
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                job_status: None,
                job_id: None,
            }),
        }
    }

    /// Pass a 2xx response through; turn anything else into its typed API error.
    async fn success(resp: reqwest::Response) -> Result<reqwest::Response, ClientError> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(Self::parse::<serde_json::Value>(resp)
            .await
            .err()
            .unwrap_or(ClientError::Malformed("error body")))
    }

    /// `GET /api/admin/key-requests`: remote workers waiting for the pool keys (admin).
    pub async fn key_requests(&self) -> Result<serde_json::Value, ClientError> {
        Self::parse(
            self.req(reqwest::Method::GET, "/api/admin/key-requests")
                .send()
                .await?,
        )
        .await
    }

    /// `POST /api/admin/key-grants`: leave a grant sealed to one pending request (admin).
    pub async fn grant_key(
        &self,
        peer_id: &str,
        kx_pubkey: &str,
        sealed: &[u8],
        key_ids: &[String],
    ) -> Result<(), ClientError> {
        let body = KeyGrantBody {
            peer_id: peer_id.to_owned(),
            kx_pubkey: kx_pubkey.to_owned(),
            sealed: B64.encode(sealed),
            key_ids: key_ids.to_vec(),
        };
        Self::success(
            self.req(reqwest::Method::POST, "/api/admin/key-grants")
                .json(&body)
                .send()
                .await?,
        )
        .await
        .map(|_| ())
    }

    /// `GET /api/workers`: the pool's workers (capabilities, load, reputation, liveness).
    pub async fn workers(&self) -> Result<serde_json::Value, ClientError> {
        Self::parse(
            self.req(reqwest::Method::GET, "/api/workers")
                .send()
                .await?,
        )
        .await
    }

    pub async fn health(&self) -> Result<serde_json::Value, ClientError> {
        Self::parse(self.req(reqwest::Method::GET, "/health").send().await?).await
    }

    /// Fetch `GET /api/keys` and check the gateway's signature over the key list. If
    /// `pinned_gateway` is given, the list must be signed by that key.
    pub async fn keys(&self, pinned_gateway: Option<[u8; 32]>) -> Result<Keys, ClientError> {
        let body: KeysResponse =
            Self::parse(self.req(reqwest::Method::GET, "/api/keys").send().await?).await?;
        let bad = ClientError::Malformed("keys");
        let gateway_key: [u8; 32] = vesper_core::hex_array(&body.gateway_key)
            .ok_or(ClientError::Malformed("gateway_key"))?;
        if pinned_gateway.is_some_and(|p| p != gateway_key) {
            return Err(ClientError::Verify(
                "key list signed by an unexpected gateway key",
            ));
        }
        let mut set = KeySet::default();
        let mut pool_keys = Vec::new();
        for k in &body.pool_keys {
            let raw = B64
                .decode(&k.public_key)
                .map_err(|_| ClientError::Malformed("pool key"))?;
            let pk = X25519PublicKey::from_bytes(&raw)?;
            set.pool_keys.push(*pk.as_bytes());
            pool_keys.push((pk.key_id(), pk));
        }
        for w in &body.worker_keys {
            let k: [u8; 32] = vesper_core::hex_array(&w.public_key)
                .ok_or(ClientError::Malformed("worker key"))?;
            set.worker_keys.push((w.worker_id.clone(), k));
        }
        let sig = vesper_core::hex_lower(&body.signature).ok_or(bad)?;
        vesper_crypto::verify_signature(&gateway_key, KEYSET_DOMAIN, &set.encode(), &sig)
            .map_err(|_| ClientError::Verify("key list signature"))?;
        Ok(Keys {
            gateway_key,
            pool_keys,
            worker_keys: set.worker_keys,
        })
    }

    pub async fn upload_program(&self, module: Vec<u8>) -> Result<ProgramId, ClientError> {
        let r: ProgramResponse = Self::parse(
            self.req(reqwest::Method::POST, "/api/programs")
                .header("content-type", "application/wasm")
                .body(module)
                .send()
                .await?,
        )
        .await?;
        r.program_id
            .parse()
            .map_err(|_| ClientError::Malformed("program_id"))
    }

    pub async fn submit(
        &self,
        req: &SubmitRequest,
        idempotency_key: Option<&str>,
    ) -> Result<SubmitResponse, ClientError> {
        let mut r = self.req(reqwest::Method::POST, "/api/submit").json(req);
        if let Some(k) = idempotency_key {
            r = r.header("idempotency-key", k);
        }
        Self::parse(r.send().await?).await
    }

    /// `POST /api/submit/batch`: all jobs stored or none. Job `i` gets idempotency key
    /// `"{key}#{i}"` when `idempotency_key` is given.
    pub async fn submit_batch(
        &self,
        reqs: &[SubmitRequest],
        idempotency_key: Option<&str>,
    ) -> Result<Vec<SubmitResponse>, ClientError> {
        let mut r = self
            .req(reqwest::Method::POST, "/api/submit/batch")
            .json(&BatchRequest::new(reqs));
        if let Some(k) = idempotency_key {
            r = r.header("idempotency-key", k);
        }
        Ok(Self::parse::<BatchResponse>(r.send().await?).await?.jobs)
    }

    /// `GET /api/jobs`: one page of the tenant's jobs, newest first.
    pub async fn list_jobs(
        &self,
        status: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<JobList, ClientError> {
        let mut q: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(s) = status {
            q.push(("status", s.to_owned()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        Self::parse(
            self.req(reqwest::Method::GET, "/api/jobs")
                .query(&q)
                .send()
                .await?,
        )
        .await
    }

    pub async fn status(&self, job: &str, wait_secs: u64) -> Result<StatusResponse, ClientError> {
        Self::parse(
            self.req(
                reqwest::Method::GET,
                &format!("/api/status/{job}?wait={wait_secs}"),
            )
            .send()
            .await?,
        )
        .await
    }

    /// `GET /api/result/{job}`: the raw JSON body (for `vesper verify`) and its parsed form.
    pub async fn result(
        &self,
        job: &str,
        wait_secs: u64,
    ) -> Result<(String, ResultBody), ClientError> {
        let resp = self
            .req(
                reqwest::Method::GET,
                &format!("/api/result/{job}?wait={wait_secs}"),
            )
            .send()
            .await?;
        let resp = Self::success(resp).await?;
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).map_err(|_| ClientError::Malformed("result"))?;
        Ok((text, body))
    }

    /// Follow the job's live status stream (`GET /api/events?job_id=`, Server-Sent Events)
    /// until it reaches a terminal status, which is returned. `on_status` sees every status.
    /// An error means the stream could not be used; callers fall back to polling.
    pub async fn follow(
        &self,
        job: &str,
        mut on_status: impl FnMut(&str),
    ) -> Result<String, ClientError> {
        const MAX_EVENT: usize = 64 * 1024;
        let resp = self
            .req(reqwest::Method::GET, &format!("/api/events?job_id={job}"))
            .header("accept", "text/event-stream")
            .timeout(Duration::from_secs(3600))
            .send()
            .await?;
        let mut resp = Self::success(resp).await?;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            buf.extend_from_slice(&chunk);
            while let Some(end) = find_event_end(&buf) {
                let block: Vec<u8> = buf.drain(..end).collect();
                let (event, data) = parse_sse_block(&String::from_utf8_lossy(&block));
                let status = match event.as_deref() {
                    Some("status") => {
                        serde_json::from_str::<StatusEvent>(&data)
                            .map_err(|_| ClientError::Malformed("status event"))?
                            .status
                    }
                    // The stream fell behind: ask directly.
                    Some("resync") => self.status(job, 0).await?.status,
                    _ => continue,
                };
                on_status(&status);
                if matches!(status.as_str(), "completed" | "failed" | "cancelled") {
                    return Ok(status);
                }
            }
            if buf.len() > MAX_EVENT {
                return Err(ClientError::Malformed("event stream"));
            }
        }
        Err(ClientError::Malformed("event stream ended early"))
    }

    pub async fn cancel(&self, job: &str) -> Result<StatusResponse, ClientError> {
        Self::parse(
            self.req(reqwest::Method::DELETE, &format!("/api/jobs/{job}"))
                .send()
                .await?,
        )
        .await
    }
}

/// Index just past the first complete SSE event (blank-line terminated) in `buf`.
fn find_event_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}

/// The `event:` name and joined `data:` lines of one SSE block (comments ignored).
fn parse_sse_block(block: &str) -> (Option<String>, String) {
    let mut event = None;
    let mut data = Vec::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
        }
    }
    (event, data.join("\n"))
}

#[cfg(test)]
mod sse_tests {
    use super::*;

    #[test]
    fn parses_blocks_and_ignores_comments() {
        let buf = b": keep-alive\n\nevent: status\ndata: {\"status\":\"queued\"}\n\nevent: st";
        let end = find_event_end(buf).unwrap();
        assert_eq!(
            parse_sse_block(std::str::from_utf8(&buf[..end]).unwrap()).0,
            None
        );
        let rest = &buf[end..];
        let end2 = find_event_end(rest).unwrap();
        let (ev, data) = parse_sse_block(std::str::from_utf8(&rest[..end2]).unwrap());
        assert_eq!(ev.as_deref(), Some("status"));
        assert_eq!(data, "{\"status\":\"queued\"}");
        assert!(find_event_end(&rest[end2..]).is_none());
    }
}
mod zk;

//! Proof-gated routes (the seed's ExtAuth, docs/DSL.md §10): a request to a gated path must
//! carry a valid Groth16 proof for a named deployment whose `binding` public input binds this
//! very request (method, path and query, a timestamp and a nonce, the image id), whose public
//! parameters are what the gate requires, and whose nonce was never seen.
//!
//! Headers: `X-Vesper-Proof` (hex of the 128-byte proof), `X-Vesper-Proof-Inputs` (the public
//! inputs, decimal, comma-separated), `X-Vesper-Proof-Timestamp` (unix seconds),
//! `X-Vesper-Proof-Nonce` (16–64 of `A–Z a–z 0–9 _ -`).
//!
//! Gates apply to Vesper's own routes by configuration ([`enforce`], a middleware), and to any
//! route behind a proxy through `GET /api/authz`, an authorization service for nginx's
//! `auth_request` (the original method and URI in `X-Original-Method` / `X-Original-URI`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vesper_api::{ApiErrorCode, ErrorBody};
use vesper_core::Timestamp;

use crate::openapi::TooManyRequests;
use crate::{ApiError, Gateway};

/// A gated path and what a proof for it must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofGate {
    /// The path (without query), exact, or a prefix when it ends with `*`.
    pub path: String,
    /// The tenant whose deployment proves access, and its customer id (its current version).
    pub tenant: String,
    pub customer_id: String,
    /// Public inputs the proof must state, by name (`public_params.min_age`) → decimal value.
    pub require: Vec<(String, String)>,
}

impl ProofGate {
    fn matches(&self, path: &str) -> bool {
        match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.path,
        }
    }
}

/// How far a proof's timestamp may be from the gateway's clock, seconds.
pub const GATE_WINDOW_SECS: u64 = 300;

fn refuse(code: ApiErrorCode, message: &str) -> ApiError {
    ApiError::new(code, message.to_owned())
}

fn header<'a>(h: &'a HeaderMap, name: &str, max: usize) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= max)
}

/// Check a request against the gates: `Ok` when no gate covers `target`'s path, or when the
/// proof holds. `target` is the path with its query, as sent.
pub async fn check(
    gw: &Gateway,
    method: &str,
    target: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let path = target.split('?').next().unwrap_or(target);
    let Some(gate) = gw.config.proof_gates.iter().find(|g| g.matches(path)) else {
        return Ok(());
    };
    let invalid = |why: &str| refuse(ApiErrorCode::ProofInvalid, why);
    let (Some(proof), Some(inputs), Some(ts), Some(nonce)) = (
        header(headers, "x-vesper-proof", 512),
        header(headers, "x-vesper-proof-inputs", 8192),
        header(headers, "x-vesper-proof-timestamp", 20),
        header(headers, "x-vesper-proof-nonce", 64),
    ) else {
        return Err(refuse(
            ApiErrorCode::ProofRequired,
            "this route needs a proof: the X-Vesper-Proof, -Inputs, -Timestamp and -Nonce headers",
        ));
    };
    if nonce.len() < 16
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid("the nonce is 16-64 characters of [A-Za-z0-9_-]"));
    }
    let ts: u64 = ts
        .parse()
        .map_err(|_| invalid("the timestamp is unix seconds"))?;
    let now = gw.clock.now();
    if (ts.saturating_mul(1000)).abs_diff(now.0) > GATE_WINDOW_SECS * 1000 {
        return Err(invalid(
            "the proof's timestamp is outside the gateway's window",
        ));
    }
    let proof = vesper_core::hex_lower(proof)
        .and_then(|b| vesper_zk::groth::proof_from_bytes(&b))
        .ok_or_else(|| invalid("malformed proof"))?;
    let public = inputs
        .split(',')
        .take(65)
        .map(|s| vesper_zk::field::parse(s.trim()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| invalid("malformed public inputs"))?;
    // The deployment that opens this gate, now.
    let tenant = gw
        .store
        .find_tenant(&gate.tenant)
        .await?
        .ok_or_else(|| invalid("the gate's deployment does not exist"))?;
    let d = gw
        .store
        .deployment(tenant, &gate.customer_id)
        .await?
        .ok_or_else(|| invalid("the gate's deployment does not exist"))?;
    let doc: serde_json::Value = serde_json::from_str(&d.program)
        .map_err(|_| invalid("the gate's deployment is unreadable"))?;
    let program =
        vesper_zk::dsl::parse(&doc).map_err(|_| invalid("the gate's deployment is unreadable"))?;
    let mut names: Vec<String> = program
        .public_inputs()
        .map(|(_, i)| i.path.clone())
        .collect();
    names.extend(program.outputs.iter().map(|(n, _)| format!("outputs.{n}")));
    names.push("binding".into());
    if public.len() != names.len() {
        return Err(invalid(
            "wrong number of public inputs for the gate's program",
        ));
    }
    // Bound to this request.
    if public[public.len() - 1]
        != vesper_zk::groth::gate_binding(method, target, ts, nonce, &d.image_id)
    {
        return Err(invalid("the proof is not bound to this request"));
    }
    // States what the gate requires: its parameters, every output true, today's date.
    for (name, want) in &gate.require {
        let at = names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| invalid("the gate requires an input the program does not have"))?;
        if Some(public[at]) != vesper_zk::field::parse(want) {
            return Err(invalid(
                "the proof states other public values than the gate requires",
            ));
        }
    }
    for (i, n) in names.iter().enumerate() {
        if n.starts_with("outputs.") && public[i] != vesper_zk::field::from_i128(1) {
            return Err(invalid("an output of the proof is false"));
        }
    }
    let day = |ms: u64| vesper_zk::dsl::civil_from_days((ms / 86_400_000) as i64);
    let days = [
        day(now.0.saturating_sub(86_400_000)),
        day(now.0),
        day(now.0 + 86_400_000),
    ];
    for (i, input) in program.public_inputs().map(|(_, x)| x).enumerate() {
        if input.default_today
            && !days
                .iter()
                .any(|d| public[i] == vesper_zk::field::from_i128(*d as i128))
        {
            return Err(invalid("the proof's `today` is not the gateway's date"));
        }
    }
    let vk_json: serde_json::Value = serde_json::from_str(&d.verifying_key)
        .map_err(|_| invalid("the gate's deployment is unreadable"))?;
    let vk = vesper_zk::export::vk_from_json(&vk_json)
        .map_err(|_| invalid("the gate's deployment is unreadable"))?;
    let valid = tokio::task::spawn_blocking(move || {
        vesper_zk::groth::verify(&vesper_zk::groth::prepare(&vk), &public, &proof)
    })
    .await
    .map_err(|_| ApiError::new(ApiErrorCode::Internal, "internal error"))?;
    if !valid {
        return Err(invalid("the proof does not verify"));
    }
    // Only now the nonce (an invalid proof cannot use up someone's nonces).
    let key = vesper_core::sha256(&[
        b"vesper/v1/proof-gate-nonce\0",
        d.image_id.as_bytes(),
        b"\n",
        nonce.as_bytes(),
    ]);
    let expires = Timestamp((ts + GATE_WINDOW_SECS) * 1000);
    if !gw.store.remember_nonce(key, expires, now).await? {
        return Err(refuse(
            ApiErrorCode::ProofReplayed,
            "this proof's nonce was used before",
        ));
    }
    tracing::info!(customer_id = %gate.customer_id, path, "proof gate passed");
    Ok(())
}

/// Middleware: the gates on Vesper's own routes.
pub async fn enforce(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    if gw.config.proof_gates.is_empty() {
        return next.run(req).await;
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    match check(&gw, req.method().as_str(), &target, req.headers()).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// An authorization service for a proxy (nginx `auth_request`): 204 when the original request
/// (`X-Original-Method`, `X-Original-URI`) may pass the gates, 401 otherwise.
#[utoipa::path(
    get,
    path = "/api/authz",
    operation_id = "authz",
    tag = "proofs",
    params(
        ("X-Original-Method" = String, Header, description = "The method of the request the proxy asks about"),
        ("X-Original-URI" = String, Header, description = "Its path and query, as sent"),
    ),
    responses(
        (status = 204, description = "The request may pass (no gate covers it, or its proof holds)"),
        (status = 400, description = "`bad_request`: the X-Original-* headers are missing", body = ErrorBody),
        (status = 401, description = "`proof_required`, `proof_invalid`, `proof_replayed`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
    ),
)]
pub(crate) async fn authz(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (Some(method), Some(uri)) = (
        header(&headers, "x-original-method", 16),
        header(&headers, "x-original-uri", 8192),
    ) else {
        return Err(ApiError::new(
            ApiErrorCode::BadRequest,
            "X-Original-Method and X-Original-URI are required",
        ));
    };
    if !uri.starts_with('/') {
        return Err(ApiError::new(
            ApiErrorCode::BadRequest,
            "X-Original-URI is a path",
        ));
    }
    check(&gw, method, uri, &headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

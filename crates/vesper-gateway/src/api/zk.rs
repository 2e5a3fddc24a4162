//! The proof gateway (seed 004, docs/DSL.md): validate, compile and deploy rule programs,
//! the deployment registry (tenant-scoped), and verification of proofs.
//!
//! Compiling and key setup are CPU work a stranger's document controls: they run on the
//! blocking pool, at most [`ZK_CONCURRENCY`] at once (`429 compiler_busy` beyond), on
//! circuits of at most [`MAX_CONSTRAINTS`] constraints.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use vesper_api::ApiErrorCode;
use vesper_core::{Scope, Timestamp};
use vesper_store::{DeploymentRecord, NewDeployment, StoreError};
use vesper_zk::groth::{self, CompileError, Compiled};

use super::ApiJson;
use crate::auth::Caller;
use crate::dto::*;
use crate::openapi::{Forbidden, TooManyRequests, Unauthorized, Unavailable};
use crate::{ApiError, Gateway};

/// Compilations and key setups running at once.
pub const ZK_CONCURRENCY: usize = 2;
/// The largest circuit the gateway compiles and sets up.
pub const MAX_CONSTRAINTS: usize = 1 << 18;
/// The largest `metadata` kept with a deployment, bytes of JSON.
const MAX_METADATA: usize = 4096;

fn not_found() -> ApiError {
    ApiError::new(ApiErrorCode::DeploymentNotFound, "no such deployment")
}

fn valid_customer_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A customer id in a request body: `400 invalid_customer_id` unless valid.
fn check_customer_id(s: &str) -> Result<(), ApiError> {
    if valid_customer_id(s) {
        Ok(())
    } else {
        Err(ApiError::new(
            ApiErrorCode::InvalidCustomerId,
            "a customer id is 1-128 characters of [A-Za-z0-9._-]",
        ))
    }
}

fn dsl_error(errors: &[vesper_zk::dsl::DslError]) -> ApiError {
    let shown: Vec<String> = errors
        .iter()
        .take(5)
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect();
    let more = if errors.len() > 5 {
        format!(
            "; and {} more (POST /api/validate lists all)",
            errors.len() - 5
        )
    } else {
        String::new()
    };
    ApiError::new(
        ApiErrorCode::InvalidDsl,
        format!("{}{more}", shown.join("; ")),
    )
}

/// Run `f` on the blocking pool under the compiler's concurrency limit.
async fn cpu<T: Send + 'static>(
    gw: &Gateway,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let permit = gw.zk_permits.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            ApiErrorCode::CompilerBusy,
            "the compiler is busy; retry in a few seconds",
        )
    })?;
    let out = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    })
    .await
    .map_err(|_| ApiError::new(ApiErrorCode::Internal, "internal error"))?;
    Ok(out)
}

fn compiled(r: Result<Compiled, CompileError>) -> Result<Compiled, ApiError> {
    match r {
        Ok(c) if c.constraints > MAX_CONSTRAINTS => Err(ApiError::new(
            ApiErrorCode::InvalidDsl,
            format!(
                "the circuit has {} constraints; at most {MAX_CONSTRAINTS}",
                c.constraints
            ),
        )),
        Ok(c) => Ok(c),
        Err(CompileError::Dsl(errors)) => Err(dsl_error(&errors)),
        Err(e) => Err(ApiError::new(ApiErrorCode::InvalidDsl, e.to_string())),
    }
}

/// Check every rule of a DSL document; lists every error with its JSON path.
#[utoipa::path(
    post,
    path = "/api/validate",
    operation_id = "zk_validate",
    tag = "proofs",
    request_body = DslBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "Whether the document is valid, and every error", body = ValidateResponse),
        (status = 400, description = "`invalid_json`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
    ),
)]
pub(crate) async fn validate(
    caller: Caller,
    ApiJson(body, _): ApiJson<DslBody>,
) -> Result<Json<ValidateResponse>, ApiError> {
    caller.need(Scope::Read)?;
    let errors = match vesper_zk::dsl::parse(&body.dsl) {
        Ok(_) => Vec::new(),
        Err(errs) => errs
            .into_iter()
            .map(|e| DslErrorDto {
                path: e.path,
                message: e.message,
            })
            .collect(),
    };
    Ok(Json(ValidateResponse {
        valid: errors.is_empty(),
        errors,
    }))
}

/// Compile a DSL document: the circuit's size and public inputs, without keys.
#[utoipa::path(
    post,
    path = "/api/compile",
    operation_id = "zk_compile",
    tag = "proofs",
    request_body = DslBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The circuit", body = CompileResponse),
        (status = 400, description = "`invalid_json`, `invalid_dsl` (the first errors, with their paths)", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, description = "`compiler_busy`, or a rate limit", body = ErrorBody),
    ),
)]
pub(crate) async fn compile(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<DslBody>,
) -> Result<Json<CompileResponse>, ApiError> {
    caller.need(Scope::Read)?;
    let c = compiled(cpu(&gw, move || groth::compile(&body.dsl)).await?)?;
    Ok(Json(CompileResponse {
        use_case: c.program.use_case.clone(),
        constraints: c.constraints as u64,
        witnesses: c.witnesses as u64,
        circuit_id: groth::circuit_id(&c),
        public_inputs: c.public_inputs,
    }))
}

fn metadata_text(m: Option<Value>) -> Result<String, ApiError> {
    let text = m.unwrap_or(Value::Object(Default::default())).to_string();
    if text.len() > MAX_METADATA {
        return Err(ApiError::new(
            ApiErrorCode::InvalidJson,
            format!("metadata: at most {MAX_METADATA} bytes of JSON"),
        ));
    }
    Ok(text)
}

/// Compile, make keys and register a version.
async fn register(
    gw: &Gateway,
    caller: &Caller,
    customer_id: String,
    dsl: Value,
    metadata: String,
) -> Result<(DeploymentRecord, Compiled), ApiError> {
    register_with(gw, caller, customer_id, dsl, metadata, None).await
}

/// Compile, make keys (or take `keys`, checked against the circuit) and register a version.
async fn register_with(
    gw: &Gateway,
    caller: &Caller,
    customer_id: String,
    dsl: Value,
    metadata: String,
    keys: Option<Vec<u8>>,
) -> Result<(DeploymentRecord, Compiled), ApiError> {
    let (c, keys) = cpu(gw, move || {
        let c = compiled(groth::compile(&dsl))?;
        let keys = match keys {
            None => groth::setup(&c)
                .map_err(|e| ApiError::new(ApiErrorCode::InvalidDsl, e.to_string()))?,
            Some(bytes) => {
                let bad = || {
                    ApiError::new(
                        ApiErrorCode::InvalidKeys,
                        "proving_key: not a Groth16 BN254 proving key for this program's circuit",
                    )
                };
                let keys = groth::Keys::from_bytes(&bytes).ok_or_else(bad)?;
                if !groth::check_proving_key(&c, &keys.pk) {
                    return Err(bad());
                }
                keys
            }
        };
        Ok::<_, ApiError>((c, keys))
    })
    .await??;
    let image_id = groth::image_id(&c, keys.vk());
    let record = gw
        .store
        .put_deployment(NewDeployment {
            tenant: caller.0.tenant,
            customer_id,
            image_id,
            program: c.canonical.clone(),
            verifying_key: vesper_zk::export::vk_json(keys.vk()).to_string(),
            proving_key: keys.to_bytes(),
            metadata,
            constraints: c.constraints as u64,
            created_at: gw.clock.now(),
        })
        .await
        .map_err(|e| match e {
            StoreError::DeploymentTaken => ApiError::new(
                ApiErrorCode::CustomerIdTaken,
                "this customer id is another tenant's",
            ),
            e => e.into(),
        })?;
    tracing::info!(customer_id = %record.customer_id, image_id = %record.image_id, version = record.version, constraints = record.constraints, "deployment registered");
    Ok((record, c))
}

/// The seed's deploy response for a registered version; the endpoint names the host the
/// client called.
fn deploy_response(headers: &HeaderMap, record: DeploymentRecord, c: &Compiled) -> DeployResponse {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() <= 255)
        .unwrap_or("localhost");
    DeployResponse {
        success: true,
        customer_id: record.customer_id,
        image_id: record.image_id,
        api_endpoint: format!("http://{host}/api/prove"),
        version: record.version,
        constraints: c.constraints as u64,
    }
}

/// Validate, compile, make Groth16 keys and register: the seed's "Deploy to Gateway".
#[utoipa::path(
    post,
    path = "/api/deploy",
    operation_id = "zk_deploy",
    tag = "proofs",
    request_body = DeployBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 201, description = "Deployed: the seed's response", body = DeployResponse),
        (status = 400, description = "`invalid_json`, `invalid_dsl`, `invalid_customer_id`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`customer_id_taken`: another tenant's", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, description = "`compiler_busy`, or a rate limit", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn deploy(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body, _): ApiJson<DeployBody>,
) -> Result<Response, ApiError> {
    caller.need(Scope::Submit)?;
    let customer_id = match body.customer_id {
        Some(c) => c,
        None => {
            let use_case = body
                .dsl
                .get("use_case")
                .and_then(Value::as_str)
                .unwrap_or("program");
            format!("customer-{use_case}-{}", gw.clock.now().0 / 1000)
        }
    };
    check_customer_id(&customer_id)?;
    let metadata = metadata_text(body.metadata)?;
    let (record, c) = register(&gw, &caller, customer_id, body.dsl, metadata).await?;
    Ok((
        StatusCode::CREATED,
        Json(deploy_response(&headers, record, &c)),
    )
        .into_response())
}

fn dto(d: &DeploymentRecord) -> DeploymentDto {
    DeploymentDto {
        customer_id: d.customer_id.clone(),
        image_id: d.image_id.clone(),
        version: d.version,
        created_at: rfc3339(d.created_at),
        constraints: d.constraints,
        dsl: serde_json::from_str(&d.program).unwrap_or(Value::Null),
        verifying_key: serde_json::from_str(&d.verifying_key).unwrap_or(Value::Null),
        metadata: serde_json::from_str(&d.metadata).unwrap_or(Value::Null),
    }
}

fn customer(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    match path {
        Ok(Path(c)) if valid_customer_id(&c) => Ok(c),
        _ => Err(not_found()),
    }
}

/// The current version of a deployment, with every version's image id.
#[utoipa::path(
    get,
    path = "/api/deployments/{customer_id}",
    operation_id = "zk_deployment",
    tag = "proofs",
    params(("customer_id" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$", description = "The customer id")),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The deployment (another tenant's is a 404)", body = DeploymentResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`deployment_not_found`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn get_deployment(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<DeploymentResponse>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let id = customer(path)?;
    let versions = gw.store.deployment_versions(tenant, &id).await?;
    let current = versions.last().ok_or_else(not_found)?;
    Ok(Json(DeploymentResponse {
        current: dto(current),
        versions: versions
            .iter()
            .map(|v| DeploymentVersion {
                version: v.version,
                image_id: v.image_id.clone(),
                created_at: rfc3339(v.created_at),
            })
            .collect(),
    }))
}

/// The deployment version an image id names.
#[utoipa::path(
    get,
    path = "/api/deployments/by-image-id/{image_id}",
    operation_id = "zk_deployment_by_image",
    tag = "proofs",
    params(("image_id" = String, Path, pattern = "^[0-9a-f]{64}$", description = "The image id")),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The version (another tenant's is a 404)", body = DeploymentDto),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`deployment_not_found`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn get_by_image(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<DeploymentDto>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let Ok(Path(image)) = path else {
        return Err(not_found());
    };
    if image.len() != 64 || vesper_core::hex_lower(&image).is_none() {
        return Err(not_found());
    }
    let d = gw
        .store
        .deployment_by_image(Some(tenant), &image)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(dto(&d)))
}

/// Deploy a new version under an existing customer id.
#[utoipa::path(
    put,
    path = "/api/deployments/{customer_id}",
    operation_id = "zk_update_deployment",
    tag = "proofs",
    params(("customer_id" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$", description = "The customer id")),
    request_body = UpdateDeploymentBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The new version", body = DeployResponse),
        (status = 400, description = "`invalid_json`, `invalid_dsl`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`deployment_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, description = "`compiler_busy`, or a rate limit", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn update_deployment(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body, _): ApiJson<UpdateDeploymentBody>,
) -> Result<Json<DeployResponse>, ApiError> {
    let tenant = caller.need(Scope::Submit)?;
    let id = customer(path)?;
    if gw.store.deployment(tenant, &id).await?.is_none() {
        return Err(not_found());
    }
    let metadata = metadata_text(body.metadata)?;
    let (record, c) = register(&gw, &caller, id, body.dsl, metadata).await?;
    Ok(Json(deploy_response(&headers, record, &c)))
}

/// Remove a deployment with every version and its keys.
#[utoipa::path(
    delete,
    path = "/api/deployments/{customer_id}",
    operation_id = "zk_delete_deployment",
    tag = "proofs",
    params(("customer_id" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$", description = "The customer id")),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`deployment_not_found`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn delete_deployment(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let tenant = caller.need(Scope::Submit)?;
    let id = customer(path)?;
    if gw.store.delete_deployment(tenant, &id).await? {
        tracing::info!(customer_id = %id, "deployment removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// Verify a proof for one of the caller's image ids.
#[utoipa::path(
    post,
    path = "/api/verify",
    operation_id = "zk_verify",
    tag = "proofs",
    request_body = VerifyBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "Whether the proof is valid for these public inputs", body = VerifyResponse),
        (status = 400, description = "`invalid_json`, `invalid_proof`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`deployment_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn verify(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<VerifyBody>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let bad = |what: &str| ApiError::new(ApiErrorCode::InvalidProof, format!("malformed {what}"));
    if body.image_id.len() != 64 || vesper_core::hex_lower(&body.image_id).is_none() {
        return Err(not_found());
    }
    let proof = match &body.proof {
        Value::String(h) => vesper_core::hex_lower(h)
            .and_then(|b| groth::proof_from_bytes(&b))
            .ok_or_else(|| bad("proof"))?,
        v => vesper_zk::export::proof_from_json(v).map_err(|_| bad("proof"))?,
    };
    if body.public_inputs.len() > 1024 {
        return Err(bad("public_inputs"));
    }
    let public = body
        .public_inputs
        .iter()
        .map(|s| vesper_zk::field::parse(s))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("public_inputs"))?;
    let d = gw
        .store
        .deployment_by_image(Some(tenant), &body.image_id)
        .await?
        .ok_or_else(not_found)?;
    let vk_json: Value = serde_json::from_str(&d.verifying_key)
        .map_err(|_| ApiError::new(ApiErrorCode::Internal, "internal error"))?;
    let vk = vesper_zk::export::vk_from_json(&vk_json)
        .map_err(|_| ApiError::new(ApiErrorCode::Internal, "internal error"))?;
    let valid =
        tokio::task::spawn_blocking(move || groth::verify(&groth::prepare(&vk), &public, &proof))
            .await
            .map_err(|_| ApiError::new(ApiErrorCode::Internal, "internal error"))?;
    Ok(Json(VerifyResponse {
        valid,
        image_id: body.image_id,
    }))
}

/// Longest `POST /api/prove` waits for a worker's proof.
const PROVE_WAIT_SECS: u64 = 60;

/// Prove a request with a customer's current deployment: the seed's plaintext form. The
/// gateway seals the request to the pool key at once (with a one-time client key of its own),
/// queues it as a `zk_proof` job, waits, opens the result and answers the seed's response.
/// The private inputs are never logged or stored in plaintext; clients who do not want the
/// gateway to see them at all submit the sealed job themselves (docs/DSL.md §9).
#[utoipa::path(
    post,
    path = "/api/prove",
    operation_id = "zk_prove",
    tag = "proofs",
    request_body = ProveBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The seed's response: `success` with the proof, or `success: false` naming the failed rule (or the values that do not fit)", body = ProveResponse),
        (status = 400, description = "`invalid_json`, `invalid_customer_id`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 402, description = "`payment_required`: a proof costs more prepaid credits than the tenant holds (docs/DSL.md §10)", body = ErrorBody),
        (status = 404, description = "`deployment_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
        (status = 504, description = "`prove_timeout`: no worker finished in time; the job is cancelled if no worker took it yet, and not charged", body = ErrorBody),
    ),
)]
pub(crate) async fn prove(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body, _): ApiJson<ProveBody>,
) -> Result<Json<ProveResponse>, ApiError> {
    use vesper_core::{JobStatus, WorkloadPlaintext, WorkloadProgram, WorkloadType};
    use vesper_crypto::{JobMetadata, X25519SecretKey, seal_workload};
    use zeroize::Zeroize;

    let tenant = caller.need(Scope::Submit)?;
    check_customer_id(&body.customer_id)?;
    let d = gw
        .store
        .deployment(tenant, &body.customer_id)
        .await?
        .ok_or_else(not_found)?;
    let program_id: vesper_core::ProgramId = d
        .image_id
        .parse()
        .map_err(|_| ApiError::new(ApiErrorCode::Internal, "internal error"))?;
    let pool = gw
        .pool_keys
        .first()
        .ok_or_else(|| ApiError::new(ApiErrorCode::Unavailable, "no pool key"))?;
    // Seal at once: from here on only ciphertext travels.
    let mut input = serde_json::to_vec(&serde_json::json!({
        "private_inputs": body.private_inputs,
        "public_params": body.public_params,
        "binding": body.binding,
    }))
    .expect("JSON serialises");
    let sk = X25519SecretKey::generate();
    let meta = JobMetadata {
        workload_type: WorkloadType::ZkProof,
        program_id: Some(program_id),
        client_pubkey: sk.public_key(),
        key_id: pool.key_id(),
    };
    let mut plaintext = WorkloadPlaintext {
        program: WorkloadProgram::Registry,
        input: std::mem::take(&mut input),
    }
    .encode();
    let sealed = seal_workload(pool, &meta, &plaintext);
    plaintext.zeroize();
    let (enc, ct) = sealed.map_err(|_| ApiError::new(ApiErrorCode::Internal, "internal error"))?;
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let req = SubmitRequest {
        encrypted_payload: b64(&ct),
        encrypted_key: b64(&enc),
        client_pubkey: b64(sk.public_key().as_bytes()),
        workload_type: "zk_proof".into(),
        key_id: pool.key_id().to_string(),
        program_id: Some(d.image_id.clone()),
        priority: None,
        callback_url: None,
        max_fuel: None,
        max_retries: None,
    };
    let payload_digest = vesper_core::sha256(&[&enc, &ct]);
    let request_id = super::request_id(&headers);
    let job = super::submit::prepare_job(&gw, &caller.0, req, 0, payload_digest, None, request_id)
        .await?;
    let job_id = job.job_id;
    gw.payments.charge(tenant, job_id, gw.clock.now()).await?;
    match gw.store.submit(job).await {
        Ok(vesper_store::SubmitOutcome::Created(_)) => {}
        Ok(refused) => {
            gw.payments.refund(job_id).await;
            return Err(super::submit::refusal(&gw, &refused)
                .unwrap_or_else(|| ApiError::new(ApiErrorCode::Internal, "internal error")));
        }
        Err(e) => {
            gw.payments.refund(job_id).await;
            return Err(e.into());
        }
    }
    // Wait for it (in the gateway's long-poll steps), then open the result.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(PROVE_WAIT_SECS);
    let record = loop {
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .as_secs();
        let r = super::jobs::wait_terminal(&gw, tenant, job_id, left.max(1)).await?;
        if r.status.is_terminal() || tokio::time::Instant::now() >= deadline {
            break r;
        }
    };
    if record.status != JobStatus::Completed {
        if !record.status.is_terminal() {
            // The result is sealed to this request's key, which goes with this answer: nobody
            // can read a proof that finishes later, so the payment is given back either way.
            let cancelled = matches!(
                gw.store.cancel(tenant, job_id, gw.clock.now()).await,
                Ok(vesper_store::CancelOutcome::Cancelled(_))
            );
            gw.payments.refund(job_id).await;
            return Err(ApiError::new(
                ApiErrorCode::ProveTimeout,
                if cancelled {
                    "no worker took the proof in time; the job is cancelled and not charged"
                } else {
                    "the proof did not finish in time (a worker was still proving it); not charged"
                },
            ));
        }
        gw.payments.refund(job_id).await;
        return Err(ApiError::new(
            ApiErrorCode::Internal,
            format!("the proof job ended {}", record.status.as_str()),
        ));
    }
    let stored = gw
        .store
        .result(tenant, job_id)
        .await?
        .and_then(|r| r.body)
        .ok_or_else(|| ApiError::new(ApiErrorCode::Internal, "internal error"))?;
    let opened =
        vesper_crypto::open_result(&sk, &job_id, &payload_digest, &stored.encrypted_result)
            .map_err(|_| ApiError::new(ApiErrorCode::Internal, "internal error"))?;
    let result = vesper_core::ResultPlaintext::decode(&opened)
        .map_err(|_| ApiError::new(ApiErrorCode::Internal, "internal error"))?;
    // The result holds only public things: the proof, the outputs, the public inputs.
    let v: Value = serde_json::from_slice(&result.stdout).unwrap_or(Value::Null);
    let strs = |k: &str| {
        v.get(k).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
    };
    Ok(Json(ProveResponse {
        success: v["success"] == true,
        image_id: d.image_id,
        job_id: job_id.to_string(),
        proof: v.get("proof").and_then(Value::as_str).map(str::to_owned),
        outputs: v.get("outputs").cloned(),
        public_inputs: strs("public_inputs"),
        today: v.get("today").and_then(Value::as_str).map(str::to_owned),
        failed_rule: v
            .get("failed_rule")
            .and_then(Value::as_str)
            .map(str::to_owned),
        errors: v.get("errors").and_then(Value::as_array).map(|a| {
            a.iter()
                .map(|e| DslErrorDto {
                    path: e["path"].as_str().unwrap_or("").to_owned(),
                    message: e["message"].as_str().unwrap_or("").to_owned(),
                })
                .collect()
        }),
    }))
}

/// Register a deployment with keys made elsewhere (the seed's `POST /api/deployments`): for a
/// tenant who does not trust the gateway's key setup (docs/DSL.md §7). The keys are checked
/// against the program's circuit (their shape: see `check_proving_key`).
#[utoipa::path(
    post,
    path = "/api/deployments",
    operation_id = "zk_register",
    tag = "proofs",
    request_body = RegisterBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 201, description = "Registered: the seed's deploy response", body = DeployResponse),
        (status = 400, description = "`invalid_json`, `invalid_dsl`, `invalid_customer_id`, `invalid_keys`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`customer_id_taken`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, description = "`compiler_busy`, or a rate limit", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn register_keys(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body, _): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    caller.need(Scope::Submit)?;
    check_customer_id(&body.customer_id)?;
    let keys = b64_decode(&body.proving_key)
        .ok_or_else(|| ApiError::new(ApiErrorCode::InvalidKeys, "proving_key: base64"))?;
    let metadata = metadata_text(body.metadata)?;
    let (record, c) = register_with(
        &gw,
        &caller,
        body.customer_id,
        body.dsl,
        metadata,
        Some(keys),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(deploy_response(&headers, record, &c)),
    )
        .into_response())
}

/// How recent a prover's report must be to count as up.
const PROVER_FRESH_MS: u64 = 10_000;

/// The provers' reports of the last [`PROVER_FRESH_MS`].
async fn fresh_reports(
    gw: &Gateway,
    now: Timestamp,
) -> Result<Vec<vesper_store::LoadedReport>, ApiError> {
    Ok(gw
        .store
        .loaded_reports(Timestamp(now.0.saturating_sub(PROVER_FRESH_MS)))
        .await?)
}

/// Ask the provers to hold a deployment's program loaded (the seed's `POST /api/load-program`):
/// the first proof then skips compiling the program and reading its proving key.
#[utoipa::path(
    post,
    path = "/api/load-program",
    operation_id = "zk_load_program",
    tag = "proofs",
    request_body = LoadProgramBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 202, description = "Asked: provers load it within a few seconds (`GET /api/status`)", body = LoadProgramResponse),
        (status = 400, description = "`invalid_json`, `invalid_customer_id`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`deployment_not_found`: the caller holds no such customer id", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn load_program(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<LoadProgramBody>,
) -> Result<Response, ApiError> {
    let tenant = caller.need(Scope::Submit)?;
    check_customer_id(&body.customer_id)?;
    let d = gw
        .store
        .deployment(tenant, &body.customer_id)
        .await?
        .ok_or_else(not_found)?;
    let now = gw.clock.now();
    gw.store.request_preload(&d.image_id, now).await?;
    let reports = fresh_reports(&gw, now).await?;
    let loaded_by = reports
        .iter()
        .filter(|r| r.image_ids.contains(&d.image_id))
        .count() as u32;
    Ok((
        StatusCode::ACCEPTED,
        Json(LoadProgramResponse {
            customer_id: d.customer_id,
            image_id: d.image_id,
            loaded_by,
        }),
    )
        .into_response())
}

/// The provers' status (the seed's `GET /api/status`): how many report, which of the
/// caller's programs they hold loaded, and the caller's prepaid credits.
#[utoipa::path(
    get,
    path = "/api/status",
    operation_id = "zk_status",
    tag = "proofs",
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The provers' status", body = ProverStatus),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn prover_status(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
) -> Result<Json<ProverStatus>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let now = gw.clock.now();
    let reports = fresh_reports(&gw, now).await?;
    let mut counts: std::collections::BTreeMap<&str, u32> = Default::default();
    for r in &reports {
        for id in &r.image_ids {
            *counts.entry(id).or_default() += 1;
        }
    }
    // Only the caller's own programs are named (the registry is per tenant).
    let mut programs = Vec::new();
    for (image_id, n) in counts {
        if let Some(d) = gw.store.deployment_by_image(Some(tenant), image_id).await? {
            programs.push(LoadedProgram {
                customer_id: d.customer_id,
                image_id: d.image_id,
                loaded_by: n,
            });
        }
    }
    let credits = gw.store.credit_balance(tenant).await?;
    Ok(Json(ProverStatus {
        status: if reports.is_empty() {
            "no_provers"
        } else {
            "ok"
        }
        .into(),
        provers: reports.len() as u32,
        loaded_programs: programs.len() as u32,
        programs,
        proof_price: gw.payments.price(),
        credits,
    }))
}

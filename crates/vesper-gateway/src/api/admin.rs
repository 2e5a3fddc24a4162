//! `GET /api/workers`, the pool-key grant relay and tenant administration.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use vesper_api::ApiErrorCode;
use vesper_api::workers::{KeyGrantBody, KeyRequestList, WorkerInfo, WorkerListResponse};
use vesper_core::Scope;

use super::ApiJson;
use crate::auth::Caller;
use crate::dto::*;
use crate::openapi::{Forbidden, TooManyRequests, Unauthorized, Unavailable};
use crate::{ApiError, Gateway};

fn tenant_not_found() -> ApiError {
    ApiError::new(ApiErrorCode::TenantNotFound, "no such tenant")
}

/// The pool's workers: remote ones as the job protocol tracks them, then local ones.
#[utoipa::path(
    get,
    path = "/api/workers",
    operation_id = "list_workers",
    tag = "workers",
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The pool's workers: capabilities, load, reputation and \
            liveness", body = WorkerListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn list_workers(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
) -> Result<Json<WorkerListResponse>, ApiError> {
    caller.need(Scope::Read)?;
    let mut workers = gw
        .remote
        .as_ref()
        .map(|r| r.directory.workers())
        .unwrap_or_default();
    let known: std::collections::HashSet<String> = workers.iter().map(|w| w.id.clone()).collect();
    for r in gw.store.workers().await? {
        if known.contains(&r.worker_id) {
            continue;
        }
        workers.push(WorkerInfo {
            name: r.worker_id.clone(),
            declared_name: None,
            id: r.worker_id,
            kind: "local".into(),
            cores: 0,
            memory_mb: 0,
            executors: vec!["wasm".into()],
            gpus: vec![],
            price_per_mfuel: 0,
            region: String::new(),
            connected: None,
            last_seen_ms: r.last_seen.0,
            active_leases: 0,
            completed: 0,
            failed: 0,
            expired: 0,
            reputation: vesper_core::placement::Reputation::START,
            ms_per_job: None,
            key_granted: true,
        });
    }
    workers.sort_by(|a, b| (a.kind.as_str(), a.id.as_str()).cmp(&(b.kind.as_str(), b.id.as_str())));
    Ok(Json(WorkerListResponse { workers }))
}

fn p2p_disabled() -> ApiError {
    ApiError::new(
        ApiErrorCode::P2pDisabled,
        "this gateway serves no remote workers (start it with --p2p-listen)",
    )
}

#[utoipa::path(
    get,
    path = "/api/admin/key-requests",
    operation_id = "admin_key_requests",
    tag = "admin",
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "Remote workers waiting for the pool keys, with their \
            signed key-exchange keys (docs/NETWORK.md)", body = KeyRequestList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`p2p_disabled`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
    ),
)]
pub(crate) async fn admin_key_requests(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
) -> Result<Json<KeyRequestList>, ApiError> {
    caller.need(Scope::Admin)?;
    let broker = &gw.remote.as_ref().ok_or_else(p2p_disabled)?.broker;
    Ok(Json(KeyRequestList {
        requests: broker.pending(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/admin/key-grants",
    operation_id = "admin_key_grant",
    tag = "admin",
    request_body = KeyGrantBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 204, description = "The sealed grant is left for the worker"),
        (status = 400, description = "`invalid_json`, `invalid_grant`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`key_request_not_found`: no pending request from this \
            peer with this key", body = ErrorBody),
        (status = 409, description = "`p2p_disabled`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
    ),
)]
pub(crate) async fn admin_key_grant(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<KeyGrantBody>,
) -> Result<StatusCode, ApiError> {
    caller.need(Scope::Admin)?;
    let broker = &gw.remote.as_ref().ok_or_else(p2p_disabled)?.broker;
    let invalid = |what: &str| ApiError::new(ApiErrorCode::InvalidGrant, format!("invalid {what}"));
    let kx: [u8; 32] =
        vesper_core::hex_array(&body.kx_pubkey).ok_or_else(|| invalid("kx_pubkey"))?;
    let sealed = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &body.sealed)
        .map_err(|_| invalid("sealed"))?;
    // enc (32) + tag (16) + at least one 32-byte key; at most 64 epochs.
    if sealed.len() < 32 + 16 + 32 || sealed.len() > 32 + 16 + 32 * 64 {
        return Err(invalid("sealed (length)"));
    }
    if body.key_ids.is_empty()
        || body.key_ids.len() > 64
        || body
            .key_ids
            .iter()
            .any(|k| k.parse::<vesper_core::KeyId>().is_err())
    {
        return Err(invalid("key_ids"));
    }
    if body.peer_id.len() > 128 {
        return Err(invalid("peer_id"));
    }
    if broker.grant(&body.peer_id, kx, sealed, body.key_ids) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            ApiErrorCode::KeyRequestNotFound,
            "no pending key request from this peer with this key",
        ))
    }
}

/// All tenants with their queues and settings.
#[utoipa::path(
    get,
    path = "/api/admin/tenants",
    operation_id = "admin_tenants",
    tag = "admin",
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "All tenants", body = TenantListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn admin_tenants(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
) -> Result<Json<TenantListResponse>, ApiError> {
    caller.need(Scope::Admin)?;
    let tenants = gw.store.tenants().await?;
    Ok(Json(TenantListResponse {
        tenants: tenants.iter().map(tenant_dto).collect(),
    }))
}

pub(crate) async fn admin_set_disabled(
    gw: &Gateway,
    caller: &Caller,
    name: &str,
    disabled: bool,
) -> Result<Json<TenantDto>, ApiError> {
    caller.need(Scope::Admin)?;
    match gw.store.set_tenant_disabled(name, disabled).await {
        Ok(()) => {}
        Err(vesper_store::StoreError::TenantNotFound) => {
            return Err(tenant_not_found());
        }
        Err(e) => return Err(e.into()),
    }
    let t = gw
        .store
        .tenants()
        .await?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(tenant_not_found)?;
    Ok(Json(tenant_dto(&t)))
}

/// Disable a tenant: all its credentials stop working (within the 5 s credential cache).
#[utoipa::path(
    post,
    path = "/api/admin/tenants/{name}/disable",
    operation_id = "admin_disable",
    tag = "admin",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "acme", description = "The tenant's name"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The tenant is disabled: its credentials stop working within 5 s", body = TenantDto,
            links(("enable" = (operation_id = "admin_enable", parameters(("name" = "$response.body#/name")), description = "Enable the tenant again")))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn admin_disable(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<TenantDto>, ApiError> {
    caller.need(Scope::Admin)?;
    let Ok(Path(name)) = name else {
        return Err(tenant_not_found());
    };
    admin_set_disabled(&gw, &caller, &name, true).await
}

/// Enable a tenant again.
#[utoipa::path(
    post,
    path = "/api/admin/tenants/{name}/enable",
    operation_id = "admin_enable",
    tag = "admin",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "acme", description = "The tenant's name"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The tenant is enabled", body = TenantDto,
            links(("disable" = (operation_id = "admin_disable", parameters(("name" = "$response.body#/name")), description = "Disable the tenant")))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn admin_enable(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<TenantDto>, ApiError> {
    caller.need(Scope::Admin)?;
    let Ok(Path(name)) = name else {
        return Err(tenant_not_found());
    };
    admin_set_disabled(&gw, &caller, &name, false).await
}

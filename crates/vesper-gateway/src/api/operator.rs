//! Operator routes over HTTP (`admin` scope): create tenants, create and revoke API keys, map
//! and unmap wallets; and `GET /api/whoami` for any credential. They do what `vesper tenant`
//! and `vesper key` do on the store directly, so that the web console can offer them.
//!
//! A new key is in the creating answer only (with `Cache-Control: no-store`): the store keeps
//! its SHA-256. Revocations and removals take effect within the 5 s credential cache.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use vesper_api::ApiErrorCode;
use vesper_core::{Scope, Scopes, TenantId, WalletId};
use vesper_crypto::ApiKey;
use vesper_store::{StoreError, TenantSettings};

use super::ApiJson;
use crate::auth::Caller;
use crate::dto::*;
use crate::openapi::{Forbidden, TooManyRequests, Unauthorized, Unavailable};
use crate::{ApiError, Gateway};

/// Scopes of a new key or wallet when the request names none.
const DEFAULT_SCOPES: &str = "submit,read";

fn tenant_not_found() -> ApiError {
    ApiError::new(ApiErrorCode::TenantNotFound, "no such tenant")
}

fn parse_scopes(s: Option<&str>) -> Result<Scopes, ApiError> {
    s.unwrap_or(DEFAULT_SCOPES).parse().map_err(|_| {
        ApiError::new(
            ApiErrorCode::InvalidScopes,
            "scopes: a comma list of submit, read, admin",
        )
    })
}

/// The tenant a path names (a malformed name cannot name one: same answer as an unknown one).
async fn tenant_of(
    gw: &Gateway,
    name: Result<Path<String>, PathRejection>,
) -> Result<(TenantId, String), ApiError> {
    let Ok(Path(name)) = name else {
        return Err(tenant_not_found());
    };
    if !TenantId::valid_name(&name) {
        return Err(tenant_not_found());
    }
    match gw.store.find_tenant(&name).await? {
        Some(id) => Ok((id, name)),
        None => Err(tenant_not_found()),
    }
}

/// A tenant's record, by id, as the answer of a change to it.
async fn tenant_record(gw: &Gateway, id: TenantId) -> Result<vesper_store::TenantRecord, ApiError> {
    gw.store
        .tenants()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(tenant_not_found)
}

fn no_store(status: StatusCode, body: impl serde::Serialize) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::to_value(body).expect("wire types serialise")),
    )
        .into_response()
}

/// Whom the presented credential acts for: its tenant and scopes.
#[utoipa::path(
    get,
    path = "/api/whoami",
    operation_id = "whoami",
    tag = "system",
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The caller's tenant and scopes", body = WhoAmIResponse),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn whoami(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
) -> Result<Json<WhoAmIResponse>, ApiError> {
    let p = &caller.0;
    let name = gw
        .store
        .tenants()
        .await?
        .into_iter()
        .find(|t| t.id == p.tenant)
        .map(|t| t.name)
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(WhoAmIResponse {
        tenant: name,
        tenant_id: p.tenant.0,
        scopes: Scope::ALL
            .into_iter()
            .filter(|s| p.scopes.contains(*s))
            .map(|s| s.as_str().to_owned())
            .collect(),
    }))
}

/// Create a tenant (weight 1, the gateway's default quotas and limits).
#[utoipa::path(
    post,
    path = "/api/admin/tenants",
    operation_id = "admin_create_tenant",
    tag = "admin",
    request_body = CreateTenantBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 201, description = "The new tenant", body = TenantDto),
        (status = 400, description = "`invalid_json`, `invalid_tenant_name`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`tenant_exists`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn admin_create_tenant(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    ApiJson(body, _): ApiJson<CreateTenantBody>,
) -> Result<Response, ApiError> {
    caller.need(Scope::Admin)?;
    if !TenantId::valid_name(&body.name) {
        return Err(ApiError::new(
            ApiErrorCode::InvalidTenantName,
            "tenant names are 1-64 characters of [A-Za-z0-9._-]",
        ));
    }
    let now = gw.clock.now();
    let id = match gw.store.create_tenant(&body.name, now).await {
        Err(StoreError::TenantExists) => {
            return Err(ApiError::new(
                ApiErrorCode::TenantExists,
                "a tenant with this name exists",
            ));
        }
        r => r?,
    };
    gw.store
        .set_tenant_settings(
            id,
            TenantSettings {
                weight: 1,
                ..Default::default()
            },
        )
        .await?;
    let t = tenant_record(&gw, id).await?;
    tracing::info!(tenant = %t.name, "tenant created over the API");
    Ok((StatusCode::CREATED, Json(tenant_dto(&t))).into_response())
}

/// Set a tenant's weight, quotas and rate limit (the whole settings; absent or `null` quotas
/// and limits take the gateway's default). Takes effect within the 5 s credential cache.
#[utoipa::path(
    put,
    path = "/api/admin/tenants/{name}/settings",
    operation_id = "admin_tenant_settings",
    tag = "admin",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "acme", description = "The tenant's name"),
    ),
    request_body = TenantSettingsBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The tenant with its new settings", body = TenantDto),
        (status = 400, description = "`invalid_json`, `invalid_settings`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn admin_tenant_settings(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    ApiJson(body, _): ApiJson<TenantSettingsBody>,
) -> Result<Json<TenantDto>, ApiError> {
    caller.need(Scope::Admin)?;
    let positive = [
        body.max_queued,
        body.jobs_per_day,
        body.max_payload_bytes,
        body.max_fuel,
        body.rate_per_sec.map(u64::from),
        body.burst.map(u64::from),
    ]
    .iter()
    .all(|v| *v != Some(0));
    if !(1..=1000).contains(&body.weight) || !positive {
        return Err(ApiError::new(
            ApiErrorCode::InvalidSettings,
            "weight is 1-1000; a quota or limit is at least 1, or null for the default",
        ));
    }
    let (id, name) = tenant_of(&gw, name).await?;
    gw.store
        .set_tenant_settings(
            id,
            TenantSettings {
                weight: body.weight,
                max_queued: body.max_queued,
                jobs_per_day: body.jobs_per_day,
                max_payload_bytes: body.max_payload_bytes,
                max_fuel: body.max_fuel,
                rate_per_sec: body.rate_per_sec,
                burst: body.burst,
            },
        )
        .await?;
    tracing::info!(tenant = %name, "tenant settings changed over the API");
    let t = tenant_record(&gw, id).await?;
    Ok(Json(tenant_dto(&t)))
}

/// Create an API key for a tenant. The key is in this answer only.
#[utoipa::path(
    post,
    path = "/api/admin/tenants/{name}/keys",
    operation_id = "admin_create_key",
    tag = "admin",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "acme", description = "The tenant's name"),
    ),
    request_body = CreateKeyBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 201, description = "The new key, shown once (`Cache-Control: no-store`)", body = CreatedKeyResponse),
        (status = 400, description = "`invalid_json`, `invalid_scopes`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn admin_create_key(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    ApiJson(body, _): ApiJson<CreateKeyBody>,
) -> Result<Response, ApiError> {
    caller.need(Scope::Admin)?;
    let scopes = parse_scopes(body.scopes.as_deref())?;
    let (id, name) = tenant_of(&gw, name).await?;
    let key = ApiKey::generate();
    gw.store
        .add_api_key(id, key.hash(), scopes, gw.clock.now())
        .await?;
    let key_id = hex::encode(&key.hash()[..6]);
    tracing::info!(tenant = %name, key_id = %key_id, "API key created over the API");
    Ok(no_store(
        StatusCode::CREATED,
        CreatedKeyResponse {
            key: key.expose().to_owned(),
            key_id,
            tenant: name,
            scopes: scopes.to_string(),
        },
    ))
}

/// Revoke a tenant's API key by its id (the first 12 or more hex digits of its hash).
#[utoipa::path(
    delete,
    path = "/api/admin/tenants/{name}/keys/{key_id}",
    operation_id = "admin_revoke_key",
    tag = "admin",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "acme", description = "The tenant's name"),
        ("key_id" = String, Path, pattern = "^[0-9a-f]{12,64}$", description = "The key's id, as `key_id` at creation"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The key stops working within 5 s", body = RevokedResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`tenant_not_found`, `key_not_found`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn admin_revoke_key(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<RevokedResponse>, ApiError> {
    caller.need(Scope::Admin)?;
    let Ok(Path((name, key_id))) = path else {
        return Err(tenant_not_found());
    };
    let (id, name) = tenant_of(&gw, Ok(Path(name))).await?;
    let key_not_found = || ApiError::new(ApiErrorCode::KeyNotFound, "no live key with this id");
    if !(12..=64).contains(&key_id.len()) || vesper_core::hex_lower(&key_id).is_none() {
        return Err(key_not_found());
    }
    match gw.store.revoke_api_key(id, &key_id).await? {
        0 => Err(key_not_found()),
        n => {
            tracing::info!(tenant = %name, key_id = %key_id, "API key revoked over the API");
            Ok(Json(RevokedResponse { revoked: n }))
        }
    }
}

/// Let a wallet sign requests for a tenant (docs/AUTH.md §3.6).
#[utoipa::path(
    post,
    path = "/api/admin/tenants/{name}/wallets",
    operation_id = "admin_add_wallet",
    tag = "admin",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "acme", description = "The tenant's name"),
    ),
    request_body = AddWalletBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 201, description = "The wallet now signs for the tenant", body = WalletResponse),
        (status = 400, description = "`invalid_json`, `invalid_wallet`, `invalid_scopes`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`wallet_exists`: it signs for a tenant already", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn admin_add_wallet(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    ApiJson(body, _): ApiJson<AddWalletBody>,
) -> Result<Response, ApiError> {
    caller.need(Scope::Admin)?;
    let wallet = parse_wallet(&body.wallet)?;
    let scopes = parse_scopes(body.scopes.as_deref())?;
    let (id, name) = tenant_of(&gw, name).await?;
    let canonical = wallet.to_string();
    match gw
        .store
        .add_wallet(id, &canonical, scopes, gw.clock.now())
        .await
    {
        Err(StoreError::CredentialExists) => Err(ApiError::new(
            ApiErrorCode::WalletExists,
            "this wallet signs for a tenant already",
        )),
        r => {
            r?;
            Ok((
                StatusCode::CREATED,
                Json(WalletResponse {
                    wallet: canonical,
                    tenant: name,
                    scopes: scopes.to_string(),
                }),
            )
                .into_response())
        }
    }
}

fn parse_wallet(s: &str) -> Result<WalletId, ApiError> {
    s.parse().map_err(|_| {
        ApiError::new(
            ApiErrorCode::InvalidWallet,
            "a wallet is ed25519:<64 hex> or eip191:0x<40 hex>",
        )
    })
}

/// Stop accepting a wallet's signatures.
#[utoipa::path(
    delete,
    path = "/api/admin/wallets/{wallet}",
    operation_id = "admin_remove_wallet",
    tag = "admin",
    params(
        ("wallet" = String, Path, description = "`ed25519:<64 hex>` or `eip191:0x<40 hex>`"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 204, description = "The wallet's signatures stop working within 5 s"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`wallet_not_found`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn admin_remove_wallet(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    wallet: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.need(Scope::Admin)?;
    let not_found = || ApiError::new(ApiErrorCode::WalletNotFound, "no tenant has this wallet");
    let Ok(Path(wallet)) = wallet else {
        return Err(not_found());
    };
    let Ok(wallet) = wallet.parse::<WalletId>() else {
        return Err(not_found());
    };
    if gw.store.revoke_wallet(&wallet.to_string()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// Grant a tenant prepaid credits, which pay for proofs when the gateway sets a proof price
/// (docs/DSL.md §10).
#[utoipa::path(
    post,
    path = "/api/admin/tenants/{name}/credits",
    operation_id = "admin_grant_credits",
    tag = "admin",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", example = "acme", description = "The tenant's name"),
    ),
    request_body = GrantCreditsBody,
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "The tenant's balance after the grant", body = CreditsResponse),
        (status = 400, description = "`invalid_json`, `invalid_amount`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn admin_grant_credits(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    ApiJson(body, _): ApiJson<GrantCreditsBody>,
) -> Result<Json<CreditsResponse>, ApiError> {
    caller.need(Scope::Admin)?;
    if body.amount == 0 || body.amount > MAX_CREDIT_GRANT {
        return Err(ApiError::new(
            ApiErrorCode::InvalidAmount,
            format!("amount: 1 to {MAX_CREDIT_GRANT} credits"),
        ));
    }
    let (id, name) = tenant_of(&gw, name).await?;
    let balance = gw
        .store
        .add_credits(id, body.amount, gw.clock.now())
        .await?;
    tracing::info!(tenant = %name, amount = body.amount, balance, "credits granted");
    Ok(Json(CreditsResponse {
        tenant: name,
        balance,
        proof_price: gw.payments.price(),
    }))
}

/// The most credits one grant adds.
const MAX_CREDIT_GRANT: u64 = 1_000_000_000_000;

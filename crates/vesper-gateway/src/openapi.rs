//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! DTOs' `ToSchema` derives, served at `GET /api/openapi.json`; and a self-contained reference
//! page that renders it at `GET /api/docs` (no external assets).
//!
//! What the middleware adds to every operation (request ids, rate-limit headers, `Retry-After`)
//! is added here, by [`Middleware`], so that the handlers' annotations state only what the
//! handlers themselves answer, plus the typed refusals they share (the `responses` below).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, KnownFormat, ObjectBuilder, Ref, RefOr, ResponseBuilder, SchemaFormat, Type,
};
use utoipa::{Modify, OpenApi, ToResponse};

use vesper_api::workers::{
    KeyGrantBody, KeyRequestInfo, KeyRequestList, WorkerInfo, WorkerListResponse,
};
use vesper_api::*;

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vesper API",
        version = env!("CARGO_PKG_VERSION"),
        description = "Confidential compute jobs: clients seal a workload to the pool key \
            (docs/ENVELOPE.md), submit the ciphertext, follow its status and fetch the sealed \
            result with a signed receipt (docs/RECEIPT.md).\n\n\
            Authenticated routes take a Bearer API key (`bearerAuth`) or a wallet signature \
            (`walletSignature`, the four `X-Vesper-*` headers of docs/AUTH.md) and need a scope: \
            `submit`, `read` or `admin`. Presented-but-invalid credentials are refused on every \
            route, public ones included.\n\n\
            Every error has the body `{\"error\": {\"code\", \"message\"}}` (plus `job_status` \
            on errors about an existing job); `code` is stable, `message` is for people.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::api::system::health,
        crate::api::system::metrics,
        crate::api::system::keys,
        crate::api::system::upload_program,
        crate::api::submit::submit,
        crate::api::submit::submit_batch,
        crate::api::jobs::status,
        crate::api::jobs::result,
        crate::api::jobs::list_jobs,
        crate::api::jobs::cancel,
        crate::stream::events,
        crate::api::admin::list_workers,
        crate::api::admin::admin_key_requests,
        crate::api::admin::admin_key_grant,
        crate::api::admin::admin_tenants,
        crate::api::admin::admin_disable,
        crate::api::admin::admin_enable,
        crate::api::operator::admin_create_tenant,
        crate::api::operator::admin_create_key,
        crate::api::operator::admin_tenant_settings,
        crate::api::operator::admin_revoke_key,
        crate::api::operator::admin_add_wallet,
        crate::api::operator::admin_remove_wallet,
        crate::api::operator::admin_grant_credits,
        crate::api::operator::whoami,
        crate::series::metrics_series,
        crate::api::zk::validate,
        crate::api::zk::compile,
        crate::api::zk::deploy,
        crate::api::zk::register_keys,
        crate::api::zk::get_deployment,
        crate::api::zk::get_by_image,
        crate::api::zk::update_deployment,
        crate::api::zk::delete_deployment,
        crate::api::zk::verify,
        crate::api::zk::prove,
        crate::api::zk::load_program,
        crate::api::zk::prover_status,
        crate::gate::authz,
        openapi_json,
        docs_page,
    ),
    components(
        schemas(
            ErrorBody,
            ErrorDetail,
            JobStatusName,
            WorkloadTypeName,
            SubmitRequest,
            BatchRequest,
            SubmitResponse,
            BatchResponse,
            StatusResponse,
            ErrorInfo,
            JobListResponse,
            ResultResponse,
            ExecutionProof,
            KeysResponse,
            PoolKeyDto,
            WorkerKeyDto,
            ProgramResponse,
            HealthResponse,
            DegradedTask,
            TenantDto,
            TenantListResponse,
            StatusEvent,
            WorkerInfo,
            WorkerListResponse,
            KeyRequestInfo,
            KeyRequestList,
            KeyGrantBody,
            CreateTenantBody,
            CreateKeyBody,
            TenantSettingsBody,
            CreatedKeyResponse,
            RevokedResponse,
            AddWalletBody,
            WalletResponse,
            WhoAmIResponse,
            SeriesSample,
            SeriesResponse,
            DslBody,
            DslErrorDto,
            ValidateResponse,
            CompileResponse,
            DeployBody,
            RegisterBody,
            DeployResponse,
            UpdateDeploymentBody,
            DeploymentDto,
            DeploymentResponse,
            DeploymentVersion,
            VerifyBody,
            VerifyResponse,
            ProveBody,
            ProveResponse,
            LoadProgramBody,
            LoadProgramResponse,
            LoadedProgram,
            ProverStatus,
            GrantCreditsBody,
            CreditsResponse,
        ),
        responses(Unauthorized, Forbidden, TooManyRequests, Unavailable, JobNotFound),
    ),
    modifiers(&Security, &Middleware),
    tags(
        (name = "system", description = "Health, metrics, keys and this reference"),
        (name = "programs", description = "WebAssembly modules registered by hash"),
        (name = "jobs", description = "Submitting, following and fetching jobs"),
        (name = "admin", description = "Tenant administration (`admin` scope)"),
        (name = "proofs", description = "The proof gateway: rule programs, deployments, proofs (docs/DSL.md)"),
    ),
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// The document as JSON, rendered once.
fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc = serde_json::to_value(document()).expect("the OpenAPI document serialises");
        fix_links(&mut doc, false);
        serde_json::to_string(&doc).expect("JSON serialises")
    })
}

/// utoipa 5 writes Link objects' fields in snake case (`operation_id`); OpenAPI spells them
/// `operationId`, `operationRef`, `requestBody` (fixed in utoipa 6).
fn fix_links(v: &mut serde_json::Value, in_links: bool) {
    match v {
        serde_json::Value::Object(map) => {
            if in_links {
                for link in map.values_mut() {
                    if let serde_json::Value::Object(link) = link {
                        for (from, to) in [
                            ("operation_id", "operationId"),
                            ("operation_ref", "operationRef"),
                            ("request_body", "requestBody"),
                        ] {
                            if let Some(x) = link.remove(from) {
                                link.insert(to.into(), x);
                            }
                        }
                    }
                }
                return;
            }
            for (k, child) in map.iter_mut() {
                fix_links(child, k == "links");
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|c| fix_links(c, false)),
        _ => {}
    }
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi",
    tag = "system",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API",
            body = Object, content_type = "application/json"),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
        .into_response()
}

/// A browsable reference of this API, rendered in the browser from `/api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/docs",
    operation_id = "docs",
    tag = "system",
    responses(
        (status = 200, description = "A self-contained HTML page (inline script, no external assets)",
            body = String, content_type = "text/html"),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ),
)]
pub(crate) async fn docs_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; base-uri 'none'; form-action 'none'",
            ),
        ],
        include_str!("openapi_docs.html"),
    )
        .into_response()
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// 401: no credentials on a route that needs them, or presented credentials that are invalid.
pub struct Unauthorized;
impl<'s> ToResponse<'s> for Unauthorized {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        (
            "Unauthorized",
            error_response(
                "Missing credentials on an authenticated route, or invalid credentials on any \
                 route. Codes: `unauthorized`, `stale_request`, `signature_invalid`, \
                 `unknown_wallet`, `replayed_nonce` (docs/AUTH.md §1)",
            ),
        )
    }
}

/// 403: the credential lacks the route's scope.
pub struct Forbidden;
impl<'s> ToResponse<'s> for Forbidden {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        (
            "Forbidden",
            error_response("`forbidden`: the credential lacks the scope this route needs"),
        )
    }
}

/// 429: a rate limit (per IP or per tenant) or a quota.
pub struct TooManyRequests;
impl<'s> ToResponse<'s> for TooManyRequests {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        (
            "TooManyRequests",
            error_response(
                "`ip_rate_limited` (per client address), `rate_limited` (per tenant) or, on \
                 submissions, `quota_exceeded`; retry after `Retry-After` seconds",
            ),
        )
    }
}

/// 503: the store cannot answer (fail closed), or too many live streams.
pub struct Unavailable;
impl<'s> ToResponse<'s> for Unavailable {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        (
            "Unavailable",
            error_response(
                "`unavailable`: the store cannot answer, nothing was accepted or authorised; \
                 retry after `Retry-After` seconds",
            ),
        )
    }
}

/// 404 for a job: unknown, another tenant's, or a malformed id (all look the same).
pub struct JobNotFound;
impl<'s> ToResponse<'s> for JobNotFound {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        (
            "JobNotFound",
            error_response(
                "`job_not_found`: no such job for this tenant (a malformed id gets the same answer)",
            ),
        )
    }
}

/// The security schemes of docs/AUTH.md.
struct Security;
impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("vsk_<64 lowercase hex>")
                    .description(Some(
                        "An API key: `Authorization: Bearer vsk_…` (docs/AUTH.md §2). `vesper dev` \
                         writes one with every scope to `<data>/dev-api-key`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "walletSignature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Vesper-Wallet",
                "A wallet-signed request (docs/AUTH.md §3): four headers, \
                 `X-Vesper-Wallet` (`ed25519:<64 hex>` or `eip191:0x<40 hex>`), \
                 `X-Vesper-Timestamp` (unix seconds, within 300 s of the gateway's clock), \
                 `X-Vesper-Nonce` (16-64 of `[A-Za-z0-9_-]`, once per wallet) and \
                 `X-Vesper-Signature` (hex: Ed25519 over, or EIP-191 `personal_sign` of, the \
                 canonical request `vesper-auth-v1\\nMETHOD\\nPATH?QUERY\\nSHA256(body)\\n\
                 TIMESTAMP\\nNONCE\\nWALLET`). The wallet must be mapped to a tenant.",
            ))),
        );
    }
}

/// Headers the middleware adds: `X-Request-Id` on every response, `RateLimit-*` on
/// authenticated ones, `Retry-After` on 429 and 503.
struct Middleware;
impl Modify for Middleware {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let string = || ObjectBuilder::new().schema_type(Type::String).build();
        let integer = || {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0))
                .build()
        };
        let request_id = HeaderBuilder::new()
            .schema(string())
            .description(Some(
                "The request's id: the client's `X-Request-Id` if it sent a sane one, else a \
                 fresh UUID. Logged with the request and with the jobs it submits.",
            ))
            .build();
        let rate_limit = [
            (
                "RateLimit-Limit",
                "The tenant's burst (requests); on authenticated requests when the tenant is \
                 rate-limited",
            ),
            (
                "RateLimit-Remaining",
                "Requests left in the burst right now; on authenticated requests",
            ),
            (
                "RateLimit-Reset",
                "Seconds until one more request is allowed (0 when some remain); on \
                 authenticated requests",
            ),
        ]
        .map(|(name, description)| {
            (
                name,
                HeaderBuilder::new()
                    .schema(integer())
                    .description(Some(description))
                    .build(),
            )
        });
        let retry_after = HeaderBuilder::new()
            .schema(integer())
            .description(Some("Seconds to wait before retrying"))
            .build();

        let add = |status: &str, r: &mut utoipa::openapi::Response| {
            r.headers.insert("X-Request-Id".into(), request_id.clone());
            for (name, h) in &rate_limit {
                r.headers.insert((*name).into(), h.clone());
            }
            if status == "429" || status == "503" {
                r.headers.insert("Retry-After".into(), retry_after.clone());
            }
        };
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for (status, r) in op.responses.responses.iter_mut() {
                    if let RefOr::T(r) = r {
                        add(status, r);
                    }
                }
            }
        }
        if let Some(components) = doc.components.as_mut() {
            for (name, r) in components.responses.iter_mut() {
                let status = match name.as_str() {
                    "TooManyRequests" => "429",
                    "Unavailable" => "503",
                    _ => "",
                };
                if let RefOr::T(r) = r {
                    add(status, r);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_openapi_3_1_with_every_schema_resolvable() {
        let doc: serde_json::Value = serde_json::from_str(document_json()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
        assert_eq!(doc["info"]["title"], "Vesper API");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        // Every local reference points at something.
        fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        // Links name their target operation the OpenAPI way, and it exists.
        let ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let link = &doc["paths"]["/api/submit"]["post"]["responses"]["202"]["links"]["status"];
        assert_eq!(link["operationId"], "status", "{link}");
        assert!(link.get("operation_id").is_none());
        assert!(ids.contains(&"status"));
        assert!(!all.is_empty());
        for r in all {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "dangling {r}");
        }
    }

    /// An error code named in a response's description is answered with that response's
    /// status: the document and `ApiErrorCode::status` cannot drift apart.
    #[test]
    fn documented_codes_have_their_status() {
        let doc: serde_json::Value = serde_json::from_str(document_json()).unwrap();
        let mut checked = 0;
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                for (status, r) in op["responses"].as_object().unwrap() {
                    let r = match r["$ref"].as_str() {
                        Some(rf) => doc.pointer(rf.strip_prefix('#').unwrap()).unwrap(),
                        None => r,
                    };
                    let text = r["description"].as_str().unwrap_or("");
                    for word in text.split('`').skip(1).step_by(2) {
                        if let Some(code) = vesper_api::ApiErrorCode::parse(word) {
                            assert_eq!(code.status().to_string(), *status, "{word}: {text}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 50, "{checked}");
    }
}

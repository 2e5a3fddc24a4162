//! API errors on the wire: the typed code of every error the gateway answers, with its HTTP
//! status, and the error body.
//!
//! **Invariant:** a code's string and status are defined here and nowhere else; codes are
//! stable (clients match on them), messages are for people.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Defines [`ApiErrorCode`] from one table: variant, wire string, HTTP status.
macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal),)*) => {
        /// The stable machine code of an API error (`error.code` in the body). Each code has
        /// exactly one HTTP status.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ApiErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ApiErrorCode {
            /// Every code, in the order of the table.
            pub const ALL: &'static [ApiErrorCode] = &[$(ApiErrorCode::$variant,)*];

            /// The code as it appears on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ApiErrorCode::$variant => $code,)*
                }
            }

            /// The HTTP status every answer with this code has.
            pub const fn status(self) -> u16 {
                match self {
                    $(ApiErrorCode::$variant => $status,)*
                }
            }

            /// The code named `s`, if it is one of ours (clients meet codes of newer gateways).
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($code => Some(ApiErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    // 400: the request is malformed.
    /// The HTTP layer refused the request as malformed.
    BadRequest = ("bad_request", 400),
    /// The body is not valid JSON for this route.
    InvalidJson = ("invalid_json", 400),
    /// The body could not be read.
    InvalidBody = ("invalid_body", 400),
    /// `POST /api/programs`: not a WebAssembly binary.
    InvalidModule = ("invalid_module", 400),
    InvalidIdempotencyKey = ("invalid_idempotency_key", 400),
    InvalidCallbackUrl = ("invalid_callback_url", 400),
    UnknownWorkloadType = ("unknown_workload_type", 400),
    InvalidKeyId = ("invalid_key_id", 400),
    /// `client_pubkey`, `encrypted_key` or `encrypted_payload` is malformed.
    InvalidEnvelope = ("invalid_envelope", 400),
    InvalidProgramId = ("invalid_program_id", 400),
    InvalidPriority = ("invalid_priority", 400),
    InvalidMaxRetries = ("invalid_max_retries", 400),
    InvalidMaxFuel = ("invalid_max_fuel", 400),
    /// A batch that is empty or over `max_batch`.
    InvalidBatch = ("invalid_batch", 400),
    InvalidQuery = ("invalid_query", 400),
    InvalidCursor = ("invalid_cursor", 400),
    /// `POST /api/admin/key-grants`: a malformed grant.
    InvalidGrant = ("invalid_grant", 400),
    /// A tenant name outside `[A-Za-z0-9._-]{1,64}`.
    InvalidTenantName = ("invalid_tenant_name", 400),
    /// A scope list that is empty or names an unknown scope.
    InvalidScopes = ("invalid_scopes", 400),
    /// A wallet that is not `ed25519:<64 hex>` or `eip191:0x<40 hex>`.
    InvalidWallet = ("invalid_wallet", 400),
    /// Tenant settings out of range (a weight outside 1–1000, a quota or limit of 0).
    InvalidSettings = ("invalid_settings", 400),
    /// A DSL document with errors (`POST /api/compile`, `/api/deploy`; the body lists them).
    InvalidDsl = ("invalid_dsl", 400),
    /// A customer id outside `[A-Za-z0-9._-]{1,128}`.
    InvalidCustomerId = ("invalid_customer_id", 400),
    /// A proof or public inputs that are not well-formed.
    InvalidProof = ("invalid_proof", 400),
    /// Uploaded keys that are malformed or do not fit the program's circuit.
    InvalidKeys = ("invalid_keys", 400),
    /// `POST /api/admin/tenants/{name}/credits`: an amount of 0 or over the limit.
    InvalidAmount = ("invalid_amount", 400),
    // 401: credentials (docs/AUTH.md §1).
    /// Missing or invalid credentials.
    Unauthorized = ("unauthorized", 401),
    /// Both a Bearer key and wallet headers.
    AmbiguousCredentials = ("ambiguous_credentials", 401),
    /// A wallet signature's timestamp outside the window.
    StaleRequest = ("stale_request", 401),
    SignatureInvalid = ("signature_invalid", 401),
    /// A wallet that is not mapped to a tenant.
    UnknownWallet = ("unknown_wallet", 401),
    ReplayedNonce = ("replayed_nonce", 401),
    /// A proof-gated route without the `X-Vesper-Proof*` headers (docs/DSL.md §10).
    ProofRequired = ("proof_required", 401),
    /// A proof that does not verify, or is not bound to this request, or states other public
    /// values than the gate requires.
    ProofInvalid = ("proof_invalid", 401),
    /// A proof's nonce seen before.
    ProofReplayed = ("proof_replayed", 401),
    // 402
    /// The proof gateway's payment check refused: the tenant's prepaid credits do not cover a
    /// proof (docs/DSL.md §10).
    PaymentRequired = ("payment_required", 402),
    // 403
    /// The credential lacks the route's scope.
    Forbidden = ("forbidden", 403),
    // 404
    RouteNotFound = ("route_not_found", 404),
    /// No such job for this tenant (a malformed id gets the same answer).
    JobNotFound = ("job_not_found", 404),
    TenantNotFound = ("tenant_not_found", 404),
    KeyRequestNotFound = ("key_request_not_found", 404),
    /// No live API key of this tenant has this id.
    KeyNotFound = ("key_not_found", 404),
    /// The wallet is not mapped to any tenant.
    WalletNotFound = ("wallet_not_found", 404),
    /// No deployment with this customer id or image id for this tenant.
    DeploymentNotFound = ("deployment_not_found", 404),
    // 405
    MethodNotAllowed = ("method_not_allowed", 405),
    // 409: the job (or the gateway) is not in a state that allows it.
    ResultNotReady = ("result_not_ready", 409),
    JobFailed = ("job_failed", 409),
    JobCancelled = ("job_cancelled", 409),
    NotCancellable = ("not_cancellable", 409),
    /// The gateway serves no remote workers.
    P2pDisabled = ("p2p_disabled", 409),
    TenantExists = ("tenant_exists", 409),
    /// The wallet already signs for a tenant.
    WalletExists = ("wallet_exists", 409),
    /// The customer id is another tenant's.
    CustomerIdTaken = ("customer_id_taken", 409),
    // 410
    ResultExpired = ("result_expired", 410),
    // 413, 414, 415
    PayloadTooLarge = ("payload_too_large", 413),
    UriTooLong = ("uri_too_long", 414),
    UnsupportedMediaType = ("unsupported_media_type", 415),
    // 422: well-formed, but naming something unknown or refused.
    UnknownKeyId = ("unknown_key_id", 422),
    ProgramNotFound = ("program_not_found", 422),
    IdempotencyConflict = ("idempotency_conflict", 422),
    CallbackAddressRefused = ("callback_address_refused", 422),
    // 429
    /// Per-tenant rate limit.
    RateLimited = ("rate_limited", 429),
    /// Per-client-address rate limit.
    IpRateLimited = ("ip_rate_limited", 429),
    QuotaExceeded = ("quota_exceeded", 429),
    /// Too many compilations or key setups at once; retry shortly.
    CompilerBusy = ("compiler_busy", 429),
    // 431
    HeadersTooLarge = ("headers_too_large", 431),
    // 5xx
    Internal = ("internal", 500),
    /// The store cannot answer (fail closed).
    Unavailable = ("unavailable", 503),
    TooManyStreams = ("too_many_streams", 503),
    /// `POST /api/prove`: no worker finished the proof in time (the job is cancelled when no
    /// worker took it yet; not charged either way).
    ProveTimeout = ("prove_timeout", 504),
}

impl std::fmt::Display for ApiErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// The job's status, on errors about a job that exists (`result_not_ready`, `job_failed`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::JobStatusName>, nullable = false)]
    pub job_status: Option<String>,
    /// The job an `idempotency_conflict` is about: the one the key already belongs to (keys
    /// are per tenant, so it is always the caller's own job).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        format = "uuid",
        example = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    )]
    pub job_id: Option<String>,
}

/// A stable machine code and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(example = "job_not_found")]
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &c in ApiErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
            );
            assert_eq!(ApiErrorCode::parse(s), Some(c));
            assert!((400..600).contains(&c.status()), "{s}");
        }
        assert_eq!(ApiErrorCode::parse("no_such_code"), None);
    }

    /// The statuses clients and the OpenAPI document rely on.
    #[test]
    fn statuses_are_pinned() {
        use ApiErrorCode::*;
        for (c, s) in [
            (Unauthorized, 401),
            (Forbidden, 403),
            (JobNotFound, 404),
            (CallbackAddressRefused, 422),
            (IdempotencyConflict, 422),
            (QuotaExceeded, 429),
            (ResultExpired, 410),
            (Unavailable, 503),
            (TooManyStreams, 503),
            (HeadersTooLarge, 431),
        ] {
            assert_eq!(c.status(), s, "{c}");
        }
    }

    #[test]
    fn error_body_is_byte_stable() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: ApiErrorCode::JobNotFound.as_str().into(),
                message: "no such job".into(),
            },
            job_status: None,
            job_id: None,
        };
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(
            json,
            r#"{"error":{"code":"job_not_found","message":"no such job"}}"#
        );
        assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), body);
    }
}

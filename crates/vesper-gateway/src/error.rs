use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vesper_store::StoreError;

/// An error as a client sees it: an HTTP status and a stable machine code.
///
/// Body: `{"error": {"code": "...", "message": "..."}}`, plus `job_status` where it helps.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub job_status: Option<&'static str>,
    /// The job the error is about, when the client may not know it (`idempotency_conflict`).
    pub job_id: Option<String>,
    /// Extra response headers (rate limits, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, axum::http::HeaderValue)>,
}

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorBody)]
pub(crate) struct Body<'a> {
    error: Inner<'a>,
    /// The job's status, on errors about a job that exists (`result_not_ready`, `job_failed`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::dto::JobStatusName>, nullable = false)]
    job_status: Option<&'a str>,
    /// The job an `idempotency_conflict` is about: the one the key already belongs to (keys
    /// are per tenant, so it is always the caller's own job).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        format = "uuid",
        example = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    )]
    job_id: Option<&'a str>,
}
/// A stable machine code and a sentence for people.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
pub(crate) struct Inner<'a> {
    #[schema(example = "job_not_found")]
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            job_status: None,
            job_id: None,
            headers: Vec::new(),
        }
    }
    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub fn code(&self) -> &'static str {
        self.code
    }
    pub fn with_headers(mut self, h: Vec<(&'static str, axum::http::HeaderValue)>) -> Self {
        self.headers.extend(h);
        self
    }
    pub fn unauthorized_with(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn forbidden(scope: vesper_core::Scope) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this credential lacks the `{}` scope", scope.as_str()),
        )
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 422: a well-formed request that names something unknown or not allowed here.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid credentials (API key or wallet signature)",
        )
    }
    pub fn job_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "job_not_found", "no such job")
    }
    pub fn with_job_status(mut self, s: &'static str) -> Self {
        self.job_status = Some(s);
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Fail closed: when the store cannot answer, nothing is accepted or authorised.
            StoreError::NoSpace => {
                tracing::error!(error = %e, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "store unavailable: no space left on the store's disk; nothing was stored, retry later",
                )
            }
            e if e.is_transient() => {
                tracing::error!(error = %e, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "store unavailable; retry later",
                )
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl From<crate::callbacks::CallbackError> for ApiError {
    fn from(e: crate::callbacks::CallbackError) -> Self {
        use crate::callbacks::CallbackError;
        match e {
            CallbackError::InvalidUrl { .. } => ApiError::bad_request(e.code(), e.to_string()),
            CallbackError::AddressRefused { .. } => ApiError::bad_request(
                e.code(),
                "callback_url points to an address this gateway does not call",
            ),
            other => {
                tracing::error!(error = %other, "callback error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
            job_status: self.job_status,
            job_id: self.job_id.as_deref(),
        };
        let mut resp = (self.status, Json(body)).into_response();
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        resp
    }
}

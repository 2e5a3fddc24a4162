use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vesper_api::{ApiErrorCode, ErrorBody, ErrorDetail};
use vesper_store::StoreError;

/// An error as a client sees it: a stable machine code (which fixes the HTTP status, see
/// [`ApiErrorCode::status`]) and a message.
///
/// Body: `{"error": {"code": "...", "message": "..."}}`, plus `job_status` where it helps.
#[derive(Debug)]
pub struct ApiError {
    code: ApiErrorCode,
    /// `code.status()`, except for refusals of the HTTP layer ([`ApiError::from_http_layer`]).
    status: StatusCode,
    pub message: String,
    pub job_status: Option<&'static str>,
    /// The job the error is about, when the client may not know it (`idempotency_conflict`).
    pub job_id: Option<String>,
    /// Extra response headers (rate limits, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, axum::http::HeaderValue)>,
}

fn http_status(code: ApiErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).expect("every ApiErrorCode has a valid status")
}

impl ApiError {
    pub fn new(code: ApiErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            status: http_status(code),
            message: message.into(),
            job_status: None,
            job_id: None,
            headers: Vec::new(),
        }
    }

    /// The JSON error for a status the HTTP layer (axum, hyper, tower-http) chose itself:
    /// the status stays, the code is the one that names it (`internal` for any 5xx,
    /// `bad_request` for a 4xx without a code of its own).
    pub(crate) fn from_http_layer(status: StatusCode, message: impl Into<String>) -> Self {
        use ApiErrorCode::*;
        let code = [
            BadRequest,
            RouteNotFound,
            MethodNotAllowed,
            PayloadTooLarge,
            UriTooLong,
            UnsupportedMediaType,
            HeadersTooLarge,
        ]
        .into_iter()
        .find(|c| c.status() == status.as_u16())
        .unwrap_or(if status.is_server_error() {
            Internal
        } else {
            BadRequest
        });
        ApiError {
            status,
            ..ApiError::new(code, message)
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub fn code(&self) -> ApiErrorCode {
        self.code
    }
    pub fn with_headers(mut self, h: Vec<(&'static str, axum::http::HeaderValue)>) -> Self {
        self.headers.extend(h);
        self
    }
    pub fn forbidden(scope: vesper_core::Scope) -> Self {
        Self::new(
            ApiErrorCode::Forbidden,
            format!("this credential lacks the `{}` scope", scope.as_str()),
        )
    }
    pub fn unauthorized() -> Self {
        Self::new(
            ApiErrorCode::Unauthorized,
            "missing or invalid credentials (API key or wallet signature)",
        )
    }
    pub fn job_not_found() -> Self {
        Self::new(ApiErrorCode::JobNotFound, "no such job")
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
                    ApiErrorCode::Unavailable,
                    "store unavailable: no space left on the store's disk; nothing was stored, retry later",
                )
            }
            e if e.is_transient() => {
                tracing::error!(error = %e, "store unavailable");
                ApiError::new(ApiErrorCode::Unavailable, "store unavailable; retry later")
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::new(ApiErrorCode::Internal, "internal error")
            }
        }
    }
}

/// A `callback_url` the gateway refuses: malformed (400) or naming an address the callback
/// policy refuses (422).
impl From<crate::callbacks::CallbackError> for ApiError {
    fn from(e: crate::callbacks::CallbackError) -> Self {
        match e.api_code() {
            Some(code) => ApiError::new(code, e.to_string()),
            None => {
                tracing::error!(error = %e, "callback error");
                ApiError::new(ApiErrorCode::Internal, "internal error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message,
            },
            job_status: self.job_status.map(str::to_owned),
            job_id: self.job_id,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_layer_keeps_its_status() {
        for (status, code) in [
            (StatusCode::NOT_FOUND, ApiErrorCode::RouteNotFound),
            (
                StatusCode::METHOD_NOT_ALLOWED,
                ApiErrorCode::MethodNotAllowed,
            ),
            (StatusCode::PAYLOAD_TOO_LARGE, ApiErrorCode::PayloadTooLarge),
            (StatusCode::URI_TOO_LONG, ApiErrorCode::UriTooLong),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ApiErrorCode::UnsupportedMediaType,
            ),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                ApiErrorCode::HeadersTooLarge,
            ),
            (StatusCode::BAD_REQUEST, ApiErrorCode::BadRequest),
            (StatusCode::REQUEST_TIMEOUT, ApiErrorCode::BadRequest),
            (StatusCode::LENGTH_REQUIRED, ApiErrorCode::BadRequest),
            (StatusCode::BAD_GATEWAY, ApiErrorCode::Internal),
            (StatusCode::INTERNAL_SERVER_ERROR, ApiErrorCode::Internal),
        ] {
            let e = ApiError::from_http_layer(status, "x");
            assert_eq!((e.status(), e.code()), (status, code));
        }
    }
}

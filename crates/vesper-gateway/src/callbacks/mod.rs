//! Job callbacks (webhooks), the HTTP side: URL validation, SSRF policy, the event body,
//! signed delivery and the retry schedule. The wire format is in `docs/CALLBACKS.md`.
//!
//! **Invariant:** the sender never opens a TCP connection to an address the
//! [`AddressPolicy`] refuses: IP-literal hosts are checked before the request and on every
//! redirect, names are checked by the client's resolver, and no proxy is used.
//!
//! **Boundary:** this module does no queueing. The durable outbox and the dispatcher call
//! [`validate_callback_url`] at submit time, build a [`CallbackEvent`] when a job ends, and
//! call [`CallbackSender::deliver`], waiting [`retry_delay`] between attempts while
//! [`DeliveryError::is_retryable`] says so.
//!
//! Delivery is at least once: receivers dedup by `Vesper-Event-Id`.

mod deliver;
mod ssrf;

use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use vesper_api::ApiErrorCode;
use vesper_core::{ErrorCode, JobId, JobStatus, Timestamp};
use vesper_store::JobRecord;

pub use deliver::{
    CALLBACK_DOMAIN, CallbackSender, DeliveryError, DeliveryTimeouts, MAX_REDIRECTS,
    signing_message, verify_callback,
};
pub use ssrf::{
    AddressPolicy, MAX_CALLBACK_URL_BYTES, Refusal, RefusedRange, UrlProblem, validate_callback_url,
};

/// Errors of callback URL validation, client setup and signature verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    #[error("invalid callback url ({problem})")]
    InvalidUrl { problem: UrlProblem },
    #[error("callback address refused")]
    AddressRefused {
        #[source]
        refusal: Refusal,
    },
    #[error("malformed callback header {header}")]
    MalformedHeader { header: &'static str },
    #[error("callback signature verification failed")]
    BadSignature,
    #[error("callback http client could not be built")]
    Client {
        #[source]
        source: reqwest::Error,
    },
}

impl CallbackError {
    /// The API error a refused `callback_url` is answered with; `None` for errors that are
    /// not about a client's URL.
    pub fn api_code(&self) -> Option<ApiErrorCode> {
        match self {
            CallbackError::InvalidUrl { .. } => Some(ApiErrorCode::InvalidCallbackUrl),
            CallbackError::AddressRefused { .. } => Some(ApiErrorCode::CallbackAddressRefused),
            _ => None,
        }
    }

    /// Stable machine code (the API's code for a refused URL).
    pub fn code(&self) -> &'static str {
        match self {
            CallbackError::InvalidUrl { .. } => ApiErrorCode::InvalidCallbackUrl.as_str(),
            CallbackError::AddressRefused { .. } => ApiErrorCode::CallbackAddressRefused.as_str(),
            CallbackError::MalformedHeader { .. } => "malformed_callback_header",
            CallbackError::BadSignature => "bad_callback_signature",
            CallbackError::Client { .. } => ApiErrorCode::Internal.as_str(),
        }
    }
}

/// Delivery attempts per event, the first included. After the last one fails, give up.
pub const MAX_ATTEMPTS: u32 = 8;
/// Wait after the first failed attempt; it doubles after each further failure.
pub const RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest wait between two attempts. With `MAX_ATTEMPTS = 8` the schedule is
/// 1, 2, 4, 8, 16, 32, 64 s (about 2 min in all) and the cap only bites if the number of
/// attempts is raised.
pub const RETRY_CAP: Duration = Duration::from_secs(5 * 60);

/// How long to wait before the next delivery attempt, given how many attempts have been
/// made (and failed) so far; `None` once [`MAX_ATTEMPTS`] have been made.
///
/// `retry_delay(0)` is zero (the first attempt goes out at once), then 1 s, 2 s, 4 s, ...
/// capped at [`RETRY_CAP`]. No jitter: the dispatcher may add its own.
pub fn retry_delay(attempts_made: u32) -> Option<Duration> {
    match attempts_made {
        0 => Some(Duration::ZERO),
        n if n >= MAX_ATTEMPTS => None,
        n => {
            let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
            Some(RETRY_BASE.saturating_mul(factor).min(RETRY_CAP))
        }
    }
}

/// The JSON body POSTed to a callback URL. No payload and no result: results stay encrypted
/// behind `GET /api/result`.
///
/// Build it once when the job ends and store its bytes: redeliveries must send the same body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallbackEvent {
    /// `evt_` + 32 hex digits, see [`event_id`].
    pub event_id: String,
    /// `job.completed`, `job.failed` or `job.cancelled`.
    pub event_type: &'static str,
    pub job_id: String,
    /// `completed`, `failed` or `cancelled`.
    pub status: &'static str,
    /// The job's error code when it failed, else `null`.
    pub error_code: Option<&'static str>,
    /// When the job was submitted, RFC 3339 UTC with milliseconds.
    pub created_at: String,
    /// When the job reached this status, RFC 3339 UTC with milliseconds.
    pub occurred_at: String,
}

impl CallbackEvent {
    /// The event for a job that reached `status`; `None` unless `status` is terminal.
    /// `error` is reported for failed jobs only.
    pub fn new(
        job_id: &JobId,
        status: JobStatus,
        error: Option<ErrorCode>,
        created_at: Timestamp,
        occurred_at: Timestamp,
    ) -> Option<Self> {
        let event_type = match status {
            JobStatus::Completed => "job.completed",
            JobStatus::Failed => "job.failed",
            JobStatus::Cancelled => "job.cancelled",
            JobStatus::Queued | JobStatus::Processing => return None,
        };
        Some(CallbackEvent {
            event_id: event_id(job_id, status),
            event_type,
            job_id: job_id.to_string(),
            status: status.as_str(),
            error_code: match status {
                JobStatus::Failed => error.map(ErrorCode::as_str),
                _ => None,
            },
            created_at: crate::dto::rfc3339(created_at),
            occurred_at: crate::dto::rfc3339(occurred_at),
        })
    }

    /// The event for a job record in a terminal state.
    pub fn from_record(job: &JobRecord, occurred_at: Timestamp) -> Option<Self> {
        Self::new(
            &job.job_id,
            job.status,
            job.error,
            job.created_at,
            occurred_at,
        )
    }

    /// The exact body bytes to send.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings and options cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Deterministic event id: `evt_` + hex of the first 16 bytes of
/// `SHA-256(job_id || status)`, with the job id in its canonical hyphenated form and the status
/// as in the API (`completed`, ...). The same job reaching the same status always gets the
/// same id, so a redelivery carries the id the receiver already saw.
pub fn event_id(job_id: &JobId, status: JobStatus) -> String {
    let mut h = Sha256::new();
    h.update(job_id.to_string().as_bytes());
    h.update(status.as_str().as_bytes());
    let d = h.finalize();
    format!("evt_{}", hex::encode(&d[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_id() -> JobId {
        "0190f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506".parse().unwrap()
    }

    #[test]
    fn retry_schedule() {
        let secs: Vec<_> = (0..=MAX_ATTEMPTS + 2)
            .map(|n| retry_delay(n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            secs,
            [
                Some(0),
                Some(1),
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(32),
                Some(64),
                None,
                None,
                None
            ]
        );
        assert_eq!(retry_delay(u32::MAX), None);
        // The cap holds for any exponent, should MAX_ATTEMPTS grow.
        for n in 1..MAX_ATTEMPTS {
            assert!(retry_delay(n).unwrap() <= RETRY_CAP);
        }
    }

    #[test]
    fn event_id_is_deterministic_and_per_status() {
        let id = job_id();
        let a = event_id(&id, JobStatus::Completed);
        assert_eq!(a, event_id(&id, JobStatus::Completed));
        assert_ne!(a, event_id(&id, JobStatus::Failed));
        assert_ne!(a, event_id(&JobId::new_random(), JobStatus::Completed));
        assert_eq!(a.len(), 4 + 32);
        // Known answer, so that other implementations can check theirs:
        // SHA-256("0190f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506completed")[..16].
        let mut h = Sha256::new();
        h.update(b"0190f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506completed");
        assert_eq!(a, format!("evt_{}", hex::encode(&h.finalize()[..16])));
        assert_eq!(a, "evt_c658f8336b4da87d74be44d789fc2190");
        assert_eq!(
            event_id(&id, JobStatus::Failed),
            "evt_325efd428db27fa2f0146be8b03629b1"
        );
    }

    #[test]
    fn event_json_shape() {
        let id = job_id();
        let ev = CallbackEvent::new(
            &id,
            JobStatus::Failed,
            Some(ErrorCode::FuelExhausted),
            Timestamp(1_700_000_000_000),
            Timestamp(1_700_000_012_345),
        )
        .unwrap();
        let json = String::from_utf8(ev.to_json()).unwrap();
        assert_eq!(
            json,
            format!(
                "{{\"event_id\":\"{}\",\"event_type\":\"job.failed\",\
                 \"job_id\":\"0190f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506\",\"status\":\"failed\",\
                 \"error_code\":\"fuel_exhausted\",\"created_at\":\"2023-11-14T22:13:20.000Z\",\
                 \"occurred_at\":\"2023-11-14T22:13:32.345Z\"}}",
                event_id(&id, JobStatus::Failed)
            )
        );

        let done = CallbackEvent::new(
            &id,
            JobStatus::Completed,
            Some(ErrorCode::Trap), // ignored: only failures carry a code
            Timestamp(0),
            Timestamp(1),
        )
        .unwrap();
        assert_eq!(done.event_type, "job.completed");
        assert_eq!(done.error_code, None);
        assert!(
            String::from_utf8(done.to_json())
                .unwrap()
                .contains("\"error_code\":null")
        );

        let cancelled =
            CallbackEvent::new(&id, JobStatus::Cancelled, None, Timestamp(0), Timestamp(1))
                .unwrap();
        assert_eq!(cancelled.event_type, "job.cancelled");
        assert_eq!(cancelled.status, "cancelled");

        for s in [JobStatus::Queued, JobStatus::Processing] {
            assert!(CallbackEvent::new(&id, s, None, Timestamp(0), Timestamp(0)).is_none());
        }
    }
}

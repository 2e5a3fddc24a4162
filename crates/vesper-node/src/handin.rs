//! The one hand-in path, shared by local workers (`worker.rs`) and the gateway's side of the
//! remote protocol (`remote/server.rs`, for remote workers): complete or fail a lease through
//! a [`JobSource`], count it (`vesper_jobs_completed_total`,
//! `vesper_job_execution_duration_seconds`, and `vesper_jobs_failed_total{error_code}` when the
//! job gives up), and, when the store refuses a receipt that misstates the job, count the
//! refusal (`vesper_receipts_refused_total{field}`) and end the attempt as `bad_receipt` so
//! that the job is retried without waiting out its lease (docs/RECEIPT.md §6).
//!
//! Callers keep what is theirs: a local worker retries while the store is unreachable and
//! logs; the remote pool moves the worker's record and reputation and answers the peer.

use vesper_core::{ErrorCode, ReceiptField, RetryDecision, RetryPolicy, Timestamp};
use vesper_store::{LeaseRef, NewResult, StoreError};

use crate::source::{JobSource, SourceError};

/// What a worker hands in for its lease.
#[allow(clippy::large_enum_variant)] // one per hand-in, moved, never stored
#[derive(Clone, Debug)]
pub enum HandIn {
    Completed(NewResult),
    Failed(ErrorCode),
}

/// What became of a hand-in the store took.
#[derive(Debug)]
pub enum HandedIn {
    Completed,
    Failed(RetryDecision),
    /// The store refused the receipt: it misstates `field`. `ended` is what ending the attempt
    /// as `bad_receipt` gave (a fenced lease there means someone else ended it first).
    Refused {
        field: ReceiptField,
        ended: Result<RetryDecision, SourceError>,
    },
}

/// Hand `hand_in` in for `lease`. `Err` is the store's answer to the hand-in itself (`Fenced`,
/// `NotFound`, or a transient failure the caller may retry).
pub async fn hand_in(
    source: &dyn JobSource,
    lease: &LeaseRef,
    hand_in: HandIn,
    now: Timestamp,
    retry: RetryPolicy,
) -> Result<HandedIn, SourceError> {
    match hand_in {
        HandIn::Completed(result) => {
            let exec_secs = result.receipt.execution_time_ms as f64 / 1000.0;
            let answer = source.complete(lease, result, now).await;
            completed(source, lease, answer, exec_secs, now, retry).await
        }
        HandIn::Failed(code) => fail(source, lease, code, now, retry)
            .await
            .map(HandedIn::Failed),
    }
}

/// Hand several completed leases in with one store call ([`JobSource::complete_batch`]), each
/// counted and, when refused, ended as `bad_receipt`, exactly as [`hand_in`] does for one. The
/// outer `Err` means the store took none of them (the caller may retry them all).
pub async fn complete_batch(
    source: &dyn JobSource,
    items: Vec<(LeaseRef, NewResult)>,
    now: Timestamp,
    retry: RetryPolicy,
) -> Result<Vec<Result<HandedIn, SourceError>>, SourceError> {
    let leases: Vec<(LeaseRef, f64)> = items
        .iter()
        .map(|(l, r)| (l.clone(), r.receipt.execution_time_ms as f64 / 1000.0))
        .collect();
    let answers = source.complete_batch(items, now).await?;
    if answers.len() != leases.len() {
        return Err(SourceError::Refused(
            "the store answered a different number of hand-ins".into(),
        ));
    }
    let mut out = Vec::with_capacity(answers.len());
    for ((lease, exec_secs), answer) in leases.into_iter().zip(answers) {
        out.push(completed(source, &lease, answer, exec_secs, now, retry).await);
    }
    Ok(out)
}

/// The store's answer to one completion, counted; a refused receipt ends the attempt.
async fn completed(
    source: &dyn JobSource,
    lease: &LeaseRef,
    answer: Result<(), SourceError>,
    exec_secs: f64,
    now: Timestamp,
    retry: RetryPolicy,
) -> Result<HandedIn, SourceError> {
    match answer {
        Ok(()) => {
            metrics::counter!(vesper_api::metrics::JOBS_COMPLETED).increment(1);
            metrics::histogram!(vesper_api::metrics::JOB_DURATION).record(exec_secs);
            Ok(HandedIn::Completed)
        }
        Err(SourceError::Store(StoreError::BadReceipt { field, .. })) => {
            metrics::counter!(vesper_api::metrics::RECEIPTS_REFUSED, "field" => field.as_str())
                .increment(1);
            let ended = fail(source, lease, ErrorCode::BadReceipt, now, retry).await;
            Ok(HandedIn::Refused { field, ended })
        }
        Err(e) => Err(e),
    }
}

async fn fail(
    source: &dyn JobSource,
    lease: &LeaseRef,
    code: ErrorCode,
    now: Timestamp,
    retry: RetryPolicy,
) -> Result<RetryDecision, SourceError> {
    let d = source.fail(lease, code, now, retry).await?;
    if matches!(d, RetryDecision::Fail { .. }) {
        metrics::counter!(vesper_api::metrics::JOBS_FAILED, "error_code" => code.as_str())
            .increment(1);
    }
    Ok(d)
}

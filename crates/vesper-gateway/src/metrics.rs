//! Prometheus metrics (`GET /metrics`): the seed's series under a `vesper_` prefix, plus HTTP
//! request metrics. Labels carry codes and route templates only, never user data. The names
//! are defined in `vesper_api::metrics` (re-exported here); this module installs the exporter.
//!
//! Series (also in docs/OBSERVABILITY.md):
//! - `vesper_jobs_submitted_total{workload_type}`
//! - `vesper_jobs_completed_total`, `vesper_jobs_failed_total{error_code}` (workers)
//! - `vesper_job_execution_duration_seconds` histogram (workers)
//! - `vesper_queue_depth`, `vesper_worker_count` gauges (read at scrape time)
//! - `vesper_http_requests_total{method,route,status}`,
//!   `vesper_http_request_duration_seconds{method,route}` histogram
//! - `vesper_rate_limited_total{scope}`, `vesper_callbacks_total{outcome}`
//! - `vesper_receipts_refused_total{field}`: hand-ins refused because the receipt misstated
//!   the job (docs/RECEIPT.md §6)
//! - `vesper_http_connections_open` gauge, `vesper_http_connections_refused_total{reason}`
//!
//! Counters with a closed label set are exported at 0 from the start.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use vesper_api::metrics::*;

/// The process-wide recorder. Installed once; every gateway in the process shares it.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

impl Metrics {
    pub fn install() -> Self {
        let handle = HANDLE
            .get_or_init(|| {
                let builder = PrometheusBuilder::new()
                    .set_buckets_for_metric(
                        Matcher::Full(JOB_DURATION.into()),
                        &[
                            0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0,
                        ],
                    )
                    .and_then(|b| {
                        b.set_buckets_for_metric(
                            Matcher::Full(HTTP_DURATION.into()),
                            &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0],
                        )
                    })
                    .expect("static bucket lists are not empty");
                let recorder = builder.build_recorder();
                let handle = recorder.handle();
                // Another recorder may already be installed (an embedding program's): then our
                // series go there, and ours renders empty. Not an error for the gateway.
                let _ = metrics::set_global_recorder(recorder);
                describe();
                export_at_zero();
                handle
            })
            .clone();
        Metrics { handle }
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drain histogram samples into their buckets. Without a scrape they would otherwise
    /// accumulate; called periodically by [`crate::Gateway::housekeeping`].
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

fn describe() {
    metrics::describe_counter!(JOBS_SUBMITTED, "Jobs accepted by the gateway");
    metrics::describe_counter!(JOBS_COMPLETED, "Jobs completed by workers");
    metrics::describe_counter!(JOBS_FAILED, "Jobs failed for good, by error code");
    metrics::describe_histogram!(
        JOB_DURATION,
        metrics::Unit::Seconds,
        "Time a job ran in the sandbox"
    );
    metrics::describe_gauge!(QUEUE_DEPTH, "Jobs queued, not yet started");
    metrics::describe_gauge!(WORKER_COUNT, "Registered workers");
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests answered");
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request"
    );
    metrics::describe_counter!(RATE_LIMITED, "Requests refused by a rate limit");
    metrics::describe_counter!(CALLBACKS, "Callback delivery attempts, by outcome");
    metrics::describe_gauge!(CONNECTIONS_OPEN, "HTTP connections open now");
    metrics::describe_counter!(
        CONNECTIONS_REFUSED,
        "HTTP connections refused at accept by a connection cap, by reason (global, per_ip)"
    );
    metrics::describe_counter!(
        RECEIPTS_REFUSED,
        "Hand-ins refused because the receipt misstated the job, by field"
    );
}

/// Every counter with a closed set of labels, registered at 0 so that a fresh node's
/// `/metrics` lists it (Prometheus practice: a series that appears only after its first event
/// breaks `rate()` and alerts on absence). HTTP series are labelled by route and status and
/// appear with their first request.
fn export_at_zero() {
    for w in vesper_core::WorkloadType::ALL {
        metrics::counter!(JOBS_SUBMITTED, "workload_type" => w.as_str()).increment(0);
    }
    metrics::counter!(JOBS_COMPLETED).increment(0);
    for c in vesper_core::ErrorCode::ALL {
        metrics::counter!(JOBS_FAILED, "error_code" => c.as_str()).increment(0);
    }
    metrics::counter!(RATE_LIMITED).increment(0);
    for o in ["delivered", "retry", "dead"] {
        metrics::counter!(CALLBACKS, "outcome" => o).increment(0);
    }
    for f in vesper_core::ReceiptField::ALL {
        metrics::counter!(RECEIPTS_REFUSED, "field" => f.as_str()).increment(0);
    }
    for r in ["global", "per_ip"] {
        metrics::counter!(CONNECTIONS_REFUSED, "reason" => r).increment(0);
    }
}

/// Middleware: count and time every request by route template (never the raw path).
pub async fn http_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    if resp.status() == axum::http::StatusCode::TOO_MANY_REQUESTS {
        metrics::counter!(RATE_LIMITED).increment(1);
    }
    resp
}

//! Metric names (Prometheus series, docs/OBSERVABILITY.md). Names only: the exporter is
//! installed by the gateway (`vesper_gateway::metrics::Metrics`), and workers record job
//! metrics under these names through the `metrics` facade.
//!
//! Series:
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
//! - `vesper_jobs_forgotten_total`: finished jobs forgotten by the retention sweep
//!   (docs/STORAGE.md, "Retention")

pub const JOBS_SUBMITTED: &str = "vesper_jobs_submitted_total";
pub const JOBS_COMPLETED: &str = "vesper_jobs_completed_total";
pub const JOBS_FAILED: &str = "vesper_jobs_failed_total";
pub const JOB_DURATION: &str = "vesper_job_execution_duration_seconds";
pub const QUEUE_DEPTH: &str = "vesper_queue_depth";
pub const WORKER_COUNT: &str = "vesper_worker_count";
pub const HTTP_REQUESTS: &str = "vesper_http_requests_total";
pub const HTTP_DURATION: &str = "vesper_http_request_duration_seconds";
pub const RATE_LIMITED: &str = "vesper_rate_limited_total";
pub const CALLBACKS: &str = "vesper_callbacks_total";
pub const RECEIPTS_REFUSED: &str = "vesper_receipts_refused_total";
pub const CONNECTIONS_OPEN: &str = "vesper_http_connections_open";
pub const CONNECTIONS_REFUSED: &str = "vesper_http_connections_refused_total";
pub const JOBS_FORGOTTEN: &str = "vesper_jobs_forgotten_total";

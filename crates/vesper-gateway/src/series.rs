//! The last minutes of the gateway's own metrics as a JSON time series
//! (`GET /api/metrics/series`), for the web console's charts.
//!
//! Every [`SERIES_INTERVAL`] a supervised task ([`crate::Gateway::sample_series`]) reads the
//! process's Prometheus registry (the same text `GET /metrics` serves) and the queue depth, and
//! turns the change since the previous reading into one [`SeriesSample`]: rates per second
//! and run-time percentiles estimated from the histogram's buckets, as Prometheus'
//! `histogram_quantile` does. [`SERIES_KEEP`] samples are kept (10 minutes).
//!
//! The series holds counts and durations only, never labels with user data (the registry has
//! none). Counters are this process's: with several gateways on one Redis, each draws its own.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use vesper_api::{SeriesResponse, SeriesSample};
use vesper_core::Scope;

use crate::auth::Caller;
use crate::metrics::{HTTP_REQUESTS, JOB_DURATION, JOBS_COMPLETED, JOBS_FAILED, JOBS_SUBMITTED};
use crate::openapi::{Forbidden, TooManyRequests, Unauthorized};
use crate::{ApiError, Gateway};

/// Time between samples.
pub const SERIES_INTERVAL: Duration = Duration::from_secs(2);
/// Samples kept: 10 minutes at [`SERIES_INTERVAL`].
pub const SERIES_KEEP: usize = 300;

/// Cumulative readings of the registry at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub t_ms: u64,
    pub submitted: f64,
    pub completed: f64,
    pub failed: f64,
    pub http: f64,
    pub http_5xx: f64,
    /// The run-time histogram: (upper bound in seconds, cumulative count), ascending, `+Inf`
    /// last.
    pub run_buckets: Vec<(f64, f64)>,
}

impl Totals {
    /// Read the totals out of Prometheus text exposition (the format `GET /metrics` serves).
    /// Series are summed over their labels; lines that do not parse are ignored.
    pub fn from_prometheus(text: &str, t_ms: u64) -> Totals {
        let mut t = Totals {
            t_ms,
            ..Totals::default()
        };
        let bucket_name = format!("{JOB_DURATION}_bucket");
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            match name {
                n if n == JOBS_SUBMITTED => t.submitted += value,
                n if n == JOBS_COMPLETED => t.completed += value,
                n if n == JOBS_FAILED => t.failed += value,
                n if n == HTTP_REQUESTS => {
                    t.http += value;
                    if label(labels, "status").is_some_and(|s| s.starts_with('5')) {
                        t.http_5xx += value;
                    }
                }
                n if n == bucket_name => {
                    let le = match label(labels, "le") {
                        Some("+Inf") => f64::INFINITY,
                        Some(x) => match x.parse() {
                            Ok(x) => x,
                            Err(_) => continue,
                        },
                        None => continue,
                    };
                    match t.run_buckets.iter_mut().find(|(b, _)| *b == le) {
                        Some((_, c)) => *c += value,
                        None => t.run_buckets.push((le, value)),
                    }
                }
                _ => {}
            }
        }
        t.run_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        t
    }
}

/// A label's value in `a="x",b="y"` (values here never contain quotes or commas).
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// The sample for the interval between two readings.
pub fn sample(prev: &Totals, cur: &Totals, queue_depth: u64) -> SeriesSample {
    let secs = (cur.t_ms.saturating_sub(prev.t_ms) as f64 / 1000.0).max(1e-3);
    // Counters only grow; a smaller reading (a registry reset) counts as no change.
    let rate = |a: f64, b: f64| ((b - a).max(0.0)) / secs;
    let deltas: Vec<(f64, f64)> = cur
        .run_buckets
        .iter()
        .map(|&(le, c)| {
            let before = prev
                .run_buckets
                .iter()
                .find(|(l, _)| *l == le)
                .map_or(0.0, |(_, c)| *c);
            (le, (c - before).max(0.0))
        })
        .collect();
    SeriesSample {
        t_ms: cur.t_ms,
        submitted_per_sec: rate(prev.submitted, cur.submitted),
        completed_per_sec: rate(prev.completed, cur.completed),
        failed_per_sec: rate(prev.failed, cur.failed),
        queue_depth,
        run_ms_p50: quantile(&deltas, 0.5).map(|s| s * 1000.0),
        run_ms_p99: quantile(&deltas, 0.99).map(|s| s * 1000.0),
        http_per_sec: rate(prev.http, cur.http),
        http_5xx_per_sec: rate(prev.http_5xx, cur.http_5xx),
    }
}

/// The `q` quantile of cumulative buckets `(upper bound, count)`, interpolated linearly
/// within its bucket (the first bucket from 0); `None` without observations. A quantile in
/// the `+Inf` bucket is the highest finite bound.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let within = count - lower.1;
            let frac = if within > 0.0 {
                (rank - lower.1) / within
            } else {
                1.0
            };
            return Some(lower.0 + (le - lower.0) * frac);
        }
        lower = (le, count);
    }
    Some(lower.0)
}

/// The kept samples and the last reading.
#[derive(Default)]
pub struct Series {
    state: Mutex<SeriesState>,
}

#[derive(Default)]
struct SeriesState {
    last: Option<Totals>,
    samples: VecDeque<SeriesSample>,
}

impl Series {
    /// Take a reading: from the second one on, it adds a sample.
    pub fn push(&self, cur: Totals, queue_depth: u64) {
        let mut s = self.state.lock().expect("series lock");
        if let Some(prev) = &s.last {
            let next = sample(prev, &cur, queue_depth);
            if s.samples.len() == SERIES_KEEP {
                s.samples.pop_front();
            }
            s.samples.push_back(next);
        }
        s.last = Some(cur);
    }

    pub fn samples(&self) -> Vec<SeriesSample> {
        let s = self.state.lock().expect("series lock");
        s.samples.iter().cloned().collect()
    }
}

impl Gateway {
    /// Take one reading of the registry and the queue depth (see the module docs).
    pub async fn sample_series(&self) {
        let depth = match self.store.queue_depth().await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "queue depth unavailable for the series");
                return;
            }
        };
        let text = self.metrics.render();
        self.series
            .push(Totals::from_prometheus(&text, self.clock.now().0), depth);
    }

    /// Sample the series every [`SERIES_INTERVAL`] until `stop`.
    pub async fn run_series(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let mut tick = tokio::time::interval(SERIES_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => self.sample_series().await,
                _ = stop.cancelled() => break,
            }
        }
    }
}

/// The last minutes of the gateway's metrics, oldest first.
#[utoipa::path(
    get,
    path = "/api/metrics/series",
    operation_id = "metrics_series",
    tag = "system",
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "Samples of the gateway's own metrics every `interval_ms`, \
            oldest first, at most 10 minutes", body = SeriesResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
    ),
)]
pub(crate) async fn metrics_series(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
) -> Result<Json<SeriesResponse>, ApiError> {
    caller.need(Scope::Read)?;
    Ok(Json(SeriesResponse {
        interval_ms: SERIES_INTERVAL.as_millis() as u64,
        samples: gw.series.samples(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP vesper_jobs_completed_total Jobs completed by workers
# TYPE vesper_jobs_completed_total counter
vesper_jobs_completed_total 10
vesper_jobs_submitted_total{workload_type="general"} 7
vesper_jobs_submitted_total{workload_type="ai_inference"} 5
vesper_jobs_failed_total{error_code="fuel_exhausted"} 1
vesper_http_requests_total{method="GET",route="/api/jobs",status="200"} 20
vesper_http_requests_total{method="GET",route="/api/jobs",status="503"} 2
vesper_job_execution_duration_seconds_bucket{le="0.001"} 4
vesper_job_execution_duration_seconds_bucket{le="0.005"} 8
vesper_job_execution_duration_seconds_bucket{le="+Inf"} 10
vesper_job_execution_duration_seconds_sum 0.5
"#;

    #[test]
    fn reads_counters_and_buckets() {
        let t = Totals::from_prometheus(TEXT, 5_000);
        assert_eq!(t.submitted, 12.0);
        assert_eq!(t.completed, 10.0);
        assert_eq!(t.failed, 1.0);
        assert_eq!((t.http, t.http_5xx), (22.0, 2.0));
        assert_eq!(
            t.run_buckets,
            vec![(0.001, 4.0), (0.005, 8.0), (f64::INFINITY, 10.0)]
        );
    }

    #[test]
    fn a_sample_is_the_change_per_second() {
        let prev = Totals {
            t_ms: 3_000,
            submitted: 2.0,
            completed: 0.0,
            run_buckets: vec![(0.001, 0.0), (0.005, 0.0), (f64::INFINITY, 0.0)],
            ..Totals::default()
        };
        let cur = Totals::from_prometheus(TEXT, 5_000);
        let s = sample(&prev, &cur, 3);
        assert_eq!(s.submitted_per_sec, 5.0);
        assert_eq!(s.completed_per_sec, 5.0);
        assert_eq!(s.http_5xx_per_sec, 1.0);
        assert_eq!(s.queue_depth, 3);
        // 10 observations: rank 5 lies in the second bucket (4 < 5 ≤ 8), a quarter in.
        let p50 = s.run_ms_p50.unwrap();
        assert!((p50 - 2.0).abs() < 1e-9, "{p50}");
        // Rank 9.9 is in +Inf: the highest finite bound.
        assert_eq!(s.run_ms_p99, Some(5.0));
        // No observations in an interval: no percentiles.
        let same = sample(&cur, &cur, 0);
        assert_eq!((same.run_ms_p50, same.completed_per_sec), (None, 0.0));
    }

    #[test]
    fn keeps_the_last_ten_minutes() {
        let s = Series::default();
        for i in 0..(SERIES_KEEP as u64 + 10) {
            s.push(
                Totals {
                    t_ms: i * 2_000,
                    completed: i as f64,
                    ..Totals::default()
                },
                0,
            );
        }
        let samples = s.samples();
        assert_eq!(samples.len(), SERIES_KEEP);
        assert_eq!(
            samples.last().unwrap().t_ms,
            (SERIES_KEEP as u64 + 9) * 2_000
        );
        assert!(samples.iter().all(|x| x.completed_per_sec == 0.5));
    }
}

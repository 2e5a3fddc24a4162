//! Long-poll support: handlers park on a job id and are woken when the store reports that job
//! reached a terminal state. Also measures the completion rate for `estimated_wait`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{broadcast, oneshot};
use vesper_core::{Clock, JobId, Timestamp};
use vesper_store::JobEvent;

/// Most parked requests at once; past this, `?wait` returns immediately.
const MAX_WAITERS: usize = 10_000;

#[derive(Default)]
pub struct Waiters {
    map: Mutex<HashMap<JobId, Vec<oneshot::Sender<()>>>>,
}

impl Waiters {
    /// Register interest in `id`. `None` when too many are parked.
    pub fn park(&self, id: JobId) -> Option<oneshot::Receiver<()>> {
        let mut map = self.map.lock().expect("waiters");
        let total: usize = map.values().map(Vec::len).sum();
        if total >= MAX_WAITERS {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        map.entry(id).or_default().push(tx);
        Some(rx)
    }
    /// Drop closed senders for `id` (the waiter timed out).
    pub fn prune(&self, id: &JobId) {
        let mut map = self.map.lock().expect("waiters");
        if let Some(v) = map.get_mut(id) {
            v.retain(|tx| !tx.is_closed());
            if v.is_empty() {
                map.remove(id);
            }
        }
    }
    fn wake(&self, id: &JobId) {
        if let Some(v) = self.map.lock().expect("waiters").remove(id) {
            for tx in v {
                let _ = tx.send(());
            }
        }
    }
    fn wake_all(&self) {
        for (_, v) in self.map.lock().expect("waiters").drain() {
            for tx in v {
                let _ = tx.send(());
            }
        }
    }
}

/// Completion rate, as an exponentially weighted moving average over ~10 s windows.
#[derive(Default)]
pub struct Stats {
    window_start_ms: AtomicU64,
    window_count: AtomicU64,
    /// Jobs per second, times 1000.
    rate_milli: AtomicU64,
    /// Cached queue depth and when it was read.
    pub depth: AtomicU64,
    pub depth_at_ms: AtomicU64,
}

const WINDOW_MS: u64 = 2_000;

impl Stats {
    fn record_done(&self, now: Timestamp) {
        let start = self.window_start_ms.load(Ordering::Relaxed);
        if start == 0 {
            self.window_start_ms.store(now.0, Ordering::Relaxed);
        }
        let n = self.window_count.fetch_add(1, Ordering::Relaxed) + 1;
        let elapsed = now.0.saturating_sub(start);
        if start != 0 && elapsed >= WINDOW_MS {
            let rate = n * 1_000_000 / elapsed.max(1);
            let old = self.rate_milli.load(Ordering::Relaxed);
            let new = if old == 0 { rate } else { (old * 4 + rate) / 5 };
            self.rate_milli.store(new, Ordering::Relaxed);
            self.window_start_ms.store(now.0, Ordering::Relaxed);
            self.window_count.store(0, Ordering::Relaxed);
        }
    }
    /// Seconds until a job entering behind `depth` others starts, at the measured rate.
    pub fn estimated_wait_secs(&self, depth: u64) -> u64 {
        let rate_milli = self.rate_milli.load(Ordering::Relaxed);
        if depth == 0 {
            return 0;
        }
        if rate_milli == 0 {
            // No measurement yet: say nothing precise, but not zero either.
            return 1;
        }
        (depth * 1000).div_ceil(rate_milli)
    }
}

/// Turn store events into wake-ups until `stop` (the supervised task `gateway/events`; a
/// restart subscribes afresh and wakes every waiter, since it may have missed events).
pub async fn event_pump(
    mut events: broadcast::Receiver<JobEvent>,
    waiters: Arc<Waiters>,
    stats: Arc<Stats>,
    clock: Arc<dyn Clock>,
    stop: tokio_util::sync::CancellationToken,
) {
    waiters.wake_all();
    loop {
        let ev = tokio::select! {
            ev = events.recv() => ev,
            _ = stop.cancelled() => break,
        };
        match ev {
            Ok(ev) => {
                if ev.status.is_terminal() {
                    stats.record_done(clock.now());
                    waiters.wake(&ev.job_id);
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => waiters.wake_all(),
            Err(broadcast::error::RecvError::Closed) => {
                waiters.wake_all();
                // The store is gone: nothing more will come; wait for shutdown.
                stop.cancelled().await;
                break;
            }
        }
    }
}

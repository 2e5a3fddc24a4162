//! The task supervisor every long-running task of a node runs under.
//!
//! A task has a **name** (`worker/w0`, `http`, `p2p/swarm`, …) and a **policy**:
//! - [`Policy::Restart`]: a panic, an error, or a return before shutdown is logged with the
//!   task's name and the task is started again after a backoff (doubling from
//!   [`Backoff::initial`] up to [`Backoff::max`]; a run that lasted [`Backoff::reset_after`]
//!   starts the doubling over). The task's `make` closure builds a fresh future for each run.
//! - [`Policy::FailFast`]: the same failure stops the node: the supervisor's stop token is
//!   cancelled, every other task drains, and [`Supervisor::shutdown`] returns the
//!   [`Failure`] (the binary exits non-zero). For tasks that own something that cannot be
//!   rebuilt in place (a bound listener, the swarm, a channel's receiving end).
//!
//! [`Health`] is a read-only view for `/health`: a task is *degraded* while it is down
//! (waiting to restart, or failed for good) and for a while after a restart that followed a
//! failure ([`Supervisor::with_degraded_for`], 60 s by default), so that a monitor polling
//! every 30 s still sees a crash loop or a single crash.
//!
//! Time is tokio's (`tokio::time`), so tests may pause or advance it.
//!
//! **Test hook (debug builds only):** `VESPER_TEST_PANIC=<task>[@<ms>][,…]` makes the named
//! task's first run panic after `ms` milliseconds (default 0), as if its own code had
//! panicked. Release builds compile it out.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What happens when a task panics, fails or returns before shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Start it again after a backoff; the node keeps running (degraded meanwhile).
    Restart(Backoff),
    /// Stop the node: every other task drains and [`Supervisor::shutdown`] reports the failure.
    FailFast,
}

impl Policy {
    /// Restart with [`Backoff::DEFAULT`].
    pub const RESTART: Policy = Policy::Restart(Backoff::DEFAULT);
}

/// Delays between restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay; each further restart doubles it.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// A run that lasted this long counts as healthy: the next delay is `initial` again.
    pub reset_after: Duration,
}

impl Backoff {
    /// 1 s, doubling up to 30 s; reset after a minute of running.
    pub const DEFAULT: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
        reset_after: Duration::from_secs(60),
    };
}

/// What a task's run returns: `()` or `Result<(), E>`; an `Err` is a failure.
pub trait TaskOutput: Send + 'static {
    fn into_result(self) -> Result<(), String>;
}

impl TaskOutput for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Display + Send + 'static> TaskOutput for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    Running,
    /// Failed; waiting out its backoff before the next run.
    Restarting,
    /// Failed for good (a fail-fast task).
    Failed,
    /// Ended after shutdown began.
    Stopped,
}

impl TaskState {
    /// The name `/health` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Restarting => "restarting",
            TaskState::Failed => "failed",
            TaskState::Stopped => "stopped",
        }
    }
}

/// One task, as [`Health::report`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskStatus {
    pub name: String,
    pub state: TaskState,
    /// Restarts after a failure so far.
    pub restarts: u32,
    /// Down, or restarted after a failure less than the degraded window ago.
    pub degraded: bool,
}

/// A snapshot of every supervised task, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub tasks: Vec<TaskStatus>,
}

impl Report {
    pub fn is_degraded(&self) -> bool {
        self.tasks.iter().any(|t| t.degraded)
    }
    /// The degraded tasks, by name.
    pub fn degraded(&self) -> impl Iterator<Item = &TaskStatus> {
        self.tasks.iter().filter(|t| t.degraded)
    }
}

/// A fail-fast task's failure: why the node stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub task: String,
    pub error: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "critical task {} failed: {}", self.task, self.error)
    }
}

impl std::error::Error for Failure {}

#[derive(Debug)]
struct Record {
    state: TaskState,
    restarts: u32,
    last_failure: Option<Instant>,
}

/// What the supervising wrappers and the health view share.
struct Shared {
    stop: CancellationToken,
    records: Mutex<BTreeMap<String, Record>>,
    failure: Mutex<Option<Failure>>,
    degraded_for: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn set(&self, name: &str, f: impl FnOnce(&mut Record)) {
        if let Some(r) = lock(&self.records).get_mut(name) {
            f(r)
        }
    }
}

/// Owns the supervised tasks of one node. Dropping it aborts them; [`Supervisor::shutdown`]
/// stops them in order.
pub struct Supervisor {
    shared: Arc<Shared>,
    tasks: Mutex<JoinSet<()>>,
}

/// A read-only view of a supervisor's tasks (cheap to clone; for `/health`).
#[derive(Clone)]
pub struct Health(Option<Arc<Shared>>);

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Health").field(&self.report()).finish()
    }
}

impl Health {
    /// A view of no tasks: always healthy (for components run without a supervisor).
    pub fn none() -> Health {
        Health(None)
    }

    pub fn report(&self) -> Report {
        let Some(shared) = &self.0 else {
            return Report::default();
        };
        let now = Instant::now();
        let records = lock(&shared.records);
        Report {
            tasks: records
                .iter()
                .map(|(name, r)| {
                    let recent = r
                        .last_failure
                        .is_some_and(|t| now.saturating_duration_since(t) < shared.degraded_for);
                    TaskStatus {
                        name: name.clone(),
                        state: r.state,
                        restarts: r.restarts,
                        degraded: match r.state {
                            TaskState::Restarting | TaskState::Failed => true,
                            TaskState::Running => recent,
                            TaskState::Stopped => false,
                        },
                    }
                })
                .collect(),
        }
    }
}

impl Supervisor {
    /// How long a task counts as degraded after a restart that followed a failure.
    pub const DEGRADED_FOR: Duration = Duration::from_secs(60);

    /// A supervisor whose tasks stop when `stop` is cancelled (it also cancels `stop` itself
    /// when a fail-fast task fails).
    pub fn new(stop: CancellationToken) -> Supervisor {
        Self::with_degraded_for(stop, Self::DEGRADED_FOR)
    }

    /// [`Supervisor::new`] with another degraded window.
    pub fn with_degraded_for(stop: CancellationToken, degraded_for: Duration) -> Supervisor {
        Supervisor {
            shared: Arc::new(Shared {
                stop,
                records: Mutex::new(BTreeMap::new()),
                failure: Mutex::new(None),
                degraded_for,
            }),
            tasks: Mutex::new(JoinSet::new()),
        }
    }

    /// The token that stops every task (cancel it to begin shutdown).
    pub fn token(&self) -> CancellationToken {
        self.shared.stop.clone()
    }

    pub fn health(&self) -> Health {
        Health(Some(self.shared.clone()))
    }

    /// The first fail-fast failure, if one happened.
    pub fn failure(&self) -> Option<Failure> {
        lock(&self.shared.failure).clone()
    }

    /// Run a task under `policy`. `make` builds the future of each run from the stop token
    /// (the run should return soon after it is cancelled). Names are unique: a name already
    /// taken gets a `#N` suffix. Returns the name used. Must be called inside a runtime.
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, policy: Policy, make: F) -> String
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: TaskOutput,
    {
        let name = {
            let mut records = lock(&self.shared.records);
            let base = name.into();
            let mut name = base.clone();
            let mut n = 2;
            while records.contains_key(&name) {
                name = format!("{base}#{n}");
                n += 1;
            }
            records.insert(
                name.clone(),
                Record {
                    state: TaskState::Running,
                    restarts: 0,
                    last_failure: None,
                },
            );
            name
        };
        tracing::debug!(task = %name, ?policy, "task started");
        lock(&self.tasks).spawn(supervise(self.shared.clone(), name.clone(), policy, make));
        name
    }

    /// Run a task that can only run once (it owns what it consumes): fail-fast.
    pub fn spawn_once<Fut>(&self, name: impl Into<String>, task: Fut) -> String
    where
        Fut: Future + Send + 'static,
        Fut::Output: TaskOutput,
    {
        let mut task = Some(task);
        self.spawn(name, Policy::FailFast, move |_| {
            task.take().expect("a fail-fast task runs once")
        })
    }

    /// Stop: cancel the token, give the tasks `deadline` to return, abort what is left (named
    /// in a warning). Returns the fail-fast failure that stopped the node, if any.
    pub async fn shutdown(&self, deadline: Duration) -> Result<(), Failure> {
        self.shared.stop.cancel();
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        let drained = tokio::time::timeout(deadline, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            let left: Vec<String> = lock(&self.shared.records)
                .iter()
                .filter(|(_, r)| r.state != TaskState::Stopped && r.state != TaskState::Failed)
                .map(|(n, _)| n.clone())
                .collect();
            tracing::warn!(tasks = ?left, deadline_ms = deadline.as_millis() as u64,
                "shutdown deadline passed; aborting the tasks still running");
            tasks.abort_all();
        }
        match self.failure() {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }
}

/// A panic's message.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// The test hook: how long after its first start the task named `name` panics. Never in
/// release builds.
#[cfg(not(debug_assertions))]
fn injected_panic(_: &str) -> Option<Duration> {
    None
}

/// The test hook: how long after its first start the task named `name` panics.
#[cfg(debug_assertions)]
fn injected_panic(name: &str) -> Option<Duration> {
    let v = std::env::var("VESPER_TEST_PANIC").ok()?;
    v.split(',').find_map(|item| {
        let (n, ms) = item.split_once('@').unwrap_or((item, "0"));
        (n.trim() == name).then(|| Duration::from_millis(ms.trim().parse().unwrap_or(0)))
    })
}

/// Run one task under its policy until shutdown or a fail-fast failure.
async fn supervise<F, Fut>(shared: Arc<Shared>, name: String, policy: Policy, mut make: F)
where
    F: FnMut(CancellationToken) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: TaskOutput,
{
    let stop = shared.stop.clone();
    let mut delay = match policy {
        Policy::Restart(b) => b.initial,
        Policy::FailFast => Duration::ZERO,
    };
    let mut first = true;
    loop {
        let started = Instant::now();
        let run = AssertUnwindSafe(|| make(stop.clone()));
        let outcome = match std::panic::catch_unwind(run) {
            Err(p) => Err(("panicked", panic_message(&*p))),
            Ok(run) => {
                let run = {
                    let inject = if first { injected_panic(&name) } else { None };
                    let task = name.clone();
                    async move {
                        match inject {
                            None => run.await,
                            Some(after) => tokio::select! {
                                o = run => o,
                                _ = tokio::time::sleep(after) => {
                                    panic!("injected panic in task {task} (VESPER_TEST_PANIC)")
                                }
                            },
                        }
                    }
                };
                match AssertUnwindSafe(run).catch_unwind().await {
                    Err(p) => Err(("panicked", panic_message(&*p))),
                    Ok(o) => match o.into_result() {
                        Ok(()) if stop.is_cancelled() => Ok(()),
                        Ok(()) => Err(("exited", "returned before shutdown".to_owned())),
                        Err(e) => Err(("failed", e)),
                    },
                }
            }
        };
        first = false;
        let (how, error) = match outcome {
            Ok(()) => {
                shared.set(&name, |r| r.state = TaskState::Stopped);
                tracing::debug!(task = %name, "task stopped");
                return;
            }
            Err(e) => e,
        };
        let failed_at = Instant::now();
        let restarts = lock(&shared.records)
            .get(&name)
            .map(|r| r.restarts)
            .unwrap_or(0);
        match how {
            "panicked" => {
                tracing::error!(task = %name, panic = %error, restarts, "task panicked")
            }
            _ => tracing::error!(task = %name, %error, restarts, "task {how}"),
        }
        let restart = match policy {
            Policy::Restart(b) if !stop.is_cancelled() => Some(b),
            _ => None,
        };
        let Some(backoff) = restart else {
            shared.set(&name, |r| {
                r.state = TaskState::Failed;
                r.last_failure = Some(failed_at);
            });
            if policy == Policy::FailFast {
                let mut f = lock(&shared.failure);
                if f.is_none() {
                    tracing::error!(task = %name, "critical task failed; stopping the node");
                    *f = Some(Failure {
                        task: name.clone(),
                        error: format!("{how}: {error}"),
                    });
                }
                drop(f);
                stop.cancel();
            }
            return;
        };
        if failed_at.saturating_duration_since(started) >= backoff.reset_after {
            delay = backoff.initial;
        }
        shared.set(&name, |r| {
            r.state = TaskState::Restarting;
            r.last_failure = Some(failed_at);
        });
        tracing::warn!(task = %name, after_ms = delay.as_millis() as u64, "restarting task");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => {
                shared.set(&name, |r| r.state = TaskState::Stopped);
                return;
            }
        }
        delay = (delay * 2).min(backoff.max);
        shared.set(&name, |r| {
            r.state = TaskState::Running;
            r.restarts += 1;
        });
        tracing::info!(task = %name, restarts = restarts + 1, "task restarted");
    }
}

#[cfg(test)]
mod tests;

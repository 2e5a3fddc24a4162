//! The job/lease lifecycle as one pure transition function: `(state, event, now) → (state,
//! effects)`.
//!
//! Every rule about a job's lifecycle lives here: who may lease a job, the **lease fencing
//! check** ([`Lifecycle::holds`]), what a hand-in, a failure, a release, an expired lease and a
//! cancel do, and the retry decision ([`RetryPolicy::decide`]). Store backends keep their own
//! data layout and atomicity (a SQLite transaction, a Redis Lua script) but not their own rules:
//! the embedded backend calls [`step`] inside its transaction and writes back what it returns;
//! the Redis scripts implement the same transitions, and a property test
//! (`crates/vesper-store/tests/it/lifecycle.rs`) drives this machine and both backends with
//! the same random operation sequences and compares every observable state.
//!
//! Which queued job a lease takes (fairness, priority, FIFO) is not a lifecycle rule: that is
//! [`crate::sched`]. This module decides what happens to the job once it is chosen.

use crate::{ErrorCode, JobStatus, RetryDecision, RetryPolicy, Timestamp};

/// The lifecycle fields of one job: what the rules read and write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    pub status: JobStatus,
    /// Failed attempts so far (each retry adds one).
    pub retry_count: u32,
    pub max_retries: u32,
    /// The fencing token: incremented by every lease. A lease is named by (epoch, worker).
    pub epoch: u64,
    /// The worker holding the lease, or the one that held it last for a finished job.
    pub worker: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    /// Not leasable before this time (retry backoff).
    pub available_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    /// The code of the last failed attempt (cleared by completion).
    pub error: Option<ErrorCode>,
}

impl Lifecycle {
    /// A newly accepted job.
    pub fn new(max_retries: u32, now: Timestamp) -> Self {
        Lifecycle {
            status: JobStatus::Queued,
            retry_count: 0,
            max_retries,
            epoch: 0,
            worker: None,
            lease_expires_at: None,
            available_at: now,
            started_at: None,
            completed_at: None,
            error: None,
        }
    }

    /// **The lease fencing check:** whether (epoch, worker) names the live lease on this job.
    /// A lease that ran out still holds until it is expired (a late hand-in is accepted if no
    /// one else took the job meanwhile).
    pub fn holds(&self, holder: Holder<'_>) -> bool {
        self.status == JobStatus::Processing
            && self.epoch == holder.epoch
            && self.worker.as_deref() == Some(holder.worker)
    }

    /// Whether a worker may lease this job at `now`.
    pub fn is_leasable(&self, now: Timestamp) -> bool {
        self.status == JobStatus::Queued && self.available_at <= now
    }
}

/// Names one lease: the fencing token a worker presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder<'a> {
    pub epoch: u64,
    pub worker: &'a str,
}

/// Something that happens to a job.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A worker takes the job for `lease_ms`.
    Lease { worker: &'a str, lease_ms: u64 },
    /// The holder extends its lease.
    Heartbeat { holder: Holder<'a>, lease_ms: u64 },
    /// The holder hands in a result (its receipt already checked against the job).
    Complete { holder: Holder<'a> },
    /// The holder reports a failed attempt.
    Fail {
        holder: Holder<'a>,
        code: ErrorCode,
        policy: RetryPolicy,
    },
    /// The holder gives the job back without an attempt counted (graceful shutdown).
    Release { holder: Holder<'a> },
    /// The lease ran out by `now`: counted as a failed attempt with `lease_expired`.
    LeaseRanOut { policy: RetryPolicy },
    /// The holder is known dead (its process restarted): as if its lease ran out now.
    HolderGone { policy: RetryPolicy },
    /// The tenant cancels the job.
    Cancel,
}

/// What the backend must do besides writing the new [`Lifecycle`], in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The job left the tenant's queue (queue counters, fair-queueing charge).
    Dequeue,
    /// The job joined the tenant's queue, leasable from `Lifecycle::available_at`.
    Enqueue,
    /// Store the sealed result and receipt handed in.
    StoreResult,
    /// The sealed payload is no longer needed: delete it.
    DropPayload,
    /// The client is owed a callback announcing this terminal status (if it asked for one).
    OweCallback(JobStatus),
    /// Announce the status change (after it is durable).
    Announce(JobStatus),
}

/// Why an event does not apply to the job in its current state. Nothing changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The lease named is not the live one (expired and re-leased, released, or finished).
    Fenced,
    /// The job is not queued and available.
    NotLeasable,
    /// Only a queued job can be cancelled.
    NotCancellable,
    /// The job holds no lease, or its lease has not run out.
    NotExpired,
}

/// The outcome of one transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub state: Lifecycle,
    pub effects: Vec<Effect>,
    /// For a failure or an expiry: what the retry policy decided.
    pub decision: Option<RetryDecision>,
}

/// The transition function. Pure: the same inputs always give the same output.
pub fn step(state: &Lifecycle, event: Event<'_>, now: Timestamp) -> Result<Step, Refusal> {
    let mut s = state.clone();
    let held = |h: Holder<'_>| {
        if state.holds(h) {
            Ok(())
        } else {
            Err(Refusal::Fenced)
        }
    };
    let (effects, decision) = match event {
        Event::Lease { worker, lease_ms } => {
            if !state.is_leasable(now) {
                return Err(Refusal::NotLeasable);
            }
            s.status = JobStatus::Processing;
            s.worker = Some(worker.to_owned());
            s.epoch += 1;
            s.lease_expires_at = Some(now.plus_ms(lease_ms));
            s.started_at = Some(now);
            (
                vec![Effect::Dequeue, Effect::Announce(JobStatus::Processing)],
                None,
            )
        }
        Event::Heartbeat { holder, lease_ms } => {
            held(holder)?;
            s.lease_expires_at = Some(now.plus_ms(lease_ms));
            (Vec::new(), None)
        }
        Event::Complete { holder } => {
            held(holder)?;
            s.status = JobStatus::Completed;
            s.completed_at = Some(now);
            s.lease_expires_at = None;
            s.error = None;
            (
                vec![
                    Effect::StoreResult,
                    Effect::DropPayload,
                    Effect::OweCallback(JobStatus::Completed),
                    Effect::Announce(JobStatus::Completed),
                ],
                None,
            )
        }
        Event::Fail {
            holder,
            code,
            policy,
        } => {
            held(holder)?;
            failed_attempt(&mut s, code, policy, now)
        }
        Event::Release { holder } => {
            held(holder)?;
            s.status = JobStatus::Queued;
            s.worker = None;
            s.lease_expires_at = None;
            s.started_at = None;
            (
                vec![Effect::Enqueue, Effect::Announce(JobStatus::Queued)],
                None,
            )
        }
        Event::LeaseRanOut { policy } => {
            let ran_out = state.status == JobStatus::Processing
                && state.lease_expires_at.is_some_and(|at| at <= now);
            if !ran_out {
                return Err(Refusal::NotExpired);
            }
            failed_attempt(&mut s, ErrorCode::LeaseExpired, policy, now)
        }
        Event::HolderGone { policy } => {
            if state.status != JobStatus::Processing {
                return Err(Refusal::NotExpired);
            }
            failed_attempt(&mut s, ErrorCode::LeaseExpired, policy, now)
        }
        Event::Cancel => {
            if state.status != JobStatus::Queued {
                return Err(Refusal::NotCancellable);
            }
            s.status = JobStatus::Cancelled;
            s.completed_at = Some(now);
            (
                vec![
                    Effect::Dequeue,
                    Effect::DropPayload,
                    Effect::OweCallback(JobStatus::Cancelled),
                    Effect::Announce(JobStatus::Cancelled),
                ],
                None,
            )
        }
    };
    Ok(Step {
        state: s,
        effects,
        decision,
    })
}

/// A processing job's attempt failed with `code`: retry after a backoff or fail for good.
fn failed_attempt(
    s: &mut Lifecycle,
    code: ErrorCode,
    policy: RetryPolicy,
    now: Timestamp,
) -> (Vec<Effect>, Option<RetryDecision>) {
    let decision = policy.decide(code, s.retry_count, s.max_retries, now);
    s.lease_expires_at = None;
    s.error = Some(code);
    let effects = match decision {
        RetryDecision::Retry {
            not_before,
            retry_count,
        } => {
            s.status = JobStatus::Queued;
            s.retry_count = retry_count;
            s.available_at = not_before;
            s.worker = None;
            vec![Effect::Enqueue, Effect::Announce(JobStatus::Queued)]
        }
        RetryDecision::Fail { retry_count } => {
            s.status = JobStatus::Failed;
            s.retry_count = retry_count;
            s.completed_at = Some(now);
            vec![
                Effect::DropPayload,
                Effect::OweCallback(JobStatus::Failed),
                Effect::Announce(JobStatus::Failed),
            ]
        }
    };
    (effects, Some(decision))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_000);

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    fn leased(max_retries: u32) -> Lifecycle {
        let s = Lifecycle::new(max_retries, T0);
        step(
            &s,
            Event::Lease {
                worker: "w1",
                lease_ms: 100,
            },
            T0,
        )
        .unwrap()
        .state
    }

    #[test]
    fn a_lease_fences_the_previous_holder() {
        let s = leased(3);
        assert_eq!(s.epoch, 1);
        let old = Holder {
            epoch: 1,
            worker: "w1",
        };
        let ran_out = step(&s, Event::LeaseRanOut { policy: policy() }, T0.plus_ms(100)).unwrap();
        assert_eq!(ran_out.state.status, JobStatus::Queued);
        assert_eq!(ran_out.state.retry_count, 1);
        let later = ran_out.state.available_at;
        let again = step(
            &ran_out.state,
            Event::Lease {
                worker: "w2",
                lease_ms: 100,
            },
            later,
        )
        .unwrap()
        .state;
        assert_eq!(again.epoch, 2);
        for e in [
            Event::Complete { holder: old },
            Event::Heartbeat {
                holder: old,
                lease_ms: 5,
            },
            Event::Release { holder: old },
        ] {
            assert_eq!(step(&again, e, later), Err(Refusal::Fenced));
        }
        // The same epoch under another worker's name is not the lease either.
        let imposter = Holder {
            epoch: 2,
            worker: "w1",
        };
        assert_eq!(
            step(&again, Event::Complete { holder: imposter }, later),
            Err(Refusal::Fenced)
        );
    }

    #[test]
    fn retries_back_off_then_fail_for_good() {
        let mut s = leased(1);
        let h = Holder {
            epoch: 1,
            worker: "w1",
        };
        let first = step(
            &s,
            Event::Fail {
                holder: h,
                code: ErrorCode::Internal,
                policy: policy(),
            },
            T0,
        )
        .unwrap();
        assert!(matches!(
            first.decision,
            Some(RetryDecision::Retry { retry_count: 1, .. })
        ));
        assert!(first.state.available_at > T0);
        assert!(!first.state.is_leasable(T0));
        s = first.state;
        let at = s.available_at;
        s = step(
            &s,
            Event::Lease {
                worker: "w2",
                lease_ms: 10,
            },
            at,
        )
        .unwrap()
        .state;
        let last = step(
            &s,
            Event::Fail {
                holder: Holder {
                    epoch: 2,
                    worker: "w2",
                },
                code: ErrorCode::Internal,
                policy: policy(),
            },
            at,
        )
        .unwrap();
        assert_eq!(last.state.status, JobStatus::Failed);
        assert!(
            last.effects
                .contains(&Effect::OweCallback(JobStatus::Failed))
        );
    }

    #[test]
    fn a_live_lease_does_not_run_out_early_and_only_queued_jobs_cancel() {
        let s = leased(3);
        assert_eq!(
            step(&s, Event::LeaseRanOut { policy: policy() }, T0.plus_ms(99)),
            Err(Refusal::NotExpired)
        );
        assert_eq!(step(&s, Event::Cancel, T0), Err(Refusal::NotCancellable));
        let gone = step(&s, Event::HolderGone { policy: policy() }, T0).unwrap();
        assert_eq!(gone.state.error, Some(ErrorCode::LeaseExpired));
        let q = Lifecycle::new(0, T0);
        let c = step(&q, Event::Cancel, T0).unwrap();
        assert_eq!(c.state.status, JobStatus::Cancelled);
        assert_eq!(c.effects[0], Effect::Dequeue);
    }
}

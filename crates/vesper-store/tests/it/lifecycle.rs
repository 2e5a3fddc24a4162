//! The lease machine, checked three ways: `vesper_core::lifecycle` (the pure model), the SQLite
//! backend and the Redis backend (whose Lua scripts carry their own copy of the rules for
//! atomicity) are driven with the same random sequences of submit / lease / batch lease /
//! heartbeat / complete / batch complete / fail / release / expire / cancel, and must agree on
//! every operation's answer and on every job's observable state after every step. The model
//! takes a batch lease as that many leases in a row, and a batch hand-in as that many hand-ins
//! in a row, each fenced on its own.
//!
//! `VESPER_LIFECYCLE_SEQUENCES` sets the number of sequences (default 1,000, the CI figure);
//! `VESPER_LIFECYCLE_SEED` replays one sequence. A failure prints the seed and the operations.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vesper_core::lifecycle::{self, Event, Holder, Lifecycle};

use super::*;

const OPS_PER_SEQUENCE: usize = 30;
const WORKERS: [&str; 3] = ["w0", "w1", "w2"];

#[derive(Clone, Debug)]
enum Op {
    Submit {
        tenant: usize,
        prio: i64,
        max_retries: u32,
    },
    Lease {
        worker: usize,
        lease_ms: u64,
    },
    LeaseBatch {
        worker: usize,
        lease_ms: u64,
        max: u32,
    },
    Heartbeat {
        job: usize,
        who: Who,
        lease_ms: u64,
    },
    Complete {
        job: usize,
        who: Who,
    },
    CompleteBatch {
        items: Vec<(usize, Who)>,
    },
    Fail {
        job: usize,
        who: Who,
        code: ErrorCode,
    },
    Release {
        job: usize,
        who: Who,
    },
    Advance {
        ms: u64,
    },
    RequeueExpired,
    ExpireOf {
        worker: usize,
    },
    Cancel {
        job: usize,
    },
}

/// Which lease an operation presents: the live one, an older epoch, or another worker's name.
#[derive(Clone, Copy, Debug)]
enum Who {
    Holder,
    StaleEpoch,
    OtherWorker,
}

/// An operation's answer, in a form all three agree on.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Submitted,
    Leased(Option<(JobId, u64, Timestamp)>),
    LeasedBatch(Vec<(JobId, u64, Timestamp)>),
    /// One answer per item of a batch.
    Each(Vec<Answer>),
    Done,
    Fenced,
    Decided(RetryDecision),
    Expired(Expired),
    Cancel(&'static str),
    Skipped,
}

fn gen_op(rng: &mut StdRng, jobs: usize) -> Op {
    let job = |rng: &mut StdRng| rng.gen_range(0..jobs.max(1));
    let who = |rng: &mut StdRng| match rng.gen_range(0..6) {
        0 => Who::StaleEpoch,
        1 => Who::OtherWorker,
        _ => Who::Holder,
    };
    match rng.gen_range(0..116) {
        _ if jobs == 0 => Op::Submit {
            tenant: 0,
            prio: 5,
            max_retries: 1,
        },
        0..=14 => Op::Submit {
            tenant: rng.gen_range(0..2),
            prio: rng.gen_range(4..=6),
            max_retries: rng.gen_range(0..3),
        },
        15..=34 => Op::Lease {
            worker: rng.gen_range(0..WORKERS.len()),
            lease_ms: [50, 200][rng.gen_range(0..2)],
        },
        35..=41 => Op::Heartbeat {
            job: job(rng),
            who: who(rng),
            lease_ms: [50, 200][rng.gen_range(0..2)],
        },
        42..=53 => Op::Complete {
            job: job(rng),
            who: who(rng),
        },
        54..=63 => Op::Fail {
            job: job(rng),
            who: who(rng),
            code: [ErrorCode::Internal, ErrorCode::Trap, ErrorCode::Timeout][rng.gen_range(0..3)],
        },
        64..=68 => Op::Release {
            job: job(rng),
            who: who(rng),
        },
        69..=80 => Op::Advance {
            ms: [10, 60, 250, 2_000][rng.gen_range(0..4)],
        },
        81..=88 => Op::RequeueExpired,
        89..=91 => Op::ExpireOf {
            worker: rng.gen_range(0..WORKERS.len()),
        },
        92..=99 => Op::Cancel { job: job(rng) },
        100..=107 => Op::LeaseBatch {
            worker: rng.gen_range(0..WORKERS.len()),
            lease_ms: [50, 200][rng.gen_range(0..2)],
            max: rng.gen_range(1..=4),
        },
        _ => Op::CompleteBatch {
            items: (0..rng.gen_range(1..=3))
                .map(|_| (job(rng), who(rng)))
                .collect(),
        },
    }
}

/// A retry policy with short backoffs, so retried jobs come back within a sequence.
fn policy() -> RetryPolicy {
    RetryPolicy {
        base_backoff_ms: 20,
        max_backoff_ms: 400,
    }
}

struct Model {
    jobs: Vec<(JobId, TenantId, Lifecycle)>,
}

impl Model {
    fn find(&mut self, id: JobId) -> &mut Lifecycle {
        &mut self
            .jobs
            .iter_mut()
            .find(|j| j.0 == id)
            .expect("known job")
            .2
    }
}

/// The lease an operation presents for job `i`.
fn presented(model: &Model, i: usize, who: Who) -> LeaseRef {
    let (id, _, s) = &model.jobs[i];
    let live_worker = s.worker.clone().unwrap_or_else(|| WORKERS[0].into());
    let (epoch, worker) = match who {
        Who::Holder => (s.epoch, live_worker),
        Who::StaleEpoch => (s.epoch.saturating_sub(1), live_worker),
        Who::OtherWorker => (
            s.epoch,
            WORKERS
                .iter()
                .find(|w| **w != live_worker)
                .unwrap()
                .to_string(),
        ),
    };
    LeaseRef {
        job_id: *id,
        epoch,
        worker: w(&worker),
    }
}

/// Apply `op` to the model: the expected answer. Leases are the one place the backend decides
/// (which jobs: the scheduler); the model checks each chosen job was leasable and follows it.
fn model_step(model: &mut Model, op: &Op, now: Timestamp, leased: &[JobId]) -> Answer {
    match op {
        Op::Submit { .. } => Answer::Submitted,
        Op::LeaseBatch {
            worker,
            lease_ms,
            max,
        } => {
            assert!(
                leased.len() <= *max as usize,
                "a batch took more than asked"
            );
            let mut out = Vec::new();
            for id in leased {
                let s = model.find(*id);
                let st = lifecycle::step(
                    s,
                    Event::Lease {
                        worker: WORKERS[*worker],
                        lease_ms: *lease_ms,
                    },
                    now,
                )
                .expect("the backend leased a job the machine says is not leasable");
                *s = st.state;
                out.push((*id, s.epoch, s.lease_expires_at.unwrap()));
            }
            if leased.len() < *max as usize {
                assert!(
                    !model.jobs.iter().any(|j| j.2.is_leasable(now)),
                    "a job was leasable but the batch stopped short"
                );
            }
            Answer::LeasedBatch(out)
        }
        Op::CompleteBatch { items } => {
            // Every item presents the lease it named before the batch.
            let leases: Vec<LeaseRef> = items
                .iter()
                .map(|(job, who)| presented(model, *job, *who))
                .collect();
            Answer::Each(
                leases
                    .iter()
                    .map(|lease| {
                        let holder = Holder {
                            epoch: lease.epoch,
                            worker: lease.worker.as_str(),
                        };
                        apply(model.find(lease.job_id), Event::Complete { holder }, now)
                    })
                    .collect(),
            )
        }
        Op::Lease { worker, lease_ms } => {
            let Some(&id) = leased.first() else {
                assert!(
                    !model.jobs.iter().any(|j| j.2.is_leasable(now)),
                    "a job was leasable but none was leased"
                );
                return Answer::Leased(None);
            };
            let s = model.find(id);
            let st = lifecycle::step(
                s,
                Event::Lease {
                    worker: WORKERS[*worker],
                    lease_ms: *lease_ms,
                },
                now,
            )
            .expect("the backend leased a job the machine says is not leasable");
            *s = st.state;
            Answer::Leased(Some((id, s.epoch, s.lease_expires_at.unwrap())))
        }
        Op::Heartbeat { job, who, lease_ms } => {
            by_holder(model, *job, *who, now, |holder| Event::Heartbeat {
                holder,
                lease_ms: *lease_ms,
            })
        }
        Op::Complete { job, who } => {
            by_holder(model, *job, *who, now, |holder| Event::Complete { holder })
        }
        Op::Fail { job, who, code } => by_holder(model, *job, *who, now, |holder| Event::Fail {
            holder,
            code: *code,
            policy: policy(),
        }),
        Op::Release { job, who } => {
            by_holder(model, *job, *who, now, |holder| Event::Release { holder })
        }
        Op::Advance { .. } => Answer::Skipped,
        Op::RequeueExpired => expire_all(model, Event::LeaseRanOut { policy: policy() }, now, None),
        Op::ExpireOf { worker } => expire_all(
            model,
            Event::HolderGone { policy: policy() },
            now,
            Some(WORKERS[*worker]),
        ),
        Op::Cancel { job } => {
            let s = &mut model.jobs[*job].2;
            match lifecycle::step(s, Event::Cancel, now) {
                Ok(st) => {
                    *s = st.state;
                    Answer::Cancel("cancelled")
                }
                Err(_) => Answer::Cancel("not_cancellable"),
            }
        }
    }
}

/// Apply the event `make` builds from the lease an operation presents for job `i`.
fn by_holder(
    model: &mut Model,
    i: usize,
    who: Who,
    now: Timestamp,
    make: impl for<'a> FnOnce(Holder<'a>) -> Event<'a>,
) -> Answer {
    let lease = presented(model, i, who);
    let holder = Holder {
        epoch: lease.epoch,
        worker: lease.worker.as_str(),
    };
    apply(model.find(lease.job_id), make(holder), now)
}

fn apply(s: &mut Lifecycle, e: Event<'_>, now: Timestamp) -> Answer {
    let is_fail = matches!(e, Event::Fail { .. });
    match lifecycle::step(s, e, now) {
        Ok(st) => {
            *s = st.state;
            match st.decision {
                Some(d) if is_fail => Answer::Decided(d),
                _ => Answer::Done,
            }
        }
        Err(_) => Answer::Fenced,
    }
}

fn expire_all(model: &mut Model, e: Event<'_>, now: Timestamp, prefix: Option<&str>) -> Answer {
    let mut n = Expired::default();
    for (_, _, s) in model.jobs.iter_mut() {
        if let Some(p) = prefix
            && !s.worker.as_deref().is_some_and(|w| w.starts_with(p))
        {
            continue;
        }
        if let Ok(st) = lifecycle::step(s, e, now) {
            *s = st.state;
            n.count(st.decision.unwrap());
        }
    }
    Answer::Expired(n)
}

/// Run `op` against one backend.
async fn backend_step(
    s: &dyn Store,
    model: &Model,
    op: &Op,
    now: Timestamp,
    new_job: Option<&NewJob>,
) -> Answer {
    let fenced = |r: Result<(), StoreError>| match r {
        Ok(()) => Answer::Done,
        Err(StoreError::Fenced { .. }) => Answer::Fenced,
        Err(e) => panic!("unexpected error {e}"),
    };
    match op {
        Op::Submit { .. } => {
            created(s.submit(new_job.unwrap().clone()).await.unwrap());
            Answer::Submitted
        }
        Op::Lease { worker, lease_ms } => Answer::Leased(
            s.lease(&w(WORKERS[*worker]), now, *lease_ms)
                .await
                .unwrap()
                .map(|l| (l.lease.job_id, l.lease.epoch, l.lease_expires_at)),
        ),
        Op::LeaseBatch {
            worker,
            lease_ms,
            max,
        } => Answer::LeasedBatch(
            s.lease_batch(&w(WORKERS[*worker]), now, *lease_ms, LeaseAsk::up_to(*max))
                .await
                .unwrap()
                .into_iter()
                .map(|l| (l.lease.job_id, l.lease.epoch, l.lease_expires_at))
                .collect(),
        ),
        Op::CompleteBatch { items } => {
            let batch = items
                .iter()
                .map(|(job, who)| {
                    let lease = presented(model, *job, *who);
                    let result = result_for(&lease, now.0);
                    (lease, result)
                })
                .collect();
            Answer::Each(
                s.complete_batch(batch, now)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(fenced)
                    .collect(),
            )
        }
        Op::Heartbeat { job, who, lease_ms } => fenced(
            s.heartbeat(&presented(model, *job, *who), now, *lease_ms)
                .await,
        ),
        Op::Complete { job, who } => {
            let lease = presented(model, *job, *who);
            fenced(s.complete(&lease, result_for(&lease, now.0), now).await)
        }
        Op::Fail { job, who, code } => {
            match s
                .fail(&presented(model, *job, *who), *code, now, policy())
                .await
            {
                Ok(d) => Answer::Decided(d),
                Err(StoreError::Fenced { .. }) => Answer::Fenced,
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        Op::Release { job, who } => fenced(s.release(&presented(model, *job, *who)).await),
        Op::Advance { .. } => Answer::Skipped,
        Op::RequeueExpired => Answer::Expired(s.requeue_expired(now, policy()).await.unwrap()),
        Op::ExpireOf { worker } => Answer::Expired(
            s.expire_leases_of(WORKERS[*worker], now, policy())
                .await
                .unwrap(),
        ),
        Op::Cancel { job } => {
            let (id, tenant, _) = model.jobs[*job];
            Answer::Cancel(match s.cancel(tenant, id, now).await.unwrap() {
                CancelOutcome::Cancelled(_) => "cancelled",
                CancelOutcome::NotCancellable(_) => "not_cancellable",
                CancelOutcome::NotFound => "not_found",
            })
        }
    }
}

/// What a tenant or operator can observe of a job, from the model.
fn observed_model(
    s: &Lifecycle,
) -> (
    JobStatus,
    u32,
    Option<String>,
    Option<ErrorCode>,
    Option<Timestamp>,
    Option<Timestamp>,
) {
    (
        s.status,
        s.retry_count,
        s.worker.clone(),
        s.error,
        s.started_at,
        s.completed_at,
    )
}

async fn observed_store(
    s: &dyn Store,
    tenant: TenantId,
    id: JobId,
) -> (
    JobStatus,
    u32,
    Option<String>,
    Option<ErrorCode>,
    Option<Timestamp>,
    Option<Timestamp>,
) {
    let r = s.job(tenant, id).await.unwrap().expect("job exists");
    (
        r.status,
        r.retry_count,
        r.worker_id,
        r.error,
        r.started_at,
        r.completed_at,
    )
}

async fn run_sequence(seed: u64, redis_url: String) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let sqlite: Arc<dyn Store> =
        Arc::new(SqliteStore::open_in_memory(SqliteOptions::default()).unwrap());
    let redis: Arc<dyn Store> = Arc::new(
        RedisStore::open(
            &redis_url,
            RedisOptions {
                namespace: format!("lc{seed}"),
                ..RedisOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let backends = [("sqlite", sqlite), ("redis", redis)];
    let mut tenants = Vec::new();
    for name in ["a", "b"] {
        let mut ids = Vec::new();
        for (_, b) in &backends {
            ids.push(tenant(&**b, name).await);
        }
        assert!(ids.windows(2).all(|p| p[0] == p[1]), "tenant ids differ");
        tenants.push(ids[0]);
    }
    let mut model = Model { jobs: Vec::new() };
    let mut now = Timestamp(1_000_000);
    let mut log = Vec::new();
    for _ in 0..OPS_PER_SEQUENCE {
        let op = gen_op(&mut rng, model.jobs.len());
        log.push(format!("{op:?} @ {}", now.0));
        let fail =
            |what: String| format!("seed {seed}: {what}\noperations:\n  {}", log.join("\n  "));
        if let Op::Advance { ms } = op {
            now = now.plus_ms(ms);
            continue;
        }
        let new_job = match &op {
            Op::Submit {
                tenant,
                prio,
                max_retries,
            } => {
                let mut j = job(tenants[*tenant], *prio, now.0);
                j.max_retries = *max_retries;
                Some(j)
            }
            _ => None,
        };
        let mut answers = Vec::new();
        for (name, b) in &backends {
            answers.push((
                *name,
                backend_step(&**b, &model, &op, now, new_job.as_ref()).await,
            ));
        }
        if let Some(j) = &new_job {
            model
                .jobs
                .push((j.job_id, j.tenant, Lifecycle::new(j.max_retries, now)));
        }
        let leased: Vec<JobId> = match &answers[0].1 {
            Answer::Leased(l) => l.iter().map(|l| l.0).collect(),
            Answer::LeasedBatch(l) => l.iter().map(|l| l.0).collect(),
            _ => Vec::new(),
        };
        let expected = model_step(&mut model, &op, now, &leased);
        for (name, got) in &answers {
            if *got != expected {
                return Err(fail(format!(
                    "{name} answered {got:?}, the model {expected:?}"
                )));
            }
        }
        for (id, tenant, s) in &model.jobs {
            let want = observed_model(s);
            for (name, b) in &backends {
                let got = observed_store(&**b, *tenant, *id).await;
                if got != want {
                    return Err(fail(format!(
                        "{name}: job {id} is {got:?}, the model says {want:?}"
                    )));
                }
            }
        }
        let queued = model
            .jobs
            .iter()
            .filter(|j| j.2.status == JobStatus::Queued)
            .count() as u64;
        for (name, b) in &backends {
            let depth = b.queue_depth().await.unwrap();
            if depth != queued {
                return Err(fail(format!(
                    "{name}: queue depth {depth}, the model {queued}"
                )));
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_sqlite_and_redis_agree_on_random_sequences() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let seeds: Vec<u64> = match env("VESPER_LIFECYCLE_SEED") {
        Some(seed) => vec![seed],
        None => (0..env("VESPER_LIFECYCLE_SEQUENCES").unwrap_or(1_000)).collect(),
    };
    let started = std::time::Instant::now();
    // Sequences are independent (own stores, own namespaces): run a few at once, since most of
    // the time is round trips to redis-server.
    let mut running = tokio::task::JoinSet::new();
    let mut seeds_left = seeds.iter().copied();
    loop {
        while running.len() < 8
            && let Some(seed) = seeds_left.next()
        {
            running.spawn(run_sequence(seed, redis.url()));
        }
        match running.join_next().await {
            None => break,
            Some(r) => {
                if let Err(e) = r.expect("sequence task") {
                    panic!("{e}");
                }
            }
        }
    }
    eprintln!(
        "{} sequences of {OPS_PER_SEQUENCE} operations agreed in {:?}",
        seeds.len(),
        started.elapsed()
    );
}

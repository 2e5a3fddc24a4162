//! Store behaviour suite. Written against `dyn Store`; the `behaviour!` macro runs every test
//! unchanged against each backend: `embedded` (SQLite file), `memory` (SQLite in memory) and
//! `redis` (a real `redis-server` started by the harness on a free port; a missing
//! `redis-server` fails the test, see `vesper_store::testkit`).

use std::sync::Arc;

use vesper_core::*;
use vesper_store::testkit::RedisServer;
use vesper_store::*;

/// Run each named `async fn(Backend)` against every backend.
macro_rules! behaviour {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(crate::Backend::embedded()).await }
            )*
        }
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(crate::Backend::memory()).await }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(b) = crate::Backend::redis().await else { return };
                    super::$name(b).await
                }
            )*
        }
    };
}

mod batch;
mod credits;
mod deployments;
mod fair;
mod lifecycle;
mod redis_only;
mod retention;
mod tenancy;

enum Kind {
    Embedded {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
    },
    Memory,
    Redis {
        server: RedisServer,
    },
}

struct Backend {
    store: Arc<dyn Store>,
    kind: Kind,
}

impl Backend {
    fn embedded() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let store = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
        Backend {
            store,
            kind: Kind::Embedded { _dir: dir, path },
        }
    }

    fn memory() -> Backend {
        Backend {
            store: Arc::new(SqliteStore::open_in_memory(SqliteOptions::default()).unwrap()),
            kind: Kind::Memory,
        }
    }

    async fn redis() -> Option<Backend> {
        let server = RedisServer::try_start()?;
        let store = Arc::new(
            RedisStore::open(&server.url(), redis_options())
                .await
                .unwrap(),
        );
        Some(Backend {
            store,
            kind: Kind::Redis { server },
        })
    }

    /// A second, empty store of the same kind (another file, another in-memory database, or
    /// another namespace on the same server): to run one scenario two ways and compare.
    async fn twin(&self) -> Arc<dyn Store> {
        match &self.kind {
            Kind::Embedded { path, .. } => Arc::new(
                SqliteStore::open(&path.with_file_name("twin.db"), SqliteOptions::default())
                    .unwrap(),
            ),
            Kind::Memory => {
                Arc::new(SqliteStore::open_in_memory(SqliteOptions::default()).unwrap())
            }
            Kind::Redis { server } => Arc::new(
                RedisStore::open(
                    &server.url(),
                    RedisOptions {
                        namespace: "suite-twin".into(),
                        ..RedisOptions::default()
                    },
                )
                .await
                .unwrap(),
            ),
        }
    }

    /// Close the store and open it again on the same data, as a restarted process would.
    /// (An in-memory store has no "again": it is kept.)
    async fn reopen(self) -> Backend {
        let Backend { store, kind } = self;
        match kind {
            Kind::Embedded { _dir, path } => {
                drop(store);
                let store = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
                Backend {
                    store,
                    kind: Kind::Embedded { _dir, path },
                }
            }
            Kind::Memory => Backend {
                store,
                kind: Kind::Memory,
            },
            Kind::Redis { server } => {
                drop(store);
                let store = Arc::new(
                    RedisStore::open(&server.url(), redis_options())
                        .await
                        .unwrap(),
                );
                Backend {
                    store,
                    kind: Kind::Redis { server },
                }
            }
        }
    }
}

/// A non-default namespace, so the suite also proves keys stay inside their namespace.
fn redis_options() -> RedisOptions {
    RedisOptions {
        namespace: "suite".into(),
        ..RedisOptions::default()
    }
}

fn job(tenant: TenantId, prio: i64, created: u64) -> NewJob {
    NewJob {
        job_id: JobId::new_random(),
        tenant,
        workload_type: WorkloadType::General,
        program_id: Some(ProgramId([1; 32])),
        key_id: "0123456789abcdef".parse().unwrap(),
        client_pubkey: [2; 32],
        encrypted_key: vec![3; 32],
        encrypted_payload: vec![4; 40],
        priority: Priority::new(prio).unwrap(),
        max_retries: 2,
        created_at: Timestamp(created),
        idempotency_key: None,
        request_digest: [0; 32],
        callback_url: None,
        request_id: None,
        max_fuel: None,
        quota: SubmitQuota::default(),
    }
}

fn created(o: SubmitOutcome) -> JobRecord {
    match o {
        SubmitOutcome::Created(r) => r,
        other => panic!("expected Created, got {other:?}"),
    }
}

/// A hand-in for a job made by [`job`], whose receipt states that job truthfully.
fn result_for(lease: &LeaseRef, now: u64) -> NewResult {
    let encrypted_result = vec![9; 64];
    NewResult {
        receipt: Receipt {
            job_id: lease.job_id,
            program_id: ProgramId([1; 32]),
            workload_type: WorkloadType::General,
            payload_digest: sha256(&[&[3; 32], &[4; 40]]),
            result_digest: sha256(&[&encrypted_result]),
            result_hash: [0; 32],
            fuel_used: 1,
            execution_time_ms: 1,
            started_at: Timestamp(now),
            completed_at: Timestamp(now),
            worker_id: lease.worker.to_string(),
            worker_pubkey: [5; 32],
        },
        encrypted_result,
        signature: [6; 64],
        expires_at: Timestamp(now + 1000),
    }
}

fn requeued(n: u64) -> Expired {
    Expired {
        requeued: n,
        failed: 0,
    }
}

fn w(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

async fn tenant(s: &dyn Store, name: &str) -> TenantId {
    s.create_tenant(name, Timestamp(0)).await.unwrap()
}

async fn priority_then_fifo(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "t").await;
    let low1 = created(s.submit(job(t, 1, 10)).await.unwrap());
    let high = created(s.submit(job(t, 9, 11)).await.unwrap());
    let low2 = created(s.submit(job(t, 1, 12)).await.unwrap());
    let mid = created(s.submit(job(t, 5, 13)).await.unwrap());
    let mut order = Vec::new();
    while let Some(l) = s.lease(&w("w"), Timestamp(100), 1000).await.unwrap() {
        order.push(l.lease.job_id);
    }
    assert_eq!(
        order,
        vec![high.job_id, mid.job_id, low1.job_id, low2.job_id]
    );
    assert_eq!(s.queue_depth().await.unwrap(), 0);
}

/// A submit answers with the record the store then reads back (the stores build it from the
/// request rather than reading it after the write).
async fn submit_answers_with_the_stored_record(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "t").await;
    let mut j = job(t, 7, 42);
    j.idempotency_key = Some("k1".into());
    j.max_fuel = Some(1000);
    let answered = created(s.submit(j.clone()).await.unwrap());
    let stored = s.job(t, j.job_id).await.unwrap().unwrap();
    assert_eq!(answered, stored);
    assert_eq!(answered.payload_digest, sha256(&[&[3; 32], &[4; 40]]));
    // A replay answers with the same record.
    match s.submit(j).await.unwrap() {
        SubmitOutcome::Existing(r) => assert_eq!(r, stored),
        other => panic!("expected Existing, got {other:?}"),
    }
}

async fn stale_lease_is_fenced_after_expiry(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "t").await;
    let j = created(s.submit(job(t, 5, 0)).await.unwrap());
    let first = s
        .lease(&w("a"), Timestamp(100), 1000)
        .await
        .unwrap()
        .unwrap();
    // Not yet expired: nothing to requeue.
    assert_eq!(
        s.requeue_expired(
            Timestamp(500),
            RetryPolicy {
                base_backoff_ms: 0,
                max_backoff_ms: 0
            }
        )
        .await
        .unwrap(),
        requeued(0)
    );
    // Expired: back in the queue, one attempt counted.
    let policy = RetryPolicy {
        base_backoff_ms: 0,
        max_backoff_ms: 0,
    };
    assert_eq!(
        s.requeue_expired(Timestamp(1200), policy).await.unwrap(),
        requeued(1)
    );
    let second = s
        .lease(&w("b"), Timestamp(1300), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.lease.job_id, j.job_id);
    assert!(second.lease.epoch > first.lease.epoch);
    assert_eq!(second.retry_count, 1);
    // The stale worker cannot hand in, heartbeat or fail.
    assert!(matches!(
        s.complete(
            &first.lease,
            result_for(&first.lease, 1400),
            Timestamp(1400)
        )
        .await,
        Err(StoreError::Fenced { .. })
    ));
    assert!(matches!(
        s.heartbeat(&first.lease, Timestamp(1400), 1000).await,
        Err(StoreError::Fenced { .. })
    ));
    assert!(matches!(
        s.fail(&first.lease, ErrorCode::Trap, Timestamp(1400), policy)
            .await,
        Err(StoreError::Fenced { .. })
    ));
    // The current holder can, exactly once.
    s.complete(
        &second.lease,
        result_for(&second.lease, 1500),
        Timestamp(1500),
    )
    .await
    .unwrap();
    assert!(
        s.complete(
            &second.lease,
            result_for(&second.lease, 1501),
            Timestamp(1501)
        )
        .await
        .is_err()
    );
    let r = s.result(t, j.job_id).await.unwrap().unwrap();
    assert_eq!(r.job.status, JobStatus::Completed);
    assert_eq!(r.body.unwrap().receipt.worker_id, "b");
}

async fn retries_back_off_then_fail(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "t").await;
    let j = created(s.submit(job(t, 5, 0)).await.unwrap());
    let policy = RetryPolicy {
        base_backoff_ms: 100,
        max_backoff_ms: 10_000,
    };
    let mut now = 1000;
    for attempt in 1..=2u32 {
        let l = s
            .lease(&w("a"), Timestamp(now), 1000)
            .await
            .unwrap()
            .unwrap();
        let d = s
            .fail(&l.lease, ErrorCode::Internal, Timestamp(now), policy)
            .await
            .unwrap();
        let RetryDecision::Retry {
            not_before,
            retry_count,
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(retry_count, attempt);
        // Backing off: not leasable yet.
        assert!(
            s.lease(&w("a"), Timestamp(not_before.0 - 1), 1000)
                .await
                .unwrap()
                .is_none()
        );
        now = not_before.0;
    }
    let l = s
        .lease(&w("a"), Timestamp(now), 1000)
        .await
        .unwrap()
        .unwrap();
    let d = s
        .fail(&l.lease, ErrorCode::Internal, Timestamp(now), policy)
        .await
        .unwrap();
    // Retries spent: it fails with the two retries it had (three attempts).
    assert_eq!(d, RetryDecision::Fail { retry_count: 2 });
    let rec = s.job(t, j.job_id).await.unwrap().unwrap();
    assert_eq!(rec.status, JobStatus::Failed);
    assert_eq!(rec.error, Some(ErrorCode::Internal));
    assert_eq!((rec.retry_count, rec.max_retries), (2, 2));
    assert_eq!(attempts(rec.status, rec.retry_count), 3);
    // Deterministic errors fail at once.
    let j2 = created(s.submit(job(t, 5, 0)).await.unwrap());
    let l = s
        .lease(&w("a"), Timestamp(now), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.lease.job_id, j2.job_id);
    assert!(matches!(
        s.fail(&l.lease, ErrorCode::Trap, Timestamp(now), policy)
            .await
            .unwrap(),
        RetryDecision::Fail { retry_count: 0 }
    ));
}

async fn dead_node_leases_recovered_by_prefix_only(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "t").await;
    for _ in 0..3 {
        s.submit(job(t, 5, 0)).await.unwrap();
    }
    s.lease(&w("node1/w0"), Timestamp(10), 60_000)
        .await
        .unwrap()
        .unwrap();
    s.lease(&w("node1/w1"), Timestamp(10), 60_000)
        .await
        .unwrap()
        .unwrap();
    s.lease(&w("node10/w0"), Timestamp(10), 60_000)
        .await
        .unwrap()
        .unwrap();
    let policy = RetryPolicy::default();
    assert_eq!(
        s.expire_leases_of("node1/", Timestamp(20), policy)
            .await
            .unwrap(),
        requeued(2)
    );
    // `_` and `%` in a prefix are literal.
    assert_eq!(
        s.expire_leases_of("node_/", Timestamp(20), policy)
            .await
            .unwrap(),
        requeued(0)
    );
    assert_eq!(s.queue_depth().await.unwrap(), 2);
}

async fn idempotency_and_tenant_isolation(b: Backend) {
    let s = &*b.store;
    let t1 = tenant(s, "one").await;
    let t2 = tenant(s, "two").await;
    assert!(matches!(
        s.create_tenant("one", Timestamp(0)).await,
        Err(StoreError::TenantExists)
    ));
    let mut a = job(t1, 5, 0);
    a.idempotency_key = Some("k".into());
    a.request_digest = [7; 32];
    let first = created(s.submit(a.clone()).await.unwrap());
    let mut again = a.clone();
    again.job_id = JobId::new_random();
    match s.submit(again.clone()).await.unwrap() {
        SubmitOutcome::Existing(r) => assert_eq!(r.job_id, first.job_id),
        o => panic!("{o:?}"),
    }
    again.request_digest = [8; 32];
    // A conflict names the job the key belongs to.
    match s.submit(again.clone()).await.unwrap() {
        SubmitOutcome::IdempotencyConflict { existing } => assert_eq!(existing, first.job_id),
        o => panic!("{o:?}"),
    }
    // Same key, other tenant: independent.
    let mut other = a.clone();
    other.job_id = JobId::new_random();
    other.tenant = t2;
    created(s.submit(other).await.unwrap());
    assert!(s.job(t2, first.job_id).await.unwrap().is_none());
    assert!(s.result(t2, first.job_id).await.unwrap().is_none());
    assert_eq!(
        s.cancel(t2, first.job_id, Timestamp(1)).await.unwrap(),
        CancelOutcome::NotFound
    );
    assert!(matches!(
        s.cancel(t1, first.job_id, Timestamp(1)).await.unwrap(),
        CancelOutcome::Cancelled(_)
    ));
}

async fn results_expire(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "t").await;
    let j = created(s.submit(job(t, 5, 0)).await.unwrap());
    let l = s.lease(&w("a"), Timestamp(0), 1000).await.unwrap().unwrap();
    s.complete(&l.lease, result_for(&l.lease, 10), Timestamp(10))
        .await
        .unwrap();
    assert_eq!(s.purge_expired_results(Timestamp(500)).await.unwrap(), 0);
    assert_eq!(s.purge_expired_results(Timestamp(1010)).await.unwrap(), 1);
    let r = s.result(t, j.job_id).await.unwrap().unwrap();
    assert_eq!(r.job.status, JobStatus::Completed);
    assert!(r.body.is_none());
}

/// Group commit: many concurrent submits, each acknowledged only once durable; all present
/// after reopening the file.
async fn concurrent_submits_are_all_durable(b: Backend) {
    let t = tenant(&*b.store, "t").await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..2000u64 {
        let s = b.store.clone();
        set.spawn(async move { created(s.submit(job(t, 5, i)).await.unwrap()).job_id });
    }
    let mut ids = Vec::new();
    while let Some(r) = set.join_next().await {
        ids.push(r.unwrap());
    }
    let b = b.reopen().await;
    let reopened = &*b.store;
    assert_eq!(reopened.queue_depth().await.unwrap(), 2000);
    for id in ids.iter().take(50) {
        assert!(reopened.job(t, *id).await.unwrap().is_some());
    }
}

async fn events_follow_durable_changes(b: Backend) {
    let s = &*b.store;
    let mut ev = s.events();
    let t = tenant(s, "t").await;
    let j = created(s.submit(job(t, 5, 0)).await.unwrap());
    assert_eq!(
        ev.recv().await.unwrap(),
        JobEvent {
            job_id: j.job_id,
            tenant: t,
            status: JobStatus::Queued
        }
    );
    let l = s.lease(&w("a"), Timestamp(0), 1000).await.unwrap().unwrap();
    assert_eq!(ev.recv().await.unwrap().status, JobStatus::Processing);
    s.complete(&l.lease, result_for(&l.lease, 1), Timestamp(1))
        .await
        .unwrap();
    assert_eq!(ev.recv().await.unwrap().status, JobStatus::Completed);
}

/// A hand-in whose receipt misstates the job is refused, names the field, stores nothing and
/// leaves the lease as it was (docs/RECEIPT.md §6).
async fn receipts_that_misstate_the_job_are_refused(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "t").await;
    let j = created(s.submit(job(t, 5, 0)).await.unwrap());
    let l = s
        .lease(&w("a"), Timestamp(10), 60_000)
        .await
        .unwrap()
        .unwrap();
    type Lie = fn(&mut NewResult);
    let lies: [(ReceiptField, Lie); 6] = [
        (ReceiptField::ProgramId, |r| {
            r.receipt.program_id = ProgramId([0; 32])
        }),
        (ReceiptField::WorkloadType, |r| {
            r.receipt.workload_type = WorkloadType::AiInference
        }),
        (ReceiptField::PayloadDigest, |r| {
            r.receipt.payload_digest = [0; 32]
        }),
        (ReceiptField::ResultDigest, |r| {
            r.receipt.result_digest = [0; 32]
        }),
        (ReceiptField::JobId, |r| {
            r.receipt.job_id = JobId::new_random()
        }),
        (ReceiptField::WorkerId, |r| r.receipt.worker_id = "b".into()),
    ];
    for (field, lie) in lies {
        let mut r = result_for(&l.lease, 20);
        lie(&mut r);
        match s.complete(&l.lease, r, Timestamp(20)).await {
            Err(StoreError::BadReceipt { job_id, field: f }) => {
                assert_eq!((job_id, f), (j.job_id, field))
            }
            other => panic!("{field}: expected BadReceipt, got {other:?}"),
        }
    }
    // Nothing was stored and the lease still holds: the truthful hand-in lands.
    let rec = s.job(t, j.job_id).await.unwrap().unwrap();
    assert_eq!(rec.status, JobStatus::Processing);
    assert!(s.result(t, j.job_id).await.unwrap().unwrap().body.is_none());
    s.heartbeat(&l.lease, Timestamp(30), 60_000).await.unwrap();
    s.complete(&l.lease, result_for(&l.lease, 40), Timestamp(40))
        .await
        .unwrap();
    assert_eq!(
        s.job(t, j.job_id).await.unwrap().unwrap().status,
        JobStatus::Completed
    );

    // A secret program (no id at the gateway): the store cannot check the program, only the
    // rest; the client checks the program against the module it sealed.
    let mut secret = job(t, 5, 0);
    secret.program_id = None;
    let j2 = created(s.submit(secret).await.unwrap());
    let l2 = s
        .lease(&w("a"), Timestamp(50), 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l2.lease.job_id, j2.job_id);
    let mut r = result_for(&l2.lease, 60);
    r.receipt.program_id = ProgramId([7; 32]);
    s.complete(&l2.lease, r, Timestamp(60)).await.unwrap();
}

/// Expiring leases reports jobs failed for good apart from those put back.
async fn expiry_counts_jobs_failed_for_good(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "t").await;
    let mut once = job(t, 5, 0);
    once.max_retries = 0;
    created(s.submit(once).await.unwrap());
    created(s.submit(job(t, 5, 0)).await.unwrap());
    for name in ["n/i1/w0", "n/i1/w1"] {
        s.lease(&w(name), Timestamp(10), 60_000)
            .await
            .unwrap()
            .unwrap();
    }
    let policy = RetryPolicy::default();
    assert_eq!(
        s.expire_leases_of("n/i1/", Timestamp(20), policy)
            .await
            .unwrap(),
        Expired {
            requeued: 1,
            failed: 1
        }
    );
    // Registrations of a dead incarnation are forgotten by prefix, others kept.
    for name in ["n/i1/w0", "n/i1/w1", "n/i2/w0"] {
        s.register_worker(&w(name), [1; 32], Timestamp(1))
            .await
            .unwrap();
    }
    assert_eq!(s.forget_workers("n/i1/").await.unwrap(), 2);
    let left: Vec<String> = s
        .workers()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.worker_id)
        .collect();
    assert_eq!(left, vec!["n/i2/w0".to_owned()]);
}

behaviour!(
    receipts_that_misstate_the_job_are_refused,
    expiry_counts_jobs_failed_for_good,
    priority_then_fifo,
    submit_answers_with_the_stored_record,
    stale_lease_is_fenced_after_expiry,
    retries_back_off_then_fail,
    dead_node_leases_recovered_by_prefix_only,
    idempotency_and_tenant_isolation,
    results_expire,
    concurrent_submits_are_all_durable,
    events_follow_durable_changes,
);

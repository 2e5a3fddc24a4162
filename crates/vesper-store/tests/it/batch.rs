//! Batched leases and hand-ins (`lease_batch`, `complete_batch`): the same answers as the
//! single calls they stand for.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const NOW: u64 = 5_000;

/// What a submitted job should come back as, and how to order it within its tenant.
struct Sent {
    tenant: TenantId,
    priority: i64,
    arrival: usize,
    key: Vec<u8>,
    payload: Vec<u8>,
}

/// Submit the same jobs (same ids) to both stores; remember them in `sent`.
async fn submit_both(
    stores: [&dyn Store; 2],
    sent: &mut HashMap<JobId, Sent>,
    jobs: impl IntoIterator<Item = NewJob>,
) {
    for j in jobs {
        for s in stores {
            created(s.submit(j.clone()).await.unwrap());
        }
        let arrival = sent.len();
        sent.insert(
            j.job_id,
            Sent {
                tenant: j.tenant,
                priority: j.priority.get().into(),
                arrival,
                key: j.encrypted_key.clone(),
                payload: j.encrypted_payload.clone(),
            },
        );
    }
}

/// A job of `tenant` at `prio` whose sealed key and payload are arbitrary bytes (zeros,
/// 0xff, invalid UTF-8), so that batched leases are checked to be binary-safe.
fn binary_job(rng: &mut StdRng, tenant: TenantId, prio: i64) -> NewJob {
    let mut j = job(tenant, prio, NOW);
    j.encrypted_key = (0..32).map(|_| rng.r#gen()).collect();
    j.encrypted_payload = (0..rng.gen_range(1..300)).map(|_| rng.r#gen()).collect();
    j.encrypted_payload[0] = 0xff;
    j
}

/// Within each tenant, leases went by priority, then arrival.
fn assert_priority_then_fifo(leased: &[JobId], sent: &HashMap<JobId, Sent>) {
    let mut by_tenant: HashMap<TenantId, Vec<(i64, usize)>> = HashMap::new();
    for id in leased {
        let s = &sent[id];
        by_tenant
            .entry(s.tenant)
            .or_default()
            .push((-s.priority, s.arrival));
    }
    for (t, order) in by_tenant {
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(
            order, sorted,
            "tenant {t:?} leased out of priority/FIFO order"
        );
    }
}

/// Lease `sizes` batches from `s`: the jobs in the order handed out.
async fn lease_batches(s: &dyn Store, sizes: &[u32]) -> Vec<LeasedJob> {
    let mut out = Vec::new();
    for &n in sizes {
        let got = s
            .lease_batch(&w("n/w0"), Timestamp(NOW), 60_000, LeaseAsk::up_to(n))
            .await
            .unwrap();
        assert!(got.len() <= n as usize);
        out.extend(got);
    }
    out
}

/// Lease one at a time from `s`, `n` times or until nothing is left.
async fn lease_singly(s: &dyn Store, n: usize) -> Vec<LeasedJob> {
    let mut out = Vec::new();
    while out.len() < n {
        match s.lease(&w("n/w0"), Timestamp(NOW), 60_000).await.unwrap() {
            Some(l) => out.push(l),
            None => break,
        }
    }
    out
}

/// `lease_batch` hands out the jobs, in the order, that as many `lease` calls would: two
/// identical stores, one leased singly and one in batches of assorted sizes, across tenants of
/// different weights and priorities, and a tenant that arrives midway (returning-tenant
/// credit).
async fn lease_batch_hands_out_what_single_leases_would(b: Backend) {
    let single = b.store.clone();
    let batched = b.twin().await;
    let stores: [&dyn Store; 2] = [&*single, &*batched];
    let mut rng = StdRng::seed_from_u64(7);
    let mut ts = Vec::new();
    for (name, weight) in [("a", 1), ("b", 2), ("c", 3), ("d", 1)] {
        let ids = [tenant(stores[0], name).await, tenant(stores[1], name).await];
        assert_eq!(ids[0], ids[1]);
        for s in stores {
            s.set_tenant_settings(
                ids[0],
                TenantSettings {
                    weight,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
        ts.push(ids[0]);
    }
    let mut sent = HashMap::new();
    // Tenants a, b, c: interleaved arrivals, assorted priorities; c mostly urgent.
    let mut first = Vec::new();
    for i in 0..90 {
        let t = ts[i % 3];
        let prio = if t == ts[2] && i % 2 == 0 {
            10
        } else {
            rng.gen_range(1..=10)
        };
        first.push(binary_job(&mut rng, t, prio));
    }
    submit_both(stores, &mut sent, first).await;

    let one = lease_singly(stores[0], 40).await;
    let two = lease_batches(stores[1], &[1, 7, 16, 2, 14]).await;
    let ids: Vec<JobId> = one.iter().map(|l| l.lease.job_id).collect();
    assert_eq!(ids.len(), 40);
    assert_eq!(
        ids,
        two.iter().map(|l| l.lease.job_id).collect::<Vec<_>>(),
        "batched leases went in another order"
    );
    assert_priority_then_fifo(&ids, &sent);

    // Tenant d arrives (and a gets more) while the others are backlogged.
    let mut more = Vec::new();
    for i in 0..20 {
        let t = if i % 2 == 0 { ts[3] } else { ts[0] };
        let prio = rng.gen_range(1..=10);
        more.push(binary_job(&mut rng, t, prio));
    }
    submit_both(stores, &mut sent, more).await;
    let rest_one = lease_singly(stores[0], usize::MAX).await;
    let rest_two = lease_batches(stores[1], &[9; 12]).await;
    let rest: Vec<JobId> = rest_one.iter().map(|l| l.lease.job_id).collect();
    assert_eq!(rest.len(), 90 + 20 - 40);
    assert_eq!(
        rest,
        rest_two.iter().map(|l| l.lease.job_id).collect::<Vec<_>>(),
        "batched leases went in another order"
    );
    assert_priority_then_fifo(&rest, &sent);

    // Every lease handed out the same thing, payload bytes included.
    for (l1, l2) in one.iter().chain(&rest_one).zip(two.iter().chain(&rest_two)) {
        assert_eq!(format!("{l1:?}"), format!("{l2:?}"));
        let s = &sent[&l2.lease.job_id];
        assert_eq!(l2.encrypted_key, s.key);
        assert_eq!(l2.encrypted_payload, s.payload);
        assert_eq!(l2.lease.worker, w("n/w0"));
        assert_eq!(l2.lease_expires_at, Timestamp(NOW + 60_000));
    }
    for s in stores {
        assert_eq!(s.queue_depth().await.unwrap(), 0);
        assert!(
            s.lease_batch(&w("n/w0"), Timestamp(NOW), 60_000, LeaseAsk::up_to(5))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// `a_flooding_tenant_cannot_starve_another` (fair.rs), leasing in batches of 8 and handing
/// in each batch with one `complete_batch`.
async fn batched_leases_keep_a_flood_from_starving_another(b: Backend) {
    let s = &*b.store;
    let flood = tenant(s, "flood").await;
    let quiet = tenant(s, "quiet").await;
    for i in 0..200 {
        s.submit(job(flood, 5, i)).await.unwrap();
    }
    for i in 0..10 {
        s.submit(job(quiet, 5, 1000 + i)).await.unwrap();
    }
    let mut owners = Vec::new();
    for _ in 0..3 {
        let batch = s
            .lease_batch(&w("n/w0"), Timestamp(2000), 60_000, LeaseAsk::up_to(8))
            .await
            .unwrap();
        assert_eq!(batch.len(), 8);
        let mut hand_ins = Vec::new();
        for l in batch {
            owners.push(if s.job(quiet, l.lease.job_id).await.unwrap().is_some() {
                quiet
            } else {
                flood
            });
            hand_ins.push((l.lease.clone(), result_for(&l.lease, 2000)));
        }
        let answers = s.complete_batch(hand_ins, Timestamp(2000)).await.unwrap();
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    }
    let quiet_served = owners.iter().filter(|t| **t == quiet).count();
    assert_eq!(quiet_served, 10, "order: {owners:?}");
    assert_eq!(s.queue_depth().await.unwrap(), 200 + 10 - 24);
}

/// One `complete_batch`, four hand-ins: a stale lease (expired and leased again), a good
/// one, one whose receipt misstates its job, one for a job the store never had. Each is
/// answered on its own; only the good one is stored.
async fn complete_batch_fences_each_hand_in_alone(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "t").await;
    let j1 = created(s.submit(job(t, 5, 0)).await.unwrap());
    let j2 = created(s.submit(job(t, 5, 1)).await.unwrap());
    let j3 = created(s.submit(job(t, 5, 2)).await.unwrap());
    let stale = s.lease(&w("a"), Timestamp(10), 100).await.unwrap().unwrap();
    assert_eq!(stale.lease.job_id, j1.job_id);
    let rest = s
        .lease_batch(&w("a"), Timestamp(10), 60_000, LeaseAsk::up_to(5))
        .await
        .unwrap();
    let [good, lied] = &rest[..] else {
        panic!("{rest:?}")
    };
    assert_eq!(
        (good.lease.job_id, lied.lease.job_id),
        (j2.job_id, j3.job_id)
    );
    let policy = RetryPolicy {
        base_backoff_ms: 0,
        max_backoff_ms: 0,
    };
    assert_eq!(
        s.requeue_expired(Timestamp(500), policy).await.unwrap(),
        requeued(1)
    );
    let current = s
        .lease(&w("b"), Timestamp(600), 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.lease.job_id, j1.job_id);
    assert!(current.lease.epoch > stale.lease.epoch);

    let mut bad = result_for(&lied.lease, 700);
    bad.receipt.payload_digest = [0; 32];
    let unknown = LeaseRef {
        job_id: JobId::new_random(),
        epoch: 1,
        worker: w("a"),
    };
    let answers = s
        .complete_batch(
            vec![
                (stale.lease.clone(), result_for(&stale.lease, 700)),
                (good.lease.clone(), result_for(&good.lease, 700)),
                (lied.lease.clone(), bad),
                (unknown.clone(), result_for(&unknown, 700)),
            ],
            Timestamp(700),
        )
        .await
        .unwrap();
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert!(
        matches!(answers[0], Err(StoreError::Fenced { job_id, epoch })
            if (job_id, epoch) == (j1.job_id, stale.lease.epoch)),
        "{answers:?}"
    );
    assert!(answers[1].is_ok(), "{answers:?}");
    assert!(
        matches!(answers[2], Err(StoreError::BadReceipt { job_id, field: ReceiptField::PayloadDigest })
            if job_id == j3.job_id),
        "{answers:?}"
    );
    assert!(
        matches!(answers[3], Err(StoreError::Fenced { .. })),
        "{answers:?}"
    );

    // The good one is completed with its result.
    let r = s.result(t, j2.job_id).await.unwrap().unwrap();
    assert_eq!(r.job.status, JobStatus::Completed);
    let body = r.body.expect("the good hand-in's result");
    assert_eq!(body.receipt.job_id, j2.job_id);
    assert_eq!(body.encrypted_result, vec![9; 64]);
    // The stale one stored nothing: the job is the current holder's.
    let r = s.result(t, j1.job_id).await.unwrap().unwrap();
    assert_eq!(r.job.status, JobStatus::Processing);
    assert_eq!(r.job.worker_id.as_deref(), Some("b"));
    assert!(r.body.is_none());
    // The refused one stored nothing and its lease still holds.
    let r = s.result(t, j3.job_id).await.unwrap().unwrap();
    assert_eq!(r.job.status, JobStatus::Processing);
    assert!(r.body.is_none());

    // The live holders hand in (together); a repeated hand-in is fenced.
    let answers = s
        .complete_batch(
            vec![
                (current.lease.clone(), result_for(&current.lease, 800)),
                (lied.lease.clone(), result_for(&lied.lease, 800)),
                (good.lease.clone(), result_for(&good.lease, 800)),
            ],
            Timestamp(800),
        )
        .await
        .unwrap();
    assert!(answers[0].is_ok() && answers[1].is_ok(), "{answers:?}");
    assert!(
        matches!(answers[2], Err(StoreError::Fenced { .. })),
        "{answers:?}"
    );
    let r = s.result(t, j1.job_id).await.unwrap().unwrap();
    assert_eq!(r.job.status, JobStatus::Completed);
    assert_eq!(r.body.unwrap().receipt.worker_id, "b");
    assert!(
        s.complete_batch(Vec::new(), Timestamp(900))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A batch takes what is ready and no more: nothing from an empty queue, the whole queue
/// when it is smaller than the batch, nothing of a disabled tenant's or still backing off.
async fn lease_batch_takes_only_what_is_ready(b: Backend) {
    let s = &*b.store;
    let wk = w("n/w0");
    assert!(
        s.lease_batch(&wk, Timestamp(10), 1000, LeaseAsk::up_to(8))
            .await
            .unwrap()
            .is_empty()
    );
    let on = tenant(s, "on").await;
    let off = tenant(s, "off").await;
    let mut mine = Vec::new();
    for i in 0..3 {
        mine.push(created(s.submit(job(on, 5, i)).await.unwrap()).job_id);
    }
    for i in 0..4 {
        s.submit(job(off, 9, i)).await.unwrap();
    }
    s.set_tenant_disabled("off", true).await.unwrap();
    assert!(
        s.lease_batch(&wk, Timestamp(10), 1000, LeaseAsk::up_to(0))
            .await
            .unwrap()
            .is_empty()
    );
    let got = s
        .lease_batch(&wk, Timestamp(10), 1000, LeaseAsk::up_to(10))
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|l| l.lease.job_id).collect::<Vec<_>>(),
        mine,
        "only the enabled tenant's jobs, FIFO"
    );
    assert!(got.iter().all(|l| l.lease.epoch == 1 && l.retry_count == 0));
    assert!(
        s.lease_batch(&wk, Timestamp(10), 1000, LeaseAsk::up_to(10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.queue_depth().await.unwrap(), 4);

    // A failed attempt backs off: not in a batch before its time, in one after.
    let policy = RetryPolicy {
        base_backoff_ms: 100,
        max_backoff_ms: 10_000,
    };
    let RetryDecision::Retry { not_before, .. } = s
        .fail(&got[0].lease, ErrorCode::Internal, Timestamp(20), policy)
        .await
        .unwrap()
    else {
        panic!("expected a retry")
    };
    assert!(
        s.lease_batch(&wk, Timestamp(not_before.0 - 1), 1000, LeaseAsk::up_to(10))
            .await
            .unwrap()
            .is_empty()
    );
    s.set_tenant_disabled("off", false).await.unwrap();
    let again = s
        .lease_batch(&wk, Timestamp(not_before.0), 1000, LeaseAsk::up_to(10))
        .await
        .unwrap();
    assert_eq!(
        again.len(),
        5,
        "the retried job and the re-enabled tenant's four"
    );
    let retried: Vec<_> = again.iter().filter(|l| l.lease.job_id == mine[0]).collect();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].lease.epoch, retried[0].retry_count), (2, 1));
    assert_eq!(s.queue_depth().await.unwrap(), 0);
}

/// Workers leasing in batches at once (each may plan on jobs another takes first): every job
/// is leased exactly once, with its own payload.
async fn concurrent_batches_lease_each_job_once(b: Backend) {
    let mut rng = StdRng::seed_from_u64(11);
    let mut sent = HashMap::new();
    let mut ts = Vec::new();
    for name in ["a", "b", "c"] {
        ts.push(tenant(&*b.store, name).await);
    }
    let mut jobs = Vec::new();
    for i in 0..300 {
        let prio = rng.gen_range(1..=10);
        jobs.push(binary_job(&mut rng, ts[i % 3], prio));
    }
    for j in jobs {
        created(b.store.submit(j.clone()).await.unwrap());
        sent.insert(j.job_id, j.encrypted_payload);
    }
    let mut workers = tokio::task::JoinSet::new();
    for n in 0..8 {
        let s = b.store.clone();
        workers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s
                    .lease_batch(
                        &w(&format!("n/w{n}")),
                        Timestamp(NOW),
                        60_000,
                        LeaseAsk::up_to(16),
                    )
                    .await
                    .unwrap();
                if got.is_empty() && s.queue_depth().await.unwrap() == 0 {
                    return mine;
                }
                mine.extend(got);
            }
        });
    }
    let mut seen = HashMap::new();
    while let Some(r) = workers.join_next().await {
        for l in r.unwrap() {
            assert_eq!(l.encrypted_payload, sent[&l.lease.job_id]);
            assert_eq!(l.lease.epoch, 1);
            assert!(
                seen.insert(l.lease.job_id, l.lease.worker).is_none(),
                "{} leased twice",
                l.lease.job_id
            );
        }
    }
    assert_eq!(seen.len(), 300);
}

/// After its first job a batch takes nothing below its floor, and stops there: a worker that
/// has been running priority-9 work gets priority-2 work one job at a time.
async fn a_batch_stops_at_its_floor(b: Backend) {
    let s = &*b.store;
    let a = tenant(s, "a").await;
    let other = tenant(s, "other").await;
    for i in 0..3 {
        s.submit(job(a, 9, i)).await.unwrap();
    }
    for i in 0..4 {
        s.submit(job(a, 2, 10 + i)).await.unwrap();
        s.submit(job(other, 2, 20 + i)).await.unwrap();
    }
    let wk = w("n/w0");
    let ask = |floor: Option<i64>| LeaseAsk {
        max: 8,
        floor: floor.map(|p| Priority::new(p).unwrap()),
    };
    let prios =
        |got: &[LeasedJob]| -> Vec<u8> { got.iter().map(|l| l.priority.unwrap().get()).collect() };
    let got = s
        .lease_batch(&wk, Timestamp(NOW), 60_000, ask(Some(9)))
        .await
        .unwrap();
    // Tenant a's three priority-9 jobs; the other tenant's first job (priority 2) comes
    // before a's last under fair sharing, which ends the batch there.
    assert!(!got.is_empty() && got.len() <= 3, "{:?}", prios(&got));
    assert!(prios(&got).iter().all(|p| *p == 9), "{:?}", prios(&got));
    let mut nines = got.len();
    // Below the floor, the first job still comes (a single lease would take it), alone.
    loop {
        let got = s
            .lease_batch(&wk, Timestamp(NOW), 60_000, ask(Some(9)))
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "{:?}", prios(&got));
        if got[0].priority.unwrap().get() == 2 {
            break;
        }
        nines += 1;
    }
    assert_eq!(nines, 3);
    // Without a floor, a batch takes the rest.
    let got = s
        .lease_batch(&wk, Timestamp(NOW), 60_000, ask(None))
        .await
        .unwrap();
    assert_eq!(prios(&got), vec![2; 7]);
}

behaviour!(
    a_batch_stops_at_its_floor,
    lease_batch_hands_out_what_single_leases_would,
    concurrent_batches_lease_each_job_once,
    batched_leases_keep_a_flood_from_starving_another,
    complete_batch_fences_each_hand_in_alone,
    lease_batch_takes_only_what_is_ready,
);

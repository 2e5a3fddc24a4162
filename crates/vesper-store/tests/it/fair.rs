//! Fair scheduling between tenants, through the store (policy: `vesper_core::sched`).

use super::*;

/// Lease `n` jobs and say whose they were.
async fn lease_owners(s: &dyn Store, n: usize, now: u64) -> Vec<TenantId> {
    let mut out = Vec::new();
    for _ in 0..n {
        let l = s
            .lease(&w("n/w0"), Timestamp(now), 60_000)
            .await
            .unwrap()
            .expect("a job to lease");
        out.push(owner(s, l.lease.job_id).await);
        s.complete(&l.lease, result_for(&l.lease, now), Timestamp(now))
            .await
            .unwrap();
    }
    out
}

/// `job()` is tenant-scoped: the owner is the tenant that can see it.
async fn owner(s: &dyn Store, id: JobId) -> TenantId {
    for t in 1..=4 {
        if s.job(TenantId(t), id).await.unwrap().is_some() {
            return TenantId(t);
        }
    }
    panic!("job has no owner")
}

async fn a_flooding_tenant_cannot_starve_another(b: Backend) {
    let s = &*b.store;
    let flood = tenant(s, "flood").await;
    let quiet = tenant(s, "quiet").await;
    for i in 0..200 {
        s.submit(job(flood, 5, i)).await.unwrap();
    }
    for i in 0..10 {
        s.submit(job(quiet, 5, 1000 + i)).await.unwrap();
    }
    // Although the flood arrived first, the quiet tenant's 10 jobs are all among the first
    // 24 started (burst credit 4, then alternating).
    let owners = lease_owners(s, 24, 2000).await;
    let quiet_served = owners.iter().filter(|t| **t == quiet).count();
    assert_eq!(quiet_served, 10, "order: {owners:?}");
    assert_eq!(s.queue_depth().await.unwrap(), 200 + 10 - 24);
}

async fn weights_share_the_workers(b: Backend) {
    let s = &*b.store;
    let heavy = tenant(s, "heavy").await;
    let light = tenant(s, "light").await;
    s.set_tenant_settings(
        heavy,
        TenantSettings {
            weight: 3,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for i in 0..100 {
        s.submit(job(heavy, 5, i)).await.unwrap();
        s.submit(job(light, 5, i)).await.unwrap();
    }
    let owners = lease_owners(s, 80, 500).await;
    let heavy_n = owners.iter().filter(|t| **t == heavy).count();
    // 3:1 within one job of rounding.
    assert!((59..=61).contains(&heavy_n), "heavy got {heavy_n} of 80");
}

async fn priority_orders_within_a_tenant_and_is_bounded_across(b: Backend) {
    let s = &*b.store;
    let a = tenant(s, "a").await;
    let bb = tenant(s, "b").await;
    let low = created(s.submit(job(a, 2, 1)).await.unwrap());
    let high = created(s.submit(job(a, 9, 2)).await.unwrap());
    // Within tenant a: priority 9 first although submitted later.
    let l = s
        .lease(&w("n/w0"), Timestamp(10), 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.lease.job_id, high.job_id);
    let l2 = s
        .lease(&w("n/w0"), Timestamp(10), 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l2.lease.job_id, low.job_id);

    // Across tenants: b at priority 10 gets ahead of a at priority 1, but only for a bounded
    // number of jobs; a is never starved.
    for i in 0..40 {
        s.submit(job(a, 1, 100 + i)).await.unwrap();
        s.submit(job(bb, 10, 100 + i)).await.unwrap();
    }
    let owners = lease_owners(s, 40, 1000).await;
    let a_n = owners.iter().filter(|t| **t == a).count();
    assert!(
        (14..=20).contains(&a_n),
        "a (priority 1) got {a_n} of 40: {owners:?}"
    );
    assert_eq!(owners[0], bb, "priority 10 goes first");
}

async fn disabled_tenants_jobs_wait(b: Backend) {
    let s = &*b.store;
    let a = tenant(s, "a").await;
    s.submit(job(a, 5, 1)).await.unwrap();
    s.set_tenant_disabled("a", true).await.unwrap();
    assert!(
        s.lease(&w("n/w0"), Timestamp(5), 1000)
            .await
            .unwrap()
            .is_none()
    );
    s.set_tenant_disabled("a", false).await.unwrap();
    assert!(
        s.lease(&w("n/w0"), Timestamp(5), 1000)
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        s.set_tenant_disabled("nobody", true).await,
        Err(StoreError::TenantNotFound)
    ));
}

async fn queue_counts_survive_retries_cancels_and_reopen(b: Backend) {
    let s = &*b.store;
    let a = tenant(s, "a").await;
    let j1 = created(s.submit(job(a, 5, 1)).await.unwrap());
    s.submit(job(a, 5, 2)).await.unwrap();
    s.submit(job(a, 5, 3)).await.unwrap();
    assert_eq!(s.queue_depth().await.unwrap(), 3);
    s.cancel(a, j1.job_id, Timestamp(4)).await.unwrap();
    assert_eq!(s.queue_depth().await.unwrap(), 2);
    let l = s
        .lease(&w("n/w0"), Timestamp(5), 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.queue_depth().await.unwrap(), 1);
    // Lease runs out: back in the queue.
    assert_eq!(
        s.requeue_expired(Timestamp(200), RetryPolicy::default())
            .await
            .unwrap()
            .requeued,
        1
    );
    assert_eq!(s.queue_depth().await.unwrap(), 2);
    let _ = l;
    let b = b.reopen().await;
    let s2 = &*b.store;
    assert_eq!(s2.queue_depth().await.unwrap(), 2);
    assert_eq!(s2.tenants().await.unwrap()[0].queued, 2);
}

behaviour!(
    a_flooding_tenant_cannot_starve_another,
    weights_share_the_workers,
    priority_orders_within_a_tenant_and_is_bounded_across,
    disabled_tenants_jobs_wait,
    queue_counts_survive_retries_cancels_and_reopen,
);

//! Credentials, quotas, batches, listings, the nonce cache, the callback outbox, migration.

use super::*;

async fn keys_carry_scopes_and_can_be_revoked(b: Backend) {
    let s = &*b.store;
    // A fresh store: nothing to list, no pool keys, no workers.
    assert!(s.tenants().await.unwrap().is_empty());
    assert!(s.pool_keys().await.unwrap().is_empty());
    assert!(s.workers().await.unwrap().is_empty());
    s.publish_pool_key("k1", [1; 32], Timestamp(1))
        .await
        .unwrap();
    s.publish_pool_key("k1", [1; 32], Timestamp(2))
        .await
        .unwrap();
    s.publish_pool_key("k2", [2; 32], Timestamp(3))
        .await
        .unwrap();
    assert_eq!(s.pool_keys().await.unwrap(), vec![[1; 32], [2; 32]]);
    let t = tenant(s, "acme").await;
    let hash = [7u8; 32];
    s.add_api_key(t, hash, "read".parse().unwrap(), Timestamp(1))
        .await
        .unwrap();
    let p = s.principal_for_key(hash).await.unwrap().unwrap();
    assert_eq!(p.tenant, t);
    assert!(p.scopes.contains(Scope::Read) && !p.scopes.contains(Scope::Submit));
    assert_eq!(p.settings.weight, 1);
    // Too short a prefix revokes nothing; another tenant's id revokes nothing.
    assert_eq!(s.revoke_api_key(t, "0707").await.unwrap(), 0);
    let other = tenant(s, "other").await;
    assert_eq!(s.revoke_api_key(other, "070707070707").await.unwrap(), 0);
    assert_eq!(s.revoke_api_key(t, "070707070707").await.unwrap(), 1);
    assert!(s.principal_for_key(hash).await.unwrap().is_none());
    // Disabling the tenant disables its wallets too.
    s.add_wallet(t, "ed25519:aa", Scopes::ALL, Timestamp(2))
        .await
        .unwrap();
    assert!(matches!(
        s.add_wallet(other, "ed25519:aa", Scopes::ALL, Timestamp(2))
            .await,
        Err(StoreError::CredentialExists)
    ));
    assert_eq!(
        s.principal_for_wallet("ed25519:aa")
            .await
            .unwrap()
            .unwrap()
            .tenant,
        t
    );
    s.set_tenant_disabled("acme", true).await.unwrap();
    assert!(
        s.principal_for_wallet("ed25519:aa")
            .await
            .unwrap()
            .is_none()
    );
    s.set_tenant_disabled("acme", false).await.unwrap();
    assert!(s.revoke_wallet("ed25519:aa").await.unwrap());
    assert!(
        s.principal_for_wallet("ed25519:aa")
            .await
            .unwrap()
            .is_none()
    );
}

async fn nonces_are_accepted_once_and_remembered_across_restarts(b: Backend) {
    let key = [3u8; 32];
    assert!(
        b.store
            .remember_nonce(key, Timestamp(1000), Timestamp(10))
            .await
            .unwrap()
    );
    assert!(
        !b.store
            .remember_nonce(key, Timestamp(1000), Timestamp(20))
            .await
            .unwrap()
    );
    let b = b.reopen().await;
    let s = &*b.store;
    assert!(
        !s.remember_nonce(key, Timestamp(1000), Timestamp(30))
            .await
            .unwrap()
    );
    // Past its window the entry no longer matters (and is purged).
    s.purge_expired_results(Timestamp(1001)).await.unwrap();
    assert!(
        s.remember_nonce(key, Timestamp(3000), Timestamp(1002))
            .await
            .unwrap()
    );
}

async fn rate_state_is_compared_and_swapped(b: Backend) {
    let s = &*b.store;
    assert_eq!(s.rate_state("t:1").await.unwrap(), None);
    assert!(s.rate_swap("t:1", None, 100, 60_000).await.unwrap());
    // A second writer that read "absent" loses.
    assert!(!s.rate_swap("t:1", None, 200, 60_000).await.unwrap());
    assert_eq!(s.rate_state("t:1").await.unwrap(), Some(100));
    assert!(!s.rate_swap("t:1", Some(99), 300, 60_000).await.unwrap());
    assert!(s.rate_swap("t:1", Some(100), 300, 60_000).await.unwrap());
    assert_eq!(s.rate_state("t:1").await.unwrap(), Some(300));
    assert_eq!(s.rate_state("t:2").await.unwrap(), None);
}

async fn quotas_refuse_atomically(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "q").await;
    let quota = SubmitQuota {
        max_queued: Some(2),
        jobs_per_day: Some(3),
    };
    let with_quota = |created: u64| NewJob {
        quota,
        ..job(t, 5, created)
    };
    created(s.submit(with_quota(1)).await.unwrap());
    created(s.submit(with_quota(2)).await.unwrap());
    assert!(matches!(
        s.submit(with_quota(3)).await.unwrap(),
        SubmitOutcome::QuotaExceeded(QuotaKind::MaxQueued)
    ));
    // Starting one frees a queue slot; the third job of the day is accepted, the fourth not.
    s.lease(&w("n/w0"), Timestamp(4), 1000)
        .await
        .unwrap()
        .unwrap();
    created(s.submit(with_quota(5)).await.unwrap());
    s.lease(&w("n/w0"), Timestamp(6), 1000)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        s.submit(with_quota(7)).await.unwrap(),
        SubmitOutcome::QuotaExceeded(QuotaKind::JobsPerDay)
    ));
    // A new UTC day resets the daily count.
    created(s.submit(with_quota(86_400_000 + 1)).await.unwrap());
    // Refused submissions stored nothing.
    let page = s.list_jobs(t, None, None, 100).await.unwrap();
    assert_eq!(page.jobs.len(), 4);
}

async fn batches_are_all_or_nothing(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "batch").await;
    let quota = SubmitQuota {
        max_queued: Some(5),
        jobs_per_day: None,
    };
    let jobs: Vec<NewJob> = (0..4)
        .map(|i| NewJob {
            quota,
            ..job(t, 5, i)
        })
        .collect();
    let BatchOutcome::Accepted(out) = s.submit_batch(jobs).await.unwrap() else {
        panic!("batch refused")
    };
    assert_eq!(out.len(), 4);
    // Two more would exceed max_queued = 5 at the second: nothing of this batch is stored.
    let mut events = s.events();
    let jobs: Vec<NewJob> = (0..2)
        .map(|i| NewJob {
            quota,
            ..job(t, 5, 10 + i)
        })
        .collect();
    let refused: Vec<JobId> = jobs.iter().map(|j| j.job_id).collect();
    match s.submit_batch(jobs).await.unwrap() {
        BatchOutcome::Rejected { index, outcome } => {
            assert_eq!(index, 1);
            assert!(matches!(
                outcome,
                SubmitOutcome::QuotaExceeded(QuotaKind::MaxQueued)
            ));
        }
        other => panic!("expected rejection, got {other:?}"),
    }
    assert_eq!(s.queue_depth().await.unwrap(), 4);
    assert_eq!(s.list_jobs(t, None, None, 100).await.unwrap().jobs.len(), 4);
    // No event names a job of the rolled-back batch. (Events of the first batch may still be
    // arriving: on Redis they travel by pub/sub, after the subscription above.)
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    while let Ok(e) = events.try_recv() {
        assert!(
            !refused.contains(&e.job_id),
            "an event for a rolled-back batch: {e:?}"
        );
    }
}

async fn listing_pages_newest_first_and_filters(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "list").await;
    let other = tenant(s, "other").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(created(s.submit(job(t, 5, i)).await.unwrap()).job_id);
        s.submit(job(other, 5, i)).await.unwrap();
    }
    s.cancel(t, ids[2], Timestamp(10)).await.unwrap();
    let p1 = s.list_jobs(t, None, None, 3).await.unwrap();
    let p2 = s.list_jobs(t, None, p1.next, 3).await.unwrap();
    let p3 = s.list_jobs(t, None, p2.next, 3).await.unwrap();
    let got: Vec<JobId> = [p1.jobs, p2.jobs, p3.jobs.clone()]
        .concat()
        .iter()
        .map(|j| j.job_id)
        .collect();
    let mut want = ids.clone();
    want.reverse();
    assert_eq!(got, want);
    assert!(p3.next.is_none());
    let cancelled = s
        .list_jobs(t, Some(JobStatus::Cancelled), None, 10)
        .await
        .unwrap();
    assert_eq!(cancelled.jobs.len(), 1);
    assert_eq!(cancelled.jobs[0].job_id, ids[2]);
}

async fn terminal_changes_owe_callbacks_durably(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "cb").await;
    let with_cb = |c| NewJob {
        callback_url: Some("https://example.com/hook".into()),
        ..job(t, 5, c)
    };
    let j1 = created(s.submit(with_cb(1)).await.unwrap());
    let j2 = created(s.submit(with_cb(2)).await.unwrap());
    s.submit(job(t, 5, 3)).await.unwrap(); // no callback asked
    assert!(
        s.claim_callbacks(Timestamp(5), 10, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    let l = s
        .lease(&w("n/w0"), Timestamp(5), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.lease.job_id, j1.job_id);
    s.complete(&l.lease, result_for(&l.lease, 6), Timestamp(6))
        .await
        .unwrap();
    s.cancel(t, j2.job_id, Timestamp(7)).await.unwrap();
    let due = s.claim_callbacks(Timestamp(8), 10, 1000).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].job.job_id, j1.job_id);
    assert_eq!(due[0].status, JobStatus::Completed);
    assert_eq!(due[1].status, JobStatus::Cancelled);
    // Claimed: not handed out again until the claim runs out.
    assert!(
        s.claim_callbacks(Timestamp(9), 10, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    s.finish_callback(j1.job_id, JobStatus::Completed, CallbackOutcome::Delivered)
        .await
        .unwrap();
    s.finish_callback(
        j2.job_id,
        JobStatus::Cancelled,
        CallbackOutcome::Retry {
            at: Timestamp(50),
            error: "503".into(),
        },
    )
    .await
    .unwrap();
    let b = b.reopen().await;
    let s = &*b.store;
    assert!(
        s.claim_callbacks(Timestamp(49), 10, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    let again = s.claim_callbacks(Timestamp(50), 10, 1000).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].job.job_id, j2.job_id);
    assert_eq!(again[0].attempts, 1);
}

#[tokio::test]
async fn version_1_databases_are_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(include_str!("fixtures/schema_v1.sql"))
            .unwrap();
    }
    let s = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    // The old key keeps working with every scope (it was the operator's bootstrap key).
    let p = s.principal_for_key([1; 32]).await.unwrap().unwrap();
    assert_eq!(p.scopes, Scopes::ALL);
    // The queued job was counted and can be leased.
    assert_eq!(s.queue_depth().await.unwrap(), 1);
    let l = s
        .lease(&w("n/w0"), Timestamp(5), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.encrypted_payload, vec![5]);
    drop(s);
    // Opening again is a no-op.
    let s = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(s.tenants().await.unwrap()[0].name, "old");
}

behaviour!(
    keys_carry_scopes_and_can_be_revoked,
    rate_state_is_compared_and_swapped,
    nonces_are_accepted_once_and_remembered_across_restarts,
    quotas_refuse_atomically,
    batches_are_all_or_nothing,
    listing_pages_newest_first_and_filters,
    terminal_changes_owe_callbacks_durably,
);

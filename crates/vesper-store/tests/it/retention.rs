//! Retention: finished jobs are forgotten after their window, with everything kept about them;
//! nothing else is touched, and a store under steady load stays bounded.

use super::*;

/// Lease the next job and hand in a result for it at `now`.
async fn run_one(s: &dyn Store, now: u64) -> JobId {
    let l = s
        .lease(&w("n/w0"), Timestamp(now), 10_000)
        .await
        .unwrap()
        .expect("a job to lease");
    s.complete(&l.lease, result_for(&l.lease, now), Timestamp(now))
        .await
        .unwrap();
    l.lease.job_id
}

fn idem(j: NewJob, key: &str) -> NewJob {
    NewJob {
        idempotency_key: Some(key.into()),
        ..j
    }
}

async fn retention_forgets_old_finished_jobs_only(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "ret").await;
    let a = created(s.submit(idem(job(t, 5, 1), "key-a")).await.unwrap());
    assert_eq!(run_one(s, 10).await, a.job_id);
    let fails = NewJob {
        max_retries: 0,
        ..job(t, 5, 2)
    };
    let fb = created(s.submit(fails).await.unwrap());
    let l = s
        .lease(&w("n/w0"), Timestamp(11), 1000)
        .await
        .unwrap()
        .unwrap();
    s.fail(
        &l.lease,
        ErrorCode::Trap,
        Timestamp(11),
        RetryPolicy::default(),
    )
    .await
    .unwrap();
    let c = created(s.submit(job(t, 5, 3)).await.unwrap());
    s.cancel(t, c.job_id, Timestamp(12)).await.unwrap();
    let with_cb = NewJob {
        callback_url: Some("https://example.com/hook".into()),
        ..job(t, 5, 4)
    };
    let d = created(s.submit(with_cb).await.unwrap());
    assert_eq!(run_one(s, 13).await, d.job_id);
    let e = created(s.submit(job(t, 5, 5)).await.unwrap());
    assert_eq!(run_one(s, 500).await, e.job_id);
    let g = created(s.submit(job(t, 5, 6)).await.unwrap());
    s.lease(&w("n/w0"), Timestamp(501), 1000)
        .await
        .unwrap()
        .unwrap();
    let f = created(s.submit(job(t, 5, 7)).await.unwrap());

    // Finished at or before 100: a, b, c; d waits for its callback.
    assert_eq!(s.forget_finished(Timestamp(100), 1000).await.unwrap(), 3);
    for gone in [a.job_id, fb.job_id, c.job_id] {
        assert!(s.job(t, gone).await.unwrap().is_none(), "{gone} kept");
        assert!(s.result(t, gone).await.unwrap().is_none());
        if let Kind::Redis { server } = &b.kind {
            let keys = server.command(&format!("KEYS *{gone}*"));
            assert_eq!(keys.trim(), "*0", "keys of {gone} left: {keys}");
        }
    }
    let page = s.list_jobs(t, None, None, 100).await.unwrap();
    let mut listed: Vec<JobId> = page.jobs.iter().map(|j| j.job_id).collect();
    listed.sort();
    let mut want = vec![d.job_id, e.job_id, g.job_id, f.job_id];
    want.sort();
    assert_eq!(listed, want);
    // Inside the window: untouched, result and all.
    let kept = s.result(t, e.job_id).await.unwrap().unwrap();
    assert!(kept.body.is_some());
    assert_eq!(kept.job.status, JobStatus::Completed);
    // The idempotency key went with its job: the key names a new job now.
    let again = idem(job(t, 5, 600), "key-a");
    assert!(matches!(
        s.submit(again).await.unwrap(),
        SubmitOutcome::Created(_)
    ));
    // Once its callback is delivered, d goes too, at a later sweep (whose cut-off has moved on).
    let due = s.claim_callbacks(Timestamp(600), 10, 1000).await.unwrap();
    assert_eq!(due.len(), 1);
    s.finish_callback(d.job_id, JobStatus::Completed, CallbackOutcome::Delivered)
        .await
        .unwrap();
    assert_eq!(s.forget_finished(Timestamp(200), 1000).await.unwrap(), 1);
    assert!(s.job(t, d.job_id).await.unwrap().is_none());
    assert_eq!(s.forget_finished(Timestamp(200), 1000).await.unwrap(), 0);
}

/// How much the backend holds: rows of the embedded store's tables, keys in Redis.
fn footprint(b: &Backend) -> Option<u64> {
    match &b.kind {
        Kind::Embedded { path, .. } => {
            let c = rusqlite::Connection::open(path).unwrap();
            let mut n = 0;
            for table in ["jobs", "results", "payloads", "callbacks"] {
                n += c
                    .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .unwrap() as u64;
            }
            Some(n)
        }
        Kind::Redis { server } => {
            let reply = server.command("DBSIZE");
            Some(reply.trim().trim_start_matches(':').parse().unwrap())
        }
        Kind::Memory => None,
    }
}

async fn a_store_under_steady_load_stays_bounded(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "steady").await;
    const PER_ROUND: u64 = 12;
    const WINDOW_MS: u64 = 300;
    let mut sizes = Vec::new();
    for round in 0..15u64 {
        let now = 1_000 + round * 100;
        for i in 0..PER_ROUND {
            let cb = NewJob {
                callback_url: (i % 3 == 0).then(|| "https://example.com/hook".into()),
                ..idem(job(t, 5, now), &format!("r{round}-{i}"))
            };
            s.submit(cb).await.unwrap();
        }
        for _ in 0..PER_ROUND {
            run_one(s, now).await;
        }
        // Deliver what is owed, then sweep in small batches as the background task does.
        for c in s.claim_callbacks(Timestamp(now), 100, 1000).await.unwrap() {
            s.finish_callback(c.job.job_id, c.status, CallbackOutcome::Delivered)
                .await
                .unwrap();
        }
        let cutoff = Timestamp(now - WINDOW_MS);
        while s.forget_finished(cutoff, 5).await.unwrap() == 5 {}
        let held = s.list_jobs(t, None, None, 1000).await.unwrap().jobs.len() as u64;
        // Rounds finished within the window (after the cut-off) are kept: this one and the two
        // before it.
        assert_eq!(held, PER_ROUND * (round + 1).min(3), "round {round}");
        sizes.push(footprint(&b));
    }
    // Steady state: the backend holds as much after 15 rounds as after 5.
    if let (Some(Some(at5)), Some(Some(last))) = (sizes.get(4), sizes.last()) {
        assert!(last <= at5, "grew from {at5} to {last}");
    }
}

/// Many old jobs still owing callbacks (a client's webhook down) do not stop the sweep from
/// forgetting the jobs behind them, batch after batch.
async fn jobs_owing_callbacks_do_not_hold_up_the_sweep(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "hooks").await;
    for i in 0..12 {
        let owing = NewJob {
            callback_url: Some("https://example.com/down".into()),
            ..job(t, 5, i)
        };
        s.submit(owing).await.unwrap();
        run_one(s, 10 + i).await;
    }
    let plain = created(s.submit(job(t, 5, 50)).await.unwrap());
    assert_eq!(run_one(s, 60).await, plain.job_id);
    // Batches of 5, as the sweep would run them: the plain job goes in the first.
    assert_eq!(s.forget_finished(Timestamp(100), 5).await.unwrap(), 1);
    assert!(s.job(t, plain.job_id).await.unwrap().is_none());
    let listed = s.list_jobs(t, None, None, 100).await.unwrap().jobs.len();
    assert_eq!(listed, 12, "jobs owing callbacks are kept");
    // Callbacks given up: those jobs go too.
    for c in s.claim_callbacks(Timestamp(200), 100, 1000).await.unwrap() {
        let dead = CallbackOutcome::Dead {
            error: "gone".into(),
        };
        s.finish_callback(c.job.job_id, c.status, dead)
            .await
            .unwrap();
    }
    let mut forgotten = 0;
    loop {
        let n = s.forget_finished(Timestamp(300), 5).await.unwrap();
        forgotten += n;
        if n < 5 {
            break;
        }
    }
    assert_eq!(forgotten, 12);
    assert!(
        s.list_jobs(t, None, None, 100)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
}

behaviour!(
    retention_forgets_old_finished_jobs_only,
    jobs_owing_callbacks_do_not_hold_up_the_sweep,
    a_store_under_steady_load_stays_bounded,
);

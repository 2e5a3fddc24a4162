//! Prepaid credits (the proof gateway's payment check) and what the provers hold loaded.

use super::*;

async fn credits_debit_once_refund_once_and_settle(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "payer").await;
    let other = tenant(s, "other").await;
    assert_eq!(s.credit_balance(t).await.unwrap(), 0);
    assert_eq!(s.add_credits(t, 10, Timestamp(1)).await.unwrap(), 10);
    assert_eq!(s.credit_balance(other).await.unwrap(), 0);

    // A debit is taken once per job; a short balance takes nothing.
    let done = job(t, 5, 10);
    let (done_id, done_job) = (done.job_id, done);
    assert_eq!(
        s.debit(t, done_id, 4, Timestamp(10)).await.unwrap(),
        Some(6)
    );
    assert_eq!(
        s.debit(t, done_id, 4, Timestamp(11)).await.unwrap(),
        Some(6)
    );
    assert_eq!(
        s.debit(other, JobId::new_random(), 1, Timestamp(10))
            .await
            .unwrap(),
        None
    );
    let failed = job(t, 5, 10);
    let failed_id = failed.job_id;
    assert_eq!(
        s.debit(t, failed_id, 2, Timestamp(10)).await.unwrap(),
        Some(4)
    );
    let waiting = job(t, 5, 10);
    let waiting_id = waiting.job_id;
    assert_eq!(
        s.debit(t, waiting_id, 1, Timestamp(10)).await.unwrap(),
        Some(3)
    );
    let orphan = JobId::new_random(); // debited, then the gateway stopped before the submit
    assert_eq!(s.debit(t, orphan, 1, Timestamp(10)).await.unwrap(), Some(2));
    assert_eq!(
        s.debit(t, JobId::new_random(), 3, Timestamp(10))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.credit_balance(t).await.unwrap(), 2);

    // Refunds are given once.
    let refunded = JobId::new_random();
    assert_eq!(
        s.debit(t, refunded, 1, Timestamp(10)).await.unwrap(),
        Some(1)
    );
    assert!(s.refund(refunded).await.unwrap());
    assert!(!s.refund(refunded).await.unwrap());
    assert!(!s.refund(JobId::new_random()).await.unwrap());
    assert_eq!(s.credit_balance(t).await.unwrap(), 2);

    // The jobs: one completed, one cancelled, one still queued.
    created(s.submit(done_job).await.unwrap());
    created(s.submit(failed).await.unwrap());
    created(s.submit(waiting).await.unwrap());
    let mut leased = None;
    while let Some(l) = s.lease(&w("w"), Timestamp(20), 1000).await.unwrap() {
        if l.lease.job_id == done_id {
            leased = Some(l.lease.clone());
        } else {
            s.release(&l.lease).await.unwrap();
        }
        if leased.is_some() {
            break;
        }
    }
    let lease = leased.expect("the job was leased");
    s.complete(&lease, result_for(&lease, 21), Timestamp(21))
        .await
        .unwrap();
    s.cancel(t, failed_id, Timestamp(22)).await.unwrap();

    // Only debits made before the cut-off are settled.
    assert_eq!(s.settle_debits(Timestamp(10)).await.unwrap(), 0);
    // Given back: the cancelled job's 2 and the orphan's 1; kept: the completed job's 4;
    // waiting: the queued job's 1.
    assert_eq!(s.settle_debits(Timestamp(100)).await.unwrap(), 2);
    assert_eq!(s.credit_balance(t).await.unwrap(), 5);
    assert_eq!(s.settle_debits(Timestamp(100)).await.unwrap(), 0);
    assert!(!s.refund(done_id).await.unwrap(), "a settled charge stays");
    assert!(s.refund(waiting_id).await.unwrap());
    assert_eq!(s.credit_balance(t).await.unwrap(), 6);
}

/// Retention forgets a finished job and settles its debit in the same step: the sweep could
/// not tell a forgotten job from one never stored, and would give back a completed proof.
async fn forgetting_a_job_settles_its_debit(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "payer").await;
    s.add_credits(t, 10, Timestamp(1)).await.unwrap();
    let done = job(t, 5, 10);
    let done_id = done.job_id;
    let cancelled = job(t, 5, 10);
    let cancelled_id = cancelled.job_id;
    assert_eq!(
        s.debit(t, done_id, 3, Timestamp(10)).await.unwrap(),
        Some(7)
    );
    assert_eq!(
        s.debit(t, cancelled_id, 2, Timestamp(10)).await.unwrap(),
        Some(5)
    );
    created(s.submit(done).await.unwrap());
    created(s.submit(cancelled).await.unwrap());
    s.cancel(t, cancelled_id, Timestamp(11)).await.unwrap();
    let l = loop {
        let l = s
            .lease(&w("w"), Timestamp(12), 1000)
            .await
            .unwrap()
            .expect("queued");
        if l.lease.job_id == done_id {
            break l.lease;
        }
        s.release(&l.lease).await.unwrap();
    };
    s.complete(&l, result_for(&l, 13), Timestamp(13))
        .await
        .unwrap();

    assert_eq!(s.forget_finished(Timestamp(100), 1000).await.unwrap(), 2);
    assert!(s.job(t, done_id).await.unwrap().is_none());
    // Kept: the completed job's 3; given back: the cancelled job's 2.
    assert_eq!(s.credit_balance(t).await.unwrap(), 7);
    // Settled: the ledger has nothing left for the sweep to give back.
    assert_eq!(s.settle_debits(Timestamp(1_000)).await.unwrap(), 0);
    assert!(!s.refund(done_id).await.unwrap());
    assert!(!s.refund(cancelled_id).await.unwrap());
    assert_eq!(s.credit_balance(t).await.unwrap(), 7);
}

/// The payment check answers an idempotent replay before it charges: the store names the job
/// an idempotency key belongs to, per tenant.
async fn a_job_is_found_by_its_idempotency_key(b: Backend) {
    let s = &*b.store;
    let t = tenant(s, "payer").await;
    let other = tenant(s, "other").await;
    let mut j = job(t, 5, 10);
    j.idempotency_key = Some("order-7".into());
    let id = j.job_id;
    assert_eq!(s.job_by_idempotency_key(t, "order-7").await.unwrap(), None);
    created(s.submit(j).await.unwrap());
    assert_eq!(
        s.job_by_idempotency_key(t, "order-7").await.unwrap(),
        Some(id)
    );
    assert_eq!(
        s.job_by_idempotency_key(other, "order-7").await.unwrap(),
        None
    );
    assert_eq!(s.job_by_idempotency_key(t, "order-8").await.unwrap(), None);
}

async fn preloads_and_loaded_reports(b: Backend) {
    let s = &*b.store;
    let id = |c: char| c.to_string().repeat(64);
    assert!(s.preloads().await.unwrap().is_empty());
    s.request_preload(&id('a'), Timestamp(10)).await.unwrap();
    s.request_preload(&id('b'), Timestamp(11)).await.unwrap();
    s.request_preload(&id('a'), Timestamp(12)).await.unwrap();
    assert_eq!(s.preloads().await.unwrap(), [id('a'), id('b')]);
    for i in 0..MAX_PRELOADS as u64 {
        s.request_preload(&format!("{i:064x}"), Timestamp(100 + i))
            .await
            .unwrap();
    }
    let kept = s.preloads().await.unwrap();
    assert_eq!(kept.len(), MAX_PRELOADS);
    assert_eq!(kept[0], format!("{:064x}", MAX_PRELOADS - 1));
    assert!(!kept.contains(&id('b')), "the oldest asks are dropped");

    s.report_loaded("p1", &[id('a'), id('b')], Timestamp(1_000))
        .await
        .unwrap();
    s.report_loaded("p2", &[], Timestamp(2_000)).await.unwrap();
    s.report_loaded("p1", &[id('c')], Timestamp(3_000))
        .await
        .unwrap();
    let all = s.loaded_reports(Timestamp(0)).await.unwrap();
    assert_eq!(
        all,
        [
            LoadedReport {
                prover: "p1".into(),
                image_ids: vec![id('c')],
                reported_at: Timestamp(3_000)
            },
            LoadedReport {
                prover: "p2".into(),
                image_ids: vec![],
                reported_at: Timestamp(2_000)
            },
        ]
    );
    assert_eq!(s.loaded_reports(Timestamp(2_500)).await.unwrap().len(), 1);
    // A report forgets the ones older than the time to live.
    s.report_loaded(
        "p3",
        &[id('d')],
        Timestamp(2_000 + LOADED_REPORT_TTL_MS + 1),
    )
    .await
    .unwrap();
    let left: Vec<String> = s
        .loaded_reports(Timestamp(0))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.prover)
        .collect();
    assert_eq!(left, ["p1", "p3"]);
}

behaviour!(
    credits_debit_once_refund_once_and_settle,
    forgetting_a_job_settles_its_debit,
    a_job_is_found_by_its_idempotency_key,
    preloads_and_loaded_reports
);

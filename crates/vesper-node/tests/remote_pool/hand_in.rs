//! The gateway's side of a remote hand-in (`RemotePool` over a real store): a trusted worker
//! that signs a receipt misstating the job (program, workload type, payload or result digest)
//! is refused with `bad_receipt`, loses its reputation, and the job runs again elsewhere; a
//! failure report must carry a code a worker may report; the worker's self-declared name is
//! never its display name.

use std::str::FromStr as _;
use std::sync::Arc;

use vesper_api::workers::WorkerDirectory as _;
use vesper_core::{
    Clock as _, ErrorCode, JobId, JobStatus, ProgramId, Receipt, SystemClock, Timestamp,
    WorkloadType, sha256,
};
use vesper_crypto::SigningIdentity;
use vesper_net::NodeIdentity;
use vesper_node::remote::server::{RemotePool, RemotePoolConfig};
use vesper_proto::{Assignment, Completion, LeaseRequest, Message};
use vesper_store::{SqliteOptions, SqliteStore, Store};

struct Setup {
    store: Arc<dyn Store>,
    pool: Arc<RemotePool>,
    tenant: vesper_core::TenantId,
}

async fn setup() -> Setup {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_in_memory(SqliteOptions::default()).unwrap());
    let tenant = store.create_tenant("t", Timestamp(1)).await.unwrap();
    let pool = RemotePool::new(
        store.clone(),
        Arc::new(SystemClock),
        RemotePoolConfig {
            long_poll_ms: 200,
            retry: vesper_core::RetryPolicy {
                base_backoff_ms: 0,
                max_backoff_ms: 0,
            },
            ..RemotePoolConfig::default()
        },
    );
    Setup {
        store,
        pool,
        tenant,
    }
}

struct Worker {
    id: NodeIdentity,
    signer: SigningIdentity,
}

impl Worker {
    fn new() -> Worker {
        let id = NodeIdentity::generate();
        let signer = SigningIdentity::from_bytes(&id.secret_seed()).unwrap();
        Worker { id, signer }
    }

    async fn hello(&self, pool: &RemotePool, name: &str) -> Message {
        pool.handle(self.id.peer_id(), crate::hello(&self.id, name))
            .await
    }

    async fn lease(&self, pool: &RemotePool) -> Assignment {
        match pool
            .handle(
                self.id.peer_id(),
                Message::LeaseRequest(LeaseRequest { max_jobs: 1 }),
            )
            .await
        {
            Message::Assignment(a) => a,
            other => panic!("expected an assignment, got {other:?}"),
        }
    }

    /// Hand in a receipt for `a`, truthful except for what `lie` changes.
    async fn complete(&self, pool: &RemotePool, a: &Assignment, lie: fn(&mut Receipt)) -> Message {
        let sealed = vec![7u8; 48];
        let now = SystemClock.now();
        let mut receipt = Receipt {
            job_id: JobId::from_str(&a.job_id).unwrap(),
            program_id: ProgramId::from_str(a.program_id.as_deref().unwrap()).unwrap(),
            workload_type: a.workload_type.parse().unwrap(),
            payload_digest: hex::decode(&a.payload_digest).unwrap().try_into().unwrap(),
            result_digest: sha256(&[&sealed]),
            result_hash: [0; 32],
            fuel_used: 1,
            execution_time_ms: 1,
            started_at: now,
            completed_at: now,
            worker_id: self.id.peer_id().to_string(),
            worker_pubkey: self.id.public_key(),
        };
        lie(&mut receipt);
        // Validly signed by the worker's own key: the lie is in what it says.
        let signature = hex::encode(self.signer.sign_receipt(&receipt));
        pool.handle(
            self.id.peer_id(),
            Message::Completion(Completion {
                job_id: a.job_id.clone(),
                epoch: a.epoch,
                encrypted_result: sealed,
                receipt: receipt.encode(),
                signature,
            }),
        )
        .await
    }
}

async fn submit(s: &Setup, max_retries: u32) -> JobId {
    let job = crate::new_job(s.tenant, max_retries);
    let id = job.job_id;
    s.store.submit(job).await.unwrap();
    id
}

#[tokio::test]
async fn a_receipt_that_misstates_the_job_is_refused_and_costs_the_worker_its_reputation() {
    type Lie = fn(&mut Receipt);
    let lies: [(&str, Lie); 4] = [
        ("program_id", |r| r.program_id = ProgramId([0; 32])),
        ("workload_type", |r| {
            r.workload_type = WorkloadType::PosValidation
        }),
        ("payload_digest", |r| r.payload_digest = [0; 32]),
        ("result_digest", |r| r.result_digest = [0; 32]),
    ];
    for (field, lie) in lies {
        let s = setup().await;
        let liar = Worker::new();
        assert!(matches!(
            liar.hello(&s.pool, "liar").await,
            Message::Welcome(_)
        ));
        let job = submit(&s, 1).await;
        let a = liar.lease(&s.pool).await;
        match liar.complete(&s.pool, &a, lie).await {
            Message::Error(e) => {
                assert_eq!(e.code, "bad_receipt", "{field}");
                assert!(e.message.contains(field), "{field}: {}", e.message);
            }
            other => panic!("{field}: a lying receipt was answered {other:?}"),
        }
        // Not completed: the attempt failed and the job is queued again for someone else.
        let rec = s.store.job(s.tenant, job).await.unwrap().unwrap();
        assert_eq!(rec.status, JobStatus::Queued, "{field}");
        assert_eq!(rec.retry_count, 1);
        let w = &s.pool.workers()[0];
        assert_eq!(w.reputation, 0.0, "{field}");
        assert_eq!((w.completed, w.failed), (0, 1));

        // An honest worker then completes it.
        let honest = Worker::new();
        assert!(matches!(
            honest.hello(&s.pool, "honest").await,
            Message::Welcome(_)
        ));
        let a = honest.lease(&s.pool).await;
        assert_eq!(a.job_id, job.to_string());
        match honest.complete(&s.pool, &a, |_| {}).await {
            Message::HandInAck(h) => assert!(h.accepted),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.store.job(s.tenant, job).await.unwrap().unwrap().status,
            JobStatus::Completed
        );
    }

    // With no retry left the job fails with `bad_receipt`, never `completed`.
    let s = setup().await;
    let liar = Worker::new();
    liar.hello(&s.pool, "liar").await;
    let job = submit(&s, 0).await;
    let a = liar.lease(&s.pool).await;
    assert!(matches!(
        liar.complete(&s.pool, &a, |r| r.program_id = ProgramId([0; 32]))
            .await,
        Message::Error(_)
    ));
    let rec = s.store.job(s.tenant, job).await.unwrap().unwrap();
    assert_eq!(rec.status, JobStatus::Failed);
    assert_eq!(rec.error, Some(ErrorCode::BadReceipt));
}

#[tokio::test]
async fn a_failure_must_carry_a_code_a_worker_may_report() {
    let s = setup().await;
    let w = Worker::new();
    w.hello(&s.pool, "w").await;
    let job = submit(&s, 3).await;
    let a = w.lease(&s.pool).await;
    for code in ["lease_expired", "bad_receipt", "made_up", ""] {
        let answer = s
            .pool
            .handle(
                w.id.peer_id(),
                Message::Failure(vesper_proto::Failure {
                    job_id: a.job_id.clone(),
                    epoch: a.epoch,
                    error_code: code.into(),
                }),
            )
            .await;
        assert!(
            matches!(&answer, Message::Error(e) if e.code == "bad_request"),
            "{code:?}: {answer:?}"
        );
    }
    // Refusals changed nothing: the lease holds, and a documented code is taken.
    assert_eq!(
        s.store.job(s.tenant, job).await.unwrap().unwrap().status,
        JobStatus::Processing
    );
    let answer = s
        .pool
        .handle(
            w.id.peer_id(),
            Message::Failure(vesper_proto::Failure {
                job_id: a.job_id.clone(),
                epoch: a.epoch,
                error_code: "trap".into(),
            }),
        )
        .await;
    assert!(matches!(answer, Message::HandInAck(h) if h.accepted));
    let rec = s.store.job(s.tenant, job).await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.error),
        (JobStatus::Failed, Some(ErrorCode::Trap))
    );
}

#[tokio::test]
async fn a_workers_declared_name_is_shown_as_declared_never_as_its_name() {
    let s = setup().await;
    let w = Worker::new();
    assert!(matches!(
        w.hello(&s.pool, "dev-spoof/w0").await,
        Message::Welcome(_)
    ));
    let info = &s.pool.workers()[0];
    let peer = w.id.peer_id().to_string();
    assert_eq!(info.id, peer);
    assert_eq!(info.name, format!("peer-{}", &peer[peer.len() - 8..]));
    assert_eq!(info.declared_name.as_deref(), Some("dev-spoof/w0"));
    // Control characters in a label are refused.
    let other = Worker::new();
    assert!(matches!(
        other.hello(&s.pool, "evil\n[ok] admin").await,
        Message::Error(e) if e.code == "bad_request"
    ));
}

/// A hand-in for a job the worker never held (never leased, or another's) is answered
/// `accepted: false`, changes nothing, and is not counted against the worker.
#[tokio::test]
async fn a_hand_in_for_a_job_never_leased_changes_nothing() {
    let s = setup().await;
    let w = Worker::new();
    w.hello(&s.pool, "w").await;
    let job = submit(&s, 1).await;
    let forged = Assignment {
        job_id: job.to_string(),
        epoch: 1,
        lease_expires_at_ms: 0,
        workload_type: "general".into(),
        program_id: Some(ProgramId([1; 32]).to_string()),
        key_id: "0123456789abcdef".into(),
        client_pubkey: hex::encode([2; 32]),
        encrypted_key: vec![3; 32],
        encrypted_payload: vec![4; 40],
        payload_digest: hex::encode(sha256(&[&[3; 32], &[4; 40]])),
        created_at_ms: 0,
        retry_count: 0,
        max_fuel: None,
        request_id: None,
    };
    match w.complete(&s.pool, &forged, |_| {}).await {
        Message::HandInAck(h) => assert!(!h.accepted),
        other => panic!("{other:?}"),
    }
    let rec = s.store.job(s.tenant, job).await.unwrap().unwrap();
    assert_eq!(rec.status, JobStatus::Queued);
    let info = &s.pool.workers()[0];
    assert_eq!((info.expired, info.failed, info.completed), (0, 0, 0));
    assert_eq!(info.reputation, vesper_core::placement::Reputation::START);
}

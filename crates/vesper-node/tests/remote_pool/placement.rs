//! Placement wired into remote leasing: two simulated remote workers, one three times slower,
//! speak the job protocol to a real `RemotePool` over an in-memory store. Jobs arrive one at a
//! time while both wait, so the policy alone decides who runs each. Under the scored policy
//! the slow worker gets few jobs; under round-robin the two alternate.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use vesper_core::placement::Policy;
use vesper_core::{Clock as _, JobId, ProgramId, Receipt, SystemClock, Timestamp, WorkloadType};
use vesper_crypto::SigningIdentity;
use vesper_net::{NodeIdentity, PeerId};
use vesper_node::remote::server::{RemotePool, RemotePoolConfig};
use vesper_proto::{Completion, LeaseRequest, Message};
use vesper_store::{SqliteOptions, SqliteStore, Store};

/// A remote worker that takes `ms` per job, forever.
fn sim_worker(pool: Arc<RemotePool>, ms: u64) -> (PeerId, tokio::task::JoinHandle<()>) {
    let id = NodeIdentity::generate();
    let peer = id.peer_id();
    let signer = SigningIdentity::from_bytes(&id.secret_seed()).unwrap();
    let pk = id.public_key();
    let hello = crate::hello(&id, &format!("sim-{ms}ms"));
    let task = tokio::spawn(async move {
        assert!(matches!(
            pool.handle(peer, hello).await,
            Message::Welcome(_)
        ));
        loop {
            let a = match pool
                .handle(peer, Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
                .await
            {
                Message::Assignment(a) => a,
                Message::NoWork(_) => continue,
                other => panic!("unexpected {other:?}"),
            };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let now = SystemClock.now();
            let receipt = Receipt {
                job_id: JobId::from_str(&a.job_id).unwrap(),
                program_id: ProgramId([1; 32]),
                workload_type: WorkloadType::General,
                // A truthful receipt: the job's ciphertext and the result handed in.
                payload_digest: hex::decode(&a.payload_digest).unwrap().try_into().unwrap(),
                result_digest: vesper_core::sha256(&[&[7; 48]]),
                result_hash: [0; 32],
                fuel_used: 1,
                execution_time_ms: ms,
                started_at: now,
                completed_at: now,
                worker_id: peer.to_string(),
                worker_pubkey: pk,
            };
            let signature = hex::encode(signer.sign_receipt(&receipt));
            let ack = pool
                .handle(
                    peer,
                    Message::Completion(Completion {
                        job_id: a.job_id,
                        epoch: a.epoch,
                        encrypted_result: vec![7; 48],
                        receipt: receipt.encode(),
                        signature,
                    }),
                )
                .await;
            assert!(
                matches!(ack, Message::HandInAck(ref h) if h.accepted),
                "{ack:?}"
            );
        }
    });
    (peer, task)
}

/// Queue one job (ciphertext is never opened here) and return its id.
async fn submit(store: &dyn Store, tenant: vesper_core::TenantId) -> JobId {
    let job = crate::new_job(tenant, 0);
    let id = job.job_id;
    store.submit(job).await.unwrap();
    id
}

async fn trickle(policy: Policy, jobs: usize) -> (usize, usize) {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_in_memory(SqliteOptions::default()).unwrap());
    let tenant = store.create_tenant("t", Timestamp(1)).await.unwrap();
    let pool = RemotePool::new(
        store.clone(),
        Arc::new(SystemClock),
        RemotePoolConfig {
            placement: policy,
            long_poll_ms: 5_000,
            ..RemotePoolConfig::default()
        },
    );
    let (fast, t1) = sim_worker(pool.clone(), 10);
    let (slow, t2) = sim_worker(pool.clone(), 30);
    let mut fast_n = 0;
    let mut slow_n = 0;
    for _ in 0..jobs {
        // Both workers idle and waiting: only the policy decides.
        let t0 = std::time::Instant::now();
        while pool.waiting_workers() < 2 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "workers never both idle"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let job = submit(&*store, tenant).await;
        let record = loop {
            let r = store.job(tenant, job).await.unwrap().unwrap();
            if r.status.is_terminal() {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        match record.worker_id.as_deref() {
            Some(w) if w == fast.to_string() => fast_n += 1,
            Some(w) if w == slow.to_string() => slow_n += 1,
            other => panic!("job run by {other:?}"),
        }
    }
    t1.abort();
    t2.abort();
    (fast_n, slow_n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scored_policy_gives_a_slow_remote_worker_fewer_jobs_and_round_robin_alternates() {
    let (fast, slow) = trickle(Policy::Scored(Default::default()), 40).await;
    eprintln!("scored: fast {fast}, slow {slow}");
    // Once both are measured (one job each at most), the fast worker wins every tie-free
    // choice: the slow one gets at most its first, unmeasured job or two.
    assert!(slow <= 3 && fast >= 37, "scored: fast {fast}, slow {slow}");

    let (fast, slow) = trickle(Policy::RoundRobin, 40).await;
    eprintln!("round-robin: fast {fast}, slow {slow}");
    assert!(
        fast.abs_diff(slow) <= 4,
        "round-robin: fast {fast}, slow {slow}"
    );

    let (fast, slow) = trickle(Policy::LeastConnections, 20).await;
    eprintln!("least-connections: fast {fast}, slow {slow}");
    assert_eq!(fast + slow, 20);
}

/// A job's own failure (fuel, a trap) is counted against the job, not the worker; a failure
/// that is the worker's (`internal`) lowers its reputation.
#[tokio::test]
async fn a_jobs_own_failure_is_counted_but_not_held_against_the_worker() {
    use vesper_api::workers::WorkerDirectory as _;
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_in_memory(SqliteOptions::default()).unwrap());
    let tenant = store.create_tenant("t", Timestamp(1)).await.unwrap();
    let pool = RemotePool::new(
        store.clone(),
        Arc::new(SystemClock),
        RemotePoolConfig::default(),
    );
    let id = NodeIdentity::generate();
    let peer = id.peer_id();
    let hello = crate::hello(&id, "w");
    assert!(matches!(
        pool.handle(peer, hello).await,
        Message::Welcome(_)
    ));
    let fail = |code: &'static str| {
        let pool = pool.clone();
        let store = store.clone();
        async move {
            submit(&*store, tenant).await;
            let Message::Assignment(a) = pool
                .handle(peer, Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
                .await
            else {
                panic!("no assignment")
            };
            let ack = pool
                .handle(
                    peer,
                    Message::Failure(vesper_proto::Failure {
                        job_id: a.job_id,
                        epoch: a.epoch,
                        error_code: code.into(),
                    }),
                )
                .await;
            assert!(
                matches!(ack, Message::HandInAck(ref h) if h.accepted),
                "{ack:?}"
            );
            pool.workers().remove(0)
        }
    };
    let w = fail("fuel_exhausted").await;
    assert_eq!((w.failed, w.completed), (1, 0));
    assert_eq!(w.reputation, vesper_core::placement::Reputation::START);
    let w = fail("internal").await;
    assert_eq!(w.failed, 2);
    assert!(
        w.reputation < vesper_core::placement::Reputation::START,
        "{w:?}"
    );
}

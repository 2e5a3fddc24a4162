//! The remote pool's protocol rules, without a store or a network: every store answer is
//! made up here and handed back as the driver would.

use vesper_core::placement::Policy;
use vesper_core::{JobId, KeyId, Timestamp, WorkloadType};
use vesper_net::NodeIdentity;
use vesper_proto::{Capabilities, Heartbeat, Hello, KeyRequest, LeaseRequest, Message};
use vesper_store::{LeaseRef, LeasedJob, StoreError};

use super::*;

const T0: Timestamp = Timestamp(1_000_000);

fn core(placement: Policy) -> PoolCore {
    PoolCore::new(RemotePoolConfig {
        long_poll_ms: 1_000,
        placement,
        ..RemotePoolConfig::default()
    })
}

fn hello(id: &NodeIdentity) -> Message {
    Message::Hello(Hello {
        worker_id: "w".into(),
        receipt_key: hex::encode(id.public_key()),
        capabilities: Capabilities {
            cores: 1,
            memory_mb: 1024,
            executors: vec!["wasm".into()],
            gpus: vec![],
            price_per_mfuel: 0,
            region: String::new(),
        },
    })
}

fn only(mut effects: Vec<Effect>) -> Effect {
    assert_eq!(effects.len(), 1, "{effects:?}");
    effects.pop().unwrap()
}

fn error_code(e: Effect) -> String {
    match e {
        Effect::Reply(Message::Error(e)) => e.code,
        other => panic!("not an error reply: {other:?}"),
    }
}

/// Say hello for a fresh identity and answer its registration.
fn join(core: &mut PoolCore) -> PeerId {
    let id = NodeIdentity::generate();
    let peer = id.peer_id();
    let Effect::Store(StoreOp::Register { worker, .. }, pending) =
        only(core.handle(T0, peer, Input::Request(hello(&id))))
    else {
        panic!("hello must register the worker first");
    };
    assert_eq!(worker.as_str(), peer.to_string());
    let done = Input::Stored(pending, StoreOutcome::Done(Ok(())));
    assert!(matches!(
        only(core.handle(T0, peer, done)),
        Effect::Reply(Message::Welcome(_))
    ));
    peer
}

fn leased(peer: &PeerId) -> LeasedJob {
    LeasedJob {
        lease: LeaseRef {
            job_id: JobId::new_random(),
            epoch: 1,
            worker: worker_id(peer),
        },
        lease_expires_at: T0.plus_ms(30_000),
        workload_type: WorkloadType::General,
        program_id: None,
        key_id: "0123456789abcdef".parse::<KeyId>().unwrap(),
        client_pubkey: [2; 32],
        encrypted_key: vec![3; 32],
        encrypted_payload: vec![4; 40],
        payload_digest: [5; 32],
        created_at: T0,
        retry_count: 0,
        max_fuel: None,
        request_id: None,
        priority: None,
    }
}

fn lease_request() -> Input {
    Input::Request(Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
}

/// Lease `job` to `peer` (alone in the waiting room).
fn lease(core: &mut PoolCore, peer: PeerId, job: LeasedJob) -> LeasedJob {
    let Effect::Store(StoreOp::Lease(_), pending) = only(core.handle(T0, peer, lease_request()))
    else {
        panic!("a worker alone in the waiting room leases at once");
    };
    let out = StoreOutcome::Leased(Ok(Some(job.clone())));
    assert!(matches!(
        only(core.handle(T0, peer, Input::Stored(pending, out))),
        Effect::Reply(Message::Assignment(_))
    ));
    job
}

#[test]
fn nothing_but_hello_before_hello() {
    let mut core = core(Policy::RoundRobin);
    let peer = NodeIdentity::generate().peer_id();
    assert_eq!(
        error_code(only(core.handle(T0, peer, lease_request()))),
        "hello_required"
    );
    // A hello whose receipt key is not the peer's own identity key is refused outright.
    let other = NodeIdentity::generate();
    let refused = core.handle(T0, peer, Input::Request(hello(&other)));
    assert_eq!(error_code(only(refused)), "bad_identity");
    assert!(core.workers().is_empty());
}

#[test]
fn an_empty_queue_waits_until_the_deadline_then_answers_no_work() {
    let mut core = core(Policy::RoundRobin);
    let peer = join(&mut core);
    let Effect::Store(StoreOp::Lease(_), pending) = only(core.handle(T0, peer, lease_request()))
    else {
        panic!("expected a lease on the store");
    };
    assert_eq!(core.waiting_workers(), 1);
    let empty = Input::Stored(pending, StoreOutcome::Leased(Ok(None)));
    let Effect::Wait { until, pending } = only(core.handle(T0, peer, empty)) else {
        panic!("an empty queue waits");
    };
    assert_eq!(until, T0.plus_ms(NAP_EMPTY_MS));
    // Woken at the deadline: one last look, then no work, and the waiting room is empty.
    let late = T0.plus_ms(1_000);
    let Effect::Store(StoreOp::Lease(_), pending) =
        only(core.handle(late, peer, Input::Woke(pending)))
    else {
        panic!("a woken request looks again");
    };
    let empty = Input::Stored(pending, StoreOutcome::Leased(Ok(None)));
    assert!(matches!(
        only(core.handle(late, peer, empty)),
        Effect::Reply(Message::NoWork(_))
    ));
    assert_eq!(core.waiting_workers(), 0);
}

/// Bring `peer`'s lease request to a wait (an empty store answers if it was its turn).
fn waiting(core: &mut PoolCore, peer: PeerId, first: Vec<Effect>) -> Pending {
    match only(first) {
        Effect::Wait { pending, .. } => pending,
        Effect::Store(StoreOp::Lease(_), pending) => {
            let empty = Input::Stored(pending, StoreOutcome::Leased(Ok(None)));
            let Effect::Wait { pending, .. } = only(core.handle(T0, peer, empty)) else {
                panic!("an empty queue waits");
            };
            pending
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn among_waiting_workers_placement_decides_whose_turn_it_is() {
    let mut core = core(Policy::RoundRobin);
    let a = join(&mut core);
    let b = join(&mut core);
    // Alone in the waiting room, `a` may lease at once.
    let first = core.handle(T0, a, lease_request());
    assert!(matches!(first[..], [Effect::Store(StoreOp::Lease(_), _)]));
    let pa = waiting(&mut core, a, first);
    let first = core.handle(T0, b, lease_request());
    let pb = waiting(&mut core, b, first);
    assert_eq!(core.waiting_workers(), 2);
    // Both waiting: exactly one is ranked first; the other looks again after a short nap.
    let ea = core.handle(T0, a, Input::Woke(pa));
    let eb = core.handle(T0, b, Input::Woke(pb));
    let turn = |e: &[Effect]| matches!(e, [Effect::Store(StoreOp::Lease(_), _)]);
    assert!(turn(&ea) != turn(&eb), "{ea:?} {eb:?}");
    let nap = if turn(&ea) { &eb } else { &ea };
    assert!(
        matches!(nap[..], [Effect::Wait { until, .. }] if until == T0.plus_ms(NAP_NOT_MY_TURN_MS))
    );
    // A request dropped while it waits leaves the room.
    core.handle(T0, b, Input::Abandoned(Pending::Lease { deadline: T0 }));
    assert_eq!(core.waiting_workers(), 1);
}

#[test]
fn a_fenced_heartbeat_drops_the_lease_from_the_workers_record() {
    let mut core = core(Policy::RoundRobin);
    let peer = join(&mut core);
    let job = lease(&mut core, peer, leased(&peer));
    assert_eq!(core.workers()[0].active_leases, 1);
    let hb = Input::Request(Message::Heartbeat(Heartbeat {
        job_id: job.lease.job_id.to_string(),
        epoch: 1,
    }));
    let Effect::Store(StoreOp::Heartbeat(l), pending) = only(core.handle(T0, peer, hb)) else {
        panic!("a heartbeat goes to the store");
    };
    assert_eq!(l, job.lease);
    let fenced = StoreOutcome::Done(Err(StoreError::Fenced {
        job_id: l.job_id,
        epoch: 1,
    }));
    assert!(matches!(
        only(core.handle(T0, peer, Input::Stored(pending, fenced))),
        Effect::Reply(Message::HeartbeatAck(vesper_proto::HeartbeatAck {
            ok: false,
            ..
        }))
    ));
    assert_eq!(core.workers()[0].active_leases, 0);
}

#[test]
fn a_disconnect_expires_only_what_the_worker_held() {
    let mut core = core(Policy::RoundRobin);
    let idle = join(&mut core);
    assert!(core.handle(T0, idle, Input::Disconnected).is_empty());
    assert_eq!(core.workers()[0].connected, Some(false));

    let busy = join(&mut core);
    lease(&mut core, busy, leased(&busy));
    let before = core
        .workers()
        .iter()
        .find(|w| w.id == busy.to_string())
        .unwrap()
        .reputation;
    let Effect::Store(StoreOp::ExpireLeasesOf(w), pending) =
        only(core.handle(T0, busy, Input::Disconnected))
    else {
        panic!("held leases are expired at once");
    };
    assert_eq!(w.as_str(), busy.to_string());
    let out = StoreOutcome::Expired(Ok(Default::default()));
    assert!(
        core.handle(T0, busy, Input::Stored(pending, out))
            .is_empty()
    );
    let rec = core
        .workers()
        .into_iter()
        .find(|w| w.id == busy.to_string())
        .unwrap();
    assert_eq!((rec.expired, rec.active_leases), (1, 0));
    assert!(rec.reputation < before);
}

#[test]
fn a_key_request_waits_for_a_custodian_then_gets_its_grant() {
    let mut core = core(Policy::RoundRobin);
    let peer = join(&mut core);
    let req = || {
        Input::Request(Message::KeyRequest(KeyRequest {
            kx_pubkey: "11".repeat(32),
            signature: "22".repeat(64),
        }))
    };
    let effects = core.handle(T0, peer, req());
    assert!(matches!(
        &effects[..],
        [Effect::WakeCustodians, Effect::Reply(Message::KeyGrant(g))] if g.status == "pending"
    ));
    assert_eq!(core.key_requests().len(), 1);
    assert!(
        !core.put_grant(peer, [9; 32], vec![1], vec![]),
        "another announcement"
    );
    assert!(core.put_grant(peer, [0x11; 32], vec![1, 2], vec!["k".into()]));
    assert!(matches!(
        only(core.handle(T0, peer, req())),
        Effect::Reply(Message::KeyGrant(g)) if g.status == "granted" && g.sealed == Some(vec![1, 2])
    ));
    assert!(core.workers()[0].key_granted);
}

#[test]
fn a_zk_program_request_is_answered_from_the_store_like_a_program_request() {
    let mut core = core(Policy::RoundRobin);
    let image = "9f".repeat(32);
    let req = |id: &str| {
        Input::Request(Message::ZkProgramRequest(vesper_proto::ZkProgramRequest {
            image_id: id.to_owned(),
        }))
    };
    // Only a worker that said hello may ask.
    let stranger = NodeIdentity::generate().peer_id();
    assert_eq!(
        error_code(only(core.handle(T0, stranger, req(&image)))),
        "hello_required"
    );
    let peer = join(&mut core);
    for bad in ["", "9F".repeat(32).as_str(), &"9f".repeat(31), "not hex"] {
        assert_eq!(
            error_code(only(core.handle(T0, peer, req(bad)))),
            "bad_request"
        );
    }
    let ask = |core: &mut PoolCore, outcome| {
        let Effect::Store(StoreOp::ZkProgram(id), pending) =
            only(core.handle(T0, peer, req(&image)))
        else {
            panic!("a zk program request goes to the store");
        };
        assert_eq!(id.to_string(), image);
        only(core.handle(
            T0,
            peer,
            Input::Stored(pending, StoreOutcome::ZkProgram(outcome)),
        ))
    };
    let found = ask(
        &mut core,
        Ok(Some(("{}".to_owned(), Arc::new(vec![1, 2, 3])))),
    );
    assert!(matches!(
        found,
        Effect::Reply(Message::ZkProgram(z))
            if z.image_id == image && z.program == "{}" && z.proving_key == [1, 2, 3]
    ));
    assert_eq!(error_code(ask(&mut core, Ok(None))), "program_not_found");
    assert_eq!(
        error_code(ask(&mut core, Err(StoreError::Unavailable))),
        "unavailable"
    );
    // More than a frame may carry is never sent.
    let big = Arc::new(vec![0; vesper_proto::MAX_ZK_PROVING_KEY + 1]);
    assert_eq!(
        error_code(ask(&mut core, Ok(Some(("{}".to_owned(), big))))),
        "program_not_found"
    );
}

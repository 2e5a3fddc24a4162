//! The gateway's side of `/vesper/jobs/1`, the driver: trusted remote workers lease, heartbeat
//! and hand in through it. The protocol's rules and state are the pure [`PoolCore`]
//! (`pool.rs`); this file only runs what it asks for: store operations (hand-ins through the
//! shared path, `handin.rs`), waits for work, replies, and custodian wake-ups. Only trusted
//! peers reach this code (the trust gate in `vesper-net` refuses everyone else after Noise).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vesper_api::workers::{KeyBroker, KeyRequestInfo, WorkerDirectory, WorkerInfo};
use vesper_core::placement::Policy;
use vesper_core::{Clock, RetryPolicy, Timestamp};
use vesper_net::{InboundRequest, NetEvent, PeerId};
use vesper_proto::Message;
use vesper_store::Store;

pub use super::pool::GrantSlot;
use super::pool::{Effect, Input, Pending, PoolCore, StoreOp, StoreOutcome};
use crate::handin;
use crate::source::StoreSource;

#[derive(Clone, Debug)]
pub struct RemotePoolConfig {
    /// Lease length granted to remote workers, ms.
    pub lease_ms: u64,
    /// Heartbeat interval remote workers are told to keep, ms.
    pub heartbeat_ms: u64,
    /// How long a lease request waits for work before `no_work`, ms (long poll).
    pub long_poll_ms: u64,
    pub result_ttl_ms: u64,
    pub retry: RetryPolicy,
    /// Which of several idle workers gets the next job (docs/SCHEDULING.md, "Placement").
    pub placement: Policy,
}

impl Default for RemotePoolConfig {
    fn default() -> Self {
        RemotePoolConfig {
            lease_ms: 30_000,
            heartbeat_ms: 10_000,
            long_poll_ms: 2_000,
            result_ttl_ms: 24 * 3600 * 1000,
            retry: RetryPolicy::default(),
            placement: vesper_core::placement::Policy::Scored(Default::default()),
        }
    }
}

/// Requests served at once; beyond it the pool takes no more from the network's bounded
/// queue, whose overflow peers are answered `busy`. Idle workers' long polls count too (each
/// slot of each worker keeps one open), so the cap sits well above what a full pool of
/// workers holds in polls; each waiting request is a small parked future.
const MAX_IN_FLIGHT: usize = 16_384;

pub struct RemotePool {
    store: Arc<dyn Store>,
    /// The store as a job source, for the shared hand-in path.
    source: StoreSource,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    core: Mutex<PoolCore>,
    /// Woken when a key request arrives (custodians wait on it).
    pub key_requests: Arc<tokio::sync::Notify>,
}

impl RemotePool {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, cfg: RemotePoolConfig) -> Arc<Self> {
        Arc::new(RemotePool {
            source: StoreSource(store.clone()),
            store,
            clock,
            retry: cfg.retry,
            core: Mutex::new(PoolCore::new(cfg)),
            key_requests: Arc::new(tokio::sync::Notify::new()),
        })
    }

    fn core(&self) -> MutexGuard<'_, PoolCore> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serve requests and follow connection events until `shutdown`. Each request is its own
    /// task, at most [`MAX_IN_FLIGHT`] at once, owned here: at shutdown the ones in flight
    /// finish (the supervisor's deadline bounds them).
    pub async fn run(
        self: Arc<Self>,
        mut requests: mpsc::Receiver<InboundRequest>,
        mut events: mpsc::Receiver<NetEvent>,
        shutdown: CancellationToken,
    ) {
        let mut inflight = JoinSet::new();
        loop {
            tokio::select! {
                r = requests.recv(), if inflight.len() < MAX_IN_FLIGHT => match r {
                    Some(InboundRequest { peer, message, reply }) => {
                        let me = self.clone();
                        inflight.spawn(async move {
                            wire_trace(&peer, "in", &message);
                            let answer = me.handle(peer, message).await;
                            wire_trace(&peer, "out", &answer);
                            reply.send(answer);
                        });
                    }
                    None => break,
                },
                Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                    if done.is_err_and(|e| e.is_panic()) {
                        tracing::error!("a remote worker's request (or its disconnect) panicked; answered with nothing");
                    }
                }
                e = events.recv() => match e {
                    // In the task set too, so that a panic there is contained like a request's
                    // (this loop is a fail-fast task).
                    Some(NetEvent::Disconnected { peer }) => {
                        let me = self.clone();
                        inflight.spawn(async move { me.disconnected(peer).await });
                    }
                    Some(_) => {}
                    None => break,
                },
                _ = shutdown.cancelled() => break,
            }
        }
        while inflight.join_next().await.is_some() {}
    }

    /// Answer one request from a trusted `peer` (the transport has checked trust): feed it to
    /// the core and run the effects it asks for until it answers.
    pub async fn handle(&self, peer: PeerId, msg: Message) -> Message {
        /// Leaves the waiting room if the request is dropped while it waits for work.
        struct Abandon<'a> {
            pool: &'a RemotePool,
            peer: PeerId,
            waiting: Option<Timestamp>,
        }
        impl Drop for Abandon<'_> {
            fn drop(&mut self) {
                if let Some(deadline) = self.waiting {
                    let input = Input::Abandoned(Pending::Lease { deadline });
                    self.pool.step(self.peer, input);
                }
            }
        }
        let mut guard = Abandon {
            pool: self,
            peer,
            waiting: None,
        };
        // Armed before a lease is tried, so that work arriving between an empty lease and the
        // wait that follows still wakes it.
        let work = self.store.work_available();
        let mut armed = None;
        let mut effects = self.step(peer, Input::Request(msg));
        loop {
            let mut next = None;
            for e in effects {
                match e {
                    Effect::WakeCustodians => self.key_requests.notify_waiters(),
                    Effect::Reply(m) => {
                        guard.waiting = None;
                        return m;
                    }
                    other => next = Some(other),
                }
            }
            effects = match next {
                Some(Effect::Store(op, pending)) => {
                    if let Pending::Lease { deadline } = &pending {
                        guard.waiting = Some(*deadline);
                        let mut n = Box::pin(work.notified());
                        n.as_mut().enable();
                        armed = Some(n);
                    }
                    let outcome = self.execute(op).await;
                    self.step(peer, Input::Stored(pending, outcome))
                }
                Some(Effect::Wait { until, pending }) => {
                    if let Pending::Lease { deadline } = &pending {
                        guard.waiting = Some(*deadline);
                    }
                    let notified = armed.take().unwrap_or_else(|| Box::pin(work.notified()));
                    let ms = until.0.saturating_sub(self.clock.now().0);
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                    }
                    self.step(peer, Input::Woke(pending))
                }
                _ => {
                    tracing::error!(%peer, "the remote pool's core gave no answer");
                    return Message::Error(vesper_proto::ErrorMessage {
                        code: "internal".into(),
                        message: "no answer".into(),
                    });
                }
            };
        }
    }

    fn step(&self, peer: PeerId, input: Input) -> Vec<Effect> {
        let now = self.clock.now();
        self.core().handle(now, peer, input)
    }

    /// Run one store operation the core asked for.
    async fn execute(&self, op: StoreOp) -> StoreOutcome {
        let now = self.clock.now();
        match op {
            StoreOp::Register { worker, pubkey } => {
                StoreOutcome::Done(self.store.register_worker(&worker, pubkey, now).await)
            }
            StoreOp::Heartbeat(lease) => {
                let lease_ms = self.core().config().lease_ms;
                StoreOutcome::Done(self.store.heartbeat(&lease, now, lease_ms).await)
            }
            StoreOp::HandIn(lease, hand_in) => StoreOutcome::HandedIn(
                handin::hand_in(&self.source, &lease, hand_in, now, self.retry).await,
            ),
            StoreOp::Program(id) => StoreOutcome::Program(self.store.get_program(id).await),
            StoreOp::ZkProgram(id) => {
                StoreOutcome::ZkProgram(self.source.zk_program_of(&id.to_string()).await)
            }
            StoreOp::Lease(worker) => {
                let lease_ms = self.core().config().lease_ms;
                StoreOutcome::Leased(self.store.lease(&worker, now, lease_ms).await)
            }
            StoreOp::ExpireLeasesOf(worker) => {
                let r = self
                    .store
                    .expire_leases_of(worker.as_str(), now, self.retry)
                    .await;
                if let Ok(x) = &r {
                    crate::dev::record_expired(x);
                }
                StoreOutcome::Expired(r)
            }
        }
    }

    /// The last connection to `peer` closed: the core decides what to expire.
    async fn disconnected(&self, peer: PeerId) {
        let mut effects = self.step(peer, Input::Disconnected);
        while let Some(Effect::Store(op, pending)) = effects.pop() {
            let outcome = self.execute(op).await;
            effects = self.step(peer, Input::Stored(pending, outcome));
        }
    }

    /// Announcements still waiting for a grant.
    pub fn pending_grants(&self) -> Vec<(PeerId, GrantSlot)> {
        self.core().pending_grants()
    }

    /// Store a custodian's sealed grant for `peer`, if its announcement is still `kx_pubkey`;
    /// `false` when it is not.
    pub fn put_grant(
        &self,
        peer: PeerId,
        kx_pubkey: [u8; 32],
        sealed: Vec<u8>,
        key_ids: Vec<String>,
    ) -> bool {
        self.core().put_grant(peer, kx_pubkey, sealed, key_ids)
    }

    /// How many workers have a lease request waiting for work now.
    pub fn waiting_workers(&self) -> usize {
        self.core().waiting_workers()
    }

    /// Forget a peer's grant (its trust was withdrawn).
    pub fn revoke(&self, peer: &PeerId) {
        self.core().revoke(peer)
    }
}

/// At `vesper::wire=trace`, every frame the gateway receives and sends, in hex (first 64 KiB):
/// what an observer of the gateway would see. Frames carry only ciphertext and public data,
/// which the privacy tests check against this very log.
fn wire_trace(peer: &PeerId, dir: &str, m: &Message) {
    if tracing::enabled!(target: "vesper::wire", tracing::Level::TRACE)
        && let Ok(frame) = vesper_proto::encode(m)
    {
        let shown = &frame[..frame.len().min(64 * 1024)];
        tracing::trace!(target: "vesper::wire", %peer, dir, kind = m.kind().name(),
            len = frame.len(), frame = %hex::encode(shown));
    }
}

/// The operator's CLI (`vesper pool grant`) grants through the admin API, which reaches the
/// pending requests here.
impl KeyBroker for RemotePool {
    fn pending(&self) -> Vec<KeyRequestInfo> {
        self.core().key_requests()
    }

    fn grant(&self, peer_id: &str, kx: [u8; 32], sealed: Vec<u8>, key_ids: Vec<String>) -> bool {
        match peer_id.parse::<PeerId>() {
            Ok(peer) => {
                let ok = self.put_grant(peer, kx, sealed, key_ids);
                if ok {
                    tracing::info!(%peer, "a sealed pool-key grant arrived through the admin API");
                }
                ok
            }
            Err(_) => false,
        }
    }
}

impl WorkerDirectory for RemotePool {
    fn workers(&self) -> Vec<WorkerInfo> {
        self.core().workers()
    }
}

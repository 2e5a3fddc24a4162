//! The gateway's side of `/vesper/jobs/1`: trusted remote workers lease, heartbeat and hand in
//! through it; it runs those operations on the store on their behalf. Only trusted peers reach
//! this code (the trust gate in `vesper-net` refuses everyone else after Noise).
//!
//! A remote node's leases are held under the worker id `<PeerId>`; its receipts must be signed
//! by that PeerId's own key, so a result always names the trusted node that produced it.

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vesper_core::placement::{JobNeeds, Outcome, Policy, Reputation, WorkerView};
use vesper_core::{Clock, ErrorCode, JobId, ProgramId, Receipt, RetryPolicy, Timestamp, WorkerId};
use vesper_gateway::workers::{KeyBroker, KeyRequestInfo, WorkerDirectory, WorkerInfo};
use vesper_net::{InboundRequest, NetEvent, PeerId, peer_public_key};
use vesper_proto::{
    Capabilities, ErrorMessage, HandInAck, HeartbeatAck, KeyGrant, Message, NoWork, Program,
    Welcome,
};
use vesper_store::{LeaseRef, NewResult, Store, StoreError};

use super::assignment_of;

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
            placement: Policy::Scored(Default::default()),
        }
    }
}

/// A key-exchange announcement and, once a custodian has sealed it, the grant.
#[derive(Clone, Debug)]
pub struct GrantSlot {
    pub kx_pubkey: [u8; 32],
    pub signature: Vec<u8>,
    pub sealed: Option<(Vec<u8>, Vec<String>)>,
}

#[derive(Debug)]
struct RemoteWorker {
    name: String,
    capabilities: Capabilities,
    connected: bool,
    last_seen: Timestamp,
    /// Leases handed out and not yet handed in: job → epoch.
    active: HashMap<JobId, u64>,
    completed: u64,
    failed: u64,
    expired: u64,
    reputation: f64,
    /// Mean service time, ms per job (EWMA of receipts' execution times).
    ms_per_job: Option<f64>,
}

#[derive(Default)]
struct State {
    workers: HashMap<PeerId, RemoteWorker>,
    grants: HashMap<PeerId, GrantSlot>,
    /// Workers with a lease request waiting for work now (long polls per peer).
    waiting: HashMap<PeerId, u32>,
    /// Round-robin position.
    cursor: usize,
}

impl RemoteWorker {
    fn view(&self, peer: &PeerId) -> WorkerView {
        WorkerView {
            id: peer.to_string(),
            executors: self.capabilities.executors.clone(),
            memory_mb: self.capabilities.memory_mb,
            cores: self.capabilities.cores,
            gpus: self.capabilities.gpus.len() as u32,
            price_per_mfuel: self.capabilities.price_per_mfuel,
            region: self.capabilities.region.clone(),
            in_flight: self.active.len() as u32,
            ms_per_job: self.ms_per_job,
            reputation: self.reputation,
            alive: self.connected,
        }
    }
}

/// How a remote worker's lease ended, as far as its record goes.
#[derive(Clone, Copy, Debug)]
enum Ended {
    Completed,
    /// A failure report; `workers_fault` for `internal` and `decrypt_failed`, not for the
    /// job's own traps or fuel.
    Failed {
        workers_fault: bool,
    },
    /// A hand-in after the lease had moved on.
    Late,
    /// The worker learnt from a heartbeat that the lease is gone; its hand-in (if any) counts.
    Lost,
    /// Its signed receipt misstated the job.
    Misreported,
}

/// Weight of the newest job in a worker's mean service time.
const SPEED_ALPHA: f64 = 0.2;

pub struct RemotePool {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    cfg: RemotePoolConfig,
    state: Mutex<State>,
    /// Woken when a key request arrives (custodians wait on it).
    pub key_requests: Arc<tokio::sync::Notify>,
}

fn error(code: &str, message: impl Into<String>) -> Message {
    Message::Error(ErrorMessage {
        code: code.into(),
        message: message.into(),
    })
}

/// Most remote workers tracked at once (each is a trusted peer, so this is generous).
const MAX_WORKERS: usize = 4096;

impl RemotePool {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, cfg: RemotePoolConfig) -> Arc<Self> {
        Arc::new(RemotePool {
            store,
            clock,
            cfg,
            state: Mutex::new(State::default()),
            key_requests: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Serve requests and follow connection events until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        mut requests: mpsc::Receiver<InboundRequest>,
        mut events: mpsc::Receiver<NetEvent>,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                r = requests.recv() => match r {
                    Some(InboundRequest { peer, message, reply }) => {
                        let me = self.clone();
                        tokio::spawn(async move {
                            wire_trace(&peer, "in", &message);
                            let answer = me.handle(peer, message).await;
                            wire_trace(&peer, "out", &answer);
                            reply.send(answer);
                        });
                    }
                    None => break,
                },
                e = events.recv() => match e {
                    Some(NetEvent::Disconnected { peer }) => self.disconnected(peer).await,
                    Some(_) => {}
                    None => break,
                },
                _ = shutdown.cancelled() => break,
            }
        }
    }

    fn worker_id(peer: &PeerId) -> WorkerId {
        WorkerId::new(peer.to_string()).expect("a PeerId is a valid worker id")
    }

    /// The last connection to `peer` closed: its leases cannot be renewed any more, so they
    /// are expired now rather than at their deadline (fencing keeps a late hand-in out).
    async fn disconnected(&self, peer: PeerId) {
        let had = {
            let mut st = self.state.lock().unwrap();
            match st.workers.get_mut(&peer) {
                Some(w) => {
                    w.connected = false;
                    let n = w.active.len();
                    w.active.clear();
                    for _ in 0..n {
                        w.reputation = Reputation::update(w.reputation, Outcome::LeaseExpired);
                    }
                    w.expired += n as u64;
                    n
                }
                None => 0,
            }
        };
        if had > 0 {
            match self
                .store
                .expire_leases_of(&peer.to_string(), self.clock.now(), self.cfg.retry)
                .await
            {
                Ok(x) => {
                    crate::dev::record_expired(&x);
                    tracing::warn!(%peer, requeued = x.requeued, failed = x.failed,
                        "remote worker disconnected; its leases expired")
                }
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "could not expire a disconnected worker's leases; they expire at their deadline")
                }
            }
        }
    }

    fn touch(&self, peer: &PeerId) -> bool {
        let now = self.clock.now();
        let mut st = self.state.lock().unwrap();
        match st.workers.get_mut(peer) {
            Some(w) => {
                w.last_seen = now;
                w.connected = true;
                true
            }
            None => false,
        }
    }

    /// Answer one request from a trusted `peer` (the transport has checked trust).
    pub async fn handle(&self, peer: PeerId, msg: Message) -> Message {
        let kind = msg.kind().name();
        if !matches!(msg, Message::Hello(_)) && !self.touch(&peer) {
            return error("hello_required", "send hello first");
        }
        tracing::trace!(%peer, kind, "job protocol request");
        match msg {
            Message::Hello(h) => {
                let answer = self.hello(peer, h);
                if matches!(answer, Message::Welcome(_)) {
                    // Registered like any worker: its receipt key is listed at `/api/keys`,
                    // where clients look up whose signatures to accept.
                    let pk = peer_public_key(&peer).expect("checked in hello");
                    if let Err(e) = self
                        .store
                        .register_worker(&Self::worker_id(&peer), pk, self.clock.now())
                        .await
                    {
                        return unavailable(e);
                    }
                }
                answer
            }
            Message::KeyRequest(k) => self.key_request(peer, k),
            Message::LeaseRequest(_) => self.lease(peer).await,
            Message::Heartbeat(h) => {
                let Ok(job_id) = JobId::from_str(&h.job_id) else {
                    return error("bad_request", "job_id");
                };
                let lease = LeaseRef {
                    job_id,
                    epoch: h.epoch,
                    worker: Self::worker_id(&peer),
                };
                match self
                    .store
                    .heartbeat(&lease, self.clock.now(), self.cfg.lease_ms)
                    .await
                {
                    Ok(()) => Message::HeartbeatAck(HeartbeatAck {
                        job_id: h.job_id,
                        ok: true,
                    }),
                    Err(StoreError::Fenced { .. } | StoreError::NotFound { .. }) => {
                        self.forget(&peer, &job_id, Ended::Lost);
                        Message::HeartbeatAck(HeartbeatAck {
                            job_id: h.job_id,
                            ok: false,
                        })
                    }
                    Err(e) => unavailable(e),
                }
            }
            Message::Completion(c) => self.completion(peer, c).await,
            Message::Failure(f) => {
                let Ok(job_id) = JobId::from_str(&f.job_id) else {
                    return error("bad_request", "job_id");
                };
                // Only the documented codes a worker may report (docs/PROTOCOL.md).
                let Some(code) = ErrorCode::from_str(&f.error_code)
                    .ok()
                    .filter(|c| c.is_reportable())
                else {
                    return error(
                        "bad_request",
                        "error_code is not one a worker may report (docs/PROTOCOL.md, failure)",
                    );
                };
                let lease = LeaseRef {
                    job_id,
                    epoch: f.epoch,
                    worker: Self::worker_id(&peer),
                };
                match self
                    .store
                    .fail(&lease, code, self.clock.now(), self.cfg.retry)
                    .await
                {
                    Ok(decision) => {
                        if matches!(decision, vesper_core::RetryDecision::Fail { .. }) {
                            metrics::counter!(vesper_gateway::metrics::JOBS_FAILED, "error_code" => code.as_str())
                                .increment(1);
                        }
                        // A job's own failure (fuel, trap) is not the worker's fault.
                        let workers_fault =
                            matches!(code, ErrorCode::Internal | ErrorCode::DecryptFailed);
                        self.forget(&peer, &job_id, Ended::Failed { workers_fault });
                        Message::HandInAck(HandInAck {
                            job_id: f.job_id,
                            accepted: true,
                        })
                    }
                    Err(StoreError::Fenced { .. } | StoreError::NotFound { .. }) => {
                        self.forget(&peer, &job_id, Ended::Late);
                        Message::HandInAck(HandInAck {
                            job_id: f.job_id,
                            accepted: false,
                        })
                    }
                    Err(e) => unavailable(e),
                }
            }
            Message::ProgramRequest(p) => {
                let Ok(id) = ProgramId::from_str(&p.program_id) else {
                    return error("bad_request", "program_id");
                };
                match self.store.get_program(id).await {
                    Ok(Some(m)) => Message::Program(Program {
                        program_id: p.program_id,
                        module: m.to_vec(),
                    }),
                    Ok(None) => error("program_not_found", p.program_id),
                    Err(e) => unavailable(e),
                }
            }
            other => error(
                "unexpected_message",
                format!("{} is not a request", other.kind().name()),
            ),
        }
    }

    fn hello(&self, peer: PeerId, h: vesper_proto::Hello) -> Message {
        // The receipt key must be the node's own identity key: receipts then name the node.
        let Some(pk) = peer_public_key(&peer) else {
            return error("bad_identity", "only Ed25519 identities are supported");
        };
        if h.receipt_key != hex::encode(pk) {
            return error(
                "bad_identity",
                "receipt_key must be the node's identity key",
            );
        }
        // `worker_id` is a self-declared label, shown as such (never as the worker's name):
        // 1-64 printable ASCII characters.
        let printable = |s: &str, max: usize| {
            s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        };
        let c = &h.capabilities;
        if h.worker_id.is_empty()
            || !printable(&h.worker_id, 64)
            || c.executors.len() > 16
            || !c
                .executors
                .iter()
                .all(|e| !e.is_empty() && printable(e, 32))
            || c.gpus.len() > 64
            || !c.gpus.iter().all(|g| printable(g, 128))
            || !printable(&c.region, 64)
        {
            return error("bad_request", "worker_id or capabilities out of bounds");
        }
        let mut st = self.state.lock().unwrap();
        if st.workers.len() >= MAX_WORKERS && !st.workers.contains_key(&peer) {
            return error("busy", "too many workers");
        }
        let now = self.clock.now();
        let w = st.workers.entry(peer).or_insert_with(|| RemoteWorker {
            name: String::new(),
            capabilities: h.capabilities.clone(),
            connected: true,
            last_seen: now,
            active: HashMap::new(),
            completed: 0,
            failed: 0,
            expired: 0,
            reputation: Reputation::START,
            ms_per_job: None,
        });
        w.name = h.worker_id;
        w.capabilities = h.capabilities;
        w.connected = true;
        w.last_seen = now;
        tracing::info!(%peer, declared_name = %w.name, "remote worker said hello");
        Message::Welcome(Welcome {
            lease_ms: self.cfg.lease_ms,
            heartbeat_ms: self.cfg.heartbeat_ms,
        })
    }

    fn key_request(&self, peer: PeerId, k: vesper_proto::KeyRequest) -> Message {
        let (Some(kx), Some(signature)) = (
            super::hex32(&k.kx_pubkey),
            vesper_core::hex_lower(&k.signature),
        ) else {
            return error("bad_request", "kx_pubkey or signature");
        };
        if signature.len() != 64 {
            return error("bad_request", "signature");
        }
        let mut st = self.state.lock().unwrap();
        let slot = st.grants.entry(peer).or_insert_with(|| GrantSlot {
            kx_pubkey: kx,
            signature: signature.clone(),
            sealed: None,
        });
        if slot.kx_pubkey != kx {
            // A new key-exchange key (the worker restarted): the old grant is useless to it.
            *slot = GrantSlot {
                kx_pubkey: kx,
                signature,
                sealed: None,
            };
        }
        match &slot.sealed {
            Some((sealed, ids)) => Message::KeyGrant(KeyGrant {
                status: "granted".into(),
                sealed: Some(sealed.clone()),
                key_ids: ids.clone(),
            }),
            None => {
                self.key_requests.notify_waiters();
                Message::KeyGrant(KeyGrant {
                    status: "pending".into(),
                    sealed: None,
                    key_ids: vec![],
                })
            }
        }
    }

    /// Announcements still waiting for a grant.
    pub fn pending_grants(&self) -> Vec<(PeerId, GrantSlot)> {
        let st = self.state.lock().unwrap();
        st.grants
            .iter()
            .filter(|(_, g)| g.sealed.is_none())
            .map(|(p, g)| (*p, g.clone()))
            .collect()
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
        let mut st = self.state.lock().unwrap();
        match st.grants.get_mut(&peer) {
            Some(g) if g.kx_pubkey == kx_pubkey => {
                g.sealed = Some((sealed, key_ids));
                true
            }
            _ => false,
        }
    }

    /// How many workers have a lease request waiting for work now.
    pub fn waiting_workers(&self) -> usize {
        self.state.lock().unwrap().waiting.len()
    }

    /// Forget a peer's grant (its trust was withdrawn).
    pub fn revoke(&self, peer: &PeerId) {
        self.state.lock().unwrap().grants.remove(peer);
    }

    /// Whether `peer` should take the next job, among the workers waiting for one now: the
    /// placement policy ranks them (`vesper_core::placement`, pure). A worker alone in the
    /// waiting room always may; so may anyone when no waiting worker is eligible.
    fn my_turn(&self, peer: &PeerId) -> bool {
        let st = self.state.lock().unwrap();
        let waiting: Vec<(&PeerId, &RemoteWorker)> = st
            .waiting
            .iter()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(p, _)| st.workers.get(p).map(|w| (p, w)))
            .collect();
        if waiting.len() <= 1 {
            return true;
        }
        let views: Vec<WorkerView> = waiting.iter().map(|(p, w)| w.view(p)).collect();
        // A job's needs are known only once it is leased; every worker runs wasm.
        let needs = JobNeeds {
            executor: "wasm".into(),
            ..JobNeeds::default()
        };
        let ranked =
            vesper_core::placement::rank(&self.cfg.placement, &needs, &views, st.cursor, 1);
        match ranked.first() {
            Some(&i) => views[i].id == peer.to_string(),
            None => true,
        }
    }

    async fn lease(&self, peer: PeerId) -> Message {
        /// Leaves the waiting room however the request ends.
        struct Waiting<'a>(&'a RemotePool, PeerId);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                let mut st = self.0.state.lock().unwrap();
                if let Some(n) = st.waiting.get_mut(&self.1) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        st.waiting.remove(&self.1);
                    }
                }
            }
        }
        *self.state.lock().unwrap().waiting.entry(peer).or_default() += 1;
        let _waiting = Waiting(self, peer);

        let wid = Self::worker_id(&peer);
        let work = self.store.work_available();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.cfg.long_poll_ms);
        loop {
            let notified = work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let turn = self.my_turn(&peer);
            if turn {
                match self
                    .store
                    .lease(&wid, self.clock.now(), self.cfg.lease_ms)
                    .await
                {
                    Ok(Some(job)) => {
                        let mut st = self.state.lock().unwrap();
                        st.cursor = st.cursor.wrapping_add(1);
                        if let Some(w) = st.workers.get_mut(&peer) {
                            w.active.insert(job.lease.job_id, job.lease.epoch);
                        }
                        tracing::debug!(%peer, job = %job.lease.job_id, "leased to a remote worker");
                        return Message::Assignment(assignment_of(&job));
                    }
                    Ok(None) => {}
                    Err(e) => return unavailable(e),
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Message::NoWork(NoWork { retry_after_ms: 0 });
            }
            // Not this worker's turn: look again shortly (the better-placed worker leases
            // first, which changes the ranking).
            let nap = if turn { 250 } else { 10 };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep((deadline - now).min(Duration::from_millis(nap))) => {}
            }
        }
    }

    /// A lease of `peer`'s ended: drop it from its active set, count it, and move its
    /// reputation (a job's own failure counts, but is not held against the worker).
    fn forget(&self, peer: &PeerId, job: &JobId, ended: Ended) {
        let mut st = self.state.lock().unwrap();
        if let Some(w) = st.workers.get_mut(peer) {
            let was_active = w.active.remove(job).is_some();
            let outcome = match ended {
                // A hand-in for a job this worker never held here (fenced, so harmless) is not
                // counted as late against it.
                Ended::Late if !was_active => None,
                Ended::Completed => {
                    w.completed += 1;
                    Some(Outcome::Completed)
                }
                Ended::Failed { workers_fault } => {
                    w.failed += 1;
                    workers_fault.then_some(Outcome::Failed)
                }
                Ended::Late => {
                    w.expired += 1;
                    Some(Outcome::Late)
                }
                Ended::Lost => None,
                Ended::Misreported => {
                    w.failed += 1;
                    Some(Outcome::BadReceipt)
                }
            };
            if let Some(o) = outcome {
                w.reputation = Reputation::update(w.reputation, o);
            }
        }
    }

    async fn completion(&self, peer: PeerId, c: vesper_proto::Completion) -> Message {
        let Ok(job_id) = JobId::from_str(&c.job_id) else {
            return error("bad_request", "job_id");
        };
        let Ok(receipt) = Receipt::decode(&c.receipt) else {
            return error("bad_receipt", "receipt does not decode");
        };
        let Some(signature) = vesper_core::hex_lower(&c.signature) else {
            return error("bad_receipt", "signature");
        };
        let Ok(signature): Result<[u8; 64], _> = signature.try_into() else {
            return error("bad_receipt", "signature length");
        };
        // The receipt must be this node's, about this job, signed by this node's key.
        let pk = peer_public_key(&peer);
        if receipt.job_id != job_id
            || Some(receipt.worker_pubkey) != pk
            || receipt.worker_id != peer.to_string()
            || vesper_crypto::verify_receipt(&receipt, &signature).is_err()
            || c.encrypted_result.is_empty()
        {
            return error(
                "bad_receipt",
                "receipt not signed by this node for this job",
            );
        }
        let now = self.clock.now();
        let exec_secs = receipt.execution_time_ms as f64 / 1000.0;
        let exec_ms = receipt.execution_time_ms as f64;
        let lease = LeaseRef {
            job_id,
            epoch: c.epoch,
            worker: Self::worker_id(&peer),
        };
        let result = NewResult {
            encrypted_result: c.encrypted_result,
            receipt,
            signature,
            expires_at: now.plus_ms(self.cfg.result_ttl_ms),
        };
        match self.store.complete(&lease, result, now).await {
            Ok(()) => {
                if let Some(w) = self.state.lock().unwrap().workers.get_mut(&peer) {
                    w.ms_per_job = Some(match w.ms_per_job {
                        Some(m) => (1.0 - SPEED_ALPHA) * m + SPEED_ALPHA * exec_ms,
                        None => exec_ms,
                    });
                }
                metrics::counter!(vesper_gateway::metrics::JOBS_COMPLETED).increment(1);
                metrics::histogram!(vesper_gateway::metrics::JOB_DURATION).record(exec_secs);
                self.forget(&peer, &job_id, Ended::Completed);
                Message::HandInAck(HandInAck {
                    job_id: c.job_id,
                    accepted: true,
                })
            }
            Err(StoreError::Fenced { .. } | StoreError::NotFound { .. }) => {
                self.forget(&peer, &job_id, Ended::Late);
                Message::HandInAck(HandInAck {
                    job_id: c.job_id,
                    accepted: false,
                })
            }
            Err(StoreError::BadReceipt { field, .. }) => {
                // A signed statement about the job that is false: refuse it, end the attempt
                // (another worker may run the job) and stop trusting this worker's work.
                tracing::warn!(%peer, job = %job_id, %field,
                    "remote worker's receipt misstates the job; hand-in refused");
                metrics::counter!(vesper_gateway::metrics::RECEIPTS_REFUSED, "field" => field.as_str())
                    .increment(1);
                self.forget(&peer, &job_id, Ended::Misreported);
                match self
                    .store
                    .fail(
                        &lease,
                        ErrorCode::BadReceipt,
                        self.clock.now(),
                        self.cfg.retry,
                    )
                    .await
                {
                    Ok(vesper_core::RetryDecision::Fail { .. }) => {
                        metrics::counter!(vesper_gateway::metrics::JOBS_FAILED, "error_code" => ErrorCode::BadReceipt.as_str())
                            .increment(1);
                    }
                    Ok(_) | Err(StoreError::Fenced { .. } | StoreError::NotFound { .. }) => {}
                    Err(e) => return unavailable(e),
                }
                error(
                    "bad_receipt",
                    format!("the receipt's {field} does not match the job"),
                )
            }
            Err(e) => unavailable(e),
        }
    }
}

/// At `vesper::wire=trace`, every frame the gateway receives and sends, in hex (first 64 KiB):
/// what an observer of the gateway would see. Frames carry only ciphertext and public data,
/// which the privacy tests check against this very log.
fn wire_trace(peer: &PeerId, dir: &str, m: &Message) {
    if tracing::enabled!(target: "vesper::wire", tracing::Level::TRACE) {
        if let Ok(frame) = vesper_proto::encode(m) {
            let shown = &frame[..frame.len().min(64 * 1024)];
            tracing::trace!(target: "vesper::wire", %peer, dir, kind = m.kind().name(),
                len = frame.len(), frame = %hex::encode(shown));
        }
    }
}

/// The name `GET /api/workers` shows for a remote worker: derived from its PeerId, which the
/// Noise handshake proved, never from what it says about itself.
fn display_name(peer: &PeerId) -> String {
    let s = peer.to_string();
    format!("peer-{}", &s[s.len().saturating_sub(8)..])
}

fn unavailable(e: StoreError) -> Message {
    tracing::warn!(error = %e, "store error serving a remote worker");
    error("unavailable", "the gateway's store is unavailable; retry")
}

/// The operator's CLI (`vesper pool grant`) grants through the admin API, which reaches the
/// pending requests here.
impl KeyBroker for RemotePool {
    fn pending(&self) -> Vec<KeyRequestInfo> {
        let mut v: Vec<KeyRequestInfo> = self
            .pending_grants()
            .into_iter()
            .map(|(peer, g)| KeyRequestInfo {
                peer_id: peer.to_string(),
                kx_pubkey: hex::encode(g.kx_pubkey),
                signature: hex::encode(g.signature),
            })
            .collect();
        v.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        v
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
        let st = self.state.lock().unwrap();
        let mut v: Vec<WorkerInfo> = st
            .workers
            .iter()
            .map(|(peer, w)| WorkerInfo {
                id: peer.to_string(),
                name: display_name(peer),
                declared_name: Some(w.name.clone()),
                kind: "remote".into(),
                cores: w.capabilities.cores,
                memory_mb: w.capabilities.memory_mb,
                executors: w.capabilities.executors.clone(),
                gpus: w.capabilities.gpus.clone(),
                price_per_mfuel: w.capabilities.price_per_mfuel,
                region: w.capabilities.region.clone(),
                connected: Some(w.connected),
                last_seen_ms: w.last_seen.0,
                active_leases: w.active.len() as u32,
                completed: w.completed,
                failed: w.failed,
                expired: w.expired,
                reputation: w.reputation,
                ms_per_job: w.ms_per_job,
                key_granted: st.grants.get(peer).is_some_and(|g| g.sealed.is_some()),
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

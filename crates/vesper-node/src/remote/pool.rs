//! The gateway's side of `/vesper/jobs/1` without I/O: [`PoolCore::handle`] takes the time, a
//! trusted peer and an [`Input`] (a request frame, the store's answer to an operation it
//! asked for, a wake-up, a disconnect) and returns [`Effect`]s (answer the peer, run this on
//! the store and come back with the outcome, wait for work until then, wake the custodians).
//! It owns the remote workers' records (capabilities, liveness, leases in hand, counts,
//! reputation, speed), the key-grant slots and the waiting room that placement ranks.
//! `server.rs` is the thin driver that runs the effects against the store and the network.
//!
//! A remote node's leases are held under the worker id `<PeerId>`; its receipts must be signed
//! by that PeerId's own key, so a result always names the trusted node that produced it.

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::Arc;

use vesper_api::workers::{KeyRequestInfo, WorkerInfo};
use vesper_core::placement::{JobNeeds, Outcome, Reputation, WorkerView};
use vesper_core::{ErrorCode, JobId, ProgramId, Receipt, Timestamp, WorkerId};
use vesper_net::{PeerId, peer_public_key};
use vesper_proto::{
    Capabilities, ErrorMessage, HandInAck, HeartbeatAck, KeyGrant, MAX_ZK_PROGRAM,
    MAX_ZK_PROVING_KEY, Message, NoWork, Program, Welcome, ZkProgram,
};
use vesper_store::{Expired, LeaseRef, LeasedJob, NewResult, StoreError};

use super::assignment_of;
use super::server::RemotePoolConfig;
use crate::handin::{HandIn, HandedIn};
use crate::source::{SourceError, ZkDeployment};

/// What the core is told.
#[allow(clippy::large_enum_variant)] // one value per step of one request, moved, never stored
#[derive(Debug)]
pub enum Input {
    /// A request frame from the peer (the transport has checked trust).
    Request(Message),
    /// The store's answer to an [`Effect::Store`] the core asked for.
    Stored(Pending, StoreOutcome),
    /// An [`Effect::Wait`] ended: work may be available, or its time is up.
    Woke(Pending),
    /// The peer's last connection closed.
    Disconnected,
    /// A request still waiting for work was dropped (its peer is gone, or shutdown).
    Abandoned(Pending),
}

/// What the core asks for. A request's effects end with exactly one of `Reply`, `Store` or
/// `Wait`; a disconnect's with `Store` or nothing.
#[allow(clippy::large_enum_variant)] // one value per step of one request, moved, never stored
#[derive(Debug)]
pub enum Effect {
    /// Answer the peer's request.
    Reply(Message),
    /// Run `op` on the store, then hand the outcome back as [`Input::Stored`] with `pending`.
    Store(StoreOp, Pending),
    /// Wait for a store wake-up or until `until`, then hand back [`Input::Woke`].
    Wait { until: Timestamp, pending: Pending },
    /// A key request is pending: wake the custodians.
    WakeCustodians,
}

/// A store operation on a peer's behalf.
#[allow(clippy::large_enum_variant)] // one value per step of one request, moved, never stored
#[derive(Debug)]
pub enum StoreOp {
    /// Register the peer as a worker (its receipt key is then listed at `/api/keys`).
    Register {
        worker: WorkerId,
        pubkey: [u8; 32],
    },
    Heartbeat(LeaseRef),
    /// Hand a lease's outcome in through the shared path (`handin.rs`).
    HandIn(LeaseRef, HandIn),
    Program(ProgramId),
    /// A deployment's program and proving key, by image id, as the in-process worker's
    /// [`crate::source::StoreSource`] reads them.
    ZkProgram(ProgramId),
    Lease(WorkerId),
    /// Expire every lease the worker holds.
    ExpireLeasesOf(WorkerId),
}

/// The store's answer to a [`StoreOp`].
#[allow(clippy::large_enum_variant)] // one value per step of one request, moved, never stored
#[derive(Debug)]
pub enum StoreOutcome {
    Done(Result<(), StoreError>),
    HandedIn(Result<HandedIn, SourceError>),
    Program(Result<Option<Arc<Vec<u8>>>, StoreError>),
    /// The DSL document's JSON text and the proving key; `None` unless both exist.
    ZkProgram(Result<Option<ZkDeployment>, StoreError>),
    Leased(Result<Option<LeasedJob>, StoreError>),
    Expired(Result<Expired, StoreError>),
}

/// What a request was doing when it asked the store or began to wait.
#[allow(clippy::large_enum_variant)] // one value per step of one request, moved, never stored
#[derive(Debug)]
pub enum Pending {
    Hello(Message),
    Heartbeat {
        job_id: JobId,
        raw: String,
    },
    Completion {
        job_id: JobId,
        raw: String,
        exec_ms: f64,
    },
    Failure {
        job_id: JobId,
        raw: String,
        code: ErrorCode,
    },
    Program {
        raw: String,
    },
    ZkProgram {
        raw: String,
    },
    /// A lease request in the waiting room, until `deadline` (then `no_work`).
    Lease {
        deadline: Timestamp,
    },
    Disconnect,
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
/// Most remote workers tracked at once (each is a trusted peer, so this is generous).
const MAX_WORKERS: usize = 4096;
/// How soon a waiting lease request looks again: after the store had nothing, and when it
/// was another worker's turn (the better-placed worker leases first, which changes the
/// ranking).
const NAP_EMPTY_MS: u64 = 250;
const NAP_NOT_MY_TURN_MS: u64 = 10;

fn error(code: &str, message: impl Into<String>) -> Message {
    Message::Error(ErrorMessage {
        code: code.into(),
        message: message.into(),
    })
}

fn unavailable(e: impl std::fmt::Display) -> Message {
    tracing::warn!(error = %e, "store error serving a remote worker");
    error("unavailable", "the gateway's store is unavailable; retry")
}

fn reply(m: Message) -> Vec<Effect> {
    vec![Effect::Reply(m)]
}

/// The worker id a peer's leases are held under.
pub fn worker_id(peer: &PeerId) -> WorkerId {
    WorkerId::new(peer.to_string()).expect("a PeerId is a valid worker id")
}

/// The name `GET /api/workers` shows for a remote worker: derived from its PeerId, which the
/// Noise handshake proved, never from what it says about itself.
fn display_name(peer: &PeerId) -> String {
    let s = peer.to_string();
    format!("peer-{}", &s[s.len().saturating_sub(8)..])
}

/// The remote pool's state and protocol rules.
pub struct PoolCore {
    cfg: RemotePoolConfig,
    workers: HashMap<PeerId, RemoteWorker>,
    grants: HashMap<PeerId, GrantSlot>,
    /// Workers with a lease request waiting for work now (long polls per peer).
    waiting: HashMap<PeerId, u32>,
    /// Round-robin position.
    cursor: usize,
}

impl PoolCore {
    pub fn new(cfg: RemotePoolConfig) -> PoolCore {
        PoolCore {
            cfg,
            workers: HashMap::new(),
            grants: HashMap::new(),
            waiting: HashMap::new(),
            cursor: 0,
        }
    }

    pub fn config(&self) -> &RemotePoolConfig {
        &self.cfg
    }

    /// One step of the protocol for `peer`.
    pub fn handle(&mut self, now: Timestamp, peer: PeerId, input: Input) -> Vec<Effect> {
        match input {
            Input::Request(m) => self.request(now, peer, m),
            Input::Stored(pending, outcome) => self.stored(now, peer, pending, outcome),
            Input::Woke(Pending::Lease { deadline }) => self.try_lease(now, peer, deadline),
            Input::Woke(_) => reply(error("internal", "unexpected wake-up")),
            Input::Disconnected => self.disconnected(peer),
            Input::Abandoned(Pending::Lease { .. }) => {
                self.leave_waiting(&peer);
                Vec::new()
            }
            Input::Abandoned(_) => Vec::new(),
        }
    }

    fn touch(&mut self, now: Timestamp, peer: &PeerId) -> bool {
        match self.workers.get_mut(peer) {
            Some(w) => {
                w.last_seen = now;
                w.connected = true;
                true
            }
            None => false,
        }
    }

    fn request(&mut self, now: Timestamp, peer: PeerId, msg: Message) -> Vec<Effect> {
        let kind = msg.kind().name();
        if !matches!(msg, Message::Hello(_)) && !self.touch(now, &peer) {
            return reply(error("hello_required", "send hello first"));
        }
        tracing::trace!(%peer, kind, "job protocol request");
        let lease_of = |job_id, epoch| LeaseRef {
            job_id,
            epoch,
            worker: worker_id(&peer),
        };
        match msg {
            Message::Hello(h) => match self.hello(now, peer, h) {
                // Registered like any worker: its receipt key is listed at `/api/keys`,
                // where clients look up whose signatures to accept.
                welcome @ Message::Welcome(_) => {
                    let pubkey = peer_public_key(&peer).expect("checked in hello");
                    vec![Effect::Store(
                        StoreOp::Register {
                            worker: worker_id(&peer),
                            pubkey,
                        },
                        Pending::Hello(welcome),
                    )]
                }
                refusal => reply(refusal),
            },
            Message::KeyRequest(k) => self.key_request(peer, k),
            Message::LeaseRequest(_) => {
                *self.waiting.entry(peer).or_default() += 1;
                let deadline = now.plus_ms(self.cfg.long_poll_ms);
                self.try_lease(now, peer, deadline)
            }
            Message::Heartbeat(h) => {
                let Ok(job_id) = JobId::from_str(&h.job_id) else {
                    return reply(error("bad_request", "job_id"));
                };
                vec![Effect::Store(
                    StoreOp::Heartbeat(lease_of(job_id, h.epoch)),
                    Pending::Heartbeat {
                        job_id,
                        raw: h.job_id,
                    },
                )]
            }
            Message::Completion(c) => self.completion(now, peer, c),
            Message::Failure(f) => {
                let Ok(job_id) = JobId::from_str(&f.job_id) else {
                    return reply(error("bad_request", "job_id"));
                };
                // Only the documented codes a worker may report (docs/PROTOCOL.md).
                let Some(code) = ErrorCode::from_str(&f.error_code)
                    .ok()
                    .filter(|c| c.is_reportable())
                else {
                    return reply(error(
                        "bad_request",
                        "error_code is not one a worker may report (docs/PROTOCOL.md, failure)",
                    ));
                };
                vec![Effect::Store(
                    StoreOp::HandIn(lease_of(job_id, f.epoch), HandIn::Failed(code)),
                    Pending::Failure {
                        job_id,
                        raw: f.job_id,
                        code,
                    },
                )]
            }
            Message::ProgramRequest(p) => {
                let Ok(id) = ProgramId::from_str(&p.program_id) else {
                    return reply(error("bad_request", "program_id"));
                };
                vec![Effect::Store(
                    StoreOp::Program(id),
                    Pending::Program { raw: p.program_id },
                )]
            }
            // Proof jobs' programs: public like modules (a deployment's program and keys carry
            // no private inputs), and the worker checks them against the image id.
            Message::ZkProgramRequest(z) => {
                let Ok(id) = ProgramId::from_str(&z.image_id) else {
                    return reply(error("bad_request", "image_id"));
                };
                vec![Effect::Store(
                    StoreOp::ZkProgram(id),
                    Pending::ZkProgram { raw: z.image_id },
                )]
            }
            other => reply(error(
                "unexpected_message",
                format!("{} is not a request", other.kind().name()),
            )),
        }
    }

    fn stored(
        &mut self,
        now: Timestamp,
        peer: PeerId,
        pending: Pending,
        outcome: StoreOutcome,
    ) -> Vec<Effect> {
        use StoreError::{Fenced, NotFound};
        let ack = |raw: String, accepted: bool| {
            reply(Message::HandInAck(HandInAck {
                job_id: raw,
                accepted,
            }))
        };
        match (pending, outcome) {
            (Pending::Hello(welcome), StoreOutcome::Done(r)) => match r {
                Ok(()) => reply(welcome),
                Err(e) => reply(unavailable(e)),
            },
            (Pending::Heartbeat { job_id, raw }, StoreOutcome::Done(r)) => {
                let ok = match r {
                    Ok(()) => true,
                    Err(Fenced { .. } | NotFound { .. }) => {
                        self.forget(&peer, &job_id, Ended::Lost);
                        false
                    }
                    Err(e) => return reply(unavailable(e)),
                };
                reply(Message::HeartbeatAck(HeartbeatAck { job_id: raw, ok }))
            }
            (
                Pending::Completion {
                    job_id,
                    raw,
                    exec_ms,
                },
                StoreOutcome::HandedIn(r),
            ) => match r {
                Ok(HandedIn::Completed) => {
                    if let Some(w) = self.workers.get_mut(&peer) {
                        w.ms_per_job = Some(match w.ms_per_job {
                            Some(m) => (1.0 - SPEED_ALPHA) * m + SPEED_ALPHA * exec_ms,
                            None => exec_ms,
                        });
                    }
                    self.forget(&peer, &job_id, Ended::Completed);
                    ack(raw, true)
                }
                Ok(HandedIn::Refused { field, ended }) => {
                    // A signed statement about the job that is false: refused, the attempt
                    // ended (another worker may run the job); stop trusting this worker's work.
                    tracing::warn!(%peer, job = %job_id, %field,
                        "remote worker's receipt misstates the job; hand-in refused");
                    self.forget(&peer, &job_id, Ended::Misreported);
                    match ended {
                        Ok(_) | Err(SourceError::Store(Fenced { .. } | NotFound { .. })) => {
                            reply(error(
                                "bad_receipt",
                                format!("the receipt's {field} does not match the job"),
                            ))
                        }
                        Err(e) => reply(unavailable(e)),
                    }
                }
                Ok(HandedIn::Failed(_)) => {
                    reply(error("internal", "completion recorded as a failure"))
                }
                Err(SourceError::Store(Fenced { .. } | NotFound { .. })) => {
                    self.forget(&peer, &job_id, Ended::Late);
                    ack(raw, false)
                }
                Err(e) => reply(unavailable(e)),
            },
            (Pending::Failure { job_id, raw, code }, StoreOutcome::HandedIn(r)) => match r {
                Ok(_) => {
                    // A job's own failure (fuel, trap) is not the worker's fault.
                    let workers_fault =
                        matches!(code, ErrorCode::Internal | ErrorCode::DecryptFailed);
                    self.forget(&peer, &job_id, Ended::Failed { workers_fault });
                    ack(raw, true)
                }
                Err(SourceError::Store(Fenced { .. } | NotFound { .. })) => {
                    self.forget(&peer, &job_id, Ended::Late);
                    ack(raw, false)
                }
                Err(e) => reply(unavailable(e)),
            },
            (Pending::Program { raw }, StoreOutcome::Program(r)) => match r {
                Ok(Some(m)) => reply(Message::Program(Program {
                    program_id: raw,
                    module: m.to_vec(),
                })),
                Ok(None) => reply(error("program_not_found", raw)),
                Err(e) => reply(unavailable(e)),
            },
            (Pending::ZkProgram { raw }, StoreOutcome::ZkProgram(r)) => match r {
                // More than a frame carries (docs/PROTOCOL.md): no remote worker can prove it.
                Ok(Some((program, pk)))
                    if program.len() > MAX_ZK_PROGRAM || pk.len() > MAX_ZK_PROVING_KEY =>
                {
                    tracing::warn!(%peer, image_id = %raw, program = program.len(),
                        proving_key = pk.len(), "a deployment too large to send to a remote worker");
                    reply(error(
                        "program_not_found",
                        "the deployment is too large for /vesper/jobs/1",
                    ))
                }
                Ok(Some((program, pk))) => reply(Message::ZkProgram(ZkProgram {
                    image_id: raw,
                    program,
                    proving_key: pk.to_vec(),
                })),
                Ok(None) => reply(error("program_not_found", raw)),
                Err(e) => reply(unavailable(e)),
            },
            (Pending::Lease { deadline }, StoreOutcome::Leased(r)) => match r {
                Ok(Some(job)) => {
                    self.leave_waiting(&peer);
                    self.cursor = self.cursor.wrapping_add(1);
                    if let Some(w) = self.workers.get_mut(&peer) {
                        w.active.insert(job.lease.job_id, job.lease.epoch);
                    }
                    tracing::debug!(%peer, job = %job.lease.job_id, "leased to a remote worker");
                    reply(Message::Assignment(assignment_of(&job)))
                }
                Ok(None) => self.wait_or_give_up(now, peer, deadline, NAP_EMPTY_MS),
                Err(e) => {
                    self.leave_waiting(&peer);
                    reply(unavailable(e))
                }
            },
            (Pending::Disconnect, StoreOutcome::Expired(r)) => {
                match r {
                    Ok(x) => tracing::warn!(%peer, requeued = x.requeued, failed = x.failed,
                        "remote worker disconnected; its leases expired"),
                    Err(e) => tracing::warn!(%peer, error = %e,
                        "could not expire a disconnected worker's leases; they expire at their deadline"),
                }
                Vec::new()
            }
            (_, _) => {
                tracing::error!(%peer, "store outcome does not match the request");
                reply(error("internal", "mismatched store outcome"))
            }
        }
    }

    /// The last connection to `peer` closed: its leases cannot be renewed any more, so they
    /// are expired now rather than at their deadline (fencing keeps a late hand-in out).
    fn disconnected(&mut self, peer: PeerId) -> Vec<Effect> {
        let had = match self.workers.get_mut(&peer) {
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
        };
        if had == 0 {
            return Vec::new();
        }
        vec![Effect::Store(
            StoreOp::ExpireLeasesOf(worker_id(&peer)),
            Pending::Disconnect,
        )]
    }

    fn hello(&mut self, now: Timestamp, peer: PeerId, h: vesper_proto::Hello) -> Message {
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
        if self.workers.len() >= MAX_WORKERS && !self.workers.contains_key(&peer) {
            return error("busy", "too many workers");
        }
        let w = self.workers.entry(peer).or_insert_with(|| RemoteWorker {
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

    fn key_request(&mut self, peer: PeerId, k: vesper_proto::KeyRequest) -> Vec<Effect> {
        let (Some(kx), Some(signature)) = (
            super::hex32(&k.kx_pubkey),
            vesper_core::hex_lower(&k.signature),
        ) else {
            return reply(error("bad_request", "kx_pubkey or signature"));
        };
        if signature.len() != 64 {
            return reply(error("bad_request", "signature"));
        }
        let slot = self.grants.entry(peer).or_insert_with(|| GrantSlot {
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
            Some((sealed, ids)) => reply(Message::KeyGrant(KeyGrant {
                status: "granted".into(),
                sealed: Some(sealed.clone()),
                key_ids: ids.clone(),
            })),
            None => vec![
                Effect::WakeCustodians,
                Effect::Reply(Message::KeyGrant(KeyGrant {
                    status: "pending".into(),
                    sealed: None,
                    key_ids: vec![],
                })),
            ],
        }
    }

    /// Announcements still waiting for a grant.
    pub fn pending_grants(&self) -> Vec<(PeerId, GrantSlot)> {
        self.grants
            .iter()
            .filter(|(_, g)| g.sealed.is_none())
            .map(|(p, g)| (*p, g.clone()))
            .collect()
    }

    /// The pending announcements as the admin API lists them, by PeerId.
    pub fn key_requests(&self) -> Vec<KeyRequestInfo> {
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

    /// Store a custodian's sealed grant for `peer`, if its announcement is still `kx_pubkey`;
    /// `false` when it is not.
    pub fn put_grant(
        &mut self,
        peer: PeerId,
        kx_pubkey: [u8; 32],
        sealed: Vec<u8>,
        key_ids: Vec<String>,
    ) -> bool {
        match self.grants.get_mut(&peer) {
            Some(g) if g.kx_pubkey == kx_pubkey => {
                g.sealed = Some((sealed, key_ids));
                true
            }
            _ => false,
        }
    }

    /// How many workers have a lease request waiting for work now.
    pub fn waiting_workers(&self) -> usize {
        self.waiting.len()
    }

    /// Forget a peer's grant (its trust was withdrawn).
    pub fn revoke(&mut self, peer: &PeerId) {
        self.grants.remove(peer);
    }

    fn leave_waiting(&mut self, peer: &PeerId) {
        if let Some(n) = self.waiting.get_mut(peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.waiting.remove(peer);
            }
        }
    }

    /// Whether `peer` should take the next job, among the workers waiting for one now: the
    /// placement policy ranks them (`vesper_core::placement`, pure). A worker alone in the
    /// waiting room always may; so may anyone when no waiting worker is eligible.
    fn my_turn(&self, peer: &PeerId) -> bool {
        let waiting: Vec<(&PeerId, &RemoteWorker)> = self
            .waiting
            .iter()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(p, _)| self.workers.get(p).map(|w| (p, w)))
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
            vesper_core::placement::rank(&self.cfg.placement, &needs, &views, self.cursor, 1);
        match ranked.first() {
            Some(&i) => views[i].id == peer.to_string(),
            None => true,
        }
    }

    /// A waiting lease request looks for work: its turn → lease on the store; else wait.
    fn try_lease(&mut self, now: Timestamp, peer: PeerId, deadline: Timestamp) -> Vec<Effect> {
        if self.my_turn(&peer) {
            return vec![Effect::Store(
                StoreOp::Lease(worker_id(&peer)),
                Pending::Lease { deadline },
            )];
        }
        self.wait_or_give_up(now, peer, deadline, NAP_NOT_MY_TURN_MS)
    }

    fn wait_or_give_up(
        &mut self,
        now: Timestamp,
        peer: PeerId,
        deadline: Timestamp,
        nap_ms: u64,
    ) -> Vec<Effect> {
        if now >= deadline {
            self.leave_waiting(&peer);
            return reply(Message::NoWork(NoWork { retry_after_ms: 0 }));
        }
        vec![Effect::Wait {
            until: deadline.min(now.plus_ms(nap_ms)),
            pending: Pending::Lease { deadline },
        }]
    }

    /// A lease of `peer`'s ended: drop it from its active set, count it, and move its
    /// reputation (a job's own failure counts, but is not held against the worker).
    fn forget(&mut self, peer: &PeerId, job: &JobId, ended: Ended) {
        let Some(w) = self.workers.get_mut(peer) else {
            return;
        };
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

    fn completion(
        &mut self,
        now: Timestamp,
        peer: PeerId,
        c: vesper_proto::Completion,
    ) -> Vec<Effect> {
        let Ok(job_id) = JobId::from_str(&c.job_id) else {
            return reply(error("bad_request", "job_id"));
        };
        let Ok(receipt) = Receipt::decode(&c.receipt) else {
            return reply(error("bad_receipt", "receipt does not decode"));
        };
        let Some(signature) = vesper_core::hex_lower(&c.signature) else {
            return reply(error("bad_receipt", "signature"));
        };
        let Ok(signature): Result<[u8; 64], _> = signature.try_into() else {
            return reply(error("bad_receipt", "signature length"));
        };
        // The receipt must be this node's, about this job, signed by this node's key.
        let pk = peer_public_key(&peer);
        if receipt.job_id != job_id
            || Some(receipt.worker_pubkey) != pk
            || receipt.worker_id != peer.to_string()
            || vesper_crypto::verify_receipt(&receipt, &signature).is_err()
            || c.encrypted_result.is_empty()
        {
            return reply(error(
                "bad_receipt",
                "receipt not signed by this node for this job",
            ));
        }
        let exec_ms = receipt.execution_time_ms as f64;
        let lease = LeaseRef {
            job_id,
            epoch: c.epoch,
            worker: worker_id(&peer),
        };
        let result = NewResult {
            encrypted_result: c.encrypted_result,
            receipt,
            signature,
            expires_at: now.plus_ms(self.cfg.result_ttl_ms),
        };
        vec![Effect::Store(
            StoreOp::HandIn(lease, HandIn::Completed(result)),
            Pending::Completion {
                job_id,
                raw: c.job_id,
                exec_ms,
            },
        )]
    }

    /// The workers as `GET /api/workers` lists them, by PeerId.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        let mut v: Vec<WorkerInfo> = self
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
                key_granted: self.grants.get(peer).is_some_and(|g| g.sealed.is_some()),
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

#[cfg(test)]
mod tests;

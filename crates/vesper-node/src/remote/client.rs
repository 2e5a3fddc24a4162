//! `vesper worker --connect`: a worker that dials out to a trusted gateway (no inbound port),
//! says hello with its capabilities, waits until a custodian that trusts it has sealed the
//! pool keys to it, then runs the ordinary worker runtime on a [`RemoteSource`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use vesper_core::{
    Clock, ErrorCode, ProgramId, RetryDecision, RetryPolicy, SystemClock, Timestamp, WorkerId,
};
use vesper_crypto::{SigningIdentity, X25519SecretKey, open_pool_grant};
use vesper_exec::{Executor, ExecutorConfig};
use vesper_net::{
    Multiaddr, Net, NetConfig, NetEvent, NetHandle, NodeIdentity, PeerId, TrustList, peer_of,
};
use vesper_proto::{
    Capabilities, Completion, Failure, Heartbeat, Hello, KeyRequest, LeaseRequest, MAX_ZK_PROGRAM,
    MAX_ZK_PROVING_KEY, Message, ProgramRequest, ZkProgramRequest,
};
use vesper_store::{LeaseRef, LeasedJob, NewResult, StoreError};
use vesper_supervise::{Policy, Supervisor};

use super::{kx_message, leased_job_of};
use crate::NodeError;
use crate::source::{JobSource, SourceError, ZkDeployment};
use crate::worker::{PoolKeys, Runner, Worker, WorkerConfig};

#[derive(Clone, Debug)]
pub struct RemoteWorkerConfig {
    /// The node's home: `identity.ed25519` and `trusted_peers.json`.
    pub home: PathBuf,
    /// Gateways to dial (`/ip4/…/tcp/…[/p2p/<id>]`); empty with `mdns` to find one.
    pub connect: Vec<Multiaddr>,
    /// Find trusted gateways on the local network.
    pub mdns: bool,
    /// Concurrent jobs.
    pub workers: usize,
    pub worker: WorkerConfig,
    pub exec: ExecutorConfig,
    pub name: String,
    pub capabilities: Capabilities,
}

/// Jobs leased over `/vesper/jobs/1` from one gateway.
pub struct RemoteSource {
    net: NetHandle,
    gateway: PeerId,
    hello: Hello,
    idle: Arc<Notify>,
}

impl RemoteSource {
    async fn call(&self, msg: Message) -> Result<Message, SourceError> {
        for attempt in 0..2 {
            let r = self.net.request(self.gateway, msg.clone()).await;
            match r {
                Ok(Message::Error(e)) if e.code == "hello_required" && attempt == 0 => {
                    // The gateway restarted and forgot us: introduce ourselves again.
                    let _ = self
                        .net
                        .request(self.gateway, Message::Hello(self.hello.clone()))
                        .await;
                }
                Ok(Message::Error(e)) if e.code == "unavailable" || e.code == "busy" => {
                    return Err(StoreError::Unavailable.into());
                }
                Ok(Message::Error(e)) => return Err(SourceError::Refused(e.code)),
                Ok(m) => return Ok(m),
                Err(e) => {
                    tracing::debug!(error = %e, "request to the gateway failed");
                    return Err(StoreError::Unavailable.into());
                }
            }
        }
        Err(StoreError::Unavailable.into())
    }
}

fn unexpected(m: Message) -> SourceError {
    SourceError::Refused(format!("unexpected {}", m.kind().name()))
}

#[async_trait::async_trait]
impl JobSource for RemoteSource {
    async fn lease(
        &self,
        worker: &WorkerId,
        _now: Timestamp,
        _lease_ms: u64,
    ) -> Result<Option<LeasedJob>, SourceError> {
        match self
            .call(Message::LeaseRequest(LeaseRequest { max_jobs: 1 }))
            .await?
        {
            Message::Assignment(a) => leased_job_of(a, worker.clone())
                .map(Some)
                .ok_or_else(|| SourceError::Refused("malformed assignment".into())),
            Message::NoWork(_) => Ok(None),
            m => Err(unexpected(m)),
        }
    }

    async fn heartbeat(
        &self,
        lease: &LeaseRef,
        _now: Timestamp,
        _lease_ms: u64,
    ) -> Result<(), SourceError> {
        match self
            .call(Message::Heartbeat(Heartbeat {
                job_id: lease.job_id.to_string(),
                epoch: lease.epoch,
            }))
            .await?
        {
            Message::HeartbeatAck(a) if a.ok => Ok(()),
            Message::HeartbeatAck(_) => Err(fenced(lease).into()),
            m => Err(unexpected(m)),
        }
    }

    async fn complete(
        &self,
        lease: &LeaseRef,
        result: NewResult,
        _now: Timestamp,
    ) -> Result<(), SourceError> {
        let msg = Message::Completion(Completion {
            job_id: lease.job_id.to_string(),
            epoch: lease.epoch,
            encrypted_result: result.encrypted_result,
            receipt: result.receipt.encode(),
            signature: hex::encode(result.signature),
        });
        match self.call(msg).await? {
            Message::HandInAck(a) if a.accepted => Ok(()),
            Message::HandInAck(_) => Err(fenced(lease).into()),
            m => Err(unexpected(m)),
        }
    }

    async fn fail(
        &self,
        lease: &LeaseRef,
        code: ErrorCode,
        now: Timestamp,
        _policy: RetryPolicy,
    ) -> Result<RetryDecision, SourceError> {
        let msg = Message::Failure(Failure {
            job_id: lease.job_id.to_string(),
            epoch: lease.epoch,
            error_code: code.as_str().to_owned(),
        });
        match self.call(msg).await? {
            // The gateway applies the retry policy (and counts the failure); the worker only
            // learns that its report landed, reported here as "retry, attempt unknown".
            Message::HandInAck(a) if a.accepted => Ok(RetryDecision::Retry {
                not_before: now,
                retry_count: 0,
            }),
            Message::HandInAck(_) => Err(fenced(lease).into()),
            m => Err(unexpected(m)),
        }
    }

    async fn program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>, SourceError> {
        let msg = Message::ProgramRequest(ProgramRequest {
            program_id: id.to_string(),
        });
        match self.call(msg).await {
            Ok(Message::Program(p)) => {
                // Content-addressed: the module must hash to the id asked for.
                if ProgramId::of_module(&p.module) != id {
                    return Err(SourceError::Refused("program does not match its id".into()));
                }
                Ok(Some(Arc::new(p.module)))
            }
            Err(SourceError::Refused(code)) if code == "program_not_found" => Ok(None),
            Ok(m) => Err(unexpected(m)),
            Err(e) => Err(e),
        }
    }

    async fn zk_program(&self, image_id: &str) -> Result<Option<ZkDeployment>, SourceError> {
        let msg = Message::ZkProgramRequest(ZkProgramRequest {
            image_id: image_id.to_owned(),
        });
        match self.call(msg).await {
            Ok(Message::ZkProgram(z)) => {
                if z.image_id != image_id {
                    return Err(SourceError::Refused(
                        "zk program for another image id".into(),
                    ));
                }
                if z.program.len() > MAX_ZK_PROGRAM || z.proving_key.len() > MAX_ZK_PROVING_KEY {
                    return Err(SourceError::Refused("zk program over the limits".into()));
                }
                // Not trusted either: the worker recomputes the image id from the program and
                // the key (`crate::zk::load`) and refuses a mismatch, so a gateway cannot
                // substitute another program.
                Ok(Some((z.program, Arc::new(z.proving_key))))
            }
            Err(SourceError::Refused(code)) if code == "program_not_found" => Ok(None),
            Ok(m) => Err(unexpected(m)),
            Err(e) => Err(e),
        }
    }

    fn work_available(&self) -> Arc<Notify> {
        // The gateway long-polls lease requests, so nothing needs waking here.
        self.idle.clone()
    }

    async fn release(&self, _lease: &LeaseRef) -> Result<(), SourceError> {
        // Never called: this source leases one job at a time (`max_batch` is 1), so the worker
        // holds no job it is not running. The protocol has no release; a lease runs out.
        Err(SourceError::Refused(
            "release is not part of /vesper/jobs/1".into(),
        ))
    }
}

fn fenced(lease: &LeaseRef) -> StoreError {
    StoreError::Fenced {
        job_id: lease.job_id,
        epoch: lease.epoch,
    }
}

/// Start a remote worker under `tasks`: the swarm (`p2p/swarm`, fail-fast), the connection
/// keeper (`p2p/connection`), then, once a trusted gateway has welcomed it and a custodian has
/// granted it the pool keys, its workers (`worker/wN`, restarted after a panic). Returns once
/// they serve, or early (`Ok`) if `tasks`' token is cancelled while it waits; the caller then
/// waits for the token and stops `tasks`.
pub async fn start(cfg: RemoteWorkerConfig, tasks: &Supervisor) -> Result<(), NodeError> {
    let shutdown = tasks.token();
    let identity = NodeIdentity::load_or_create(&cfg.home.join(vesper_net::IDENTITY_FILE))?;
    let trust_path = cfg.home.join(vesper_net::TRUST_FILE);
    let trust = TrustList::load(&trust_path)?;
    let me = identity.peer_id();
    if trust.peers.is_empty() {
        return Err(NodeError::Setup(format!(
            "this worker trusts no gateway: run `vesper peers add GATEWAY_PEER_ID` (home {})",
            cfg.home.display()
        )));
    }
    let wanted: Vec<PeerId> = cfg.connect.iter().filter_map(peer_of).collect();
    for p in &wanted {
        if !trust.contains(p) {
            return Err(NodeError::Setup(format!(
                "gateway {p} is not trusted: run `vesper peers add {p}`"
            )));
        }
    }
    let (mut net, driver) = Net::new(
        &identity,
        trust.peer_ids(),
        NetConfig {
            bootstrap: cfg.connect.clone(),
            mdns: cfg.mdns,
            ..NetConfig::default()
        },
    )?;
    tasks.spawn_once("p2p/swarm", driver.run());
    tracing::info!(peer = %me, "remote worker starting; waiting for a trusted gateway");

    // The gateway: the one named by --connect, or the first trusted peer that connects.
    let gateway = loop {
        tokio::select! {
            e = net.events.recv() => match e {
                Some(NetEvent::Connected { peer, addr }) if wanted.is_empty() || wanted.contains(&peer) => {
                    tracing::info!(gateway = %peer, %addr, "connected to a trusted gateway");
                    break peer;
                }
                Some(_) => {}
                None => return Err(NodeError::Setup("network stopped".into())),
            },
            _ = tokio::time::sleep(Duration::from_secs(2)) => {
                for a in &cfg.connect {
                    let _ = net.handle.dial(a.clone()).await;
                }
            }
            _ = shutdown.cancelled() => return Ok(()),
        }
    };
    // Keep the connection up: redial while it is down. (Events are no longer read: the node
    // drops them when nobody listens.)
    drop(net.events);
    {
        let handle = net.handle.clone();
        let connect = cfg.connect.clone();
        tasks.spawn("p2p/connection", Policy::RESTART, move |stop| {
            keep_connected(handle.clone(), gateway, connect.clone(), stop)
        });
    }

    let signing = SigningIdentity::from_bytes(&identity.secret_seed())?;
    let hello = Hello {
        worker_id: cfg.name.clone(),
        receipt_key: hex::encode(identity.public_key()),
        capabilities: cfg.capabilities.clone(),
    };
    let welcome = loop {
        match net
            .handle
            .request(gateway, Message::Hello(hello.clone()))
            .await
        {
            Ok(Message::Welcome(w)) => break w,
            other => {
                tracing::warn!(answer = ?other.map(|m| m.kind().name()), "hello not welcomed; retrying")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return Ok(()),
        }
    };

    // Pool keys: sealed to a fresh key-exchange key by a custodian that trusts this node.
    let kx = X25519SecretKey::generate();
    let kx_pub = *kx.public_key().as_bytes();
    let request = KeyRequest {
        kx_pubkey: hex::encode(kx_pub),
        signature: hex::encode(signing.sign(super::KX_DOMAIN, &kx_message(&me, &kx_pub))),
    };
    let mut told = false;
    let keys = loop {
        match net
            .handle
            .request(gateway, Message::KeyRequest(request.clone()))
            .await
        {
            Ok(Message::KeyGrant(g)) if g.status == "granted" => {
                let sealed = g.sealed.unwrap_or_default();
                match open_pool_grant(&kx, &me.to_bytes(), &sealed) {
                    Ok(keys) => {
                        tracing::info!(
                            keys = keys.len(),
                            "pool keys received (sealed to this node)"
                        );
                        break PoolKeys::new(keys);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "a pool-key grant did not open; waiting for another")
                    }
                }
            }
            Ok(Message::KeyGrant(_)) => {
                if !told {
                    tracing::warn!(peer = %me,
                        "waiting for the pool keys: the operator must trust this node (`vesper peers add {me}` on the gateway's node)");
                    told = true;
                }
            }
            other => {
                tracing::debug!(answer = ?other.map(|m| m.kind().name()), "key request failed")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.cancelled() => return Ok(()),
        }
    };

    let keys = Arc::new(keys);
    let executor = Arc::new(Executor::new(cfg.exec.clone())?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let source: Arc<dyn JobSource> = Arc::new(RemoteSource {
        net: net.handle.clone(),
        gateway,
        hello,
        idle: Arc::new(Notify::new()),
    });
    let mut wcfg = cfg.worker.clone();
    wcfg.lease_ms = welcome.lease_ms;
    wcfg.heartbeat_ms = welcome.heartbeat_ms.max(100);
    wcfg.idle_poll_ms = 0;
    let id = WorkerId::new(me.to_string())?;
    for i in 0..cfg.workers.max(1) {
        let worker = Arc::new(Worker {
            runner: Arc::new(Runner {
                id: id.clone(),
                config: wcfg.clone(),
                identity: SigningIdentity::from_bytes(&identity.secret_seed())?,
                keys: keys.clone(),
                executor: executor.clone(),
                clock: clock.clone(),
            }),
            source: source.clone(),
        });
        tasks.spawn(format!("worker/w{i}"), Policy::RESTART, move |stop| {
            worker.clone().run(stop)
        });
    }
    tracing::info!(workers = cfg.workers, %gateway, "remote worker serving");
    Ok(())
}

/// Redial the gateway while the connection is down.
async fn keep_connected(
    handle: NetHandle,
    gateway: PeerId,
    connect: Vec<Multiaddr>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let up = handle.info().await.map(|i| i.connected.contains(&gateway)).unwrap_or(false);
                if !up {
                    for a in &connect {
                        let _ = handle.dial(a.clone()).await;
                    }
                }
            }
            _ = stop.cancelled() => break,
        }
    }
}

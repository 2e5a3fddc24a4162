//! The libp2p node: TCP + Noise + Yamux, identify, ping, mDNS (optional), Kademlia, and the
//! job protocol (`/vesper/jobs/1`, one request and one response frame per stream).
//!
//! **Trust gate.** The first behaviour is an allow list holding exactly the trusted peers.
//! libp2p asks every behaviour to accept a connection once its Noise handshake has proved the
//! remote's PeerId; an untrusted peer is denied there, before any handler exists, so it gets
//! no protocol at all (not even identify or ping) and the connection is closed. Each refused
//! peer is logged once.
//!
//! **Limits.** Established and pending connections (total and per peer), memory (new
//! connections refused above 90 % of system memory), Yamux streams per connection, concurrent
//! job streams, negotiating streams, and a request timeout: a flood cannot exhaust a node.
//!
//! **One owner.** The swarm lives in one task ([`NetDriver`], run under the node's supervisor;
//! [`Net::spawn`] detaches it for tests); everyone else talks to it over
//! bounded channels: [`NetHandle`] for commands, [`InboundRequest`]s for served requests and
//! [`NetEvent`]s for what happened.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, DialError, FromSwarm, ListenError, NetworkBehaviour,
    SwarmEvent, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, identify, kad,
    mdns, memory_connection_limits, multiaddr::Protocol, noise, ping, request_response, tcp, yamux,
};
use tokio::sync::{mpsc, oneshot};
use vesper_proto::{ErrorMessage, Message};

use crate::codec::{FrameBudget, FrameCodec};
use crate::{NetError, NodeIdentity};

/// How a node joins the network.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Addresses to listen on (`/ip4/0.0.0.0/tcp/7070`); empty for a dial-only node.
    pub listen: Vec<Multiaddr>,
    /// Peers dialed at start (and known to Kademlia when they carry `/p2p/<id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS; trusted ones are dialed.
    pub mdns: bool,
    pub max_connections: u32,
    pub max_connections_per_peer: u32,
    pub max_pending: u32,
    /// Yamux streams per connection.
    pub max_streams_per_connection: usize,
    /// Job-protocol streams in flight per connection.
    pub max_concurrent_requests: usize,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    /// Memory and time a peer may make this node spend on frames it sends (`codec.rs`).
    pub frame_budget: FrameBudget,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: Vec::new(),
            bootstrap: Vec::new(),
            mdns: false,
            max_connections: 512,
            max_connections_per_peer: 4,
            max_pending: 64,
            max_streams_per_connection: 64,
            max_concurrent_requests: 32,
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            frame_budget: FrameBudget::default(),
        }
    }
}

/// What happened on the network (a hint stream; dropped when nobody keeps up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    Listening(Multiaddr),
    /// A trusted peer's connection is up (after Noise and the trust gate).
    Connected {
        peer: PeerId,
        addr: Multiaddr,
    },
    /// The last connection to `peer` closed.
    Disconnected {
        peer: PeerId,
    },
    /// mDNS saw `peer` at `addr` (trusted or not).
    Discovered {
        peer: PeerId,
        addr: Multiaddr,
    },
    /// An untrusted peer completed a Noise handshake and was refused.
    Refused {
        peer: PeerId,
    },
}

/// A job-protocol request from a trusted peer. Answer it through `reply`; dropping the reply
/// answers with an `error` frame.
#[derive(Debug)]
pub struct InboundRequest {
    pub peer: PeerId,
    pub message: Message,
    pub reply: Reply,
}

/// Where the answer to one [`InboundRequest`] goes.
#[derive(Debug)]
pub struct Reply(oneshot::Sender<Message>);

impl Reply {
    pub fn send(self, message: Message) {
        let _ = self.0.send(message);
    }
}

/// A snapshot of the node.
#[derive(Clone, Debug, Default)]
pub struct NetInfo {
    pub peer_id: Option<PeerId>,
    pub listen_addrs: Vec<Multiaddr>,
    pub connected: Vec<PeerId>,
}

enum Command {
    Request {
        peer: PeerId,
        message: Message,
        reply: oneshot::Sender<Result<Message, NetError>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Trust(PeerId, bool),
    Info(oneshot::Sender<NetInfo>),
}

/// Talk to the node's task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NetHandle {
    peer_id: PeerId,
    commands: mpsc::Sender<Command>,
}

impl NetHandle {
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn send(&self, c: Command) -> Result<(), NetError> {
        self.commands.send(c).await.map_err(|_| NetError::Stopped)
    }

    /// Send one request to `peer` and wait for its response (dialing it if an address is
    /// known). Fails with [`NetError::Request`] on timeout, refusal or a closed connection.
    pub async fn request(&self, peer: PeerId, message: Message) -> Result<Message, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Request {
            peer,
            message,
            reply,
        })
        .await?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Dial an address (with or without `/p2p/<id>`).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Dial { addr, reply }).await?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Add or remove a peer from the live trust gate (the trust list file is the caller's).
    /// Removing a peer closes its connections.
    pub async fn set_trusted(&self, peer: PeerId, trusted: bool) -> Result<(), NetError> {
        self.send(Command::Trust(peer, trusted)).await
    }

    pub async fn info(&self) -> Result<NetInfo, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Info(reply)).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    // First: an untrusted peer is denied before any other behaviour sees the connection.
    trust: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    limits: connection_limits::Behaviour,
    memory: memory_connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    kad: QuietKad,
    jobs: request_response::Behaviour<FrameCodec>,
}

/// Kademlia without its "bootstrap when a listen address appears" trigger, which fires at
/// every start before any peer is known and only logs `Failed to trigger bootstrap: No known
/// peers` (libp2p-kad offers no public setting for it). Kademlia still bootstraps when a peer
/// enters a small routing table (so never with an empty one), and periodically when the node
/// was given bootstrap peers. Everything else is passed through unchanged; the listen
/// addresses it no longer hears feed only provider records, which Vesper does not use.
struct QuietKad(kad::Behaviour<kad::store::MemoryStore>);

impl NetworkBehaviour for QuietKad {
    type ConnectionHandler =
        <kad::Behaviour<kad::store::MemoryStore> as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = kad::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.0.handle_pending_inbound_connection(id, local, remote)
    }
    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.0
            .handle_established_inbound_connection(id, peer, local, remote)
    }
    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.0
            .handle_pending_outbound_connection(id, peer, addrs, role)
    }
    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.0
            .handle_established_outbound_connection(id, peer, addr, role, port_use)
    }
    fn on_swarm_event(&mut self, event: FromSwarm) {
        if !matches!(event, FromSwarm::NewListenAddr(_)) {
            self.0.on_swarm_event(event)
        }
    }
    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.0.on_connection_handler_event(peer, id, event)
    }
    fn poll(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.0.poll(cx)
    }
}

/// The node's ends of its channels.
pub struct Net {
    pub handle: NetHandle,
    /// Requests from trusted peers, to be answered.
    pub requests: mpsc::Receiver<InboundRequest>,
    pub events: mpsc::Receiver<NetEvent>,
}

/// Inbound requests waiting for the consumer, per node; above it peers are answered `busy`.
const INBOUND_QUEUE: usize = 256;
const EVENT_QUEUE: usize = 256;
/// Refused peers remembered for log-once (then forgotten wholesale).
const REFUSED_MEMORY: usize = 4096;

/// The swarm's owner task, built but not started: a node runs [`NetDriver::run`] under its
/// task supervisor. It ends when every [`NetHandle`] is gone.
pub struct NetDriver(Driver);

impl NetDriver {
    pub async fn run(self) {
        self.0.run().await
    }
}

impl Net {
    /// Build the swarm and start its task detached from any supervisor (tests and tools; a
    /// node uses [`Net::new`] and supervises the driver). `trusted` seeds the trust gate.
    pub fn spawn(
        identity: &NodeIdentity,
        trusted: impl IntoIterator<Item = PeerId>,
        config: NetConfig,
    ) -> Result<Net, NetError> {
        let (net, driver) = Net::new(identity, trusted, config)?;
        tokio::spawn(driver.run());
        Ok(net)
    }

    /// Build the swarm; the caller runs the returned driver (the swarm's one owner task).
    /// `trusted` seeds the trust gate.
    pub fn new(
        identity: &NodeIdentity,
        trusted: impl IntoIterator<Item = PeerId>,
        config: NetConfig,
    ) -> Result<(Net, NetDriver), NetError> {
        let keypair = identity.keypair().clone();
        let local = keypair.public().to_peer_id();
        let cfg = config.clone();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                move || {
                    let mut y = yamux::Config::default();
                    y.set_max_num_streams(cfg.max_streams_per_connection);
                    y
                },
            )
            .map_err(|e| NetError::Transport(e.to_string()))?
            .with_behaviour(|key| {
                let peer = key.public().to_peer_id();
                let mut kcfg = kad::Config::new(StreamProtocol::new("/vesper/kad/1"));
                if config.bootstrap.is_empty() {
                    // Nothing to bootstrap from; peers learned later (mDNS, identify) still
                    // fill the routing table.
                    kcfg.set_periodic_bootstrap_interval(None);
                }
                let mut kad =
                    kad::Behaviour::with_config(peer, kad::store::MemoryStore::new(peer), kcfg);
                kad.set_mode(Some(kad::Mode::Server));
                let kad = QuietKad(kad);
                let mdns = if config.mdns {
                    Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer)?)
                } else {
                    None
                };
                Ok(Behaviour {
                    trust: Default::default(),
                    limits: connection_limits::Behaviour::new(
                        connection_limits::ConnectionLimits::default()
                            .with_max_established(Some(config.max_connections))
                            .with_max_established_per_peer(Some(config.max_connections_per_peer))
                            .with_max_pending_incoming(Some(config.max_pending))
                            .with_max_pending_outgoing(Some(config.max_pending)),
                    ),
                    memory: memory_connection_limits::Behaviour::with_max_percentage(0.9),
                    identify: identify::Behaviour::new(
                        identify::Config::new("/vesper/id/1".into(), key.public())
                            .with_agent_version(format!("vesper/{}", env!("CARGO_PKG_VERSION"))),
                    ),
                    ping: ping::Behaviour::new(
                        ping::Config::new().with_interval(Duration::from_secs(5)),
                    ),
                    mdns: Toggle::from(mdns),
                    kad,
                    jobs: request_response::Behaviour::with_codec(
                        FrameCodec::new(config.frame_budget),
                        [(
                            StreamProtocol::new(vesper_proto::JOBS_PROTOCOL),
                            request_response::ProtocolSupport::Full,
                        )],
                        request_response::Config::default()
                            .with_request_timeout(config.request_timeout)
                            .with_max_concurrent_streams(config.max_concurrent_requests),
                    ),
                })
            })
            .map_err(|e| NetError::Transport(e.to_string()))?
            .with_swarm_config(|c| {
                c.with_idle_connection_timeout(config.idle_timeout)
                    .with_max_negotiating_inbound_streams(32)
            })
            .build();

        for peer in trusted {
            swarm.behaviour_mut().trust.allow_peer(peer);
        }
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Transport(format!("listen on {addr}: {e}")))?;
        }
        for addr in &config.bootstrap {
            if let Some(peer) = peer_of(addr) {
                swarm.behaviour_mut().kad.0.add_address(&peer, addr.clone());
            }
            if let Err(e) = swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "bootstrap dial failed");
            }
        }

        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (req_tx, req_rx) = mpsc::channel(INBOUND_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let driver = Driver {
            swarm,
            commands: cmd_rx,
            requests: req_tx,
            events: ev_tx,
            pending_out: HashMap::new(),
            pending_dials: Vec::new(),
            replies: FuturesUnordered::new(),
            refused_logged: HashSet::new(),
            listen_addrs: Vec::new(),
        };
        let net = Net {
            handle: NetHandle {
                peer_id: local,
                commands: cmd_tx,
            },
            requests: req_rx,
            events: ev_rx,
        };
        Ok((net, NetDriver(driver)))
    }
}

/// The PeerId in an address's trailing `/p2p/<id>`, if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

type PendingReply = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = (
                    request_response::ResponseChannel<Message>,
                    Result<Message, oneshot::error::RecvError>,
                ),
            > + Send,
    >,
>;

struct Driver {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    requests: mpsc::Sender<InboundRequest>,
    events: mpsc::Sender<NetEvent>,
    pending_out:
        HashMap<request_response::OutboundRequestId, oneshot::Sender<Result<Message, NetError>>>,
    pending_dials: Vec<(
        libp2p::swarm::ConnectionId,
        oneshot::Sender<Result<(), NetError>>,
    )>,
    replies: FuturesUnordered<PendingReply>,
    refused_logged: HashSet<PeerId>,
    listen_addrs: Vec<Multiaddr>,
}

fn error_frame(code: &str, message: &str) -> Message {
    Message::Error(ErrorMessage {
        code: code.into(),
        message: message.into(),
    })
}

impl Driver {
    async fn run(mut self) {
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm(ev),
                cmd = self.commands.recv() => match cmd {
                    Some(c) => self.on_command(c),
                    // Every handle is gone: the node stops.
                    None => break,
                },
                Some((channel, answer)) = self.replies.next(), if !self.replies.is_empty() => {
                    let msg = answer.unwrap_or_else(|_| error_frame("internal", "request dropped"));
                    // Fails only if the peer is gone; nothing to do then.
                    let _ = self.swarm.behaviour_mut().jobs.send_response(channel, msg);
                }
            }
        }
        tracing::debug!("network node stopped");
    }

    fn emit(&self, e: NetEvent) {
        if self.events.try_send(e).is_err() {
            tracing::trace!("network event dropped (no reader keeping up)");
        }
    }

    fn refused(&mut self, peer: PeerId, addr: &str) {
        if self.refused_logged.len() >= REFUSED_MEMORY {
            self.refused_logged.clear();
        }
        if self.refused_logged.insert(peer) {
            tracing::warn!(%peer, addr, "refused untrusted peer after its Noise handshake");
        }
        self.emit(NetEvent::Refused { peer });
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Request {
                peer,
                message,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().jobs.send_request(&peer, message);
                self.pending_out.insert(id, reply);
            }
            Command::Dial { addr, reply } => {
                use libp2p::swarm::dial_opts::DialOpts;
                let opts = match peer_of(&addr) {
                    Some(p) => DialOpts::peer_id(p).addresses(vec![addr]).build(),
                    None => DialOpts::unknown_peer_id().address(addr).build(),
                };
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => self.pending_dials.push((id, reply)),
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Dial(e.to_string())));
                    }
                }
            }
            Command::Trust(peer, true) => {
                self.swarm.behaviour_mut().trust.allow_peer(peer);
            }
            Command::Trust(peer, false) => {
                self.swarm.behaviour_mut().trust.disallow_peer(peer);
            }
            Command::Info(reply) => {
                let _ = reply.send(NetInfo {
                    peer_id: Some(*self.swarm.local_peer_id()),
                    listen_addrs: self.listen_addrs.clone(),
                    connected: self.swarm.connected_peers().copied().collect(),
                });
            }
        }
    }

    fn finish_dial(&mut self, id: libp2p::swarm::ConnectionId, r: Result<(), NetError>) {
        if let Some(i) = self.pending_dials.iter().position(|(c, _)| *c == id) {
            let (_, reply) = self.pending_dials.swap_remove(i);
            let _ = reply.send(r);
        }
    }

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "p2p listening");
                self.listen_addrs.push(address.clone());
                self.emit(NetEvent::Listening(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                connection_id,
                num_established,
                ..
            } => {
                let addr = endpoint.get_remote_address().clone();
                self.finish_dial(connection_id, Ok(()));
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, %addr, "peer connected");
                    self.emit(NetEvent::Connected {
                        peer: peer_id,
                        addr,
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                if num_established == 0 {
                    tracing::info!(peer = %peer_id, cause = ?cause.map(|c| c.to_string()), "peer disconnected");
                    self.emit(NetEvent::Disconnected { peer: peer_id });
                }
            }
            SwarmEvent::IncomingConnectionError {
                error: ListenError::Denied { cause },
                peer_id: Some(peer),
                send_back_addr,
                ..
            } => {
                if cause
                    .downcast_ref::<allow_block_list::NotAllowed>()
                    .is_some()
                {
                    self.refused(peer, &send_back_addr.to_string());
                } else {
                    tracing::warn!(%peer, error = %cause, "inbound connection denied by a limit");
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if let (DialError::Denied { cause }, Some(peer)) = (&error, peer_id) {
                    if cause
                        .downcast_ref::<allow_block_list::NotAllowed>()
                        .is_some()
                    {
                        self.refused(peer, "dialed");
                    }
                }
                tracing::debug!(peer = ?peer_id, error = %error, "dial failed");
                self.finish_dial(connection_id, Err(NetError::Dial(error.to_string())));
            }
            SwarmEvent::Behaviour(b) => self.on_behaviour(b),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        use request_response::{Event as Rr, Message as RrMsg};
        match ev {
            BehaviourEvent::Jobs(Rr::Message { peer, message, .. }) => match message {
                RrMsg::Request {
                    request, channel, ..
                } => {
                    let (reply, rx) = oneshot::channel();
                    let req = InboundRequest {
                        peer,
                        message: request,
                        reply: Reply(reply),
                    };
                    match self.requests.try_send(req) {
                        Ok(()) => self
                            .replies
                            .push(Box::pin(async move { (channel, rx.await) })),
                        Err(_) => {
                            let _ = self
                                .swarm
                                .behaviour_mut()
                                .jobs
                                .send_response(channel, error_frame("busy", "try again later"));
                        }
                    }
                }
                RrMsg::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending_out.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            BehaviourEvent::Jobs(Rr::OutboundFailure {
                request_id, error, ..
            }) => {
                if let Some(reply) = self.pending_out.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request(error.to_string())));
                }
            }
            BehaviourEvent::Jobs(Rr::InboundFailure { peer, error, .. }) => {
                tracing::debug!(%peer, %error, "inbound job request failed");
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(list)) => {
                for (peer, addr) in list {
                    let trusted = self.swarm.behaviour().trust.allowed_peers().contains(&peer);
                    tracing::debug!(%peer, %addr, trusted, "mDNS discovered a peer");
                    if trusted {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .0
                            .add_address(&peer, addr.clone());
                        if !self.swarm.is_connected(&peer) {
                            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                                .addresses(vec![addr.clone()])
                                .build();
                            let _ = self.swarm.dial(opts);
                        }
                    }
                    self.emit(NetEvent::Discovered { peer, addr });
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                // Only trusted peers get this far; their listen addresses feed Kademlia.
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.0.add_address(&peer_id, addr);
                }
            }
            _ => {}
        }
    }
}

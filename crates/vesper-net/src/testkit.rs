//! A hostile (but trusted) peer, for tests of what a node must withstand: it opens job
//! streams and announces frames it then sends slowly, in full, or not at all. Only tests use
//! it; it lives here because this is the one crate that speaks libp2p.

use std::io;
use std::time::Duration;

use futures_util::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, StreamExt as _};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, noise, request_response, tcp, yamux};

use crate::{NetError, NodeIdentity};

/// What each stream of a [`flood`] does.
#[derive(Clone, Copy, Debug)]
pub struct Flood {
    /// Job streams opened at once on the connection.
    pub streams: usize,
    /// Frame type byte announced (e.g. `0x08`, completion).
    pub kind: u8,
    /// Payload length announced in the header.
    pub announce: u32,
    /// Bytes of payload actually sent after the header (at most `announce`).
    pub send: usize,
    /// Pause after each 64 KiB sent (zero: as fast as the node reads).
    pub pause: Duration,
}

#[derive(Clone, Copy)]
struct HostileCodec(Flood);

impl request_response::Codec for HostileCodec {
    type Protocol = StreamProtocol;
    type Request = ();
    type Response = ();

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(io::ErrorKind::Unsupported.into())
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut sink = Vec::new();
        io.take(1 << 20).read_to_end(&mut sink).await.map(|_| ())
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, _: ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let f = self.0;
        let mut header = vec![f.kind];
        header.extend_from_slice(&f.announce.to_be_bytes());
        io.write_all(&header).await?;
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = f.send.min(f.announce as usize);
        while left > 0 {
            let n = left.min(chunk.len());
            io.write_all(&chunk[..n]).await?;
            io.flush().await?;
            left -= n;
            if !f.pause.is_zero() {
                tokio::time::sleep(f.pause).await;
            }
        }
        // Hold the stream open, the frame unfinished, until the request times out.
        std::future::pending::<()>().await;
        Ok(())
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, _: &mut T, _: ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Open one connection to `target` (a `/p2p/<id>` multiaddr) as `identity` and run `flood`
/// on it until the returned task is aborted (or the requests time out after `hold`).
pub fn flood(
    identity: &NodeIdentity,
    target: Multiaddr,
    flood: Flood,
    hold: Duration,
) -> Result<tokio::task::JoinHandle<()>, NetError> {
    let peer: PeerId = crate::peer_of(&target)
        .ok_or_else(|| NetError::Transport("target needs /p2p/<id>".into()))?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity.keypair().clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                HostileCodec(flood),
                [(
                    StreamProtocol::new(vesper_proto::JOBS_PROTOCOL),
                    request_response::ProtocolSupport::Outbound,
                )],
                request_response::Config::default()
                    .with_request_timeout(hold)
                    .with_max_concurrent_streams(flood.streams.max(1)),
            )
        })
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(hold))
        .build();
    swarm
        .dial(target)
        .map_err(|e| NetError::Transport(e.to_string()))?;
    Ok(tokio::spawn(async move {
        loop {
            match swarm.next().await {
                Some(SwarmEvent::ConnectionEstablished { .. }) => {
                    for _ in 0..flood.streams {
                        swarm.behaviour_mut().send_request(&peer, ());
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
    }))
}

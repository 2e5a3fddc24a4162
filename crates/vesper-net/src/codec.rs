//! `vesper-proto` frames on libp2p streams: one request frame and one response frame per
//! stream (`/vesper/jobs/1`, docs/PROTOCOL.md).
//!
//! **Bounded reads.** A peer decides what it announces, not what this node buffers:
//! - unknown types and frames over their kind's maximum are refused from the 5 header bytes
//!   ([`vesper_proto::MessageKind::max_payload`]: 64 KiB for frames that carry no payload);
//! - a payload is buffered as it arrives, never allocated ahead of the bytes;
//! - every byte of buffer is reserved first from a per-connection budget and from a budget
//!   shared by all connections ([`FrameBudget`]); a frame that cannot get its budget before its
//!   deadline is refused, and everything it held is released;
//! - each frame must arrive whole within [`FrameBudget::read_timeout`].
//!
//! So the memory that peers can make this node hold in partly received frames is at most the
//! global budget (128 MiB by default), and one connection at most its own budget (64 MiB).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use libp2p::StreamProtocol;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vesper_proto::{Decoded, HEADER_LEN, Message};

/// Budget accounting granularity.
const UNIT: usize = 64 * 1024;

/// Limits on the frames a node reads.
#[derive(Clone, Copy, Debug)]
pub struct FrameBudget {
    /// Bytes of partly received frames held at once, all connections together.
    pub global_bytes: usize,
    /// Bytes of partly received frames held at once on one connection (at least one largest
    /// frame: [`vesper_proto::MAX_FRAME`]).
    pub per_connection_bytes: usize,
    /// Time allowed for a frame to arrive whole (its header included).
    pub read_timeout: Duration,
}

impl Default for FrameBudget {
    fn default() -> Self {
        FrameBudget {
            global_bytes: 128 << 20,
            per_connection_bytes: 64 << 20,
            read_timeout: Duration::from_secs(20),
        }
    }
}

fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX >> 3)
}

/// The request/response codec.
///
/// libp2p clones the behaviour's codec once per connection, and each connection's codec once
/// per stream. The behaviour's own codec has no connection budget (`conn: None`); a clone of it
/// gets a fresh one, and clones of a connection's codec share it. That is how one budget
/// follows one connection without libp2p telling the codec which connection it serves.
#[derive(Debug)]
pub struct FrameCodec {
    limits: FrameBudget,
    global: Arc<Semaphore>,
    conn: Option<Arc<Semaphore>>,
}

impl FrameCodec {
    pub fn new(limits: FrameBudget) -> Self {
        FrameCodec {
            limits,
            global: Arc::new(Semaphore::new(units(limits.global_bytes) as usize)),
            conn: None,
        }
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(FrameBudget::default())
    }
}

impl Clone for FrameCodec {
    fn clone(&self) -> Self {
        let conn = self.conn.clone().unwrap_or_else(|| {
            Arc::new(Semaphore::new(
                units(self.limits.per_connection_bytes) as usize
            ))
        });
        FrameCodec {
            limits: self.limits,
            global: self.global.clone(),
            conn: Some(conn),
        }
    }
}

fn budget_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        "frame refused: the receive budget is exhausted",
    )
}

impl FrameCodec {
    /// Reserve `n` more units from the connection's budget and the global one.
    async fn reserve(&self, n: u32, held: &mut Vec<OwnedSemaphorePermit>) -> io::Result<()> {
        let conn = self
            .conn
            .as_ref()
            .expect("streams use a connection's codec");
        held.push(
            conn.clone()
                .acquire_many_owned(n)
                .await
                .map_err(|_| budget_error())?,
        );
        held.push(
            self.global
                .clone()
                .acquire_many_owned(n)
                .await
                .map_err(|_| budget_error())?,
        );
        Ok(())
    }

    async fn read_frame<T: AsyncRead + Unpin + Send>(&self, io: &mut T) -> io::Result<Message> {
        match tokio::time::timeout(self.limits.read_timeout, self.read_frame_inner(io)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "frame did not arrive in time",
            )),
        }
    }

    async fn read_frame_inner<T: AsyncRead + Unpin + Send>(
        &self,
        io: &mut T,
    ) -> io::Result<Message> {
        let mut header = [0u8; HEADER_LEN];
        io.read_exact(&mut header).await?;
        let (_, len) = vesper_proto::decode_header(&header)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            .expect("a whole header");
        let total = HEADER_LEN + len;
        // Capacity grows with the bytes that arrived (doubling, up to the announced length);
        // each growth is reserved from the budgets first.
        let mut held = Vec::new();
        let mut frame: Vec<u8> = Vec::new();
        let mut reserved = 0u32;
        let first = total.min(UNIT);
        self.reserve(units(first), &mut held).await?;
        reserved += units(first);
        frame.reserve_exact(first);
        frame.extend_from_slice(&header);
        while frame.len() < total {
            if frame.len() == frame.capacity() {
                let want = (frame.capacity() * 2).min(total);
                let need = units(want).saturating_sub(reserved);
                if need > 0 {
                    self.reserve(need, &mut held).await?;
                    reserved += need;
                }
                frame.reserve_exact(want - frame.len());
            }
            let start = frame.len();
            let end = frame.capacity().min(total);
            frame.resize(end, 0);
            let n = io.read(&mut frame[start..end]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            frame.truncate(start + n);
        }
        let msg = match vesper_proto::decode(&frame)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            Decoded::Frame(msg, _) => msg,
            Decoded::Incomplete(_) => unreachable!("the whole frame was read"),
        };
        drop(held);
        Ok(msg)
    }
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, msg: &Message) -> io::Result<()> {
    let frame =
        vesper_proto::encode(msg).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    io.write_all(&frame).await?;
    io.close().await
}

impl libp2p::request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Message;
    type Response = Message;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Message>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Message>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Message,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Message,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::io::Cursor;
    use vesper_proto::{LeaseRequest, MAX_CONTROL_FRAME, MAX_FRAME};

    /// A connection's codec, as libp2p makes one from the behaviour's.
    fn conn_codec(limits: FrameBudget) -> FrameCodec {
        FrameCodec::new(limits).clone()
    }

    #[tokio::test]
    async fn frames_cross_a_stream_and_bad_headers_are_refused_before_the_payload() {
        let codec = conn_codec(FrameBudget::default());
        let msg = Message::LeaseRequest(LeaseRequest { max_jobs: 1 });
        let mut buf = Cursor::new(Vec::new());
        write_frame(&mut buf, &msg).await.unwrap();
        let mut rd = Cursor::new(buf.into_inner());
        assert_eq!(codec.read_frame(&mut rd).await.unwrap(), msg);

        // A header announcing more than its kind allows: refused with no payload present.
        for (kind, max) in [(0x08u8, MAX_FRAME), (0x03, MAX_CONTROL_FRAME)] {
            let mut huge = vec![kind];
            huge.extend_from_slice(&((max as u32) + 1).to_be_bytes());
            let err = codec.read_frame(&mut Cursor::new(huge)).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        }
        // An unknown type, and a reserved one.
        for t in [0x7f, 0x10] {
            let err = codec
                .read_frame(&mut Cursor::new(vec![t, 0, 0, 0, 2, b'{', b'}']))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        }
        // A truncated payload is an I/O error, not a hang or a panic.
        let err = codec
            .read_frame(&mut Cursor::new(vec![0x03, 0, 0, 0, 9, b'{']))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        // Everything reserved was given back.
        assert_eq!(
            codec.conn.as_ref().unwrap().available_permits(),
            units(FrameBudget::default().per_connection_bytes) as usize
        );
    }

    /// A stream whose peer announced a large frame and then stopped sending.
    struct Stalled(Vec<u8>, usize);
    impl AsyncRead for Stalled {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<io::Result<usize>> {
            let n = buf.len().min(self.0.len() - self.1);
            if n == 0 {
                return std::task::Poll::Pending;
            }
            let at = self.1;
            buf[..n].copy_from_slice(&self.0[at..at + n]);
            self.1 += n;
            std::task::Poll::Ready(Ok(n))
        }
    }

    fn announce(sent: usize) -> Vec<u8> {
        let mut v = vec![0x08];
        v.extend_from_slice(&(MAX_FRAME as u32).to_be_bytes());
        v.extend(std::iter::repeat_n(b'x', sent));
        v
    }

    fn small_frame() -> Vec<u8> {
        vesper_proto::encode(&Message::LeaseRequest(LeaseRequest { max_jobs: 1 })).unwrap()
    }

    fn used(s: &Semaphore, total: usize) -> usize {
        (units(total) as usize - s.available_permits()) * UNIT
    }

    /// Buffers follow the bytes that arrived, not what was announced; one connection holds at
    /// most its budget, and waits (then times out) beyond it.
    #[tokio::test]
    async fn a_connection_holds_at_most_its_budget() {
        let limits = FrameBudget {
            global_bytes: 64 << 20,
            per_connection_bytes: 3 << 20,
            read_timeout: Duration::from_millis(400),
        };
        let proto = FrameCodec::new(limits);
        let a = proto.clone();
        // 1 MiB arrived of an announced 48 MiB: 2 MiB reserved (capacity doubles), not 48.
        let stalled = tokio::spawn({
            let a = a.clone();
            async move { a.read_frame(&mut Stalled(announce(1 << 20), 0)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let conn = a.conn.clone().unwrap();
        assert_eq!(used(&conn, limits.per_connection_bytes), 2 << 20);
        // A small frame on the same connection still fits.
        let ok = a.read_frame(&mut Cursor::new(small_frame())).await;
        assert!(ok.is_ok());
        // A second large one takes the rest of the connection's budget, then waits: the
        // connection never holds more than its 3 MiB, and the frame times out.
        let over = tokio::spawn({
            let a = a.clone();
            async move { a.read_frame(&mut Stalled(announce(2 << 20), 0)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(used(&conn, limits.per_connection_bytes), 3 << 20);
        assert!(used(&proto.global, limits.global_bytes) <= 3 << 20);
        // Another connection is not held back by this one.
        let b = proto.clone();
        assert!(b.read_frame(&mut Cursor::new(small_frame())).await.is_ok());
        for t in [stalled, over] {
            assert_eq!(
                t.await.unwrap().unwrap_err().kind(),
                io::ErrorKind::TimedOut
            );
        }
        // Everything is given back after the deadlines.
        assert_eq!(used(&conn, limits.per_connection_bytes), 0);
        assert_eq!(used(&proto.global, limits.global_bytes), 0);
    }

    /// All connections together hold at most the global budget: a frame waits for it.
    #[tokio::test]
    async fn all_connections_hold_at_most_the_global_budget() {
        let limits = FrameBudget {
            global_bytes: 4 << 20,
            per_connection_bytes: 64 << 20,
            read_timeout: Duration::from_millis(600),
        };
        let proto = FrameCodec::new(limits);
        let mut stalled = Vec::new();
        for _ in 0..2 {
            let c = proto.clone();
            stalled.push(tokio::spawn(async move {
                c.read_frame(&mut Stalled(announce(1 << 20), 0)).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(used(&proto.global, limits.global_bytes), 4 << 20);
        // A third connection's small frame waits until the stalled ones time out.
        let t = std::time::Instant::now();
        let c = proto.clone();
        assert!(c.read_frame(&mut Cursor::new(small_frame())).await.is_ok());
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        for s in stalled {
            assert_eq!(
                s.await.unwrap().unwrap_err().kind(),
                io::ErrorKind::TimedOut
            );
        }
        assert_eq!(used(&proto.global, limits.global_bytes), 0);
    }
}

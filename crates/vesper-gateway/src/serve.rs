//! The HTTP server loop: accepts connections under caps and serves the router on each with
//! hyper, under timeouts a stranger cannot stretch.
//!
//! - **Caps at accept.** At most `max_connections` open at once, and `max_connections_per_ip`
//!   from one address. A connection over a cap gets a canned `503 too_many_connections` (JSON,
//!   written without reading anything) and is closed; refusals are counted
//!   (`vesper_http_connections_refused_total{reason}`) and logged, at most once a second with
//!   the number refused meanwhile.
//! - **Header timeout.** A client must send a request's whole head within `header_timeout` of
//!   the connection opening, or of the previous response on a keep-alive connection. That one
//!   timer closes slowloris connections and idle keep-alive connections alike.
//! - **Lingering close.** When hyper closes a connection (after refusing a request from its
//!   head, a `413` say, with the body still on its way), the write side is shut first and the
//!   rest of what the client sends is read and discarded, for at most [`LINGER`] and
//!   [`LINGER_BYTES`]: closing with unread data would make the kernel reset the connection,
//!   and a client still writing its body would see a broken pipe instead of the answer.
//! - **Descriptors.** Accept errors (e.g. `EMFILE`) are logged and back off instead of
//!   spinning; the binary raises the soft `RLIMIT_NOFILE` to the hard limit at start and keeps
//!   the caps below it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future as _;
use tokio::io::AsyncRead as _;
use tokio::net::TcpListener;
use tower::Service as _;

/// Limits on HTTP connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Time allowed to send a request's head (and to start the next one on a kept-alive
    /// connection).
    pub header_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 4096,
            max_connections_per_ip: 256,
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// Longest a closing connection keeps reading (and discarding) what its client still sends.
pub const LINGER: Duration = Duration::from_secs(2);
/// Most bytes a closing connection reads and discards.
pub const LINGER_BYTES: u64 = 64 << 20;

/// A TCP stream whose shutdown is a lingering close (see the module docs).
struct Lingering {
    stream: tokio::net::TcpStream,
    drain: Option<(std::pin::Pin<Box<tokio::time::Sleep>>, u64)>,
}

impl tokio::io::AsyncRead for Lingering {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Lingering {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, data)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.drain.is_none() {
            // Our answer is complete: say so (FIN), then keep listening for a while.
            std::task::ready!(std::pin::Pin::new(&mut this.stream).poll_shutdown(cx))?;
            this.drain = Some((Box::pin(tokio::time::sleep(LINGER)), 0));
        }
        let (deadline, read) = this.drain.as_mut().expect("set above");
        let mut scratch = [0u8; 16 * 1024];
        loop {
            let mut buf = tokio::io::ReadBuf::new(&mut scratch);
            match std::pin::Pin::new(&mut this.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    *read += buf.filled().len() as u64;
                    if *read >= LINGER_BYTES {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    return match deadline.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Ok(())),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

/// Open connections, in total and per address.
#[derive(Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Global,
    PerIp,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Global => "global",
            Refusal::PerIp => "per_ip",
        }
    }
}

/// A connection's place under the caps; released when dropped.
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut o = self.open.lock().expect("connection table");
        o.total -= 1;
        if let Some(n) = o.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                o.per_ip.remove(&self.ip);
            }
        }
        metrics::gauge!(crate::metrics::CONNECTIONS_OPEN).set(o.total as f64);
    }
}

fn admit(open: &Arc<Mutex<Open>>, ip: IpAddr, limits: &ConnLimits) -> Result<Slot, Refusal> {
    let mut o = open.lock().expect("connection table");
    if o.total >= limits.max_connections {
        return Err(Refusal::Global);
    }
    let n = o.per_ip.entry(ip).or_default();
    if *n >= limits.max_connections_per_ip {
        return Err(Refusal::PerIp);
    }
    *n += 1;
    o.total += 1;
    metrics::gauge!(crate::metrics::CONNECTIONS_OPEN).set(o.total as f64);
    Ok(Slot {
        open: open.clone(),
        ip,
    })
}

const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 87\r\n\r\n\
{\"error\":{\"code\":\"too_many_connections\",\"message\":\"too many connections; retry later\"}}";

/// Logs refusals at most once a second, with how many there were meanwhile.
struct RefusalLog {
    last: Option<Instant>,
    since: u64,
}

impl RefusalLog {
    fn note(&mut self, why: Refusal, ip: IpAddr, limits: &ConnLimits) {
        metrics::counter!(crate::metrics::CONNECTIONS_REFUSED, "reason" => why.as_str())
            .increment(1);
        self.since += 1;
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            let cap = match why {
                Refusal::Global => limits.max_connections,
                Refusal::PerIp => limits.max_connections_per_ip,
            };
            tracing::warn!(%ip, reason = why.as_str(), cap, refused = self.since,
                "HTTP connection refused: at the connection cap");
            self.last = Some(Instant::now());
            self.since = 0;
        }
    }
}

/// Serve `router` on `listener` until `shutdown` resolves, then stop accepting and let open
/// connections finish their requests (the caller bounds how long it waits).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let open = Arc::new(Mutex::new(Open::default()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut refusals = RefusalLog {
        last: None,
        since: 0,
    };
    let mut accept_errors = RefusalLog {
        last: None,
        since: 0,
    };
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors or memory: say so (once a second) and back off
                    // rather than spin on an accept that keeps failing.
                    accept_errors.since += 1;
                    if accept_errors.last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        tracing::warn!(error = %e, failures = accept_errors.since, "accepting an HTTP connection failed");
                        accept_errors.last = Some(Instant::now());
                        accept_errors.since = 0;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            _ = &mut shutdown => break,
        };
        let slot = match admit(&open, remote.ip(), &limits) {
            Ok(s) => s,
            Err(why) => {
                refusals.note(why, remote.ip(), &limits);
                let _ = stream.try_write(REFUSED);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stop = stop_rx.clone();
        conns.spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo(remote));
                router.clone().call(req)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(Some(limits.header_timeout))
                .keep_alive(true);
            let io = Lingering {
                stream,
                drain: None,
            };
            let conn = builder.serve_connection(TokioIo::new(io), svc);
            tokio::pin!(conn);
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(%remote, error = %e, "HTTP connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.changed() => conn.as_mut().graceful_shutdown(),
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_admit_and_release() {
        let open = Arc::new(Mutex::new(Open::default()));
        let limits = ConnLimits {
            max_connections: 3,
            max_connections_per_ip: 2,
            header_timeout: Duration::from_secs(1),
        };
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.1".parse().unwrap();
        let s1 = admit(&open, a, &limits).unwrap();
        let _s2 = admit(&open, a, &limits).unwrap();
        assert_eq!(admit(&open, a, &limits).err(), Some(Refusal::PerIp));
        let _s3 = admit(&open, b, &limits).unwrap();
        assert_eq!(admit(&open, b, &limits).err(), Some(Refusal::Global));
        drop(s1);
        assert!(admit(&open, b, &limits).is_ok());
        assert_eq!(
            std::str::from_utf8(REFUSED)
                .unwrap()
                .split("\r\n\r\n")
                .nth(1)
                .unwrap()
                .len(),
            87
        );
    }
}

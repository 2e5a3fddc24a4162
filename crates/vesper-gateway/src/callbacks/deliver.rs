//! Signed callback delivery over HTTP(S), with the address policy enforced before connecting.
//!
//! Every way to a TCP connection is guarded:
//! - a name in the URL goes through [`VettingResolver`], which refuses the whole name when
//!   any address it resolves to is refused, so the connector only ever sees vetted addresses;
//! - an IP-literal host skips every resolver, so [`CallbackSender::deliver`] checks it;
//! - a redirect target is checked by the redirect policy (scheme, userinfo, IP literal; names
//!   go through the resolver again), at most [`MAX_REDIRECTS`] hops;
//! - proxies are off, since a proxy would resolve and connect on our behalf.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::redirect;
use url::Url;
use vesper_api::ApiErrorCode;
use vesper_core::Clock;
use vesper_crypto::SigningIdentity;

use super::CallbackError;
use super::ssrf::{self, AddressPolicy, Refusal, UrlProblem};

/// Domain separation for callback signatures (see `SigningIdentity::sign`).
pub const CALLBACK_DOMAIN: &[u8] = b"vesper/v1/callback\0";
/// Most redirects followed for one delivery.
pub const MAX_REDIRECTS: usize = 3;
/// Longest event id accepted for signing.
const MAX_EVENT_ID_LEN: usize = 128;

const HEADER_EVENT_ID: &str = "vesper-event-id";
const HEADER_TIMESTAMP: &str = "vesper-timestamp";
const HEADER_SIGNATURE: &str = "vesper-signature";
const SIGNATURE_PREFIX: &str = "ed25519=";

/// Time limits for one delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryTimeouts {
    /// Name resolution plus TCP (and TLS) connect, per hop.
    pub connect: Duration,
    /// The whole attempt, redirects included, up to the response status.
    pub total: Duration,
}

impl Default for DeliveryTimeouts {
    fn default() -> Self {
        DeliveryTimeouts {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(10),
        }
    }
}

/// Why a delivery attempt failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The URL, a redirect target or a resolved address is refused by the address policy.
    /// Permanent.
    #[error("callback destination refused")]
    Refused(#[source] Refusal),
    /// The URL or a redirect target is malformed (or an https to http redirect). Permanent.
    #[error("invalid callback url ({0})")]
    InvalidUrl(UrlProblem),
    /// The event id is not 1 to 128 characters of `[A-Za-z0-9_-]`. Permanent.
    #[error("invalid callback event id")]
    InvalidEventId,
    /// More than [`MAX_REDIRECTS`] redirects. Permanent.
    #[error("too many callback redirects")]
    TooManyRedirects,
    /// The receiver answered with a status other than 2xx (after redirects). Retryable for
    /// 5xx, 408 and 429.
    #[error("callback receiver answered {0}")]
    Status(u16),
    /// Resolution, connection or protocol failure. Retryable.
    #[error("callback delivery failed")]
    Network(#[source] reqwest::Error),
    /// A time limit of [`DeliveryTimeouts`] passed. Retryable.
    #[error("callback delivery timed out")]
    Timeout,
}

impl DeliveryError {
    /// Whether a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Status(s) => *s >= 500 || *s == 408 || *s == 429,
            DeliveryError::Network(_) | DeliveryError::Timeout => true,
            DeliveryError::Refused(_)
            | DeliveryError::InvalidUrl(_)
            | DeliveryError::InvalidEventId
            | DeliveryError::TooManyRedirects => false,
        }
    }

    /// Stable machine code, for the outbox's last error.
    pub fn code(&self) -> &'static str {
        match self {
            DeliveryError::Refused(_) => ApiErrorCode::CallbackAddressRefused.as_str(),
            DeliveryError::InvalidUrl(_) => ApiErrorCode::InvalidCallbackUrl.as_str(),
            DeliveryError::InvalidEventId => "invalid_callback_event_id",
            DeliveryError::TooManyRedirects => "callback_too_many_redirects",
            DeliveryError::Status(_) => "callback_http_status",
            DeliveryError::Network(_) => "callback_network",
            DeliveryError::Timeout => "callback_timeout",
        }
    }
}

/// POSTs signed callback events. Cheap to share behind an `Arc`; holds one connection pool.
pub struct CallbackSender {
    client: reqwest::Client,
    identity: Arc<SigningIdentity>,
    clock: Arc<dyn Clock>,
    policy: Arc<AddressPolicy>,
}

impl std::fmt::Debug for CallbackSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSender")
            .field("identity", &self.identity)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl CallbackSender {
    /// `identity` signs every event (receivers pin its public key); `clock` gives
    /// `Vesper-Timestamp`.
    pub fn new(
        identity: Arc<SigningIdentity>,
        clock: Arc<dyn Clock>,
        policy: AddressPolicy,
        timeouts: DeliveryTimeouts,
    ) -> Result<Self, CallbackError> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(VettingResolver {
                policy: policy.clone(),
            }))
            .redirect(redirect_policy(policy.clone()))
            .referer(false)
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("vesper-callbacks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| CallbackError::Client { source })?;
        Ok(CallbackSender {
            client,
            identity,
            clock,
            policy,
        })
    }

    /// POST `body` (the event's JSON) to `url`, signed. `Ok` on a 2xx answer; the response
    /// body is not read.
    ///
    /// The URL is checked again (shape and IP literal) since the policy may have changed since
    /// submit time.
    pub async fn deliver(
        &self,
        url: &Url,
        event_id: &str,
        body: &[u8],
    ) -> Result<(), DeliveryError> {
        let url = ssrf::validate_callback_url(url.as_str(), &self.policy).map_err(|e| match e {
            CallbackError::AddressRefused { refusal } => DeliveryError::Refused(refusal),
            CallbackError::InvalidUrl { problem } => DeliveryError::InvalidUrl(problem),
            _ => DeliveryError::InvalidUrl(UrlProblem::Unparseable),
        })?;
        if !valid_event_id(event_id) {
            return Err(DeliveryError::InvalidEventId);
        }
        let timestamp = (self.clock.now().millis() / 1000).to_string();
        let sig = self.identity.sign(
            CALLBACK_DOMAIN,
            &signing_message(event_id, &timestamp, body),
        );
        let signature = format!("{SIGNATURE_PREFIX}{}", hex::encode(sig));

        let resp = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(HEADER_EVENT_ID, event_id)
            .header(HEADER_TIMESTAMP, timestamp)
            .header(HEADER_SIGNATURE, signature)
            .body(body.to_vec())
            .send()
            .await
            .map_err(classify)?;
        let status = resp.status();
        // Dropping the response closes the body unread.
        drop(resp);
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(status.as_u16()))
        }
    }
}

/// The bytes signed (after [`CALLBACK_DOMAIN`]): `event_id || "\n" || timestamp || "\n" ||
/// body`.
pub fn signing_message(event_id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(event_id.len() + timestamp.len() + body.len() + 2);
    m.extend_from_slice(event_id.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m
}

/// Check a received callback: `event_id`, `timestamp` and `signature_header` are the values
/// of `Vesper-Event-Id`, `Vesper-Timestamp` and `Vesper-Signature`, `body` the raw body.
///
/// This checks the signature only. Receivers should also refuse timestamps far from their
/// clock (say more than 5 minutes) and dedup by event id.
pub fn verify_callback(
    gateway_pubkey: &[u8; 32],
    event_id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
) -> Result<(), CallbackError> {
    if !valid_event_id(event_id) {
        return Err(CallbackError::MalformedHeader {
            header: "Vesper-Event-Id",
        });
    }
    if timestamp.is_empty()
        || timestamp.len() > 20
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(CallbackError::MalformedHeader {
            header: "Vesper-Timestamp",
        });
    }
    let malformed = CallbackError::MalformedHeader {
        header: "Vesper-Signature",
    };
    let Some(sig_hex) = signature_header.trim().strip_prefix(SIGNATURE_PREFIX) else {
        return Err(malformed);
    };
    let Some(sig) = vesper_core::hex_array::<64>(sig_hex) else {
        return Err(malformed);
    };
    vesper_crypto::verify_signature(
        gateway_pubkey,
        CALLBACK_DOMAIN,
        &signing_message(event_id, timestamp, body),
        &sig,
    )
    .map_err(|_| CallbackError::BadSignature)
}

/// Event ids go into a header and into the signed message before a `\n`, so they are
/// restricted to a safe alphabet.
fn valid_event_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_EVENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Resolves with the system resolver and refuses the name if any answer is refused.
struct VettingResolver {
    policy: Arc<AddressPolicy>,
}

/// The resolver's error, found again in the reqwest error's source chain.
#[derive(Debug, thiserror::Error)]
#[error("resolved address refused")]
struct ResolveRefused(#[source] Refusal);

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let vetted = vet(&policy, addrs).map_err(ResolveRefused)?;
            Ok(Box::new(vetted.into_iter()) as Addrs)
        })
    }
}

/// All of `addrs`, or the first refusal: one bad answer condemns the name, so a mixed answer
/// (public plus internal) cannot steer the connector to the internal one.
fn vet(policy: &AddressPolicy, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refusal> {
    for a in &addrs {
        policy.check(a.ip())?;
    }
    Ok(addrs)
}

/// The redirect policy's errors, found again in the reqwest error's source chain.
#[derive(Debug, thiserror::Error)]
enum RedirectRefused {
    #[error("redirect target refused")]
    Address(#[source] Refusal),
    #[error("invalid redirect target")]
    Url(UrlProblem),
    #[error("too many redirects")]
    TooMany,
}

fn redirect_policy(policy: Arc<AddressPolicy>) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        // `previous` starts with the original URL, so its length counts the hops so far.
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(RedirectRefused::TooMany);
        }
        let next = attempt.url();
        let downgrade = next.scheme() == "http"
            && attempt
                .previous()
                .last()
                .is_some_and(|prev| prev.scheme() == "https");
        if downgrade {
            return attempt.error(RedirectRefused::Url(UrlProblem::Scheme));
        }
        match ssrf::check_url(next, &policy, ssrf::UrlUse::Redirect) {
            Ok(()) => attempt.follow(),
            Err(CallbackError::AddressRefused { refusal }) => {
                attempt.error(RedirectRefused::Address(refusal))
            }
            Err(CallbackError::InvalidUrl { problem }) => {
                attempt.error(RedirectRefused::Url(problem))
            }
            Err(_) => attempt.error(RedirectRefused::Url(UrlProblem::Unparseable)),
        }
    })
}

/// Map a reqwest error to a delivery error, recognising our own refusals in its sources.
fn classify(err: reqwest::Error) -> DeliveryError {
    let mut cause: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(c) = cause {
        if let Some(ResolveRefused(r)) = c.downcast_ref::<ResolveRefused>() {
            return DeliveryError::Refused(*r);
        }
        if let Some(r) = c.downcast_ref::<RedirectRefused>() {
            return match r {
                RedirectRefused::Address(r) => DeliveryError::Refused(*r),
                RedirectRefused::Url(p) => DeliveryError::InvalidUrl(*p),
                RedirectRefused::TooMany => DeliveryError::TooManyRedirects,
            };
        }
        cause = c.source();
    }
    if err.is_timeout() {
        DeliveryError::Timeout
    } else if err.is_builder() {
        DeliveryError::InvalidUrl(UrlProblem::Unparseable)
    } else {
        DeliveryError::Network(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    use tokio::task::JoinSet;
    use vesper_core::Timestamp;

    struct FixedClock(Timestamp);
    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            self.0
        }
    }

    const NOW_MS: u64 = 1_700_000_000_123;

    /// What a test server saw of one request.
    struct Seen {
        head: String,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim())
            })
        }
    }

    /// A tiny HTTP/1.1 server that counts accepted connections and answers every request
    /// with `reply` (or never answers, if `reply` is empty). Dropping it stops everything.
    struct Server {
        addr: SocketAddr,
        accepts: Arc<AtomicUsize>,
        seen: mpsc::Receiver<Seen>,
        _tasks: JoinSet<()>,
    }

    impl Server {
        fn url(&self, path: &str) -> Url {
            Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
        }
        fn accepts(&self) -> usize {
            self.accepts.load(Ordering::SeqCst)
        }
    }

    async fn listen(ip: &str) -> std::io::Result<TcpListener> {
        TcpListener::bind((ip.parse::<IpAddr>().unwrap(), 0)).await
    }

    fn serve(listener: TcpListener, reply: String) -> Server {
        let addr = listener.local_addr().unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let (tx, seen) = mpsc::channel(16);
        let mut tasks = JoinSet::new();
        let counter = accepts.clone();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                conns.spawn(handle(stream, reply.clone(), tx.clone()));
            }
        });
        Server {
            addr,
            accepts,
            seen,
            _tasks: tasks,
        }
    }

    async fn handle(mut stream: TcpStream, reply: String, tx: mpsc::Sender<Seen>) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        let _ = tx.try_send(Seen { head, body });
        if reply.is_empty() {
            std::future::pending::<()>().await;
        }
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    fn answer(status: &str) -> String {
        format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    }

    fn redirect_to(location: &str) -> String {
        format!(
            "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\
             connection: close\r\n\r\n"
        )
    }

    fn allow(nets: &[&str]) -> AddressPolicy {
        AddressPolicy {
            allow: nets.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    fn sender_with(
        policy: AddressPolicy,
        timeouts: DeliveryTimeouts,
    ) -> (CallbackSender, [u8; 32]) {
        let identity = Arc::new(SigningIdentity::generate());
        let pk = identity.public_key().0;
        let s = CallbackSender::new(
            identity,
            Arc::new(FixedClock(Timestamp(NOW_MS))),
            policy,
            timeouts,
        )
        .unwrap();
        (s, pk)
    }

    fn sender(policy: AddressPolicy) -> CallbackSender {
        sender_with(policy, DeliveryTimeouts::default()).0
    }

    const EVENT: &str = "evt_0123456789abcdef0123456789abcdef";
    const BODY: &[u8] = br#"{"event_id":"evt_0123456789abcdef0123456789abcdef"}"#;

    async fn deliver(s: &CallbackSender, url: &Url) -> Result<(), DeliveryError> {
        // Refusals must not wait on any network timeout.
        tokio::time::timeout(Duration::from_secs(20), s.deliver(url, EVENT, BODY))
            .await
            .expect("delivery hung")
    }

    fn assert_refused(r: Result<(), DeliveryError>, range: ssrf::RefusedRange) {
        match r {
            Err(e @ DeliveryError::Refused(refusal)) => {
                assert_eq!(refusal.range, range);
                assert!(!e.is_retryable());
                assert_eq!(e.code(), "callback_address_refused");
            }
            other => panic!("expected refusal ({range}), got {other:?}"),
        }
    }

    #[tokio::test]
    async fn refuses_loopback_literal_before_connecting() {
        let target = serve(listen("127.0.0.1").await.unwrap(), answer("200 OK"));
        let s = sender(AddressPolicy::default());
        let url = target.url("/hook");
        assert_refused(deliver(&s, &url).await, ssrf::RefusedRange::Loopback);
        assert_eq!(target.accepts(), 0);
    }

    #[tokio::test]
    async fn refuses_ipv6_loopback_literal_before_connecting() {
        let listener = match listen("::1").await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("skipping: cannot bind [::1] ({e})");
                return;
            }
        };
        let target = serve(listener, answer("200 OK"));
        let url = target.url("/");
        assert!(url.as_str().starts_with("http://[::1]:"));
        let s = sender(AddressPolicy::default());
        assert_refused(deliver(&s, &url).await, ssrf::RefusedRange::Loopback);
        assert_eq!(target.accepts(), 0);
    }

    #[tokio::test]
    async fn refuses_mapped_loopback_literal_before_connecting() {
        let target = serve(listen("127.0.0.1").await.unwrap(), answer("200 OK"));
        let url = Url::parse(&format!(
            "http://[::ffff:127.0.0.1]:{}/",
            target.addr.port()
        ))
        .unwrap();
        let s = sender(AddressPolicy::default());
        assert_refused(deliver(&s, &url).await, ssrf::RefusedRange::Loopback);
        // Even an allow-list entry for 127.0.0.2 does not let ::ffff:127.0.0.1 through.
        let s = sender(allow(&["127.0.0.2/32"]));
        assert_refused(deliver(&s, &url).await, ssrf::RefusedRange::Loopback);
        assert_eq!(target.accepts(), 0);
    }

    #[tokio::test]
    async fn refuses_metadata_and_private_literals() {
        let s = sender(AddressPolicy::default());
        for (u, range) in [
            (
                "http://169.254.169.254/latest/meta-data/",
                ssrf::RefusedRange::LinkLocal,
            ),
            ("http://10.0.0.1/", ssrf::RefusedRange::Private),
            ("http://[fd00:ec2::254]/", ssrf::RefusedRange::UniqueLocal),
            ("http://2130706433:1/", ssrf::RefusedRange::Loopback),
            ("http://0.0.0.0:1/", ssrf::RefusedRange::Unspecified),
        ] {
            let started = std::time::Instant::now();
            assert_refused(deliver(&s, &Url::parse(u).unwrap()).await, range);
            assert!(started.elapsed() < Duration::from_secs(1), "{u} was slow");
        }
    }

    #[tokio::test]
    async fn refuses_name_resolving_to_loopback_before_connecting() {
        let target = serve(listen("127.0.0.1").await.unwrap(), answer("200 OK"));
        let url = Url::parse(&format!("http://localhost:{}/", target.addr.port())).unwrap();
        let s = sender(AddressPolicy::default());
        assert_refused(deliver(&s, &url).await, ssrf::RefusedRange::Loopback);
        assert_eq!(target.accepts(), 0);
    }

    #[test]
    fn one_refused_answer_condemns_the_name() {
        let policy = AddressPolicy::default();
        let public: SocketAddr = "93.184.215.14:0".parse().unwrap();
        let inner: SocketAddr = "10.0.0.5:0".parse().unwrap();
        assert_eq!(vet(&policy, vec![public]), Ok(vec![public]));
        for mixed in [vec![public, inner], vec![inner, public]] {
            let r = vet(&policy, mixed).unwrap_err();
            assert_eq!(r.ip, inner.ip());
        }
        let mapped: SocketAddr = "[::ffff:169.254.169.254]:0".parse().unwrap();
        assert_eq!(
            vet(&policy, vec![public, mapped]).unwrap_err().range,
            ssrf::RefusedRange::LinkLocal
        );
    }

    #[tokio::test]
    async fn allowed_name_connects_through_vetting_resolver() {
        let target = serve(listen("127.0.0.1").await.unwrap(), answer("204 No Content"));
        let url = Url::parse(&format!("http://localhost:{}/", target.addr.port())).unwrap();
        let s = sender(allow(&["127.0.0.0/8", "::1/128"]));
        deliver(&s, &url).await.unwrap();
        assert_eq!(target.accepts(), 1);
    }

    /// An allowed receiver on 127.0.0.2 redirects to `location(port2)`; the second listener
    /// on 127.0.0.1 must never see a connection.
    async fn redirect_is_refused(location: impl Fn(u16) -> String) {
        let inner = serve(listen("127.0.0.1").await.unwrap(), answer("200 OK"));
        let front = serve(
            listen("127.0.0.2").await.unwrap(),
            redirect_to(&location(inner.addr.port())),
        );
        let s = sender(allow(&["127.0.0.2/32"]));
        assert_refused(
            deliver(&s, &front.url("/")).await,
            ssrf::RefusedRange::Loopback,
        );
        assert_eq!(front.accepts(), 1);
        assert_eq!(inner.accepts(), 0);
    }

    #[tokio::test]
    async fn refuses_redirect_to_loopback_literal() {
        redirect_is_refused(|port| format!("http://127.0.0.1:{port}/")).await;
    }

    #[tokio::test]
    async fn refuses_redirect_to_mapped_loopback_literal() {
        redirect_is_refused(|port| format!("http://[::ffff:127.0.0.1]:{port}/")).await;
    }

    #[tokio::test]
    async fn refuses_redirect_to_name_resolving_to_loopback() {
        redirect_is_refused(|port| format!("http://localhost:{port}/")).await;
    }

    #[tokio::test]
    async fn refuses_redirect_to_other_schemes_and_userinfo() {
        for (location, problem) in [
            ("gopher://127.0.0.2:70/", UrlProblem::Scheme),
            ("ftp://127.0.0.2/", UrlProblem::Scheme),
            ("http://user:pw@127.0.0.2/", UrlProblem::Userinfo),
        ] {
            let front = serve(listen("127.0.0.2").await.unwrap(), redirect_to(location));
            let s = sender(allow(&["127.0.0.2/32"]));
            match deliver(&s, &front.url("/")).await {
                Err(e @ DeliveryError::InvalidUrl(p)) => {
                    assert_eq!(p, problem, "{location}");
                    assert!(!e.is_retryable());
                }
                other => panic!("{location}: {other:?}"),
            }
            assert_eq!(front.accepts(), 1);
        }
        // A location that is not even an HTTP URI (no authority) is not followed at all:
        // the 302 itself is the answer, a permanent failure.
        let front = serve(
            listen("127.0.0.2").await.unwrap(),
            redirect_to("file:///etc/passwd"),
        );
        let s = sender(allow(&["127.0.0.2/32"]));
        match deliver(&s, &front.url("/")).await {
            Err(e @ DeliveryError::Status(302)) => assert!(!e.is_retryable()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn stops_after_three_redirects() {
        let listener = listen("127.0.0.2").await.unwrap();
        let own = format!("http://{}/again", listener.local_addr().unwrap());
        let looping = serve(listener, redirect_to(&own));
        let s = sender(allow(&["127.0.0.2/32"]));
        let r = deliver(&s, &looping.url("/")).await;
        assert!(matches!(r, Err(DeliveryError::TooManyRedirects)), "{r:?}");
        assert!(!r.unwrap_err().is_retryable());
        // The original request plus MAX_REDIRECTS hops.
        assert_eq!(looping.accepts(), 1 + MAX_REDIRECTS);
    }

    #[tokio::test]
    async fn follows_an_allowed_redirect() {
        let back = serve(listen("127.0.0.2").await.unwrap(), answer("200 OK"));
        let front = serve(
            listen("127.0.0.2").await.unwrap(),
            format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {}\r\ncontent-length: 0\r\n\
                 connection: close\r\n\r\n",
                back.url("/moved")
            ),
        );
        let s = sender(allow(&["127.0.0.2/32"]));
        deliver(&s, &front.url("/")).await.unwrap();
        let mut back = back;
        let seen = back.seen.recv().await.unwrap();
        assert!(seen.head.starts_with("POST /moved HTTP/1.1"));
        assert_eq!(seen.body, BODY); // 307 keeps method and body
    }

    #[tokio::test]
    async fn delivers_signed_post_to_allowed_receiver() {
        let mut rx = serve(listen("127.0.0.2").await.unwrap(), answer("200 OK"));
        let (s, pk) = sender_with(allow(&["127.0.0.2/32"]), DeliveryTimeouts::default());
        deliver(&s, &rx.url("/hooks/vesper?x=1")).await.unwrap();
        assert_eq!(rx.accepts(), 1);

        let seen = rx.seen.recv().await.unwrap();
        assert!(seen.head.starts_with("POST /hooks/vesper?x=1 HTTP/1.1\r\n"));
        assert_eq!(seen.header("content-type"), Some("application/json"));
        assert_eq!(seen.body, BODY);
        let event_id = seen.header("vesper-event-id").unwrap();
        let ts = seen.header("vesper-timestamp").unwrap();
        let sig = seen.header("vesper-signature").unwrap();
        assert_eq!(event_id, EVENT);
        assert_eq!(ts, (NOW_MS / 1000).to_string());
        assert!(sig.starts_with("ed25519=") && sig.len() == 8 + 128);
        assert!(seen.header("referer").is_none());

        verify_callback(&pk, event_id, ts, sig, &seen.body).unwrap();
        // Any change to what is signed is caught.
        let bad = |r: Result<(), CallbackError>| {
            assert!(matches!(r, Err(CallbackError::BadSignature)), "{r:?}")
        };
        bad(verify_callback(&pk, event_id, ts, sig, b"{}"));
        bad(verify_callback(
            &pk,
            event_id,
            "1700000001",
            sig,
            &seen.body,
        ));
        bad(verify_callback(&pk, "evt_other", ts, sig, &seen.body));
        let other = SigningIdentity::generate().public_key().0;
        bad(verify_callback(&other, event_id, ts, sig, &seen.body));
    }

    #[tokio::test]
    async fn classifies_receiver_statuses() {
        let s = sender(allow(&["127.0.0.2/32"]));
        for (status, want) in [
            ("200 OK", None),
            ("201 Created", None),
            ("204 No Content", None),
            ("500 Internal Server Error", Some(true)),
            ("502 Bad Gateway", Some(true)),
            ("503 Service Unavailable", Some(true)),
            ("408 Request Timeout", Some(true)),
            ("429 Too Many Requests", Some(true)),
            ("400 Bad Request", Some(false)),
            ("401 Unauthorized", Some(false)),
            ("404 Not Found", Some(false)),
            ("410 Gone", Some(false)),
            ("304 Not Modified", Some(false)),
        ] {
            let rx = serve(listen("127.0.0.2").await.unwrap(), answer(status));
            let r = deliver(&s, &rx.url("/")).await;
            match (want, r) {
                (None, Ok(())) => {}
                (Some(retryable), Err(e @ DeliveryError::Status(code))) => {
                    assert_eq!(code.to_string(), status[..3], "{status}");
                    assert_eq!(e.is_retryable(), retryable, "{status}");
                    assert_eq!(e.code(), "callback_http_status");
                }
                (want, r) => panic!("{status}: want {want:?}, got {r:?}"),
            }
        }
    }

    #[tokio::test]
    async fn connection_refused_is_retryable() {
        let port = listen("127.0.0.2")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The listener is dropped: nothing listens on the port any more.
        let url = Url::parse(&format!("http://127.0.0.2:{port}/")).unwrap();
        let s = sender(allow(&["127.0.0.2/32"]));
        match deliver(&s, &url).await {
            Err(e @ DeliveryError::Network(_)) => {
                assert!(e.is_retryable());
                assert_eq!(e.code(), "callback_network");
            }
            other => panic!("{other:?}"),
        }
    }

    /// https is built in (rustls): against a plain-HTTP listener the TLS handshake fails
    /// as a retryable network error, not as "scheme not supported".
    #[tokio::test]
    async fn https_speaks_tls() {
        // Answers plain HTTP at once, without waiting for a request.
        let listener = listen("127.0.0.2").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(answer("200 OK").as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        let url = Url::parse(&format!("https://{addr}/")).unwrap();
        let s = sender(allow(&["127.0.0.2/32"]));
        match deliver(&s, &url).await {
            Err(e @ DeliveryError::Network(_)) => {
                assert!(e.is_retryable());
                let mut chain = e.to_string();
                let mut cause = e.source();
                while let Some(c) = cause {
                    chain = format!("{chain}: {c}");
                    cause = c.source();
                }
                assert!(!chain.contains("scheme"), "{chain}");
                eprintln!("{chain}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn slow_receiver_times_out() {
        let rx = serve(listen("127.0.0.2").await.unwrap(), String::new());
        let (s, _) = sender_with(
            allow(&["127.0.0.2/32"]),
            DeliveryTimeouts {
                connect: Duration::from_millis(500),
                total: Duration::from_millis(300),
            },
        );
        let r = deliver(&s, &rx.url("/")).await;
        match r {
            Err(e @ DeliveryError::Timeout) => assert!(e.is_retryable()),
            other => panic!("{other:?}"),
        }
        assert_eq!(rx.accepts(), 1);
    }

    #[tokio::test]
    async fn rejects_bad_event_ids_and_urls_before_sending() {
        let rx = serve(listen("127.0.0.2").await.unwrap(), answer("200 OK"));
        let s = sender(allow(&["127.0.0.2/32"]));
        for id in ["", "evt\nx", "evt x", "évt", &"a".repeat(129)] {
            let r = s.deliver(&rx.url("/"), id, BODY).await;
            assert!(
                matches!(r, Err(DeliveryError::InvalidEventId)),
                "{id:?}: {r:?}"
            );
        }
        let r = deliver(&s, &Url::parse("ftp://127.0.0.2/").unwrap()).await;
        assert!(matches!(
            r,
            Err(DeliveryError::InvalidUrl(UrlProblem::Scheme))
        ));
        assert_eq!(rx.accepts(), 0);
    }

    #[test]
    fn verify_rejects_malformed_headers() {
        let id = SigningIdentity::generate();
        let pk = id.public_key().0;
        let sig = hex::encode(id.sign(CALLBACK_DOMAIN, &signing_message(EVENT, "17", BODY)));
        let header = format!("ed25519={sig}");
        verify_callback(&pk, EVENT, "17", &header, BODY).unwrap();
        let malformed = |r: Result<(), CallbackError>, h: &str| match r {
            Err(CallbackError::MalformedHeader { header }) => assert_eq!(header, h),
            other => panic!("{other:?}"),
        };
        malformed(
            verify_callback(&pk, EVENT, "17", &sig, BODY),
            "Vesper-Signature",
        );
        malformed(
            verify_callback(&pk, EVENT, "17", &format!("ed25519={}", &sig[2..]), BODY),
            "Vesper-Signature",
        );
        malformed(
            verify_callback(&pk, EVENT, "17", "ed25519=zz", BODY),
            "Vesper-Signature",
        );
        malformed(
            verify_callback(&pk, EVENT, "-17", &header, BODY),
            "Vesper-Timestamp",
        );
        malformed(
            verify_callback(&pk, EVENT, "", &header, BODY),
            "Vesper-Timestamp",
        );
        malformed(
            verify_callback(&pk, "a\nb", "17", &header, BODY),
            "Vesper-Event-Id",
        );
        let e = verify_callback(&pk, EVENT, "18", &header, BODY).unwrap_err();
        assert_eq!(e.code(), "bad_callback_signature");
    }

    /// A fixed vector for receivers in other languages (also in docs/CALLBACKS.md).
    #[test]
    fn signature_known_answer() {
        let id = SigningIdentity::from_bytes(&[7u8; 32]).unwrap();
        let body =
            br#"{"event_id":"evt_00112233445566778899aabbccddeeff","event_type":"job.completed"}"#;
        let msg = signing_message("evt_00112233445566778899aabbccddeeff", "1700000000", body);
        let sig = id.sign(CALLBACK_DOMAIN, &msg);
        let pk = id.public_key().0;
        assert_eq!(
            hex::encode(pk),
            "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
        );
        assert_eq!(
            hex::encode(sig),
            "b3160fa962ffd8a1436286e3a35c599a586a8d8c44c3f29d4a57bff83f7e495e\
             4e4e3aafb565fb3122f9ddc9cb04b78439954889f8ee768a09a200f76a3d7505"
        );
        verify_callback(
            &pk,
            "evt_00112233445566778899aabbccddeeff",
            "1700000000",
            &format!("ed25519={}", hex::encode(sig)),
            body,
        )
        .unwrap();
    }
}

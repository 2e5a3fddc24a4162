//! Callbacks end to end ([B]): signed, retried after receiver errors, one delivered event per
//! job status; SSRF refused at submit (literal addresses) and at connect time (names).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vesper::node::{DevConfig, DevNode};
use vesper_client::Client;
use vesper_crypto::X25519SecretKey;

use crate::{CAT, sealed};

#[derive(Default)]
struct Received {
    /// (event id, timestamp, signature, body, answered status)
    calls: Vec<(String, String, String, Vec<u8>, u16)>,
    /// Answer 500 to this many calls first.
    fail_first: usize,
}

/// Record one call; answer 500 to the first `fail_first`, then 200.
fn hook(r: &Mutex<Received>, headers: &HashMap<String, String>, body: Vec<u8>) -> u16 {
    let mut r = r.lock().unwrap();
    let h = |n: &str| headers.get(n).cloned().unwrap_or_default();
    let status = if r.calls.len() < r.fail_first {
        500
    } else {
        200
    };
    let entry = (
        h("vesper-event-id"),
        h("vesper-timestamp"),
        h("vesper-signature"),
        body,
        status,
    );
    r.calls.push(entry);
    status
}

/// One HTTP/1.1 request on `stream` (head, then a `Content-Length` body), answered by `hook`
/// and closed. The receiver is plain tokio: only the gateway crate speaks HTTP with axum.
async fn serve_one(mut stream: tokio::net::TcpStream, r: Arc<Mutex<Received>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
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
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[head_end..head_end + len].to_vec();
    let status = if head.starts_with("POST /hook ") {
        hook(&r, &headers, body)
    } else {
        404
    };
    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn receiver(fail_first: usize) -> (std::net::SocketAddr, Arc<Mutex<Received>>) {
    let state = Arc::new(Mutex::new(Received {
        fail_first,
        ..Default::default()
    }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let r = state.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = l.accept().await {
            tokio::spawn(serve_one(stream, r.clone()));
        }
    });
    (addr, state)
}

async fn node(allow: &[&str]) -> (DevNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = DevConfig::new(dir.path().join("data"), "127.0.0.1:0".parse().unwrap());
    cfg.workers = 2;
    cfg.gateway.callback_allow = allow.iter().map(|n| n.parse().unwrap()).collect();
    (DevNode::start(cfg).await.unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_are_signed_retried_and_delivered_once_per_event() {
    let (node, _d) = node(&["127.0.0.1/32"]).await;
    let (addr, got) = receiver(2).await;
    let client = Client::new(
        &format!("http://{}", node.addr),
        Some(node.api_key().expose().to_owned()),
    )
    .unwrap();
    let gateway_key = client.keys(None).await.unwrap().gateway_key;
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let mut req = sealed(&client, &sk, &module, b"call me back").await;
        req.callback_url = Some(format!("http://{addr}/hook"));
        let job = client.submit(&req, None).await.unwrap();
        client.result(&job.job_id, 10).await.unwrap();
        jobs.push(job.job_id);
    }
    // Wait for one acknowledged delivery per job (the first two attempts got 500s and are
    // retried after 1 s, then 2 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = got
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.4 == 200)
            .count();
        if ok >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "callbacks not delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing more arrives: delivered events are not sent again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = got.lock().unwrap().calls.clone();
    let mut by_event: HashMap<String, Vec<_>> = HashMap::new();
    for c in &calls {
        vesper_gateway::callbacks::verify_callback(&gateway_key, &c.0, &c.1, &c.2, &c.3)
            .expect("callback signature verifies with the gateway key");
        // A tampered body does not.
        let mut forged = c.3.clone();
        forged.push(b' ');
        assert!(
            vesper_gateway::callbacks::verify_callback(&gateway_key, &c.0, &c.1, &c.2, &forged)
                .is_err()
        );
        by_event.entry(c.0.clone()).or_default().push(c);
    }
    assert_eq!(by_event.len(), 3, "one event per job");
    assert_eq!(calls.len(), 5, "3 events + 2 retries: {calls:?}");
    for (id, deliveries) in &by_event {
        assert_eq!(
            deliveries.iter().filter(|c| c.4 == 200).count(),
            1,
            "{id} acknowledged once"
        );
        // Redeliveries carry the same event id and body.
        assert!(deliveries.iter().all(|c| c.3 == deliveries[0].3));
        let body: serde_json::Value = serde_json::from_slice(&deliveries[0].3).unwrap();
        assert_eq!(body["event_id"], id.as_str());
        assert_eq!(body["event_type"], "job.completed");
        assert!(jobs.contains(&body["job_id"].as_str().unwrap().to_owned()));
        // No payload or result travels in a callback.
        assert!(body.get("encrypted_result").is_none());
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf_targets_are_refused_before_connecting() {
    let (node, _d) = node(&[]).await;
    let (addr, got) = receiver(0).await;
    let base = format!("http://{}", node.addr);
    let client = Client::new(&base, Some(node.api_key().expose().to_owned())).unwrap();
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    // Literal addresses: refused at submit.
    for (url, code) in [
        (format!("http://{addr}/hook"), "callback_address_refused"),
        ("http://[::1]/hook".to_owned(), "callback_address_refused"),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "callback_address_refused",
        ),
        (
            "http://10.0.0.1/hook".to_owned(),
            "callback_address_refused",
        ),
        (
            "http://[::ffff:127.0.0.1]/hook".to_owned(),
            "callback_address_refused",
        ),
        ("file:///etc/passwd".to_owned(), "invalid_callback_url"),
        (
            "http://user:pw@example.com/".to_owned(),
            "invalid_callback_url",
        ),
    ] {
        let mut req = sealed(&client, &sk, &module, b"x").await;
        req.callback_url = Some(url.clone());
        let err = client.submit(&req, None).await.unwrap_err();
        assert_eq!(err.api_code(), Some(code), "{url}");
    }
    // A name that resolves to loopback passes submit (names are checked when connecting) and
    // is refused then: the receiver never sees a connection.
    let mut req = sealed(&client, &sk, &module, b"x").await;
    req.callback_url = Some(format!("http://localhost:{}/hook", addr.port()));
    let job = client.submit(&req, None).await.unwrap();
    client.result(&job.job_id, 10).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(got.lock().unwrap().calls.is_empty());
    node.stop().await;
}

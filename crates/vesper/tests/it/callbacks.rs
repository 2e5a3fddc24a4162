//! Callbacks end to end ([B]): signed, retried after receiver errors, one delivered event per
//! job status; SSRF refused at submit (literal addresses) and at connect time (names).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use vesper_client::Client;
use vesper_crypto::X25519SecretKey;
use vesper_node::dev::{DevConfig, DevNode};

use crate::{CAT, sealed};

#[derive(Default)]
struct Received {
    /// (event id, timestamp, signature, body, answered status)
    calls: Vec<(String, String, String, Vec<u8>, u16)>,
    /// Answer 500 to this many calls first.
    fail_first: usize,
}

async fn hook(
    State(r): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut r = r.lock().unwrap();
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let status = if r.calls.len() < r.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let entry = (
        h("vesper-event-id"),
        h("vesper-timestamp"),
        h("vesper-signature"),
        body.to_vec(),
        status.as_u16(),
    );
    r.calls.push(entry);
    status
}

async fn receiver(fail_first: usize) -> (std::net::SocketAddr, Arc<Mutex<Received>>) {
    let state = Arc::new(Mutex::new(Received {
        fail_first,
        ..Default::default()
    }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(state.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
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

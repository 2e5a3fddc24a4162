//! The gateway for real ([B]): scopes, admin routes, rate limits, quotas, batches, listing,
//! the live status stream and Prometheus metrics, against an in-process dev node.

use std::time::Duration;

use serde_json::{Value, json};
use vesper::node::{DevConfig, DevNode};
use vesper_client::Client;
use vesper_core::{Scopes, Timestamp};
use vesper_crypto::{ApiKey, X25519SecretKey};
use vesper_store::TenantSettings;

use crate::{CAT, sealed};

async fn node_with(f: impl FnOnce(&mut DevConfig)) -> (DevNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = DevConfig::new(dir.path().join("data"), "127.0.0.1:0".parse().unwrap());
    cfg.workers = 2;
    f(&mut cfg);
    (DevNode::start(cfg).await.unwrap(), dir)
}

/// A new tenant with a key of the given scopes and settings.
async fn tenant(node: &DevNode, name: &str, scopes: &str, settings: TenantSettings) -> String {
    let t = node.store.create_tenant(name, Timestamp(1)).await.unwrap();
    node.store.set_tenant_settings(t, settings).await.unwrap();
    key_for(node, t, scopes).await
}

async fn key_for(node: &DevNode, t: vesper_core::TenantId, scopes: &str) -> String {
    let key = ApiKey::generate();
    node.store
        .add_api_key(
            t,
            key.hash(),
            scopes.parse::<Scopes>().unwrap(),
            Timestamp(1),
        )
        .await
        .unwrap();
    key.expose().to_owned()
}

fn settings() -> TenantSettings {
    TenantSettings {
        weight: 1,
        ..Default::default()
    }
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(method: &str, url: String, key: &str, body: Option<Value>) -> Resp {
    let mut r = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    Resp {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.json().await.unwrap_or(Value::Null),
    }
}

fn code(r: &Resp) -> &str {
    r.body["error"]["code"].as_str().unwrap_or("<none>")
}

async fn a_submission(client: &Client) -> Value {
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    serde_json::to_value(sealed(client, &sk, &module, b"hello").await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_guard_every_route_and_admin_needs_admin() {
    let (node, _d) = node_with(|_| {}).await;
    let base = format!("http://{}", node.addr);
    let admin = node.api_key().expose().to_owned();
    let reader = tenant(&node, "reader", "read", settings()).await;
    let t_writer = node.store.find_tenant("reader").await.unwrap().unwrap();
    let writer = key_for(&node, t_writer, "submit").await;
    let dev = Client::new(&base, Some(admin.clone())).unwrap();
    let body = a_submission(&dev).await;

    // read-only: no submit, no cancel, no upload; reading works.
    let r = call(
        "POST",
        format!("{base}/api/submit"),
        &reader,
        Some(body.clone()),
    )
    .await;
    assert_eq!((r.status, code(&r)), (403, "forbidden"));
    let r = call("GET", format!("{base}/api/jobs"), &reader, None).await;
    assert_eq!(r.status, 200);
    // submit-only: submitting works, reading does not.
    let r = call(
        "POST",
        format!("{base}/api/submit"),
        &writer,
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let job = r.body["job_id"].as_str().unwrap().to_owned();
    let r = call("GET", format!("{base}/api/status/{job}"), &writer, None).await;
    assert_eq!((r.status, code(&r)), (403, "forbidden"));
    let r = call("GET", format!("{base}/api/status/{job}"), &reader, None).await;
    assert_eq!(r.status, 200);

    // Admin routes (OWASP API5): 403 without the admin scope, 200 with it.
    for key in [&reader, &writer] {
        let r = call("GET", format!("{base}/api/admin/tenants"), key, None).await;
        assert_eq!((r.status, code(&r)), (403, "forbidden"));
        let r = call(
            "POST",
            format!("{base}/api/admin/tenants/dev/disable"),
            key,
            None,
        )
        .await;
        assert_eq!(r.status, 403);
    }
    let r = call("GET", format!("{base}/api/admin/tenants"), &admin, None).await;
    assert_eq!(r.status, 200);
    let names: Vec<&str> = r.body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev", "reader"]);
    // Disabling a tenant locks out its keys (after the 5 s credential cache).
    let r = call(
        "POST",
        format!("{base}/api/admin/tenants/reader/disable"),
        &admin,
        None,
    )
    .await;
    assert_eq!((r.status, r.body["disabled"].as_bool()), (200, Some(true)));
    let r = call(
        "POST",
        format!("{base}/api/admin/tenants/nobody/disable"),
        &admin,
        None,
    )
    .await;
    assert_eq!((r.status, code(&r)), (404, "tenant_not_found"));
    tokio::time::sleep(Duration::from_millis(5_100)).await;
    let r = call("GET", format!("{base}/api/jobs"), &reader, None).await;
    assert_eq!((r.status, code(&r)), (401, "unauthorized"));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_quotas_refuse_with_clear_errors() {
    let (node, _d) = node_with(|_| {}).await;
    let base = format!("http://{}", node.addr);
    let dev = Client::new(&base, Some(node.api_key().expose().to_owned())).unwrap();
    let body = a_submission(&dev).await;

    // Rate limit: 1/s with a burst of 3.
    let limited = tenant(
        &node,
        "limited",
        "submit,read",
        TenantSettings {
            rate_per_sec: Some(1),
            burst: Some(3),
            ..settings()
        },
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = call("GET", format!("{base}/api/jobs"), &limited, None).await;
        seen.push(r.status);
        if r.status == 200 {
            assert!(r.headers.contains_key("ratelimit-limit"));
            assert!(r.headers.contains_key("ratelimit-remaining"));
        } else {
            assert_eq!(code(&r), "rate_limited");
            let after: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=2).contains(&after), "Retry-After {after}");
            assert_eq!(r.headers["ratelimit-remaining"], "0");
        }
    }
    assert_eq!(seen, [200, 200, 200, 429, 429]);

    // Quotas: queue size, payload size, fuel.
    let quota = tenant(
        &node,
        "quota",
        "submit,read",
        TenantSettings {
            max_queued: Some(2),
            max_payload_bytes: Some(4096),
            max_fuel: Some(1_000_000),
            ..settings()
        },
    )
    .await;
    let mut big = body.clone();
    big["encrypted_payload"] = json!(base64_of(&vec![0u8; 8192]));
    let r = call("POST", format!("{base}/api/submit"), &quota, Some(big)).await;
    assert_eq!((r.status, code(&r)), (413, "payload_too_large"));
    let mut fuel = body.clone();
    fuel["max_fuel"] = json!(2_000_000);
    let r = call("POST", format!("{base}/api/submit"), &quota, Some(fuel)).await;
    assert_eq!((r.status, code(&r)), (400, "invalid_max_fuel"));
    node.stop().await;
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A gateway without workers: submitted jobs stay queued.
async fn gateway_only() -> (DevNode, tempfile::TempDir) {
    node_with(|c| c.workers = 0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_quota_refuses_with_429_and_stores_nothing() {
    let (node, _d) = gateway_only().await;
    let base = format!("http://{}", node.addr);
    let dev = Client::new(&base, Some(node.api_key().expose().to_owned())).unwrap();
    let body = a_submission(&dev).await;
    let key = tenant(
        &node,
        "q",
        "submit,read",
        TenantSettings {
            max_queued: Some(2),
            ..settings()
        },
    )
    .await;
    for _ in 0..2 {
        let r = call(
            "POST",
            format!("{base}/api/submit"),
            &key,
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, 202);
    }
    let r = call(
        "POST",
        format!("{base}/api/submit"),
        &key,
        Some(body.clone()),
    )
    .await;
    assert_eq!((r.status, code(&r)), (429, "quota_exceeded"));
    assert!(r.headers.contains_key("retry-after"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_queued")
    );
    let r = call("GET", format!("{base}/api/jobs"), &key, None).await;
    assert_eq!(r.body["jobs"].as_array().unwrap().len(), 2);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_validated_whole_and_listing_pages() {
    let (node, _d) = gateway_only().await;
    let base = format!("http://{}", node.addr);
    let key = node.api_key().expose().to_owned();
    let dev = Client::new(&base, Some(key.clone())).unwrap();
    let good = a_submission(&dev).await;
    let mut bad = good.clone();
    bad["priority"] = json!(11);

    // One bad item: 400 naming its index, nothing stored.
    let batch = json!({ "jobs": [good.clone(), good.clone(), bad] });
    let r = call(
        "POST",
        format!("{base}/api/submit/batch"),
        &key,
        Some(batch),
    )
    .await;
    assert_eq!((r.status, code(&r)), (400, "invalid_priority"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("jobs[2]")
    );
    let r = call("GET", format!("{base}/api/jobs"), &key, None).await;
    assert_eq!(r.body["jobs"].as_array().unwrap().len(), 0);
    // Empty and oversized batches are refused.
    let r = call(
        "POST",
        format!("{base}/api/submit/batch"),
        &key,
        Some(json!({"jobs": []})),
    )
    .await;
    assert_eq!((r.status, code(&r)), (400, "invalid_batch"));
    let many: Vec<Value> = (0..101).map(|_| good.clone()).collect();
    let r = call(
        "POST",
        format!("{base}/api/submit/batch"),
        &key,
        Some(json!({ "jobs": many })),
    )
    .await;
    assert_eq!((r.status, code(&r)), (400, "invalid_batch"));

    // A good batch: one job id each, all queued.
    let batch = json!({ "jobs": (0..7).map(|_| good.clone()).collect::<Vec<_>>() });
    let r = call(
        "POST",
        format!("{base}/api/submit/batch"),
        &key,
        Some(batch),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let ids: Vec<String> = r.body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 7);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 7);

    // Listing: newest first, 3 per page, then filters.
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("{base}/api/jobs?limit=3"),
            Some(c) => format!("{base}/api/jobs?limit=3&cursor={c}"),
        };
        let r = call("GET", url, &key, None).await;
        assert_eq!(r.status, 200);
        for j in r.body["jobs"].as_array().unwrap() {
            listed.push(j["job_id"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    let r = call(
        "GET",
        format!("{base}/api/jobs?status=completed"),
        &key,
        None,
    )
    .await;
    assert_eq!(r.body["jobs"].as_array().unwrap().len(), 0);
    let r = call("GET", format!("{base}/api/jobs?status=bogus"), &key, None).await;
    assert_eq!((r.status, code(&r)), (400, "invalid_query"));
    let r = call("GET", format!("{base}/api/jobs?limit=1000"), &key, None).await;
    assert_eq!((r.status, code(&r)), (400, "invalid_query"));
    let r = call("GET", format!("{base}/api/jobs?cursor=zz"), &key, None).await;
    assert_eq!((r.status, code(&r)), (400, "invalid_cursor"));

    // A batch sent again with its Idempotency-Key: the same jobs, marked as a replay.
    let batch = json!({ "jobs": [good.clone(), good.clone()] });
    let send = || {
        reqwest::Client::new()
            .post(format!("{base}/api/submit/batch"))
            .bearer_auth(&key)
            .header("idempotency-key", "batch-once")
            .json(&batch)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["jobs"][1]["job_id"], again["jobs"][1]["job_id"]);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_follows_a_job_to_completion() {
    let (node, _d) = node_with(|_| {}).await;
    let base = format!("http://{}", node.addr);
    let client = Client::new(&base, Some(node.api_key().expose().to_owned())).unwrap();
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    let req = sealed(&client, &sk, &module, b"streamed").await;
    let job = client.submit(&req, None).await.unwrap();
    let mut seen = Vec::new();
    let last = tokio::time::timeout(
        Duration::from_secs(20),
        client.follow(&job.job_id, |s| seen.push(s.to_owned())),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(last, "completed");
    assert_eq!(seen.last().map(String::as_str), Some("completed"));
    // Already terminal: the stream says so at once and ends.
    let again = client.follow(&job.job_id, |_| {}).await.unwrap();
    assert_eq!(again, "completed");
    // Another tenant's job is invisible on the stream too.
    let other = tenant(&node, "other", "read", settings()).await;
    let r = call(
        "GET",
        format!("{base}/api/events?job_id={}", job.job_id),
        &other,
        None,
    )
    .await;
    assert_eq!((r.status, code(&r)), (404, "job_not_found"));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_as_jobs_flow() {
    let (node, _d) = node_with(|_| {}).await;
    let base = format!("http://{}", node.addr);
    let client = Client::new(&base, Some(node.api_key().expose().to_owned())).unwrap();
    let scrape = || async {
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    };
    let total = |s: &prometheus_parse::Scrape, name: &str| -> f64 {
        s.samples
            .iter()
            .filter(|x| x.metric == name)
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(ref h) => {
                    h.iter().map(|b| b.count).fold(0.0, f64::max)
                }
                _ => 0.0,
            })
            .sum()
    };
    let before = scrape().await;
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    let n = 5;
    for _ in 0..n {
        let req = sealed(&client, &sk, &module, b"metered").await;
        let job = client.submit(&req, None).await.unwrap();
        client.result(&job.job_id, 10).await.unwrap();
    }
    let after = scrape().await;
    // Other tests in this process share the recorder: compare deltas, at least ours.
    let delta = |name| total(&after, name) - total(&before, name);
    assert!(delta("vesper_jobs_submitted_total") >= n as f64);
    assert!(delta("vesper_jobs_completed_total") >= n as f64);
    assert!(delta("vesper_http_requests_total") >= 3.0 * n as f64);
    assert!(
        after
            .samples
            .iter()
            .any(|s| s.metric == "vesper_job_execution_duration_seconds")
    );
    assert!(
        after
            .samples
            .iter()
            .any(|s| s.metric == "vesper_queue_depth")
    );
    assert!(
        after
            .samples
            .iter()
            .any(|s| s.metric == "vesper_worker_count")
    );
    assert!(total(&after, "vesper_worker_count").max(0.0) >= 2.0);
    // Route templates, never raw ids, label the HTTP series.
    for s in &after.samples {
        if let Some(route) = s.labels.get("route") {
            assert!(
                !route.contains('-') || route.contains('{'),
                "raw path label {route}"
            );
        }
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_limit_applies_before_authentication() {
    let (node, _d) = node_with(|c| {
        c.workers = 0;
        c.gateway.limits.ip_rate_per_sec = 1;
        c.gateway.limits.ip_burst = 3;
    })
    .await;
    let base = format!("http://{}", node.addr);
    let mut seen = Vec::new();
    for _ in 0..5 {
        // No credentials at all: the address is limited before anything else is looked at.
        let r = call("GET", format!("{base}/api/jobs"), "vsk_not-a-key", None).await;
        seen.push((r.status, code(&r).to_owned()));
    }
    assert_eq!(
        seen[..3].iter().filter(|s| s.0 == 401).count(),
        3,
        "{seen:?}"
    );
    assert_eq!(seen[3], (429, "ip_rate_limited".to_owned()));
    let r = call("GET", format!("{base}/api/keys"), "", None).await;
    assert_eq!(r.status, 429);
    assert!(r.headers.contains_key("retry-after"));
    // Health checks have a bucket of their own: the flood does not fail them.
    let r = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(r.status(), 200);
    node.stop().await;
}

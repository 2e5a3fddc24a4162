//! The HTTP API against an in-process dev node: auth, tenant isolation, validation, tampering.

use serde_json::Value;
use vesper::node::{DevConfig, DevNode};
use vesper_client::Client;
use vesper_crypto::{ApiKey, X25519SecretKey};

use crate::{CAT, sealed};

async fn node() -> (DevNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = DevConfig::new(dir.path().join("data"), "127.0.0.1:0".parse().unwrap());
    cfg.workers = 2;
    cfg.gateway.max_submit_bytes = 1 << 20;
    (DevNode::start(cfg).await.unwrap(), dir)
}

fn client_for(node: &DevNode) -> Client {
    Client::new(
        &format!("http://{}", node.addr),
        Some(node.api_key().expose().to_owned()),
    )
    .unwrap()
}

async fn trusted(client: &Client) -> Vec<[u8; 32]> {
    let keys = client.keys(None).await.unwrap();
    keys.worker_keys.iter().map(|(_, k)| *k).collect()
}

async fn raw(
    method: reqwest::Method,
    url: String,
    key: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    let mut r = reqwest::Client::new().request(method, url);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(b) = body {
        r = r.header("content-type", "application/json").body(b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let v = resp.json().await.unwrap_or(Value::Null);
    (status, v)
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_isolation_and_validation() {
    let (node, _dir) = node().await;
    let base = format!("http://{}", node.addr);
    let key_a = node.api_key().expose().to_owned();
    // A second tenant with its own key.
    let t_b = node
        .store
        .create_tenant("b", vesper_core::Timestamp(1))
        .await
        .unwrap();
    let key_b = ApiKey::generate();
    node.store
        .add_api_key(
            t_b,
            key_b.hash(),
            vesper_core::Scopes::DEFAULT,
            vesper_core::Timestamp(1),
        )
        .await
        .unwrap();

    let a = Client::new(&base, Some(key_a.clone())).unwrap();
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    let req = sealed(&a, &sk, &module, b"tenant A's data").await;
    let job = a.submit(&req, None).await.unwrap();
    assert_eq!(job.status, "queued");
    a.result(&job.job_id, 10).await.unwrap();

    // Cross-tenant access is indistinguishable from a missing job.
    for path in ["status", "result"] {
        let (s, v) = raw(
            reqwest::Method::GET,
            format!("{base}/api/{path}/{}", job.job_id),
            Some(key_b.expose()),
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (404, "job_not_found"), "{path}");
    }
    let (s, _) = raw(
        reqwest::Method::DELETE,
        format!("{base}/api/jobs/{}", job.job_id),
        Some(key_b.expose()),
        None,
    )
    .await;
    assert_eq!(s, 404);

    // Missing, malformed and wrong keys.
    for key in [
        None,
        Some("nope"),
        Some("vsk_0000000000000000000000000000000000000000000000000000000000000000"),
    ] {
        let (s, v) = raw(
            reqwest::Method::GET,
            format!("{base}/api/status/{}", job.job_id),
            key,
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (401, "unauthorized"));
    }

    // Oversized body: 413 with a JSON error.
    let big = vec![b' '; 2 << 20];
    let (s, v) = raw(
        reqwest::Method::POST,
        format!("{base}/api/submit"),
        Some(&key_a),
        Some(big),
    )
    .await;
    assert_eq!((s, code(&v)), (413, "payload_too_large"));

    // Malformed envelopes: 400 with a useful message.
    let good = serde_json::to_value(&req).unwrap();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("encrypted_key", Value::from("AAAA"), "invalid_envelope"),
        ("encrypted_payload", Value::from("%%%"), "invalid_envelope"),
        ("client_pubkey", Value::from("AAAA"), "invalid_envelope"),
        (
            "workload_type",
            Value::from("gpu_mining"),
            "unknown_workload_type",
        ),
        ("key_id", Value::from("XYZ"), "invalid_key_id"),
        ("key_id", Value::from("ABCDEF0123456789"), "invalid_key_id"),
        (
            "program_id",
            Value::from("AB".repeat(32)),
            "invalid_program_id",
        ),
        ("priority", Value::from(11), "invalid_priority"),
        ("surprise", Value::from(1), "invalid_json"),
    ];
    // Well-formed but naming nothing here: 422.
    let unknown: Vec<(&str, Value, &str)> = vec![
        ("key_id", Value::from("0000000000000000"), "unknown_key_id"),
        (
            "program_id",
            Value::from("ab".repeat(32)),
            "program_not_found",
        ),
    ];
    let expected = cases
        .into_iter()
        .map(|c| (c, 400))
        .chain(unknown.into_iter().map(|c| (c, 422)));
    for ((field, value, want), status) in expected {
        let mut body = good.clone();
        body[field] = value;
        let (s, v) = raw(
            reqwest::Method::POST,
            format!("{base}/api/submit"),
            Some(&key_a),
            Some(body.to_string().into_bytes()),
        )
        .await;
        assert_eq!((s, code(&v)), (status, want), "{field}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let (s, v) = raw(
        reqwest::Method::POST,
        format!("{base}/api/submit"),
        Some(&key_a),
        Some(b"{not json".to_vec()),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "invalid_json"));
    let (s, v) = raw(
        reqwest::Method::GET,
        format!("{base}/api/status/not-a-job"),
        Some(&key_a),
        None,
    )
    .await;
    assert_eq!((s, code(&v)), (404, "job_not_found"));
    let (s, v) = raw(reqwest::Method::GET, format!("{base}/health"), None, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["worker_count"], 2);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_ciphertext_fails_cleanly_and_others_complete() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (node, _dir) = node().await;
    let client = client_for(&node);
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    let req = sealed(&client, &sk, &module, b"payload").await;

    // Flip one byte of the payload, of the encapsulated key, and swap the bound metadata.
    let mut bad_payload = req.clone();
    let mut p = b64.decode(&req.encrypted_payload).unwrap();
    p[0] ^= 1;
    bad_payload.encrypted_payload = b64.encode(&p);
    let mut bad_key = req.clone();
    let mut k = b64.decode(&req.encrypted_key).unwrap();
    k[5] ^= 1;
    bad_key.encrypted_key = b64.encode(&k);
    let mut bad_meta = req.clone();
    bad_meta.workload_type = "ai_inference".into();
    let mut other_client = req.clone();
    other_client.client_pubkey = b64.encode(X25519SecretKey::generate().public_key().as_bytes());

    for bad in [bad_payload, bad_key, bad_meta, other_client] {
        let j = client.submit(&bad, None).await.unwrap();
        let st = client.status(&j.job_id, 10).await.unwrap();
        assert_eq!(st.status, "failed");
        assert_eq!(st.error.unwrap().code, "decrypt_failed");
        // Not retried: the failure is deterministic.
        assert_eq!(st.retry_count, 0);
        let err = client.result(&j.job_id, 0).await.unwrap_err();
        assert_eq!(err.api_code(), Some("job_failed"));
    }
    let ok = client.submit(&req, None).await.unwrap();
    let (_, body) = client.result(&ok.job_id, 10).await.unwrap();
    let trusted = trusted(&client).await;
    let v = vesper_client::verify_result(&body, &trusted, Some(&sk), None).unwrap();
    assert_eq!(v.plaintext.unwrap().stdout, b"payload");
    // Another client key cannot open it.
    assert!(
        vesper_client::verify_result(&body, &trusted, Some(&X25519SecretKey::generate()), None)
            .is_err()
    );
    // An untrusted worker key set rejects the receipt.
    assert!(vesper_client::verify_result(&body, &[[9u8; 32]], None, None).is_err());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_cancel_and_priorities() {
    let (node, _dir) = node().await;
    let client = client_for(&node);
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    let req = sealed(&client, &sk, &module, b"once").await;
    let a = client.submit(&req, Some("key-1")).await.unwrap();
    let b = client.submit(&req, Some("key-1")).await.unwrap();
    assert_eq!(a.job_id, b.job_id, "a retried submit is the same job");
    let other = sealed(&client, &sk, &module, b"different").await;
    let err = client.submit(&other, Some("key-1")).await.unwrap_err();
    assert_eq!(err.api_code(), Some("idempotency_conflict"));

    // Cancel: only while queued. Stop the workers' access by filling the queue quickly.
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(client.submit(&req, None).await.unwrap().job_id);
    }
    let last = ids.last().unwrap().clone();
    match client.cancel(&last).await {
        Ok(s) => {
            assert_eq!(s.status, "cancelled");
            assert_eq!(
                client.result(&last, 0).await.unwrap_err().api_code(),
                Some("job_cancelled")
            );
        }
        Err(e) => assert_eq!(e.api_code(), Some("not_cancellable")),
    }
    client.result(&a.job_id, 10).await.unwrap();
    assert_eq!(
        client.cancel(&a.job_id).await.unwrap_err().api_code(),
        Some("not_cancellable")
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_programs_fail_typed_and_the_pool_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = DevConfig::new(dir.path().join("data"), "127.0.0.1:0".parse().unwrap());
    cfg.workers = 2;
    cfg.worker.limits = vesper_core::ExecLimits {
        fuel: 50_000_000,
        memory_bytes: 16 << 20,
        wall_ms: 2_000,
        output_bytes: 64 << 10,
        stderr_bytes: 4 << 10,
    };
    let node = DevNode::start(cfg).await.unwrap();
    let client = client_for(&node);
    let sk = X25519SecretKey::generate();
    let prelude = r#"(import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
                     (memory (export "memory") 1)"#;
    let hostile = [
        (
            "fuel_exhausted",
            r#"(func (export "_start") (loop $l (br $l)))"#,
        ),
        (
            "memory_limit",
            r#"(func (export "_start") (loop $l (drop (memory.grow (i32.const 16))) (br $l)))"#,
        ),
        ("trap", r#"(func (export "_start") unreachable)"#),
        (
            "output_too_large",
            r#"(func (export "_start") (i32.store (i32.const 4) (i32.const 65536))
                 (loop $l (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) (br $l)))"#,
        ),
    ];
    let cat = wat::parse_str(CAT).unwrap();
    for round in 0..3 {
        let mut jobs = Vec::new();
        for (want, body) in hostile {
            let m = wat::parse_str(format!("(module {prelude} {body})")).unwrap();
            let req = sealed(&client, &sk, &m, b"").await;
            jobs.push((want, client.submit(&req, None).await.unwrap().job_id));
        }
        let ok_req = sealed(
            &client,
            &sk,
            &cat,
            format!("still serving {round}").as_bytes(),
        )
        .await;
        let ok = client.submit(&ok_req, None).await.unwrap();
        for (want, id) in jobs {
            let st = client.status(&id, 20).await.unwrap();
            assert_eq!(st.status, "failed", "{want}");
            assert_eq!(st.error.unwrap().code, want);
        }
        let (_, body) = client.result(&ok.job_id, 20).await.unwrap();
        let trusted = trusted(&client).await;
        let v = vesper_client::verify_result(&body, &trusted, Some(&sk), None).unwrap();
        assert_eq!(
            v.plaintext.unwrap().stdout,
            format!("still serving {round}").as_bytes()
        );
    }
    node.stop().await;
}

/// A secret program: the module travels inside the encrypted payload and is never registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_secret_program_runs_and_stays_unregistered() {
    let (node, _dir) = node().await;
    let client = client_for(&node);
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    let keys = client.keys(None).await.unwrap();
    let req = vesper_client::seal_job(
        &keys.pool_keys[0].1,
        &sk.public_key(),
        vesper_core::WorkloadType::General,
        vesper_client::Program::Inline(module.clone()),
        b"secret program input".to_vec(),
        Some(7),
    )
    .unwrap();
    assert!(req.request.program_id.is_none());
    let job = client.submit(&req.request, None).await.unwrap();
    let (_, body) = client.result(&job.job_id, 20).await.unwrap();
    let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
    // The client knows the secret program's id (the gateway does not) and checks it.
    let facts = req.facts(job.job_id.parse().unwrap());
    let v = vesper_client::verify_result(&body, &trusted, Some(&sk), Some(&facts)).unwrap();
    assert!(v.unchecked.is_empty());
    assert_eq!(v.plaintext.unwrap().stdout, b"secret program input");
    // The receipt names the module that ran; the registry never saw it.
    let pid = vesper_core::ProgramId::of_module(&module);
    assert_eq!(v.receipt.program_id, pid);
    assert!(!node.store.has_program(pid).await.unwrap());
    node.stop().await;
}

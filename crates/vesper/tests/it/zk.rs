//! The proof gateway's privacy: a canary planted in a prove request's private inputs, sent
//! sealed by the client (the recommended form) and in plaintext (the seed's `POST /api/prove`),
//! appears nowhere outside the client and the worker: not in the store's files, not in logs at
//! trace level, not in metrics or listings. Both proofs are made and verify.

use serde_json::json;
use vesper_client::{Program, seal_job, verify_result};
use vesper_core::{ProgramId, WorkloadType};
use vesper_crypto::X25519SecretKey;

use crate::privacy::{assert_marker_absent, walk};
use crate::{DevProcess, free_addr};

#[test]
fn zk_canary_never_leaves_client_and_worker() {
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let mut dev = DevProcess::start(
        &data,
        free_addr(),
        &[
            "--workers",
            "1",
            "--log-dir",
            logs.to_str().unwrap(),
            "--log-json",
        ],
        "trace",
    );
    let marker = format!("CANARY-{}", vesper_core::JobId::new_random());
    let dsl = json!({
        "use_case": "member_name", "version": "1",
        "private_inputs": {"member": {"name": {"type": "string"}, "age": {"type": "integer", "min": 0, "max": 150}}},
        "public_params": {"min_age": {"type": "integer", "min": 0, "max": 150}},
        "validation_rules": [
            {"name": "named", "check": {"neq": [{"ref": "private_inputs.member.name"}, {"string": "nobody"}]}},
            {"name": "adult", "check": {"gte": [{"ref": "private_inputs.member.age"}, {"ref": "public_params.min_age"}]}}
        ]
    });
    let request = json!({"private_inputs": {"member": {"name": marker, "age": 40}}, "public_params": {"min_age": 18}});
    rt.block_on(async {
        let http = reqwest::Client::new();
        let post = |path: &str, body: serde_json::Value| {
            http.post(format!("{}{path}", dev.url())).bearer_auth(dev.api_key()).json(&body).send()
        };
        let deployed: serde_json::Value = post("/api/deploy", json!({"dsl": dsl, "customer_id": "canary"})).await.unwrap().json().await.unwrap();
        let image: ProgramId = deployed["image_id"].as_str().unwrap().parse().unwrap();

        // Sealed: the client seals the request as a zk_proof job and opens the result itself.
        let client = dev.client();
        let keys = client.keys(None).await.unwrap();
        let sk = X25519SecretKey::generate();
        let sealed = seal_job(&keys.pool_keys[0].1, &sk.public_key(), WorkloadType::ZkProof, Program::Registered(image), serde_json::to_vec(&request).unwrap(), None).unwrap();
        let job = client.submit(&sealed.request, None).await.unwrap();
        let (_, body) = client.result(&job.job_id, 60).await.unwrap();
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        let v = verify_result(&body, &trusted, Some(&sk), Some(&sealed.facts(job.job_id.parse().unwrap()))).unwrap();
        let out: serde_json::Value = serde_json::from_slice(&v.plaintext.unwrap().stdout).unwrap();
        assert_eq!(out["success"], true, "{out}");
        assert_eq!(v.receipt.program_id, image, "the receipt names the image id");

        // The proof verifies at the gateway.
        let r: serde_json::Value = post("/api/verify", json!({"image_id": image.to_string(), "proof": out["proof"], "public_inputs": out["public_inputs"]})).await.unwrap().json().await.unwrap();
        assert_eq!(r["valid"], true, "{r}");

        // Plaintext, the seed's form: the gateway seals it on arrival.
        let r: serde_json::Value = post("/api/prove", json!({"customer_id": "canary", "private_inputs": request["private_inputs"], "public_params": request["public_params"]})).await.unwrap().json().await.unwrap();
        assert_eq!(r["success"], true, "{r}");

        for path in ["/metrics", "/api/jobs?limit=100", "/api/deployments/canary", "/api/metrics/series"] {
            let text = http.get(format!("{}{path}", dev.url())).bearer_auth(dev.api_key()).send().await.unwrap().text().await.unwrap();
            assert!(text.len() > 10 && !text.contains(&marker), "{path}");
        }
    });
    dev.interrupt();
    let files: Vec<_> = walk(&data)
        .into_iter()
        .chain(walk(&logs))
        .chain([dev.log.clone()])
        .collect();
    assert!(files.iter().any(|f| f.ends_with("worker.log")));
    let scanned = assert_marker_absent(&files, &marker);
    assert!(scanned > 10_000, "scanned {scanned} bytes");
}

/// The CLI against a gateway: `vesper zk deploy`, then `vesper zk prove --customer-id`, sealed
/// (the result opened and its receipt checked by the CLI) and in plaintext.
#[test]
fn the_cli_deploys_and_proves_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dev = DevProcess::start(&data, free_addr(), &["--workers", "1"], "info");
    let key_file = data.join("dev-api-key");
    let template = format!(
        "{}/../../templates/age_verification.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(crate::BIN)
            .args(args)
            .arg("--gateway")
            .arg(dev.url())
            .arg("--api-key-file")
            .arg(&key_file)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["zk", "deploy", &template, "--customer-id", "cli-age"]);
    assert_eq!(code, Some(0), "{err}");
    let deployed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let identity = dir.path().join("client.key");
    crate::run_ok(
        std::process::Command::new(crate::BIN)
            .args(["keygen", "--out"])
            .arg(&identity),
    );
    let req = dir.path().join("req.json");
    std::fs::write(&req, r#"{"private_inputs": {"user_data": {"date_of_birth": "1990-01-01"}}, "public_params": {"min_age": 18}}"#).unwrap();
    let (code, out, err) = cli(&[
        "zk",
        "prove",
        "--customer-id",
        "cli-age",
        "--input",
        req.to_str().unwrap(),
        "--identity",
        identity.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("receipt verified"), "{err}");
    let proved: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (proved["success"].clone(), proved["image_id"].clone()),
        (json!(true), deployed["image_id"].clone())
    );
    // In plaintext, and a violating request: exit 1 naming the rule.
    std::fs::write(&req, r#"{"private_inputs": {"user_data": {"date_of_birth": "2015-01-01"}}, "public_params": {"min_age": 18}}"#).unwrap();
    let (code, out, _) = cli(&[
        "zk",
        "prove",
        "--customer-id",
        "cli-age",
        "--plaintext",
        "--input",
        req.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    let refused: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(refused["failed_rule"], "old_enough");
}

/// The payment check with prepaid credits, preloading (`POST /api/load-program`) and the
/// provers' status (`GET /api/status`), end to end: a proof is refused unpaid (402), paid from
/// credits an operator grants, charged when it ran (whether its rules held or not); sealed
/// `zk_proof` submissions pay too; the status lists only the caller's programs.
#[test]
fn proofs_are_paid_from_prepaid_credits_and_programs_preload() {
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start_with_env(
        &dir.path().join("data"),
        free_addr(),
        &["--workers", "1"],
        "info",
        &["VESPER_GATEWAY_PROOF_PRICE=2".into()],
    );
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../templates/age_verification.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let adult = json!({"customer_id": "paid-age", "private_inputs": {"user_data": {"date_of_birth": "1990-01-01"}}, "public_params": {"min_age": 18}});
    let child = json!({"customer_id": "paid-age", "private_inputs": {"user_data": {"date_of_birth": "2015-01-01"}}, "public_params": {"min_age": 18}});
    rt.block_on(async {
        let http = reqwest::Client::new();
        let url = dev.url();
        let call =
            |method: reqwest::Method, path: &str, key: &str, body: Option<serde_json::Value>| {
                let mut r = http
                    .request(method, format!("{url}{path}"))
                    .bearer_auth(key);
                if let Some(b) = body {
                    r = r.json(&b);
                }
                async move {
                    let r = r.send().await.unwrap();
                    let status = r.status().as_u16();
                    (
                        status,
                        r.json::<serde_json::Value>().await.unwrap_or_default(),
                    )
                }
            };
        let key = dev.api_key();
        let (s, d) = call(
            reqwest::Method::POST,
            "/api/deploy",
            &key,
            Some(json!({"dsl": template, "customer_id": "paid-age"})),
        )
        .await;
        assert_eq!(s, 201, "{d}");
        let image = d["image_id"].as_str().unwrap().to_owned();

        // Unpaid: refused before anything is queued.
        let (s, e) = call(
            reqwest::Method::POST,
            "/api/prove",
            &key,
            Some(adult.clone()),
        )
        .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (402, Some("payment_required")),
            "{e}"
        );
        let (s, e) = call(
            reqwest::Method::POST,
            "/api/admin/tenants/dev/credits",
            &key,
            Some(json!({"amount": 0})),
        )
        .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (400, Some("invalid_amount"))
        );
        let (s, c) = call(
            reqwest::Method::POST,
            "/api/admin/tenants/dev/credits",
            &key,
            Some(json!({"amount": 5})),
        )
        .await;
        assert_eq!(
            (s, c["balance"].as_u64(), c["proof_price"].as_u64()),
            (200, Some(5), Some(2)),
            "{c}"
        );

        // Preload, then wait for the worker process to report it.
        let (s, l) = call(
            reqwest::Method::POST,
            "/api/load-program",
            &key,
            Some(json!({"customer_id": "paid-age"})),
        )
        .await;
        assert_eq!(
            (s, l["image_id"].as_str()),
            (202, Some(image.as_str())),
            "{l}"
        );
        let (s, _) = call(
            reqwest::Method::POST,
            "/api/load-program",
            &key,
            Some(json!({"customer_id": "nope"})),
        )
        .await;
        assert_eq!(s, 404);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            let (s, st) = call(reqwest::Method::GET, "/api/status", &key, None).await;
            assert_eq!(s, 200);
            if st["loaded_programs"] == 1 {
                break st;
            }
            assert!(std::time::Instant::now() < deadline, "never loaded: {st}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        assert_eq!(status["status"], "ok");
        assert_eq!(status["provers"], 1);
        assert_eq!(status["programs"][0]["image_id"], image.as_str());
        assert_eq!(status["programs"][0]["customer_id"], "paid-age");
        assert_eq!(
            (status["proof_price"].as_u64(), status["credits"].as_u64()),
            (Some(2), Some(5))
        );

        // Paid proofs: a satisfying one and a violating one are both charged (both ran).
        let (s, p) = call(
            reqwest::Method::POST,
            "/api/prove",
            &key,
            Some(adult.clone()),
        )
        .await;
        assert_eq!((s, p["success"].as_bool()), (200, Some(true)), "{p}");
        let (s, p) = call(
            reqwest::Method::POST,
            "/api/prove",
            &key,
            Some(child.clone()),
        )
        .await;
        assert_eq!(
            (s, p["failed_rule"].as_str()),
            (200, Some("old_enough")),
            "{p}"
        );
        let (_, st) = call(reqwest::Method::GET, "/api/status", &key, None).await;
        assert_eq!(st["credits"], 1);
        let (s, _) = call(
            reqwest::Method::POST,
            "/api/prove",
            &key,
            Some(adult.clone()),
        )
        .await;
        assert_eq!(s, 402, "1 credit does not pay for a proof of 2");
        // A sealed zk_proof job pays too.
        let client = dev.client();
        let keys = client.keys(None).await.unwrap();
        let sk = X25519SecretKey::generate();
        let sealed = seal_job(
            &keys.pool_keys[0].1,
            &sk.public_key(),
            WorkloadType::ZkProof,
            Program::Registered(image.parse().unwrap()),
            serde_json::to_vec(&adult).unwrap(),
            None,
        )
        .unwrap();
        let (s, e) = (async {
            let r = http
                .post(format!("{url}/api/submit"))
                .bearer_auth(&key)
                .json(&sealed.request)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        })
        .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (402, Some("payment_required")),
            "{e}"
        );
        let (_, st) = call(reqwest::Method::GET, "/api/status", &key, None).await;
        assert_eq!(st["credits"], 1, "refusals take nothing");

        // Idempotent retries never pay twice, nor get 402 for a job that exists.
        let submit = |body: serde_json::Value, path: &'static str, idem: &'static str| {
            let r = http
                .post(format!("{url}{path}"))
                .bearer_auth(&key)
                .header("Idempotency-Key", idem)
                .json(&body);
            async move {
                let r = r.send().await.unwrap();
                let replayed = r.headers().get("idempotent-replayed").is_some();
                (
                    r.status().as_u16(),
                    replayed,
                    r.json::<serde_json::Value>().await.unwrap(),
                )
            }
        };
        let sealed_req = || {
            let sealed = seal_job(
                &keys.pool_keys[0].1,
                &sk.public_key(),
                WorkloadType::ZkProof,
                Program::Registered(image.parse().unwrap()),
                serde_json::to_vec(&adult).unwrap(),
                None,
            )
            .unwrap();
            serde_json::to_value(&sealed.request).unwrap()
        };
        call(
            reqwest::Method::POST,
            "/api/admin/tenants/dev/credits",
            &key,
            Some(json!({"amount": 3})),
        )
        .await;
        let (one, two) = (sealed_req(), sealed_req());
        let (s, r, _) = submit(one.clone(), "/api/submit", "k1").await;
        assert_eq!((s, r), (202, false));
        let (s, r, _) = submit(two, "/api/submit", "k2").await;
        assert_eq!((s, r), (202, false));
        let (_, st) = call(reqwest::Method::GET, "/api/status", &key, None).await;
        assert_eq!(st["credits"], 0, "{st}");
        let (s, r, e) = submit(one, "/api/submit", "k1").await;
        assert_eq!(
            (s, r),
            (202, true),
            "a replay at a zero balance is a replay: {e}"
        );
        // A batch repeated with one item more pays for that item alone.
        let (x, y) = (sealed_req(), sealed_req());
        call(
            reqwest::Method::POST,
            "/api/admin/tenants/dev/credits",
            &key,
            Some(json!({"amount": 2})),
        )
        .await;
        let (s, _, e) = submit(json!({"jobs": [x.clone()]}), "/api/submit/batch", "b").await;
        assert_eq!(s, 202, "{e}");
        let (s, _, e) = submit(
            json!({"jobs": [x.clone(), y.clone()]}),
            "/api/submit/batch",
            "b",
        )
        .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (402, Some("payment_required")),
            "{e}"
        );
        call(
            reqwest::Method::POST,
            "/api/admin/tenants/dev/credits",
            &key,
            Some(json!({"amount": 2})),
        )
        .await;
        let (s, _, e) = submit(json!({"jobs": [x, y]}), "/api/submit/batch", "b").await;
        assert_eq!(s, 202, "{e}");
        let (_, st) = call(reqwest::Method::GET, "/api/status", &key, None).await;
        assert_eq!(
            st["credits"], 0,
            "the new item stays paid, the replayed one is not paid twice: {st}"
        );

        // Another tenant sees none of it, and cannot preload it.
        let (s, _) = call(
            reqwest::Method::POST,
            "/api/admin/tenants",
            &key,
            Some(json!({"name": "other"})),
        )
        .await;
        assert_eq!(s, 201);
        let (s, k) = call(
            reqwest::Method::POST,
            "/api/admin/tenants/other/keys",
            &key,
            Some(json!({})),
        )
        .await;
        assert_eq!(s, 201, "{k}");
        let other = k["key"].as_str().unwrap().to_owned();
        let (_, st) = call(reqwest::Method::GET, "/api/status", &other, None).await;
        assert_eq!(
            (st["loaded_programs"].as_u64(), st["credits"].as_u64()),
            (Some(0), Some(0)),
            "{st}"
        );
        let (s, _) = call(
            reqwest::Method::POST,
            "/api/load-program",
            &other,
            Some(json!({"customer_id": "paid-age"})),
        )
        .await;
        assert_eq!(s, 404);
    });
}

//! Remote workers over libp2p, on loopback: a real `vesper dev` (gateway and key custodian, no
//! in-process workers) and real `vesper worker --connect` processes. The multi-host version
//! (network namespaces, link cuts, mDNS) is `tests/netns/run.sh`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use vesper_client::{Client, verify_result};
use vesper_crypto::{KeyKind, X25519SecretKey, read_key_file};

use crate::scale::{SPIN_ECHO, spin_input};
use crate::{BIN, CAT, DevProcess, free_addr, sealed};

/// Create (or read) the identity under `home`; its PeerId.
pub fn peer_id(home: &Path) -> String {
    crate::run_ok(Command::new(BIN).arg("id").arg("--home").arg(home))
        .trim()
        .to_owned()
}

/// `vesper peers add PEER --home HOME`.
pub fn trust(home: &Path, peer: &str) {
    crate::run_ok(
        Command::new(BIN)
            .args(["peers", "add", peer, "--home"])
            .arg(home),
    );
}

/// A `vesper worker --connect` process.
pub struct RemoteWorker {
    child: Child,
    pub log: PathBuf,
}

impl RemoteWorker {
    pub fn start(home: &Path, connect: &str, workers: u32) -> RemoteWorker {
        let log = home.with_extension("log");
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(["worker", "--connect", connect, "--workers"])
            .arg(workers.to_string())
            .arg("--home")
            .arg(home)
            .env("VESPER_LOG", "info")
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        RemoteWorker { child, log }
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RemoteWorker {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn wait_for(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Every way `secret` could show up in a log of hex-encoded JSON frames: raw, hex, and (at each
/// of the three base64 alignments) the stable middle of its base64, raw and hex.
fn encodings(secret: &[u8]) -> Vec<String> {
    let mut v = vec![
        String::from_utf8_lossy(secret).into_owned(),
        hex::encode(secret),
    ];
    for pad in 0..3 {
        let mut b = vec![0u8; pad];
        b.extend_from_slice(secret);
        let s = base64::engine::general_purpose::STANDARD.encode(&b);
        let mid = &s[4..s.len() - 4];
        v.push(mid.to_owned());
        v.push(hex::encode(mid));
    }
    v
}

#[test]
fn remote_workers_serve_only_after_mutual_trust_and_the_gateway_relays_only_ciphertext() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let (gw_home, a_home, b_home) = (
        dir.path().join("gw-home"),
        dir.path().join("a-home"),
        dir.path().join("b-home"),
    );
    let gw_id = peer_id(&gw_home);
    let a_id = peer_id(&a_home);
    let b_id = peer_id(&b_home);
    // Both workers trust the gateway; the gateway trusts only A for now.
    trust(&a_home, &gw_id);
    trust(&b_home, &gw_id);
    trust(&gw_home, &a_id);

    let port = free_addr().port();
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let data = dir.path().join("gw");
    let gw = DevProcess::start(
        &data,
        free_addr(),
        &[
            "--workers",
            "0",
            "--p2p-listen",
            &listen,
            "--home",
            gw_home.to_str().unwrap(),
            "--lease-ms",
            "3000",
        ],
        // Every frame the gateway receives or sends, in full.
        "info,vesper::wire=trace",
    );
    let connect = format!("{listen}/p2p/{gw_id}");
    let a = RemoteWorker::start(&a_home, &connect, 2);
    let b = RemoteWorker::start(&b_home, &connect, 2);
    let gw_log = || std::fs::read_to_string(&gw.log).unwrap_or_default();

    wait_for(Duration::from_secs(30), "worker A's pool keys", || {
        a.log_text().contains("pool keys received")
    });
    wait_for(Duration::from_secs(30), "the gateway to refuse B", || {
        gw_log()
            .lines()
            .any(|l| l.contains("refused untrusted peer") && l.contains(&b_id))
    });

    let client_sk = X25519SecretKey::generate();
    let canary = format!("canary-{}", hex::encode(rand::random::<[u8; 8]>()));
    let client: Client = gw.client();
    let mut payload_probe = String::new();
    rt.block_on(async {
        // Ten jobs: all run by A, the only trusted worker.
        let mut jobs = Vec::new();
        for i in 0..10 {
            let input = format!("{canary}-{i}");
            let req = sealed(
                &client,
                &client_sk,
                &wat::parse_str(CAT).unwrap(),
                input.as_bytes(),
            )
            .await;
            if i == 0 {
                let ct = base64::engine::general_purpose::STANDARD
                    .decode(&req.encrypted_payload)
                    .unwrap();
                payload_probe =
                    hex::encode(&base64::engine::general_purpose::STANDARD.encode(&ct)[..40]);
            }
            jobs.push((client.submit(&req, None).await.unwrap().job_id, input));
        }
        let keys = client.keys(None).await.unwrap();
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        for (job, input) in &jobs {
            let (_, body) = client.result(job, 30).await.unwrap();
            let v = verify_result(&body, &trusted, Some(&client_sk), None).unwrap();
            assert_eq!(v.plaintext.unwrap().stdout, input.as_bytes());
            // The receipt names the node and is signed with its own identity key.
            assert_eq!(v.receipt.worker_id, a_id);
        }
        let w = client.workers().await.unwrap();
        let list = w["workers"].as_array().unwrap();
        let ids: Vec<&str> = list.iter().map(|w| w["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&a_id.as_str()), "{w}");
        assert!(
            !ids.contains(&b_id.as_str()),
            "an untrusted worker is listed: {w}"
        );
        let wa = list.iter().find(|w| w["id"] == a_id.as_str()).unwrap();
        assert_eq!(wa["kind"], "remote");
        // Its display name comes from its PeerId; what it calls itself is shown as declared.
        assert_eq!(wa["name"], format!("peer-{}", &a_id[a_id.len() - 8..]));
        assert!(
            wa["declared_name"].as_str().is_some_and(|n| !n.is_empty()),
            "{wa}"
        );
        assert_eq!(wa["connected"], true);
        assert_eq!(wa["key_granted"], true);
        assert!(wa["completed"].as_u64().unwrap() >= 10, "{wa}");
        assert!(wa["reputation"].as_f64().unwrap() > 0.5, "{wa}");
        assert_eq!(wa["executors"][0], "wasm");
        assert!(
            wa["ms_per_job"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{wa}"
        );
    });
    // B was refused before any application protocol: no keys, no hello, logged once although it
    // kept redialling.
    assert!(!b.log_text().contains("pool keys received"));
    assert!(
        !gw_log()
            .lines()
            .any(|l| l.contains("said hello") && l.contains(&b_id))
    );
    let refusals = gw_log()
        .lines()
        .filter(|l| l.contains("refused untrusted peer") && l.contains(&b_id))
        .count();
    assert_eq!(refusals, 1, "a refused peer is logged once");
    // No Kademlia bootstrap is attempted with an empty routing table (docs/NETWORK.md), by
    // the gateway or by the workers.
    for log in [gw_log(), a.log_text(), b.log_text()] {
        assert!(!log.contains("Failed to trigger bootstrap"), "{log}");
    }

    // The operator trusts B: it gets the keys (sealed to it) without any restart.
    trust(&gw_home, &b_id);
    wait_for(Duration::from_secs(30), "worker B's pool keys", || {
        b.log_text().contains("pool keys received")
    });

    // Long jobs in flight on A, then A dies: its leases are expired on disconnect and B
    // finishes every job, each exactly once.
    let mut a = a;
    rt.block_on(async {
        let module = wat::parse_str(SPIN_ECHO).unwrap();
        let mut jobs = Vec::new();
        for i in 0..8 {
            let input = spin_input(3000, &format!("{canary}-spin-{i}"));
            let req = sealed(&client, &client_sk, &module, &input).await;
            jobs.push((client.submit(&req, None).await.unwrap().job_id, input));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let w = client.workers().await.unwrap();
            let busy = w["workers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["id"] == a_id.as_str() && w["active_leases"].as_u64().unwrap() > 0);
            if busy {
                break;
            }
            assert!(Instant::now() < deadline, "A never took a job");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        a.kill9();
        let keys = client.keys(None).await.unwrap();
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        for (job, input) in &jobs {
            let (_, body) = client.result(job, 60).await.unwrap();
            let v = verify_result(&body, &trusted, Some(&client_sk), None).unwrap();
            assert_eq!(v.plaintext.unwrap().stdout, *input);
            let st = client.status(job, 0).await.unwrap();
            assert_eq!(st.status, "completed");
        }
        let w = client.workers().await.unwrap();
        let wa = w["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == a_id.as_str())
            .cloned()
            .unwrap();
        assert_eq!(wa["connected"], false, "{wa}");
        assert!(wa["expired"].as_u64().unwrap() >= 1, "{wa}");
    });
    assert!(
        gw_log().contains("remote worker disconnected; its leases expired"),
        "the gateway did not expire the dead worker's leases"
    );

    // What crossed the gateway: the wire trace holds every frame, and the sealed payload is
    // there (so the trace is not empty); the canary and the pool secret are not, in any
    // encoding; nor are they in the store's files or the workers' logs.
    let log = gw_log();
    assert!(log.contains("vesper::wire"), "no wire trace");
    assert!(
        log.contains(&payload_probe),
        "the wire trace lacks the sealed payload"
    );
    let pool_secret = read_key_file(&data.join("keys/pool.x25519"), KeyKind::X25519Secret).unwrap();
    let mut haystacks = vec![("gateway log".to_owned(), log.into_bytes())];
    haystacks.push(("worker B log".into(), b.log_text().into_bytes()));
    haystacks.push(("worker A log".into(), a.log_text().into_bytes()));
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            haystacks.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    for (what, hay) in &haystacks {
        for needle in encodings(canary.as_bytes())
            .iter()
            .chain(&encodings(&pool_secret))
        {
            assert!(
                !hay.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} found in {what}"
            );
        }
    }
}

/// A `vesper gateway` over Redis holds no pool keys. Its remote worker waits until the
/// operator, where the keys are, runs `vesper pool grant`: only for workers the operator's own
/// trust list names, sealed to the worker, relayed by the gateway.
#[test]
fn an_operator_grants_pool_keys_to_the_remote_worker_of_a_keyless_gateway() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let c = crate::scale::Cluster::new();
    // A store worker publishes the pool's public key (a gateway waits for one), then leaves:
    // from then on only the remote worker can run jobs.
    let mut store_worker = c.worker("store-worker", &["--workers", "1"]);
    let (gw_home, r_home, op_home) = (c.path("gw-home"), c.path("r-home"), c.path("op-home"));
    let gw_id = peer_id(&gw_home);
    let r_id = peer_id(&r_home);
    trust(&r_home, &gw_id);
    trust(&gw_home, &r_id);
    let listen = format!("/ip4/127.0.0.1/tcp/{}", free_addr().port());
    let gw = c.gateway(
        "gw",
        &["--p2p-listen", &listen, "--home", gw_home.to_str().unwrap()],
    );
    store_worker.kill9();
    assert!(
        gw.log_text().contains("holds no pool keys"),
        "{}",
        gw.log_text()
    );
    let r = RemoteWorker::start(&r_home, &format!("{listen}/p2p/{gw_id}"), 1);
    wait_for(
        Duration::from_secs(30),
        "the remote worker to ask for keys",
        || r.log_text().contains("waiting for the pool keys"),
    );

    let key = gw.bootstrap_key().expect("the gateway's bootstrap key");
    let grant = || {
        crate::run_ok(
            Command::new(BIN)
                .args(["pool", "grant", "--gateway", &gw.url(), "--pool-key"])
                .arg(&c.pool_key)
                .arg("--home")
                .arg(&op_home)
                .env("VESPER_API_KEY", &key),
        )
    };
    // The operator does not trust the worker yet: nothing is sealed for it.
    let out = grant();
    assert!(out.contains(&format!("skipped {r_id}")), "{out}");
    assert!(out.contains("1 waiting, 0 granted"), "{out}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!r.log_text().contains("pool keys received"));

    trust(&op_home, &r_id);
    let out = grant();
    assert!(out.contains(&format!("granted {r_id}")), "{out}");
    wait_for(Duration::from_secs(30), "the remote worker's keys", || {
        r.log_text().contains("pool keys received")
    });

    rt.block_on(async {
        let client = Client::new(&gw.url(), Some(key.clone())).unwrap();
        let module = wat::parse_str(CAT).unwrap();
        let req = sealed(&client, &c.client_sk, &module, b"granted by the operator").await;
        let job = client.submit(&req, None).await.unwrap().job_id;
        let (_, body) = client.result(&job, 30).await.unwrap();
        let keys = client.keys(None).await.unwrap();
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        let v = verify_result(&body, &trusted, Some(&c.client_sk), None).unwrap();
        assert_eq!(v.plaintext.unwrap().stdout, b"granted by the operator");
        assert_eq!(v.receipt.worker_id, r_id);
    });
    // The pool secret never reached the gateway's log.
    let secret = read_key_file(&c.pool_key, KeyKind::X25519Secret).unwrap();
    let log = gw.log_text();
    for needle in encodings(&secret) {
        assert!(!log.contains(&needle), "pool secret in the gateway log");
    }
}

/// A proof job on a remote worker: the gateway has no in-process worker, so the one remote
/// worker fetches the deployment's program and proving key over `/vesper/jobs/1`
/// (`zk_program_request`), recomputes the image id, and proves. The proof verifies; a request
/// that breaks the rule is answered `success: false`, naming it.
#[test]
fn a_remote_worker_proves_with_the_program_it_fetches_from_the_gateway() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let (gw_home, w_home) = (dir.path().join("gw-home"), dir.path().join("w-home"));
    let gw_id = peer_id(&gw_home);
    let w_id = peer_id(&w_home);
    trust(&w_home, &gw_id);
    trust(&gw_home, &w_id);
    let listen = format!("/ip4/127.0.0.1/tcp/{}", free_addr().port());
    let gw = DevProcess::start(
        &dir.path().join("gw"),
        free_addr(),
        &[
            "--workers",
            "0",
            "--p2p-listen",
            &listen,
            "--home",
            gw_home.to_str().unwrap(),
        ],
        "info",
    );
    let w = RemoteWorker::start(&w_home, &format!("{listen}/p2p/{gw_id}"), 1);
    wait_for(Duration::from_secs(30), "the worker's pool keys", || {
        w.log_text().contains("pool keys received")
    });
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../templates/age_verification.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let post = |path: &str, body: serde_json::Value| {
            http.post(format!("{}{path}", gw.url()))
                .bearer_auth(gw.api_key())
                .json(&body)
                .send()
        };
        let json = |r: reqwest::Response| async move {
            let status = r.status();
            let v: serde_json::Value = r.json().await.unwrap();
            assert!(status.is_success(), "{status} {v}");
            v
        };
        let deployed = json(
            post(
                "/api/deploy",
                serde_json::json!({"dsl": template, "customer_id": "remote-age"}),
            )
            .await
            .unwrap(),
        )
        .await;
        let image = deployed["image_id"].as_str().unwrap().to_owned();

        let proved = json(
            post(
                "/api/prove",
                serde_json::json!({
                    "customer_id": "remote-age",
                    "private_inputs": {"user_data": {"date_of_birth": "1990-01-01"}},
                    "public_params": {"min_age": 18},
                }),
            )
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(proved["success"], true, "{proved}");
        assert_eq!(proved["image_id"], image.as_str());
        let verified = json(
            post(
                "/api/verify",
                serde_json::json!({
                    "image_id": image,
                    "proof": proved["proof"],
                    "public_inputs": proved["public_inputs"],
                }),
            )
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(verified["valid"], true, "{verified}");

        let refused = json(
            post(
                "/api/prove",
                serde_json::json!({
                    "customer_id": "remote-age",
                    "private_inputs": {"user_data": {"date_of_birth": "2015-01-01"}},
                    "public_params": {"min_age": 18},
                }),
            )
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(refused["success"], false, "{refused}");
        assert_eq!(refused["failed_rule"], "old_enough", "{refused}");
        assert!(refused["proof"].is_null(), "{refused}");

        // Both jobs ran on the remote worker, the only one there is.
        let workers = gw.client().workers().await.unwrap();
        let list = workers["workers"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{workers}");
        assert_eq!(list[0]["id"], w_id.as_str());
        assert_eq!(list[0]["completed"], 2, "{workers}");
    });
}

//! The canary: a marker planted in a workload and in its result appears nowhere outside the
//! client and the worker: not in the store's files, not in logs at any level (stderr and the
//! per-component files), not in metrics or the gateway's listings, and not in the files the
//! CLI keeps about its submissions (its journal).

use vesper_client::verify_result;
use vesper_crypto::X25519SecretKey;

use crate::{CAT, DevProcess, free_addr, sealed};

#[test]
fn canary_never_leaves_client_and_worker() {
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let mut dev = DevProcess::start(
        &data,
        free_addr(),
        &[
            "--workers",
            "2",
            "--log-dir",
            logs.to_str().unwrap(),
            "--log-json",
        ],
        "trace",
    );
    let marker = format!("CANARY-{}", vesper_core::JobId::new_random());
    let client = dev.client();
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    rt.block_on(async {
        for _ in 0..5 {
            // The program echoes its input, so the marker is in the workload and the result.
            let req = sealed(&client, &sk, &module, marker.as_bytes()).await;
            let job = client.submit(&req, None).await.unwrap();
            let (_, body) = client.result(&job.job_id, 30).await.unwrap();
            let keys = client.keys(None).await.unwrap();
            let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
            let v = verify_result(&body, &trusted, Some(&sk), None).unwrap();
            // The round trip carried it: the test would notice if the marker never travelled.
            assert_eq!(v.plaintext.unwrap().stdout, marker.as_bytes());
            let health = reqwest::get(format!("{}/health", dev.url()))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(!health.contains(&marker));
            // Metrics, the job listing and the live stream are gateway-side views too.
            for path in ["/metrics", "/api/jobs?limit=100"] {
                let text = reqwest::Client::new()
                    .get(format!("{}{path}", dev.url()))
                    .bearer_auth(dev.api_key())
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert!(text.len() > 10 && !text.contains(&marker), "{path}");
            }
        }
    });
    // The CLI's own record of what it submitted (its journal: sealed requests for idempotency
    // keys, job facts) holds no plaintext either.
    let state = dir.path().join("cli-state");
    let input = dir.path().join("canary.txt");
    std::fs::write(&input, &marker).unwrap();
    let key_file = dir.path().join("client.key");
    crate::run_ok(
        std::process::Command::new(crate::BIN)
            .args(["keygen", "--out"])
            .arg(&key_file),
    );
    let cat = dir.path().join("cat.wat");
    std::fs::write(&cat, CAT).unwrap();
    let out = crate::run_ok(
        std::process::Command::new(crate::BIN)
            .args([
                "submit",
                "--wait",
                "--idempotency-key",
                "canary-key",
                "--program",
            ])
            .arg(&cat)
            .arg("--input")
            .arg(&input)
            .arg("--identity")
            .arg(&key_file)
            .arg("--api-key-file")
            .arg(data.join("dev-api-key"))
            .env("VESPER_GATEWAY", dev.url())
            .env("VESPER_STATE_DIR", &state),
    );
    assert_eq!(out, marker, "the CLI's round trip carried the marker");
    dev.interrupt();
    let journal = walk(&state);
    assert!(
        journal.len() >= 2,
        "a job record and an idempotency record: {journal:?}"
    );
    let files: Vec<_> = walk(&data)
        .into_iter()
        .chain(walk(&logs))
        .chain(journal)
        .chain([dev.log.clone()])
        .collect();
    assert!(files.iter().any(|f| f.ends_with("worker.log")));
    let scanned = assert_marker_absent(&files, &marker);
    let log = std::fs::read_to_string(&dev.log).unwrap();
    assert!(log.contains("job completed"), "trace log captured");
    assert!(scanned > 10_000, "scanned {scanned} bytes");
}

/// Fail if `marker` (as text, hex or base64) is in any of `files`; returns the bytes scanned.
pub fn assert_marker_absent(files: &[std::path::PathBuf], marker: &str) -> usize {
    let needles = [marker.to_owned(), hex_of(marker), b64_of(marker)];
    let mut scanned = 0;
    for entry in files {
        let bytes = std::fs::read(entry).unwrap();
        scanned += bytes.len();
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                "marker found in {}",
                entry.display()
            );
        }
    }
    scanned
}

pub fn hex_of(s: &str) -> String {
    hex::encode(s.as_bytes())
}
pub fn b64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

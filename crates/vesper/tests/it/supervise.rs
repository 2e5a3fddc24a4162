//! Supervision through the real binary (docs/OBSERVABILITY.md, "Supervision"): a panicking
//! worker task is logged with its name, reported by `/health` as `degraded`, and restarted;
//! a panicking HTTP server task stops the process, which exits non-zero. The panics are made
//! by the debug-only hook `VESPER_TEST_PANIC=<task>[@<ms>]`.

use std::time::{Duration, Instant};

use crate::{CAT, DevProcess, free_addr, sealed};

fn log_lines_with(dev: &DevProcess, all: &[&str]) -> Vec<String> {
    std::fs::read_to_string(&dev.log)
        .unwrap_or_default()
        .lines()
        .filter(|l| all.iter().all(|w| l.contains(w)))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_panicking_worker_is_logged_reported_degraded_and_restarted() {
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut dev = DevProcess::start_with_env(
        &dir.path().join("data"),
        free_addr(),
        &["--workers", "2"],
        "info",
        &["VESPER_TEST_PANIC=worker/w0".to_owned()],
    );
    // `/health`: `degraded`, naming the task, until a minute after its restart.
    let health = format!("{}/health", dev.url());
    let deadline = Instant::now() + Duration::from_secs(30);
    let degraded = loop {
        let v: serde_json::Value = reqwest::blocking::get(&health).unwrap().json().unwrap();
        if v["status"] == "degraded" && v["degraded"][0]["restarts"] == 1 {
            break v;
        }
        assert!(Instant::now() < deadline, "never degraded: {v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        degraded["degraded"].as_array().unwrap().len(),
        1,
        "{degraded}"
    );
    let task = &degraded["degraded"][0];
    assert_eq!(task["task"], "worker/w0", "{degraded}");
    assert_eq!(task["state"], "running", "restarted: {degraded}");
    assert_eq!(degraded["worker_count"], 2, "{degraded}");
    // The panic is in the log, with the task's name; so is the restart.
    let panicked = log_lines_with(&dev, &["task panicked", "worker/w0", "VESPER_TEST_PANIC"]);
    assert_eq!(panicked.len(), 1, "{panicked:?}");
    assert_eq!(
        log_lines_with(&dev, &["task restarted", "worker/w0"]).len(),
        1
    );
    // The pool still works: jobs complete.
    let client = dev.client();
    rt.block_on(async {
        let sk = vesper_crypto::X25519SecretKey::generate();
        let module = wat::parse_str(CAT).unwrap();
        let keys = client.keys(None).await.unwrap();
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        for i in 0..4 {
            let input = format!("after the panic {i}");
            let req = sealed(&client, &sk, &module, input.as_bytes()).await;
            let id = client.submit(&req, None).await.unwrap().job_id;
            let (_, body) = client.result(&id, 20).await.unwrap();
            let v = vesper_client::verify_result(&body, &trusted, Some(&sk), None).unwrap();
            assert_eq!(v.plaintext.unwrap().stdout, input.as_bytes());
        }
    });
    // A restarted task is no failure: a clean stop exits 0.
    dev.interrupt();
    assert!(dev.child.wait().unwrap().success());
}

#[test]
fn a_panicking_http_server_stops_the_process_with_a_non_zero_status() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = DevProcess::start_with_env(
        &dir.path().join("data"),
        free_addr(),
        &["--workers", "1"],
        "info",
        &["VESPER_TEST_PANIC=http@500".to_owned()],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = dev.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the process kept running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(70), "EX_SOFTWARE");
    let panicked = log_lines_with(&dev, &["task panicked", "task=http"]);
    assert_eq!(panicked.len(), 1, "{panicked:?}");
    assert_eq!(
        log_lines_with(&dev, &["critical task failed; stopping the node", "http"]).len(),
        1
    );
    let log = std::fs::read_to_string(&dev.log).unwrap();
    assert!(log.contains("critical task http failed"), "{log}");
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(dev.addr).is_err());
}

//! What outside testing broke (issue [E]), each through the real binary: one node per data
//! directory, recovery that never touches a live process's leases, lease-lost runs stopped,
//! honest counters, connection caps and timeouts, errors that say what happened, and the
//! CLI's idempotent retry across `kill -9`.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng as _;
use vesper_client::{Client, verify_result};
use vesper_crypto::X25519SecretKey;

use crate::scale::{Cluster, SPIN_ECHO, spin_input};
use crate::{BIN, DevProcess, free_addr, run_ok, sealed};

/// Units of [`SPIN_ECHO`] per second, roughly (measured: 3000 units in 0.4 s here).
const UNITS_PER_SEC: u32 = 7000;

async fn status(client: &Client, job: &str) -> vesper_client::StatusResponse {
    client.status(job, 0).await.unwrap()
}

/// Wait (20 s at most) until `job` has `want` as its status.
async fn wait_status(client: &Client, job: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = status(client, job).await;
        if st.status == want {
            return;
        }
        assert!(Instant::now() < deadline, "never {want}: {st:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The worker keys the gateway lists (signed).
async fn trusted(client: &Client) -> Vec<[u8; 32]> {
    let keys = client.keys(None).await.unwrap();
    keys.worker_keys.iter().map(|(_, k)| *k).collect()
}

/// Submit one spin job of about `secs` seconds with `max_retries`; returns its id.
async fn spin_job(
    client: &Client,
    sk: &X25519SecretKey,
    secs: f64,
    tag: &str,
    max_retries: u32,
) -> String {
    let module = wat::parse_str(SPIN_ECHO).unwrap();
    let units = (secs * f64::from(UNITS_PER_SEC)) as u32;
    let mut req = sealed(client, sk, &module, &spin_input(units.max(1), tag)).await;
    req.max_retries = Some(max_retries);
    client.submit(&req, None).await.unwrap().job_id
}

/// Environment for long jobs: fuel and wall time enough for tens of seconds of spinning.
const LONG_JOBS: [(&str, &str); 2] = [
    ("VESPER_WORKER_FUEL", "1000000000000"),
    ("VESPER_WORKER_WALL_MS", "120000"),
];

fn dev_with_env(data: &Path, args: &[&str], env: &[(&str, &str)]) -> DevProcess {
    let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    DevProcess::start_with_env(data, free_addr(), args, "info", &env)
}

/// A second `vesper dev` on a data directory in use is refused, naming the lock and the
/// holder's PID, and the first node's running job (no retry allowed) is unaffected.
#[test]
fn a_second_node_on_a_used_data_directory_is_refused_and_the_first_runs_on() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dev = dev_with_env(&data, &["--workers", "1", "--lease-ms", "2000"], &LONG_JOBS);
    let client = dev.client();
    let sk = X25519SecretKey::generate();
    let job = rt.block_on(async {
        let job = spin_job(&client, &sk, 4.0, "first node", 0).await;
        wait_status(&client, &job, "processing").await;
        job
    });
    let second = Command::new(BIN)
        .args(["dev", "--data"])
        .arg(&data)
        .args(["--listen", &free_addr().to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second node started: {said}");
    assert!(
        said.contains("locked by another vesper process")
            && said.contains(&format!("pid {}", dev.child.id()))
            && said.contains(&data.join("lock").display().to_string()),
        "{said}"
    );
    // The first node's job ran to the end on its one attempt.
    rt.block_on(async {
        let (_, body) = client.result(&job, 30).await.unwrap();
        let v = verify_result(&body, &trusted(&client).await, Some(&sk), None).unwrap();
        assert!(v.plaintext.unwrap().stdout.ends_with(b"first node"));
        let st = status(&client, &job).await;
        assert_eq!((st.status.as_str(), st.retry_count), ("completed", 0));
    });
}

/// On Redis, two worker processes that share nothing but the store, one started from a copy
/// of the other's data directory (same node id): the copy's start-up recovery leaves the
/// original's live lease alone. A restarted worker still recovers its own dead lease at
/// once, without waiting for the lease to run out.
#[test]
fn recovery_never_expires_a_live_processes_lease() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let c = Cluster::new();
    let long = ["--workers", "1", "--lease-ms", "30000"];
    // Workers first: they publish the pool key the gateway waits for.
    let mut w1 = c.worker_with_env("w1", &long, &LONG_JOBS);
    let gw = c.gateway("gw", &[]);
    let key = gw.bootstrap_key().expect("bootstrap key");
    let client = Client::new(&gw.url(), Some(key)).unwrap();
    let job = rt.block_on(async {
        let job = spin_job(&client, &c.client_sk, 5.0, "held by w1", 0).await;
        wait_status(&client, &job, "processing").await;
        job
    });
    // A copy of w1's directory (node id, incarnation list and all), started while w1 runs.
    let w2_dir = c.path("w2");
    run_ok(Command::new("cp").arg("-r").arg(c.path("w1")).arg(&w2_dir));
    let _ = std::fs::remove_file(w2_dir.join("lock"));
    assert_eq!(
        std::fs::read_to_string(w2_dir.join("node-id")).unwrap(),
        std::fs::read_to_string(c.path("w1").join("node-id")).unwrap()
    );
    let mut w2 = c.worker_with_env("w2", &long, &LONG_JOBS);
    rt.block_on(async {
        let (_, body) = client.result(&job, 30).await.unwrap();
        let v = verify_result(&body, &trusted(&client).await, Some(&c.client_sk), None).unwrap();
        assert!(v.plaintext.unwrap().stdout.ends_with(b"held by w1"));
        let st = status(&client, &job).await;
        assert_eq!(
            (st.status.as_str(), st.retry_count),
            ("completed", 0),
            "{st:?}"
        );
    });
    assert!(
        w2.log_text().contains("starts made elsewhere"),
        "{}",
        w2.log_text()
    );

    // w1 goes away; w2 takes a long job under a 30 s lease and is killed; restarted on its
    // own directory, it puts the job back at once (not after 30 s) and runs it again.
    w1.kill9();
    rt.block_on(async {
        let job = spin_job(&client, &c.client_sk, 3.0, "held by w2", 1).await;
        wait_status(&client, &job, "processing").await;
        let killed = Instant::now();
        w2.restart();
        let (_, body) = client.result(&job, 25).await.unwrap();
        let took = killed.elapsed();
        assert!(
            took < Duration::from_secs(25),
            "recovered after {took:?}: waited for the lease"
        );
        let v = verify_result(&body, &trusted(&client).await, Some(&c.client_sk), None).unwrap();
        assert!(v.plaintext.unwrap().stdout.ends_with(b"held by w2"));
        let st = status(&client, &job).await;
        assert_eq!((st.status.as_str(), st.retry_count), ("completed", 1));
    });
}

/// A worker that lost its lease (paused past it, then resumed) stops the job within one
/// heartbeat interval and is free for other work at once, instead of running on to the end.
#[test]
fn a_lease_lost_job_stops_within_one_heartbeat() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let c = Cluster::new();
    // lease 2000 ms: heartbeats every ~667 ms.
    let w = c.worker_with_env("w", &["--workers", "1", "--lease-ms", "2000"], &LONG_JOBS);
    let gw = c.gateway("gw", &[]);
    let key = gw.bootstrap_key().expect("bootstrap key");
    let client = Client::new(&gw.url(), Some(key)).unwrap();
    rt.block_on(async {
        // About 40 s of work, no retry: once the lease is lost the job fails.
        let long = spin_job(&client, &c.client_sk, 40.0, "long", 0).await;
        wait_status(&client, &long, "processing").await;
        w.signal("STOP");
        wait_status(&client, &long, "failed").await;
        let resumed = Instant::now();
        w.signal("CONT");
        // Stopped within one heartbeat interval (~667 ms) plus scheduling slack.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !w
            .log_text()
            .contains("lease lost while running; stopping the job")
        {
            assert!(Instant::now() < deadline, "{}", w.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stopped = resumed.elapsed();
        assert!(
            stopped < Duration::from_millis(2_500),
            "stopped {stopped:?} after resuming"
        );
        // Its only slot is free: a short job completes long before the old one would have.
        let short = spin_job(&client, &c.client_sk, 0.05, "short", 0).await;
        let (_, body) = client.result(&short, 15).await.unwrap();
        assert_eq!(body.status, "completed");
        assert!(
            resumed.elapsed() < Duration::from_secs(15),
            "the slot was held: {:?}",
            resumed.elapsed()
        );
        let st = status(&client, &long).await;
        assert_eq!(
            st.error.map(|e| e.code).as_deref(),
            Some("lease_expired"),
            "the stopped job is never handed in"
        );
    });
    assert!(!w.log_text().contains("lease lost before hand-in"));
}

/// `/metrics` on a fresh node lists every counter at 0; a job failed for good by start-up
/// recovery is counted; `retry_count` counts retries (and `attempts` attempts).
#[test]
fn counters_start_at_zero_and_count_what_recovery_and_retries_do() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let metrics = |dev: &DevProcess| {
        reqwest::blocking::get(format!("{}/metrics", dev.url()))
            .unwrap()
            .text()
            .unwrap()
    };
    let value = |text: &str, series: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
    };
    let mut dev = dev_with_env(&data, &["--workers", "1", "--lease-ms", "2000"], &LONG_JOBS);
    let fresh = metrics(&dev);
    for series in [
        "vesper_jobs_submitted_total{workload_type=\"general\"}",
        "vesper_jobs_completed_total",
        "vesper_jobs_failed_total{error_code=\"lease_expired\"}",
        "vesper_jobs_failed_total{error_code=\"bad_receipt\"}",
        "vesper_receipts_refused_total{field=\"program_id\"}",
        "vesper_callbacks_total{outcome=\"delivered\"}",
        "vesper_rate_limited_total",
        "vesper_http_connections_refused_total{reason=\"per_ip\"}",
    ] {
        assert_eq!(value(&fresh, series), Some(0.0), "{series} in:\n{fresh}");
    }
    // A job running with no retry left when the node is killed: recovery fails it for good.
    let client = dev.client();
    let sk = X25519SecretKey::generate();
    let job = rt.block_on(async {
        let job = spin_job(&client, &sk, 20.0, "interrupted", 0).await;
        wait_status(&client, &job, "processing").await;
        job
    });
    dev.kill9();
    // A wall-time limit of 200 ms: every attempt of a long job times out (retryable).
    let dev = {
        let mut env = LONG_JOBS.to_vec();
        env[1] = ("VESPER_WORKER_WALL_MS", "200");
        dev_with_env(&data, &["--workers", "1", "--lease-ms", "2000"], &env)
    };
    let client = dev.client();
    let st = rt.block_on(status(&client, &job));
    assert_eq!(
        (st.status.as_str(), st.error.map(|e| e.code).as_deref()),
        ("failed", Some("lease_expired"))
    );
    assert_eq!((st.retry_count, st.attempts), (0, 1));
    let after = metrics(&dev);
    assert_eq!(
        value(
            &after,
            "vesper_jobs_failed_total{error_code=\"lease_expired\"}"
        ),
        Some(1.0),
        "{after}"
    );
    // max_retries = 2: three attempts, two retries; the job keeps retry_count 2.
    let retried = rt.block_on(async {
        let job = spin_job(&client, &sk, 5.0, "times out", 2).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let st = status(&client, &job).await;
            if st.status == "failed" {
                break st;
            }
            assert!(Instant::now() < deadline, "{st:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert_eq!(retried.error.map(|e| e.code).as_deref(), Some("timeout"));
    assert_eq!(
        (retried.retry_count, retried.max_retries, retried.attempts),
        (2, 2, 3)
    );
    let out = run_ok(
        Command::new(BIN)
            .args(["status", &retried.job_id, "--api-key-file"])
            .arg(data.join("dev-api-key"))
            .env("VESPER_GATEWAY", dev.url()),
    );
    assert!(
        out.contains("attempts: 3 (retries: 2 of at most 2)"),
        "{out}"
    );
}

/// Connections: a cap's worth of idle connections from one address does not stop another
/// address from being served; connections over the cap are refused (503, logged); slowloris
/// and idle keep-alive connections are closed by the header timeout.
#[test]
fn connection_caps_and_the_header_timeout_keep_the_gateway_serving() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        "VESPER_GATEWAY_MAX_CONNECTIONS_PER_IP=100".to_owned(),
        "VESPER_GATEWAY_HEADER_TIMEOUT_SECS=3".to_owned(),
    ];
    let dev = DevProcess::start_with_env(&data, free_addr(), &["--workers", "1"], "info", &env);
    let addr = dev.addr;
    rt.block_on(async {
        let from = move |ip: &'static str| async move {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.bind(format!("{ip}:0").parse::<SocketAddr>().unwrap())
                .unwrap();
            s.connect(addr).await.unwrap()
        };
        // 100 idle connections from 127.0.0.2: the per-address cap.
        let mut idle = Vec::new();
        for _ in 0..100 {
            idle.push(from("127.0.0.2").await);
        }
        // The 101st from that address is refused with a JSON 503 and closed.
        let mut over = from("127.0.0.2").await;
        let mut answer = Vec::new();
        tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut over, &mut answer),
        )
        .await
        .expect("the refused connection is closed")
        .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 503") && answer.contains("too_many_connections"),
            "{answer}"
        );
        // Meanwhile 127.0.0.1 is served.
        let t = Instant::now();
        let health = reqwest::get(format!("http://{addr}/health")).await.unwrap();
        assert_eq!(health.status(), 200);
        assert!(t.elapsed() < Duration::from_secs(2));

        // Slowloris: half a request head, then nothing; closed within the header timeout.
        let mut slow = from("127.0.0.3").await;
        tokio::io::AsyncWriteExt::write_all(&mut slow, b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let t = Instant::now();
        let mut rest = Vec::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            tokio::io::AsyncReadExt::read_to_end(&mut slow, &mut rest),
        )
        .await
        .expect("a slowloris connection is closed by the header timeout")
        .ok();
        let closed = t.elapsed();
        assert!(
            (Duration::from_millis(2_500)..Duration::from_secs(6)).contains(&closed),
            "closed after {closed:?}"
        );
        // An idle kept-alive connection is closed the same way after its request.
        let mut kept = from("127.0.0.4").await;
        tokio::io::AsyncWriteExt::write_all(&mut kept, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let t = Instant::now();
        let mut all = Vec::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            tokio::io::AsyncReadExt::read_to_end(&mut kept, &mut all),
        )
        .await
        .expect("an idle keep-alive connection is closed")
        .ok();
        assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
        assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
        drop(idle);
    });
    let log = std::fs::read_to_string(&dev.log).unwrap();
    assert!(
        log.contains("HTTP connection refused: at the connection cap") && log.contains("127.0.0.2"),
        "{log}"
    );
}

/// Errors from the HTTP layer carry the documented JSON shape; an oversized
/// `Content-Length` is refused from the header, before the body is sent; `/health` answers
/// during a flood of API requests from the same address.
#[test]
fn http_layer_errors_are_json_and_oversized_bodies_are_refused_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        "VESPER_LIMITS_IP_RATE_PER_SEC=5".to_owned(),
        "VESPER_LIMITS_IP_BURST=5".to_owned(),
    ];
    let dev = DevProcess::start_with_env(
        &dir.path().join("data"),
        free_addr(),
        &["--workers", "1"],
        "info",
        &env,
    );
    let raw = |head: &str| -> (u16, serde_json::Value, Duration) {
        let mut s = std::net::TcpStream::connect(dev.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let t = Instant::now();
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let took = t.elapsed();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status: u16 = text[9..12].parse().unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        let json = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, json, took)
    };
    let code = |v: &serde_json::Value| v["error"]["code"].as_str().unwrap().to_owned();
    let long_uri = "a".repeat(9000);
    let many: String = (0..70).map(|i| format!("X-H{i}: 1\r\n")).collect();
    let cases = [
        (
            "PUT /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
            405,
            "method_not_allowed",
        ),
        (
            format!("GET /health?{long_uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            414,
            "uri_too_long",
        ),
        (
            format!("GET /health HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n"),
            431,
            "headers_too_large",
        ),
        (
            "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
            404,
            "route_not_found",
        ),
    ];
    for (head, want_status, want_code) in cases {
        let (st, body, _) = raw(&head);
        assert_eq!(
            (st, code(&body).as_str()),
            (want_status, want_code),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // 40 MiB announced and none sent: answered at once, from the header.
    let (st, body, took) = raw(
        "POST /api/submit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 41943040\r\n\r\n",
    );
    assert_eq!((st, code(&body).as_str()), (413, "payload_too_large"));
    assert!(took < Duration::from_secs(3), "{took:?}");
    // A flood from one address is limited; its health checks are not.
    let client = reqwest::blocking::Client::new();
    let limited = (0..30)
        .filter(|_| {
            client
                .get(format!("{}/api/keys", dev.url()))
                .send()
                .unwrap()
                .status()
                == 429
        })
        .count();
    assert!(limited > 0);
    let limited = client
        .get(format!("{}/api/keys", dev.url()))
        .send()
        .unwrap();
    assert_eq!(limited.status(), 429);
    let body: serde_json::Value = limited.json().unwrap();
    assert_eq!(code(&body), "ip_rate_limited");
    let health = client.get(format!("{}/health", dev.url())).send().unwrap();
    assert_eq!(health.status(), 200);
}

/// `vesper submit --idempotency-key K`, killed with `kill -9` at a random point, then run
/// again: prints the job id of the one job that key made, never a second job or a conflict.
#[test]
fn kill_9_during_an_idempotent_submit_then_retry_prints_the_original_job() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dev = DevProcess::start(&data, free_addr(), &["--workers", "1"], "info");
    let client = dev.client();
    let state = dir.path().join("state");
    let key_file = dir.path().join("client.key");
    run_ok(Command::new(BIN).args(["keygen", "--out"]).arg(&key_file));
    let input = dir.path().join("in.txt");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let submit = |key: &str| {
        let mut c = Command::new(BIN);
        c.args([
            "submit",
            "--program",
            &format!("{examples}/wordcount.wat"),
            "--idempotency-key",
            key,
            "--input",
        ])
        .arg(&input)
        .arg("--identity")
        .arg(&key_file)
        .arg("--api-key-file")
        .arg(data.join("dev-api-key"))
        .env("VESPER_GATEWAY", dev.url())
        .env("VESPER_STATE_DIR", &state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        c
    };
    let all_jobs = || {
        rt.block_on(async {
            let mut ids = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = client
                    .list_jobs(None, 100, cursor.as_deref())
                    .await
                    .unwrap();
                ids.extend(page.jobs.into_iter().map(|j| j.job_id));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break ids,
                }
            }
        })
    };
    let mut rng = rand::thread_rng();
    let mut finished = 0;
    for i in 0..12 {
        std::fs::write(&input, format!("round {i}\n")).unwrap();
        let key = format!("retry-{i}");
        let before = all_jobs();
        let mut first = submit(&key).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
        let _ = first.kill();
        let killed = first.wait_with_output().unwrap();
        let printed_first = String::from_utf8_lossy(&killed.stdout).trim().to_owned();
        let again = submit(&key).output().unwrap();
        assert!(
            again.status.success(),
            "round {i}: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        let id = String::from_utf8(again.stdout).unwrap().trim().to_owned();
        let after = all_jobs();
        // Exactly one job for this key, and it is the one printed.
        assert_eq!(
            after.len(),
            before.len() + 1,
            "round {i}: duplicate or lost"
        );
        assert!(after.contains(&id) && !before.contains(&id), "round {i}");
        if !printed_first.is_empty() {
            assert_eq!(printed_first, id, "round {i}");
        }
        if killed.status.success() {
            finished += 1;
        }
    }
    eprintln!("{finished} of 12 first runs finished before their kill");
    // The same key with other contents is refused by the CLI, not silently answered.
    std::fs::write(&input, "something else\n").unwrap();
    let other = submit("retry-0").output().unwrap();
    assert!(!other.status.success());
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("for another program, input or options"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    // Without the local record (another machine), the gateway's conflict names the job.
    std::fs::remove_dir_all(&state).unwrap();
    let other = submit("retry-0").output().unwrap();
    let said = String::from_utf8_lossy(&other.stderr).into_owned();
    assert!(!other.status.success());
    assert!(said.contains("already belongs to job"), "{said}");
    let named = said
        .split("already belongs to job ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    assert!(all_jobs().contains(&named), "{said}");
}

/// On a full disk, the embedded store names the cause: in the log, in the API's 503 and at
/// start-up. Needs root (a small tmpfs); `VESPER_SKIP_TMPFS=1` skips it explicitly.
#[test]
fn a_full_disk_is_named_as_such() {
    if std::env::var_os("VESPER_SKIP_TMPFS").is_some() {
        eprintln!("VESPER_SKIP_TMPFS set: disk-full test skipped");
        return;
    }
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        mounted,
        "could not mount a tmpfs (needs root); set VESPER_SKIP_TMPFS=1 to skip this test explicitly"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let data = mnt.join("data");
    let mut dev = DevProcess::start(&data, free_addr(), &["--workers", "1"], "info");
    let client = dev.client();
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(crate::CAT).unwrap();
    let (req, before) = rt.block_on(async {
        let req = sealed(&client, &sk, &module, b"before the disk filled").await;
        let job = client.submit(&req, None).await.unwrap().job_id;
        (req, job)
    });
    // Fill the disk.
    let filler = mnt.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let err = rt.block_on(async {
        let mut last = None;
        // The WAL may hold a little room: a few submissions until the disk is really full.
        for _ in 0..200 {
            match client.submit(&req, None).await {
                Ok(_) => continue,
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
        last.expect("submissions kept succeeding on a full disk")
    });
    match &err {
        vesper_client::ClientError::Api {
            status, message, ..
        } => {
            assert_eq!(*status, 503, "{err}");
            assert!(message.contains("no space left"), "{message}");
        }
        other => panic!("{other}"),
    }
    let log = std::fs::read_to_string(&dev.log).unwrap();
    assert!(
        log.contains("no space left on the store's disk"),
        "the log does not name the cause:\n{log}"
    );
    // Restarted on the full disk: the start-up error names it too.
    dev.kill9();
    let out = Command::new(BIN)
        .args(["dev", "--data"])
        .arg(&data)
        .args(["--listen", &free_addr().to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(!out.status.success());
    assert!(said.contains("no space left"), "{said}");
    // Room again: it starts, and the job accepted before the disk filled is still there.
    std::fs::remove_file(&filler).unwrap();
    let dev = DevProcess::start(&data, free_addr(), &["--workers", "1"], "info");
    let client = dev.client();
    let jobs = rt.block_on(client.list_jobs(None, 100, None)).unwrap();
    assert!(jobs.jobs.iter().any(|j| j.job_id == before));
}

/// Resident memory of a process, bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// A trusted peer that announces the largest frames on every stream of four connections
/// (the per-peer cap) cannot raise the gateway's memory past the frame budget: frames that
/// carry no payload are refused from their header, a trickle holds only what arrived, and a
/// flood at full speed holds at most the global budget (docs/PROTOCOL.md, "Frames").
#[test]
fn a_trusted_peer_cannot_make_the_gateway_buffer_without_bound() {
    use vesper_net::testkit::{Flood, flood};
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let gw_home = dir.path().join("gw-home");
    let gw_id = crate::remote::peer_id(&gw_home);
    let port = free_addr().port();
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let gw = DevProcess::start(
        &dir.path().join("data"),
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
    let attacker = vesper_net::NodeIdentity::generate();
    crate::remote::trust(&gw_home, &attacker.peer_id().to_string());
    std::thread::sleep(Duration::from_millis(1500)); // the trust list is re-read every second
    let pid = gw.child.id();
    let baseline = rss(pid);
    let target: vesper_net::Multiaddr = format!("{listen}/p2p/{gw_id}").parse().unwrap();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    // Run `f` on 4 connections × 32 streams for `secs`; the gateway's peak RSS meanwhile.
    let attack = |f: Flood, secs: u64| -> u64 {
        rt.block_on(async {
            let tasks: Vec<_> = (0..4)
                .map(|_| flood(&attacker, target.clone(), f, Duration::from_secs(60)).unwrap())
                .collect();
            let mut peak = 0;
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end {
                peak = peak.max(rss(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for t in tasks {
                t.abort();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            peak
        })
    };
    const MAX: u32 = vesper_proto::MAX_FRAME as u32;
    // Announcing 48 MiB in frames that carry no payload: refused from the header.
    let control = attack(
        Flood {
            streams: 32,
            kind: 0x06, // heartbeat
            announce: MAX,
            send: 1 << 20,
            pause: Duration::ZERO,
        },
        4,
    );
    // 48 MiB announced, 64 KiB sent, then silence (the reported attack: +1.6 GB before).
    let trickle = attack(
        Flood {
            streams: 32,
            kind: 0x08, // completion
            announce: MAX,
            send: 64 << 10,
            pause: Duration::ZERO,
        },
        4,
    );
    // 48 MiB announced and sent as fast as the gateway reads, on every stream.
    let full = attack(
        Flood {
            streams: 32,
            kind: 0x08,
            announce: MAX,
            send: MAX as usize,
            pause: Duration::ZERO,
        },
        8,
    );
    eprintln!(
        "gateway RSS: baseline {:.0} MiB; peaks: control frames {:.0}, trickle {:.0}, full speed {:.0} MiB",
        mib(baseline),
        mib(control),
        mib(trickle),
        mib(full)
    );
    // The documented bound: 128 MiB of frame budget, plus the transport's buffers (Yamux
    // windows) and the allocator's slack; measured well under it.
    let bound = baseline + (256 << 20);
    for (what, peak) in [("control", control), ("trickle", trickle), ("full", full)] {
        assert!(
            peak < bound,
            "{what}: peak {:.0} MiB over the bound {:.0} MiB",
            mib(peak),
            mib(bound)
        );
    }
    assert!(
        trickle < baseline + (64 << 20),
        "a trickle holds only what arrived"
    );
    // Still serving.
    let health = reqwest::blocking::get(format!("{}/health", gw.url())).unwrap();
    assert_eq!(health.status(), 200);
}

//! Multi-host: a gateway and workers on separate hosts, each in its own Linux network namespace
//! joined by veth links to a bridge (`tests/netns/topology.sh`, made and torn down here).
//!
//! - worker 1 dials the gateway's address; worker 2 has no address and finds it with mDNS;
//! - an untrusted node completes its Noise handshake and is refused before any message;
//! - pulling worker 1's cable re-queues its leased jobs to worker 2 within the lease time, and
//!   no job gets two results, also after the cable is back.
//!
//! Needs root (CAP_NET_ADMIN) and iproute2, as CI has. Without them the test fails loudly;
//! `VESPER_SKIP_NETNS=1` skips it explicitly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vesper_client::{Client, verify_result};
use vesper_crypto::X25519SecretKey;

use crate::remote::{peer_id, trust};
use crate::scale::{SPIN_ECHO, spin_input};
use crate::{BIN, CAT, sealed};

const TOPOLOGY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/netns/topology.sh");
const HOSTS: [&str; 4] = ["gw", "w1", "w2", "bad"];

struct Topology {
    tag: String,
    net: String,
}

impl Topology {
    fn up() -> Option<Topology> {
        if std::env::var_os("VESPER_SKIP_NETNS").is_some() {
            eprintln!("VESPER_SKIP_NETNS set: multi-host test skipped");
            return None;
        }
        let n = std::process::id() % 200 + 20;
        let t = Topology {
            tag: format!("{}", std::process::id() % 10_000),
            net: format!("10.77.{n}"),
        };
        // A leftover from a killed run with the same tag.
        t.run("down", &HOSTS);
        let ok = Command::new(TOPOLOGY)
            .args(["up", &t.tag, &t.net])
            .args(HOSTS)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "could not build the test network (needs root, CAP_NET_ADMIN and iproute2); \
             set VESPER_SKIP_NETNS=1 to skip this test explicitly"
        );
        Some(t)
    }

    fn run(&self, cmd: &str, args: &[&str]) {
        let _ = Command::new(TOPOLOGY)
            .args([cmd, &self.tag])
            .args(args)
            .stderr(Stdio::null())
            .status();
    }

    fn ip(&self, host: &str) -> String {
        let i = HOSTS.iter().position(|h| *h == host).unwrap() + 1;
        format!("{}.{i}", self.net)
    }

    /// `vesper ARGS` on `host`, logging to `log`.
    fn spawn(&self, host: &str, args: &[&str], log: &Path, level: &str) -> Child {
        let f = std::fs::File::create(log).unwrap();
        Command::new("ip")
            .args(["netns", "exec", &format!("v{}{host}", self.tag), BIN])
            .args(args)
            .env("VESPER_LOG", level)
            .env("VESPER_LIMITS_TENANT_RATE_PER_SEC", "0")
            .env("VESPER_LIMITS_IP_RATE_PER_SEC", "0")
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.run("down", &HOSTS);
    }
}

struct Procs(Vec<Child>);
impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read(p: &PathBuf) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn wait_for(within: Duration, what: &str, logs: &[&PathBuf], mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dump: Vec<String> = logs
        .iter()
        .map(|p| format!("--- {}\n{}", p.display(), read(p)))
        .collect();
    panic!("timed out waiting for {what}\n{}", dump.join("\n"));
}

#[test]
fn gateway_and_workers_on_separate_hosts_discover_refuse_and_survive_a_cut_link() {
    let _heavy = crate::heavy();
    let Some(net) = Topology::up() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = |h: &str| dir.path().join(format!("{h}-home"));
    let log = |h: &str| dir.path().join(format!("{h}.log"));
    let ids: Vec<String> = HOSTS.iter().map(|h| peer_id(&home(h))).collect();
    let (gw_id, w1_id, w2_id, bad_id) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    for w in ["w1", "w2", "bad"] {
        trust(&home(w), gw_id);
    }
    trust(&home("gw"), w1_id);
    trust(&home("gw"), w2_id);

    let lease_ms = 4000u64;
    let gw_ip = net.ip("gw");
    let http = format!("{gw_ip}:8080");
    let p2p = format!("/ip4/{gw_ip}/tcp/9000");
    let data = dir.path().join("gw-data");
    let gw_log = log("gw");
    let mut procs = Procs(vec![net.spawn(
        "gw",
        &[
            "dev",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            &http,
            "--workers",
            "0",
            "--p2p-listen",
            &p2p,
            "--mdns",
            "--home",
            home("gw").to_str().unwrap(),
            "--lease-ms",
            &lease_ms.to_string(),
        ],
        &gw_log,
        "info",
    )]);
    wait_for(Duration::from_secs(60), "the gateway", &[&gw_log], || {
        read(&gw_log).contains("Press Ctrl-C to stop.")
    });
    let connect = format!("{p2p}/p2p/{gw_id}");
    let worker = |h: &str, connect: &str| {
        net.spawn(
            h,
            &[
                "worker",
                "--connect",
                connect,
                "--workers",
                "2",
                "--home",
                home(h).to_str().unwrap(),
            ],
            &log(h),
            "info",
        )
    };
    procs.0.push(worker("w1", &connect));
    // No address at all: worker 2 must find the gateway with mDNS across the bridge.
    procs.0.push(worker("w2", "mdns"));
    procs.0.push(worker("bad", &connect));
    let (w1_log, w2_log, bad_log) = (log("w1"), log("w2"), log("bad"));
    let all_logs = [&gw_log, &w1_log, &w2_log, &bad_log];

    for (w, l) in [("worker 1", &w1_log), ("worker 2 (mDNS)", &w2_log)] {
        wait_for(
            Duration::from_secs(60),
            &format!("{w} to get the pool keys"),
            &all_logs,
            || read(l).contains("pool keys received"),
        );
    }
    // mDNS: worker 2 was given no address, yet connected to the gateway's host.
    assert!(
        read(&w2_log)
            .lines()
            .any(|l| l.contains("connected to a trusted gateway")
                && l.contains(gw_id.as_str())
                && l.contains(&format!("/ip4/{gw_ip}/"))),
        "worker 2 did not find the gateway by mDNS:\n{}",
        read(&w2_log)
    );
    // The untrusted node: its side of Noise completed (it saw the connection up, the
    // gateway's PeerId proven), then the gateway refused it before any message.
    wait_for(
        Duration::from_secs(30),
        "the gateway to refuse the untrusted node",
        &all_logs,
        || {
            read(&gw_log)
                .lines()
                .any(|l| l.contains("refused untrusted peer") && l.contains(bad_id.as_str()))
        },
    );
    wait_for(
        Duration::from_secs(30),
        "the untrusted node to see its connection up (its Noise handshake done)",
        &all_logs,
        || {
            read(&bad_log)
                .lines()
                .any(|l| l.contains("peer connected") && l.contains(gw_id.as_str()))
        },
    );
    assert!(!read(&bad_log).contains("pool keys received"));
    assert!(
        !read(&gw_log)
            .lines()
            .any(|l| l.contains("said hello") && l.contains(bad_id.as_str()))
    );

    let rt = crate::runtime();
    let key = read(&data.join("dev-api-key"));
    let key = key.trim().split_once(':').unwrap().1.to_owned();
    let client = Client::new(&format!("http://{http}"), Some(key)).unwrap();
    let client_sk = X25519SecretKey::generate();
    rt.block_on(async {
        // Jobs complete across hosts.
        let module = wat::parse_str(CAT).unwrap();
        let mut jobs = Vec::new();
        for i in 0..20 {
            let input = format!("across-hosts-{i}");
            let req = sealed(&client, &client_sk, &module, input.as_bytes()).await;
            jobs.push((client.submit(&req, None).await.unwrap().job_id, input));
        }
        let keys = client.keys(None).await.unwrap();
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        let mut by = std::collections::HashMap::<String, u32>::new();
        for (job, input) in &jobs {
            let (_, body) = client.result(job, 30).await.unwrap();
            let v = verify_result(&body, &trusted, Some(&client_sk), None).unwrap();
            assert_eq!(v.plaintext.unwrap().stdout, input.as_bytes());
            assert!(v.receipt.worker_id == *w1_id || v.receipt.worker_id == *w2_id);
            *by.entry(v.receipt.worker_id).or_default() += 1;
        }
        eprintln!("20 jobs across hosts: {by:?}");

        // Pull worker 1's cable while it holds leases on long jobs.
        let module = wat::parse_str(SPIN_ECHO).unwrap();
        let mut jobs = Vec::new();
        for i in 0..8 {
            let input = spin_input(3000, &format!("cut-{i}"));
            let req = sealed(&client, &client_sk, &module, &input).await;
            jobs.push((client.submit(&req, None).await.unwrap().job_id, input));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let on_w1 = loop {
            let mut held = Vec::new();
            for (job, _) in &jobs {
                let s = client.status(job, 0).await.unwrap();
                if s.status == "processing" && s.worker_id.as_deref() == Some(w1_id.as_str()) {
                    held.push(job.clone());
                }
            }
            if !held.is_empty() {
                break held;
            }
            assert!(Instant::now() < deadline, "worker 1 never took a long job");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        net.run("cut", &["w1"]);
        let cut_at = Instant::now();
        // Each job worker 1 held is taken over by worker 2 within the lease time (plus the
        // sweep interval and scheduling slack).
        let mut requeue_ms = Vec::new();
        let mut pending = on_w1.clone();
        while !pending.is_empty() {
            assert!(
                cut_at.elapsed() < Duration::from_millis(lease_ms + 4000),
                "jobs {pending:?} not re-queued within the lease time"
            );
            let mut still = Vec::new();
            for job in pending {
                let s = client.status(&job, 0).await.unwrap();
                let moved = s.worker_id.as_deref() == Some(w2_id.as_str()) || s.status == "queued";
                if moved
                    || s.status == "completed" && s.worker_id.as_deref() != Some(w1_id.as_str())
                {
                    requeue_ms.push(cut_at.elapsed().as_millis() as u64);
                } else {
                    still.push(job);
                }
            }
            pending = still;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "{} leased jobs re-queued after the cut in {requeue_ms:?} ms (lease {lease_ms} ms)",
            on_w1.len()
        );
        let keys = client.keys(None).await.unwrap();
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        let mut sigs = Vec::new();
        for (job, input) in &jobs {
            let (_, body) = client.result(job, 60).await.unwrap();
            let v = verify_result(&body, &trusted, Some(&client_sk), None).unwrap();
            assert_eq!(v.plaintext.unwrap().stdout, *input);
            if on_w1.contains(job) {
                assert_eq!(
                    v.receipt.worker_id, *w2_id,
                    "job {job} finished by the cut-off worker"
                );
            }
            sigs.push(body.execution_proof.worker_signature.clone());
        }
        // Cable back: worker 1's stale hand-ins are fenced; no result changes.
        net.run("mend", &["w1"]);
        tokio::time::sleep(Duration::from_millis(lease_ms + 1000)).await;
        for ((job, _), sig) in jobs.iter().zip(&sigs) {
            let (_, body) = client.result(job, 0).await.unwrap();
            assert_eq!(
                &body.execution_proof.worker_signature, sig,
                "job {job} got a second result"
            );
            assert_eq!(client.status(job, 0).await.unwrap().status, "completed");
        }
    });
}

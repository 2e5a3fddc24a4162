//! Scale-out on one Redis, under faults: real `vesper gateway` and `vesper worker` processes, a
//! real `redis-server` (AOF, `appendfsync always`), `kill -9`, `SIGSTOP`/`SIGCONT`.
//!
//! Waits are bounded polls on observable state (a status, a log line, a port), never fixed
//! sleeps that a loaded machine could outrun.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use vesper_client::{Client, ClientError, SubmitRequest, verify_result};
use vesper_crypto::{KeyKind, X25519SecretKey, write_key_file};
use vesper_store::TenantStore as _;
use vesper_store::testkit::RedisServer;

use crate::{BIN, free_addr, sealed};

/// Spins `input[0..4]` (little-endian u32) × 100 000 iterations (a 64-bit count: any input),
/// then echoes its input. About 7 000 units a second here.
pub const SPIN_ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32) (local $i i64)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
    (local.set $n (i32.load (i32.const 16)))
    (local.set $i (i64.mul (i64.load32_u (i32.const 1024)) (i64.const 100000)))
    (loop $spin (local.set $i (i64.sub (local.get $i) (i64.const 1)))
      (br_if $spin (i64.gt_s (local.get $i) (i64.const 0))))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))"#;

/// An input for [`SPIN_ECHO`]: `units` × 100 000 iterations, then a unique tag.
pub fn spin_input(units: u32, tag: &str) -> Vec<u8> {
    let mut v = units.to_le_bytes().to_vec();
    v.extend_from_slice(tag.as_bytes());
    v
}

/// A `vesper gateway` or `vesper worker` child process.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
    pub addr: Option<SocketAddr>,
    role: &'static str,
    data: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Proc {
    fn spawn(role: &'static str, data: &Path, addr: Option<SocketAddr>, args: &[String]) -> Proc {
        Proc::spawn_logging(role, data, addr, args, "info", &[])
    }

    fn spawn_logging(
        role: &'static str,
        data: &Path,
        addr: Option<SocketAddr>,
        args: &[String],
        level: &str,
        env: &[(String, String)],
    ) -> Proc {
        let log = data.with_extension(format!("log{}", crate::rand_suffix()));
        let f = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg(role).arg("--data").arg(data).args(args);
        if let Some(a) = addr {
            cmd.arg("--listen").arg(a.to_string());
        }
        // Rate limits are tested elsewhere; here they would only throttle the verification.
        let child = cmd
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("VESPER_LOG", level)
            .env("VESPER_LIMITS_TENANT_RATE_PER_SEC", "0")
            .env("VESPER_LIMITS_IP_RATE_PER_SEC", "0")
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut p = Proc {
            child,
            log,
            addr,
            role,
            data: data.to_owned(),
            args: args.to_vec(),
            env: env.to_vec(),
        };
        p.wait_ready();
        p
    }

    pub fn gateway(data: &Path, redis: &RedisServer, extra: &[&str]) -> Proc {
        let mut args = vec!["--store".to_owned(), redis.url()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Proc::spawn("gateway", data, Some(free_addr()), &args)
    }

    pub fn worker(data: &Path, redis: &RedisServer, pool_key: &Path, extra: &[&str]) -> Proc {
        let mut args = vec![
            "--store".to_owned(),
            redis.url(),
            "--pool-key".to_owned(),
            pool_key.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Proc::spawn("worker", data, None, &args)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "vesper {} exited ({status}); log:\n{}",
                    self.role,
                    self.log_text()
                );
            }
            // The banner (with a bootstrap key, if any) is printed once the node is up.
            let up = self.log_text().contains("Press Ctrl-C to stop.")
                && self
                    .addr
                    .is_none_or(|a| std::net::TcpStream::connect(a).is_ok());
            if up {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "vesper {} did not come up; log:\n{}",
            self.role,
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr.expect("a gateway"))
    }

    /// The bootstrap key a gateway printed when it set up an empty store.
    pub fn bootstrap_key(&self) -> Option<String> {
        let text = self.log_text();
        let mut lines = text.lines();
        lines.find(|l| l.contains("bootstrap API key"))?;
        lines.next().map(|l| l.trim().to_owned())
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn signal(&self, sig: &str) {
        crate::unsafe_kill(self.child.id() as i32, sig);
    }

    /// Start the same process again (same data directory, node id and environment).
    pub fn restart(&mut self) {
        self.kill9();
        let addr = self.addr;
        *self = Proc::spawn_logging(
            self.role,
            &self.data.clone(),
            addr,
            &self.args.clone(),
            "info",
            &self.env.clone(),
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis, a pool key file, and the directories gateways and workers live in.
pub struct Cluster {
    pub redis: RedisServer,
    pub dir: tempfile::TempDir,
    pub pool_key: PathBuf,
    pub client_sk: X25519SecretKey,
}

impl Cluster {
    pub fn new() -> Cluster {
        let redis = RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let pool_key = dir.path().join("pool.x25519");
        write_key_file(
            &pool_key,
            KeyKind::X25519Secret,
            &X25519SecretKey::generate().to_bytes(),
            false,
        )
        .unwrap();
        Cluster {
            redis,
            dir,
            pool_key,
            client_sk: X25519SecretKey::generate(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn worker(&self, name: &str, extra: &[&str]) -> Proc {
        Proc::worker(&self.path(name), &self.redis, &self.pool_key, extra)
    }

    /// A worker with extra environment variables.
    pub fn worker_with_env(&self, name: &str, extra: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut args = vec![
            "--store".to_owned(),
            self.redis.url(),
            "--pool-key".to_owned(),
            self.pool_key.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proc::spawn_logging("worker", &self.path(name), None, &args, "info", &env)
    }

    pub fn gateway(&self, name: &str, extra: &[&str]) -> Proc {
        Proc::gateway(&self.path(name), &self.redis, extra)
    }
}

/// Wait until `f` holds, polling; panic with `what` after `within`.
async fn until<F, Fut>(within: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn requests(
    client: &Client,
    sk: &X25519SecretKey,
    inputs: &[Vec<u8>],
    max_retries: Option<u32>,
) -> Vec<SubmitRequest> {
    let module = wat::parse_str(SPIN_ECHO).unwrap();
    let mut out = Vec::new();
    for input in inputs {
        let mut r = sealed(client, sk, &module, input).await;
        r.max_retries = max_retries;
        out.push(r);
    }
    out
}

/// A worker whose lease ran out while it was paused (`SIGSTOP`) cannot overwrite the result
/// of the worker that took the job over; its late hand-in is refused (fencing).
#[test]
fn a_paused_worker_cannot_overwrite_the_new_owners_result() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let c = Cluster::new();
    let lease = ["--lease-ms", "1000", "--workers", "1"];
    let a = c.worker("worker-a", &lease);
    let gw = c.gateway("gw", &[]);
    let key = gw.bootstrap_key().expect("bootstrap key on an empty store");
    let client = Client::new(&gw.url(), Some(key)).unwrap();
    rt.block_on(async {
        // About a second of work: long enough to be caught mid-job.
        let input = spin_input(4000, "fenced");
        let req = requests(&client, &c.client_sk, &[input.clone()], None).await;
        let job = client.submit(&req[0], None).await.unwrap().job_id;
        until(
            Duration::from_secs(20),
            "worker A to start the job",
            || async { client.status(&job, 0).await.unwrap().status == "processing" },
        )
        .await;
        a.signal("STOP");
        // A's lease runs out (no heartbeats while stopped); the gateway's sweep re-queues it
        // and worker B takes it under a new epoch.
        let b = c.worker("worker-b", &lease);
        let (_, body) = client.result(&job, 30).await.unwrap();
        let keys = client.keys(None).await.unwrap();
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        let v = verify_result(&body, &trusted, Some(&c.client_sk), None).unwrap();
        assert_eq!(v.plaintext.unwrap().stdout, input);
        let b_id = std::fs::read_to_string(c.path("worker-b").join("node-id")).unwrap();
        assert!(
            body.execution_proof.worker_id.starts_with(b_id.trim()),
            "result from {}",
            body.execution_proof.worker_id
        );
        // Wake A: it finishes (or notices) and tries to hand in under its stale epoch.
        a.signal("CONT");
        until(Duration::from_secs(30), "worker A to be fenced", || async {
            a.log_text().contains("lease lost")
        })
        .await;
        let (_, again) = client.result(&job, 0).await.unwrap();
        assert_eq!(
            again.execution_proof.worker_signature, body.execution_proof.worker_signature,
            "the result changed after the stale worker woke up"
        );
        assert_eq!(client.status(&job, 0).await.unwrap().status, "completed");
        drop(b);
    });
}

/// Kill workers with `kill -9` 100 times at random points while jobs run: no job is lost, no
/// job has two results, every job ends within lease + backoff of the last kill.
#[test]
fn killing_workers_100_times_loses_and_duplicates_nothing() {
    let _heavy = crate::heavy();
    const KILLS: usize = 100;
    const JOBS: usize = 120;
    let rt = crate::runtime();
    let c = Cluster::new();
    let lease_ms = 1000u64;
    let opts = ["--lease-ms", "1000", "--workers", "1"];
    let mut workers: Vec<Proc> = (0..3).map(|i| c.worker(&format!("w{i}"), &opts)).collect();
    let gw = c.gateway("gw", &[]);
    let client = Client::new(&gw.url(), gw.bootstrap_key()).unwrap();
    let mut rng = rand::thread_rng();
    let inputs: Vec<Vec<u8>> = (0..JOBS)
        .map(|j| spin_input(rng.gen_range(100..600), &format!("job{j}")))
        .collect();
    let reqs = rt.block_on(requests(&client, &c.client_sk, &inputs, Some(10)));
    let ids: Vec<String> = rt.block_on(async {
        let mut ids = Vec::new();
        for (j, r) in reqs.iter().enumerate() {
            ids.push(
                client
                    .submit(r, Some(&format!("k{j}")))
                    .await
                    .unwrap()
                    .job_id,
            );
        }
        ids
    });

    // The kill storm: a random worker, at a random moment, restarted at once.
    let mut kills = 0;
    while kills < KILLS {
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..120)));
        let i = rng.gen_range(0..workers.len());
        workers[i].restart();
        kills += 1;
    }
    let storm_over = Instant::now();

    rt.block_on(async {
        let keys = client.keys(None).await.unwrap();
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        let mut retried = 0;
        for (j, id) in ids.iter().enumerate() {
            let body = result_within(&client, id, Duration::from_secs(90))
                .await
                .unwrap_or_else(|e| panic!("job {j}: {e}"));
            let v = verify_result(&body, &trusted, Some(&c.client_sk), None).unwrap();
            assert_eq!(v.plaintext.unwrap().stdout, inputs[j], "job {j}");
            let st = client.status(id, 0).await.unwrap();
            assert_eq!(st.status, "completed", "job {j}");
            retried += st.retry_count;
            // Exactly one job per idempotency key, and its result does not change.
            let again = client
                .submit(&reqs[j], Some(&format!("k{j}")))
                .await
                .unwrap();
            assert_eq!(&again.job_id, id);
            let (_, body2) = client.result(id, 0).await.unwrap();
            assert_eq!(
                body2.execution_proof.worker_signature,
                body.execution_proof.worker_signature
            );
        }
        assert!(
            retried > 0,
            "no kill hit a running job: the storm proved nothing"
        );
        let after = storm_over.elapsed();
        // Lease + the longest backoff a retry can wait (10 retries: capped at 30 s) + work.
        let bound = Duration::from_millis(lease_ms + 30_000) + Duration::from_secs(JOBS as u64 / 2);
        assert!(
            after < bound,
            "jobs took {after:?} after the last kill (bound {bound:?})"
        );
        eprintln!(
            "{KILLS} worker kills; {retried} job attempts interrupted and redone; \
             all {JOBS} jobs done {after:?} after the last kill"
        );
    });
    // Nothing left anywhere: every job is listed once.
    let listed = rt.block_on(list_all(&client));
    assert_eq!(listed.len(), JOBS);
    assert_eq!(listed, ids.iter().cloned().collect::<HashSet<_>>());
}

/// The job's result, long-polling (the gateway caps one wait at 30 s) until `within`.
async fn result_within(
    client: &Client,
    id: &str,
    within: Duration,
) -> Result<vesper_client::ResultBody, ClientError> {
    let deadline = Instant::now() + within;
    loop {
        match client.result(id, 30).await {
            Ok((_, body)) => return Ok(body),
            Err(e) if e.api_code() == Some("result_not_ready") && Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
    }
}

/// Every job id of the tenant, following the listing's cursor.
async fn list_all(client: &Client) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .list_jobs(None, 100, cursor.as_deref())
            .await
            .unwrap();
        for j in &page.jobs {
            assert!(
                out.insert(j.job_id.clone()),
                "job {} listed twice",
                j.job_id
            );
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// Two gateways; one is killed mid-load. Clients retry on the other with the same
/// `Idempotency-Key`: each job exists exactly once.
#[test]
fn killing_a_gateway_under_load_keeps_jobs_exactly_once() {
    let _heavy = crate::heavy();
    const JOBS: usize = 200;
    let rt = crate::runtime();
    let c = Cluster::new();
    let _w = c.worker("w", &["--workers", "2"]);
    let g1 = c.gateway("g1", &[]);
    let key = g1.bootstrap_key().unwrap();
    let mut g2 = c.gateway("g2", &[]);
    assert!(g2.bootstrap_key().is_none(), "the store was set up once");
    let c1 = Client::new(&g1.url(), Some(key.clone())).unwrap();
    let c2 = Client::new(&g2.url(), Some(key)).unwrap();
    let inputs: Vec<Vec<u8>> = (0..JOBS).map(|j| spin_input(1, &format!("g{j}"))).collect();
    let reqs = rt.block_on(requests(&c1, &c.client_sk, &inputs, None));
    let kill_at = JOBS / 3;
    let (ids, retried) = rt.block_on(async {
        let mut ids: HashMap<usize, String> = HashMap::new();
        let mut retried = 0;
        for (j, r) in reqs.iter().enumerate() {
            if j == kill_at {
                g2.kill9();
            }
            let key = format!("idem-{j}");
            // Alternate gateways; on a connection failure, retry on the other.
            let (first, other) = if j % 2 == 0 { (&c2, &c1) } else { (&c1, &c2) };
            let id = match first.submit(r, Some(&key)).await {
                Ok(resp) => resp.job_id,
                Err(ClientError::Http(_)) => {
                    retried += 1;
                    other.submit(r, Some(&key)).await.unwrap().job_id
                }
                Err(e) => panic!("job {j}: {e}"),
            };
            ids.insert(j, id);
        }
        (ids, retried)
    });
    assert!(retried > 0, "the killed gateway was never hit");
    rt.block_on(async {
        // Every key again, through the surviving gateway: the same job each time.
        for (j, r) in reqs.iter().enumerate() {
            let again = c1.submit(r, Some(&format!("idem-{j}"))).await.unwrap();
            assert_eq!(again.job_id, ids[&j], "job {j} duplicated or lost");
        }
        let listed = list_all(&c1).await;
        assert_eq!(listed.len(), JOBS, "each job exactly once");
        for id in ids.values() {
            assert_eq!(c1.status(id, 30).await.unwrap().status, "completed");
        }
    });
}

/// Redis is killed (`kill -9`) and restarted under load: gateways answer 503 while it is
/// down and recover by themselves; every job acknowledged with 202 completes.
#[test]
fn restarting_redis_under_load_loses_no_acknowledged_job() {
    let _heavy = crate::heavy();
    const JOBS: usize = 150;
    let rt = crate::runtime();
    let mut c = Cluster::new();
    // Short leases: a lease whose reply died with Redis is recovered when it runs out.
    let _w = c.worker("w", &["--workers", "2", "--lease-ms", "2000"]);
    let gw = c.gateway("gw", &[]);
    let client = Client::new(&gw.url(), gw.bootstrap_key()).unwrap();
    let inputs: Vec<Vec<u8>> = (0..JOBS).map(|j| spin_input(1, &format!("r{j}"))).collect();
    let reqs = rt.block_on(requests(&client, &c.client_sk, &inputs, None));
    let mut acked: HashMap<usize, String> = HashMap::new();
    let mut unavailable = 0;
    let mut j = 0;
    let mut restarted = false;
    while j < JOBS {
        if j == JOBS / 3 && !restarted {
            c.redis.kill();
            // While Redis is down: fail closed.
            let r = rt.block_on(client.submit(&reqs[j], Some(&format!("r-{j}"))));
            match r {
                Err(ClientError::Api { status, code, .. }) => {
                    assert_eq!(status, 503);
                    assert_eq!(code, "unavailable");
                    unavailable += 1;
                }
                other => panic!("expected 503 while Redis is down, got {other:?}"),
            }
            c.redis.restart();
            restarted = true;
        }
        match rt.block_on(client.submit(&reqs[j], Some(&format!("r-{j}")))) {
            Ok(resp) => {
                acked.insert(j, resp.job_id);
                j += 1;
            }
            Err(ClientError::Api { status: 503, .. }) => {
                // Reconnecting: the client retries the same key.
                unavailable += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("job {j}: {e}"),
        }
    }
    assert!(unavailable >= 1);
    rt.block_on(async {
        let keys = client.keys(None).await.unwrap();
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        for (j, id) in &acked {
            let body = result_within(&client, id, Duration::from_secs(90))
                .await
                .unwrap_or_else(|e| panic!("job {j} ({id}): {e}"));
            let v = verify_result(&body, &trusted, Some(&c.client_sk), None).unwrap();
            assert_eq!(v.plaintext.unwrap().stdout, inputs[*j]);
        }
    });
    eprintln!(
        "{} jobs acknowledged and completed; {unavailable} answers were 503",
        acked.len()
    );
}

/// The canary on Redis: a marker in a workload and its result crosses two processes and a
/// Redis server and appears in none of Redis's files (AOF), the nodes' data directories or
/// their logs at trace level, nor in the gateway's metrics and listings.
#[test]
fn canary_never_reaches_redis_or_the_gateway() {
    let _heavy = crate::heavy();
    use crate::privacy::{b64_of, hex_of, walk};
    let rt = crate::runtime();
    let c = Cluster::new();
    let mut args = vec![
        "--store".to_owned(),
        c.redis.url(),
        "--pool-key".to_owned(),
        c.pool_key.display().to_string(),
    ];
    let w = Proc::spawn_logging("worker", &c.path("w"), None, &args, "trace", &[]);
    args.truncate(2);
    let gw = Proc::spawn_logging(
        "gateway",
        &c.path("g"),
        Some(free_addr()),
        &args,
        "trace",
        &[],
    );
    let client = Client::new(&gw.url(), gw.bootstrap_key()).unwrap();
    let marker = format!("CANARY-{}", vesper_core::JobId::new_random());
    let module = wat::parse_str(crate::CAT).unwrap();
    rt.block_on(async {
        for _ in 0..3 {
            let req = sealed(&client, &c.client_sk, &module, marker.as_bytes()).await;
            let job = client.submit(&req, None).await.unwrap();
            let (_, body) = client.result(&job.job_id, 30).await.unwrap();
            let keys = client.keys(None).await.unwrap();
            let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
            let v = verify_result(&body, &trusted, Some(&c.client_sk), None).unwrap();
            assert_eq!(v.plaintext.unwrap().stdout, marker.as_bytes());
            for path in ["/metrics", "/api/jobs?limit=100", "/health"] {
                let text = reqwest::Client::new()
                    .get(format!("{}{path}", gw.url()))
                    .bearer_auth(gw.bootstrap_key().unwrap())
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert!(!text.contains(&marker), "{path}");
            }
        }
    });
    let needles = [marker.clone(), hex_of(&marker), b64_of(&marker)];
    let files: Vec<PathBuf> = walk(c.redis.dir())
        .into_iter()
        .chain(walk(&c.path("w")))
        .chain(walk(&c.path("g")))
        .chain([w.log.clone(), gw.log.clone()])
        .collect();
    assert!(
        files.iter().any(|f| f.to_string_lossy().contains(".aof")),
        "Redis wrote no AOF: {files:?}"
    );
    let mut scanned = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        scanned += bytes.len();
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|x| x == n.as_bytes()),
                "marker found in {}",
                f.display()
            );
        }
    }
    assert!(w.log_text().contains("job completed"), "trace log captured");
    assert!(scanned > 10_000, "scanned {scanned} bytes");
}

/// A tenant's rate limit holds across gateways: its state is in the shared store, so two
/// gateways together admit one bucket's worth, not two.
#[test]
fn a_tenants_rate_limit_is_shared_by_all_gateways() {
    let _heavy = crate::heavy();
    let rt = crate::runtime();
    let c = Cluster::new();
    // Gateways wait for a worker to publish the pool key.
    let _w = c.worker("w", &["--workers", "1"]);
    let g1 = c.gateway("g1", &[]);
    let g2 = c.gateway("g2", &[]);
    let key = g1.bootstrap_key().unwrap();
    // 1 request/s sustained, burst 10, for the bootstrap tenant.
    rt.block_on(async {
        let store = vesper_store::RedisStore::open(&c.redis.url(), Default::default())
            .await
            .unwrap();
        let t = store.find_tenant("default").await.unwrap().unwrap();
        store
            .set_tenant_settings(
                t,
                vesper_store::TenantSettings {
                    weight: 1,
                    rate_per_sec: Some(1),
                    burst: Some(10),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    });
    // No request has been made yet, so neither gateway has cached the old settings.
    let http = reqwest::blocking::Client::new();
    let (mut ok, mut limited) = (0, 0);
    let started = Instant::now();
    for i in 0..30 {
        let gw = if i % 2 == 0 { &g1 } else { &g2 };
        let r = http
            .get(format!("{}/api/jobs?limit=1", gw.url()))
            .bearer_auth(&key)
            .send()
            .unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                limited += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    // One shared bucket admits its 10 plus what refilled meanwhile (1/s); two separate
    // buckets would admit at least 20 in the same time.
    let refilled = started.elapsed().as_secs_f64().ceil() as u32;
    assert!(
        refilled + 11 < 20,
        "the loop took {refilled} s: too slow to tell one bucket from two"
    );
    assert!(
        (10..=10 + refilled + 1).contains(&ok),
        "{ok} admitted, {limited} limited in {refilled} s"
    );
    assert_eq!(ok + limited, 30);
}

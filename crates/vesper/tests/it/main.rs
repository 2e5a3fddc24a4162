//! End-to-end tests of the `vesper` binary and the API it serves.

mod api;
mod architecture;
mod callbacks;
mod cli;
mod console;
mod crash;
mod flood;
mod gateway;
mod hardening;
mod netns;
mod observability;
mod openapi;
mod privacy;
mod remote;
mod retention;
mod scale;
mod supervise;
mod wallet;
mod zk;
mod zk_gate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vesper_client::{Client, Program, seal_job};
use vesper_core::WorkloadType;
use vesper_crypto::X25519SecretKey;

pub const BIN: &str = env!("CARGO_BIN_EXE_vesper");

/// Held by the tests that start many processes and by the one that measures latency, so that
/// they never overlap on a 2-core machine: the latency test compares two phases of its own run,
/// and a neighbour starting five processes between them would decide the result instead.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// `cat`: copies stdin to stdout.
pub const CAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32)
    (loop $l
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 60000))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
      (local.set $n (i32.load (i32.const 16)))
      (if (local.get $n) (then
        (i32.store (i32.const 4) (local.get $n))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
        (br $l))))))"#;

/// Run `cmd`, require success, return its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A two-thread runtime for the synchronous tests that drive the client library.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A `vesper dev` child process.
pub struct DevProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    pub log: PathBuf,
}

impl DevProcess {
    pub fn start(data: &Path, addr: SocketAddr, extra: &[&str], log_level: &str) -> DevProcess {
        Self::start_with_env(data, addr, extra, log_level, &[])
    }

    /// [`DevProcess::start`] with extra environment variables (`KEY=VALUE`).
    pub fn start_with_env(
        data: &Path,
        addr: SocketAddr,
        extra: &[&str],
        log_level: &str,
        env: &[String],
    ) -> DevProcess {
        let log = data.with_extension(format!("log{}", rand_suffix()));
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .envs(env.iter().map(|kv| kv.split_once('=').expect("KEY=VALUE")))
            .arg("dev")
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg(addr.to_string())
            .args(extra)
            .env("VESPER_LOG", log_level)
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let p = DevProcess {
            child,
            addr,
            data: data.to_owned(),
            log,
        };
        p.wait_healthy();
        p
    }
    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "vesper dev did not come up; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn api_key(&self) -> String {
        let text = std::fs::read_to_string(self.data.join("dev-api-key")).unwrap();
        text.trim().split_once(':').unwrap().1.to_owned()
    }
    pub fn client(&self) -> Client {
        Client::new(&self.url(), Some(self.api_key())).unwrap()
    }
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
    /// SIGINT (Ctrl-C) and wait for a graceful exit.
    pub fn interrupt(&mut self) {
        unsafe_kill(self.child.id() as i32, "INT");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("vesper dev did not stop on SIGINT");
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: i32, sig: &str) {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

fn rand_suffix() -> String {
    format!(
        "{:x}",
        vesper_core::JobId::new_random().as_bytes()[0] as u32 * 65536 + std::process::id() % 65536
    )
}

/// Seal `input` for program `module` (registered first) with a fresh or given client key.
pub async fn sealed(
    client: &Client,
    sk: &X25519SecretKey,
    module: &[u8],
    input: &[u8],
) -> vesper_client::SubmitRequest {
    let keys = client.keys(None).await.unwrap();
    let pid = client.upload_program(module.to_vec()).await.unwrap();
    seal_job(
        &keys.pool_keys[0].1,
        &sk.public_key(),
        WorkloadType::General,
        Program::Registered(pid),
        input.to_vec(),
        None,
    )
    .unwrap()
    .request
}

//! Test harness support: a real `redis-server` on a free port, in a private directory, with
//! the durability settings Vesper recommends (AOF, `appendfsync always`).
//!
//! Tests that need Redis call [`RedisServer::start`]. When `redis-server` is not on `PATH` it
//! panics with instructions: a missing service fails loudly instead of skipping. Only setting
//! `VESPER_SKIP_REDIS=1` on purpose turns that into a skip ([`RedisServer::try_start`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    _tmp: Option<tempfile_dir::Dir>,
}

/// A private temporary directory, removed on drop (no dependency on `tempfile` here).
mod tempfile_dir {
    use std::path::PathBuf;
    pub struct Dir(pub PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl RedisServer {
    /// Start a server, or `None` when the operator asked to skip Redis tests
    /// (`VESPER_SKIP_REDIS=1`). Panics when `redis-server` is missing otherwise.
    pub fn try_start() -> Option<RedisServer> {
        if std::env::var("VESPER_SKIP_REDIS").as_deref() == Ok("1") {
            eprintln!("VESPER_SKIP_REDIS=1: skipping a test that needs Redis");
            return None;
        }
        Some(Self::start())
    }

    /// Start a server on a free port in a fresh directory. Panics if it cannot.
    pub fn start() -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "vesper-redis-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&dir).expect("create redis test directory");
        let mut s = RedisServer {
            child: None,
            port: free_port(),
            dir: dir.clone(),
            _tmp: Some(tempfile_dir::Dir(dir)),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(args(self.port, &self.dir))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}). The Redis backend tests need a real \
                     Redis: install it (Debian: apt-get install redis-server) or set \
                     VESPER_SKIP_REDIS=1 to skip them knowingly."
                )
            });
        self.child = Some(child);
        wait_ready(self.port, Duration::from_secs(20));
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `kill -9` the server (acknowledged writes are in the AOF).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port and directory (it replays its AOF).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Send one command in the inline protocol and return the raw reply (for assertions
    /// on the server itself, e.g. key layout).
    pub fn command(&self, line: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        s.write_all(format!("{line}\r\n").as_bytes())
            .expect("write");
        let mut buf = vec![0u8; 1 << 20];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn args(port: u16, dir: &Path) -> Vec<String> {
    vec![
        "--port".into(),
        port.to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--save".into(),
        String::new(),
        "--appendonly".into(),
        "yes".into(),
        "--appendfsync".into(),
        "always".into(),
        "--protected-mode".into(),
        "yes".into(),
    ]
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{t:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}

fn wait_ready(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_millis(500))).ok();
            let mut buf = [0u8; 64];
            if s.write_all(b"PING\r\n").is_ok()
                && let Ok(n) = s.read(&mut buf)
                && buf[..n].starts_with(b"+PONG")
            {
                return;
            }
        }
        if Instant::now() > deadline {
            panic!("redis-server on port {port} did not become ready");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! One node per data directory, and which earlier processes of this node are known dead.
//!
//! - [`DirLock`]: an exclusive advisory lock (`flock`) on `<dir>/lock`, which holds the PID of
//!   the process that holds it. The kernel drops the lock when that process exits, however it
//!   exits (`kill -9` included), so a stale lock file never blocks a restart.
//! - [`Incarnations`]: every start of a node is an incarnation with a random id, and its
//!   workers are named `<node-id>/<incarnation>/w<N>`. Start-up recovery expires only the leases
//!   of incarnations that are provably dead: earlier starts *in this very directory on this
//!   machine* (listed in `<dir>/incarnations`, written under the lock, so the process that ran
//!   them is gone). An incarnation recorded elsewhere (a data directory copied to another path
//!   or machine, whose original may still be running against the same Redis) is never
//!   touched: its leases expire at their deadline if, and only if, nobody renews them.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use crate::NodeError;

/// Name of the lock file in a locked directory.
pub const LOCK_FILE: &str = "lock";
/// Incarnations of this node whose leases are not yet known to be recovered.
const INCARNATIONS_FILE: &str = "incarnations";

/// An exclusive lock on a directory, held until dropped (or the process exits).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Lock `dir` (created if missing) for this process. Fails with [`NodeError::InUse`]
    /// naming the lock file and the holder's PID when another process holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, NodeError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::create_dir_all(dir).map_err(|source| NodeError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(LOCK_FILE);
        let io = |source| NodeError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(NodeError::InUse {
                    lock: path,
                    pid: text.trim().parse().ok(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(DirLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// This start's incarnation, and the earlier ones whose leases are to be recovered.
#[derive(Debug)]
pub struct Incarnations {
    pub current: String,
    /// Earlier incarnations of this node in this directory on this machine: dead (the lock
    /// proves it) and possibly holding leases. `legacy` marks a directory written before
    /// incarnations existed, whose workers were `<node-id>/w<N>`.
    pub previous: Vec<String>,
    pub legacy: bool,
    /// Incarnations the file recorded for another directory or machine: left alone.
    pub foreign: usize,
    origin: String,
    file: PathBuf,
}

/// Where an incarnation ran: this machine and this directory's canonical path.
fn origin(dir: &Path) -> String {
    let machine = std::fs::read_to_string("/etc/machine-id")
        .or_else(|_| std::fs::read_to_string("/proc/sys/kernel/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    format!("{machine}\t{}", path.display())
}

impl Incarnations {
    /// Start a new incarnation in `dir` (which the caller has locked): record it beside the
    /// unrecovered earlier ones before anything runs under it.
    pub fn begin(dir: &Path, _lock: &DirLock) -> Result<Incarnations, NodeError> {
        let file = dir.join(INCARNATIONS_FILE);
        let here = origin(dir);
        let mut previous = Vec::new();
        let mut foreign = 0;
        let legacy = match std::fs::read_to_string(&file) {
            Ok(text) => {
                // One line per incarnation: `<id>\t<machine>\t<canonical path>`.
                for line in text.lines() {
                    match line.split_once('\t') {
                        Some((id, at)) if is_incarnation(id) && at == here => {
                            previous.push(id.to_owned())
                        }
                        _ => foreign += 1,
                    }
                }
                false
            }
            // A node directory from before incarnations (it has a node id but no list): its
            // workers were named `<node-id>/w<N>`.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => dir.join("node-id").exists(),
            Err(source) => return Err(NodeError::Io { path: file, source }),
        };
        let current = hex::encode(rand::random::<[u8; 4]>());
        let me = Incarnations {
            current,
            previous,
            legacy,
            foreign,
            origin: here,
            file,
        };
        let mut all = me.previous.clone();
        all.push(me.current.clone());
        me.write(&all)?;
        Ok(me)
    }

    /// The worker-id prefixes whose leases belong to dead incarnations of `node_id`.
    pub fn dead_prefixes(&self, node_id: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .previous
            .iter()
            .map(|i| format!("{node_id}/{i}/"))
            .collect();
        if self.legacy {
            v.push(format!("{node_id}/w"));
        }
        v
    }

    /// The earlier incarnations' leases are recovered: forget them.
    pub fn recovered(&self) -> Result<(), NodeError> {
        self.write(std::slice::from_ref(&self.current))
    }

    fn write(&self, list: &[String]) -> Result<(), NodeError> {
        let io = |source| NodeError::Io {
            path: self.file.clone(),
            source,
        };
        let tmp = self.file.with_extension("tmp");
        let mut f = File::create(&tmp).map_err(io)?;
        for i in list {
            writeln!(f, "{i}\t{}", self.origin).map_err(io)?;
        }
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.file).map_err(io)
    }
}

fn is_incarnation(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_a_released_lock_is_free_again() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        match DirLock::acquire(dir.path()) {
            Err(NodeError::InUse { lock, pid }) => {
                assert_eq!(lock, dir.path().join(LOCK_FILE));
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(first);
        let _again = DirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn recovery_names_only_earlier_incarnations_of_this_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("node-id"), "dev-1").unwrap();
        let lock = DirLock::acquire(dir.path()).unwrap();
        // A directory from before incarnations: its old worker names are recovered.
        let a = Incarnations::begin(dir.path(), &lock).unwrap();
        assert_eq!(a.dead_prefixes("dev-1"), vec!["dev-1/w".to_owned()]);
        // Killed before recovery finished: the next start still recovers `a`'s leases.
        let b = Incarnations::begin(dir.path(), &lock).unwrap();
        let prefix = |i: &Incarnations| vec![format!("dev-1/{}/", i.current)];
        assert_eq!(b.dead_prefixes("dev-1"), prefix(&a));
        b.recovered().unwrap();
        let c = Incarnations::begin(dir.path(), &lock).unwrap();
        assert_eq!(c.dead_prefixes("dev-1"), prefix(&b));

        // A copy of the directory, whose original may be alive elsewhere: what the copy
        // inherited is never recovered by it; its own earlier starts are.
        let copy = tempfile::tempdir().unwrap();
        for f in ["node-id", "incarnations"] {
            std::fs::copy(dir.path().join(f), copy.path().join(f)).unwrap();
        }
        let copy_lock = DirLock::acquire(copy.path()).unwrap();
        let d = Incarnations::begin(copy.path(), &copy_lock).unwrap();
        assert!(d.dead_prefixes("dev-1").is_empty(), "{d:?}");
        assert_eq!(d.foreign, 2);
        let e = Incarnations::begin(copy.path(), &copy_lock).unwrap();
        assert_eq!(e.dead_prefixes("dev-1"), prefix(&d));
    }
}

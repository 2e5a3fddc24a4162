//! The CLI's local record of what it submitted, so that it can (1) check a receipt against the
//! job it sealed, also in a later `vesper result` / `vesper verify`, and (2) resend the
//! identical sealed request when `vesper submit --idempotency-key K` is run again after a
//! crash, which the gateway answers with the original job.
//!
//! Layout (directory 0700, files 0600, written atomically with fsync), under
//! `$VESPER_STATE_DIR`, else `$XDG_STATE_HOME/vesper`, else `~/.local/state/vesper`:
//! - `jobs/<job_id>.json`: program id, workload type and payload digest of a submitted job;
//! - `submits/<digest>.json`: for an idempotency key used with a gateway, the sealed request
//!   (ciphertext only), the program id and a digest of what the command was asked to run.
//!
//! Nothing here is plaintext: the sealed request is what the gateway stores anyway. Records
//! of idempotency keys are kept 7 days, job records 90 days.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use vesper_client::{JobFacts, SealedJob, SubmitRequest};
use vesper_core::{JobId, ProgramId, WorkloadType};

const KEEP_SUBMITS: Duration = Duration::from_secs(7 * 86_400);
const KEEP_JOBS: Duration = Duration::from_secs(90 * 86_400);

pub struct Journal {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct JobRecord {
    job_id: String,
    program_id: String,
    workload_type: String,
    payload_digest: String,
}

/// A submission made with an idempotency key.
#[derive(Serialize, Deserialize)]
struct SubmitRecord {
    gateway: String,
    idempotency_key: String,
    /// SHA-256 of what the command was asked to run (module, input, options): a later run with
    /// the same key but other contents is refused rather than answered with the old job.
    intent: String,
    job: JobRecord,
    request: SubmitRequest,
}

/// What a run of `vesper submit` was asked to do, as a digest (see [`SubmitRecord::intent`]).
pub fn intent_digest(parts: &[&[u8]]) -> String {
    let mut framed: Vec<&[u8]> = vec![b"vesper/v1/cli-intent\0"];
    let lens: Vec<[u8; 8]> = parts
        .iter()
        .map(|p| (p.len() as u64).to_be_bytes())
        .collect();
    for (p, l) in parts.iter().zip(&lens) {
        framed.push(l);
        framed.push(p);
    }
    hex::encode(vesper_core::sha256(&framed))
}

fn record_of(job_id: &str, s: &SealedJob) -> JobRecord {
    JobRecord {
        job_id: job_id.to_owned(),
        program_id: s.program_id.to_string(),
        workload_type: s.workload_type.as_str().to_owned(),
        payload_digest: hex::encode(s.payload_digest),
    }
}

impl Journal {
    /// The journal in the user's state directory (created 0700).
    pub fn open() -> anyhow::Result<Journal> {
        let dir = match std::env::var_os("VESPER_STATE_DIR") {
            Some(d) => PathBuf::from(d),
            None => match std::env::var_os("XDG_STATE_HOME") {
                Some(d) if !d.is_empty() => PathBuf::from(d).join("vesper"),
                _ => crate::cli::home().join(".local/state/vesper"),
            },
        };
        for sub in ["jobs", "submits"] {
            make_private_dir(&dir.join(sub))?;
        }
        make_private_dir(&dir)?;
        Ok(Journal { dir })
    }

    fn job_path(&self, job_id: &str) -> PathBuf {
        self.dir.join("jobs").join(format!("{job_id}.json"))
    }

    fn submit_path(&self, gateway: &str, key: &str) -> PathBuf {
        let name = hex::encode(vesper_core::sha256(&[
            b"vesper/v1/cli-submit\0",
            gateway.as_bytes(),
            b"\0",
            key.as_bytes(),
        ]));
        self.dir.join("submits").join(format!("{name}.json"))
    }

    /// Remember what job `job_id` is, to check its receipt later.
    pub fn record_job(&self, job_id: &str, sealed: &SealedJob) -> anyhow::Result<()> {
        write_private(
            &self.job_path(job_id),
            &serde_json::to_vec(&record_of(job_id, sealed))?,
        )
    }

    /// What this client submitted as job `job_id`, if it remembers.
    pub fn job_facts(&self, job_id: &JobId) -> Option<JobFacts> {
        let text = std::fs::read(self.job_path(&job_id.to_string())).ok()?;
        let r: JobRecord = serde_json::from_slice(&text).ok()?;
        Some(JobFacts {
            job_id: *job_id,
            program_id: Some(r.program_id.parse::<ProgramId>().ok()?),
            workload_type: r.workload_type.parse::<WorkloadType>().ok()?,
            payload_digest: parse_hex32(&r.payload_digest)?,
        })
    }

    /// The sealed request sent earlier with idempotency key `key` to `gateway`: `Ok(None)` when
    /// there is none, an error when there is one for other contents.
    pub fn earlier_submit(
        &self,
        gateway: &str,
        key: &str,
        intent: &str,
    ) -> anyhow::Result<Option<SealedJob>> {
        let path = self.submit_path(gateway, key);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let r: SubmitRecord = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a submission record", path.display()))?;
        if r.intent != intent {
            anyhow::bail!(
                "--idempotency-key {key} was used with {gateway} for another program, input or \
                 options; a retry must ask for the same job (or use a new key)"
            );
        }
        let bad = || anyhow::anyhow!("{} is damaged", path.display());
        Ok(Some(SealedJob {
            program_id: r.job.program_id.parse().map_err(|_| bad())?,
            workload_type: r.job.workload_type.parse().map_err(|_| bad())?,
            payload_digest: parse_hex32(&r.job.payload_digest).ok_or_else(bad)?,
            request: r.request,
        }))
    }

    /// Remember `sealed` under idempotency key `key` before it is sent: a retry resends it.
    pub fn save_submit(
        &self,
        gateway: &str,
        key: &str,
        intent: &str,
        sealed: &SealedJob,
    ) -> anyhow::Result<()> {
        let r = SubmitRecord {
            gateway: gateway.to_owned(),
            idempotency_key: key.to_owned(),
            intent: intent.to_owned(),
            job: record_of("", sealed),
            request: sealed.request.clone(),
        };
        write_private(&self.submit_path(gateway, key), &serde_json::to_vec(&r)?)
    }

    /// Forget records past their keeping time (best effort).
    pub fn prune(&self) {
        let now = SystemTime::now();
        for (sub, keep) in [("submits", KEEP_SUBMITS), ("jobs", KEEP_JOBS)] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age > keep);
                if old {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn make_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", dir.display()))
}

/// Write `bytes` to `path` (mode 0600) atomically and durably: a temporary file, fsync,
/// rename, fsync of the directory. A crash leaves the old file or the new one, never half.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().expect("journal files live in a directory");
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let ctx = || format!("writing {}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(ctx)?;
    f.write_all(bytes).with_context(ctx)?;
    f.sync_all().with_context(ctx)?;
    std::fs::rename(&tmp, path).with_context(ctx)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(ctx)
}

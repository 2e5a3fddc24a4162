//! The embedded backend: SQLite in WAL mode with `synchronous=FULL`.
//!
//! One writer thread owns the only write connection and applies operations in batches: it takes
//! the first queued operation, drains whatever else is waiting (up to `max_batch`), runs each in
//! its own savepoint inside one transaction, commits once (one fsync) and only then answers every
//! caller. That is group commit: durability per call, throughput of a batch. Reads go to a small
//! pool of read-only connections, which WAL lets run beside the writer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use vesper_core::sched::{Candidate, FairPolicy};
use vesper_core::{
    ErrorCode, JobId, JobStatus, Priority, ProgramId, Receipt, RetryDecision, RetryPolicy, Scopes,
    TenantId, Timestamp, WorkerId,
};

use crate::types::*;
use crate::{Result, Store, StoreError};

const SCHEMA_VERSION: i64 = 2;

/// Prepared statements kept per connection: more than the store has distinct statements.
const STATEMENT_CACHE: usize = 128;

/// The current schema, for a new database.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS tenants (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    weight INTEGER NOT NULL DEFAULT 1,
    max_queued INTEGER,
    jobs_per_day INTEGER,
    max_payload_bytes INTEGER,
    max_fuel INTEGER,
    rate_per_sec INTEGER,
    burst INTEGER,
    queued INTEGER NOT NULL DEFAULT 0,
    vtime INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash BLOB PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    scopes TEXT NOT NULL DEFAULT 'submit,read'
);
CREATE TABLE IF NOT EXISTS programs (
    program_id BLOB PRIMARY KEY,
    module BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BLOB NOT NULL UNIQUE,
    tenant_id INTEGER NOT NULL,
    workload_type TEXT NOT NULL,
    program_id BLOB,
    key_id TEXT NOT NULL,
    client_pubkey BLOB NOT NULL,
    payload_digest BLOB NOT NULL,
    priority INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    worker_id TEXT,
    retry_count INTEGER NOT NULL DEFAULT 0,
    max_retries INTEGER NOT NULL,
    available_at INTEGER NOT NULL,
    lease_epoch INTEGER NOT NULL DEFAULT 0,
    lease_expires_at INTEGER,
    error_code TEXT,
    idempotency_key TEXT,
    request_digest BLOB,
    callback_url TEXT,
    request_id TEXT,
    max_fuel INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_leases ON jobs(lease_expires_at) WHERE status = 'processing';
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS payloads (
    seq INTEGER PRIMARY KEY,
    encrypted_key BLOB NOT NULL,
    encrypted_payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    seq INTEGER PRIMARY KEY,
    encrypted_result BLOB NOT NULL,
    receipt BLOB NOT NULL,
    signature BLOB NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS results_expiry ON results(expires_at);
CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    pubkey BLOB NOT NULL,
    registered_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
"#;

/// Tables and indexes added in version 2 (both for new databases and for upgrades).
const SCHEMA_V2: &str = r#"
CREATE INDEX IF NOT EXISTS jobs_tenant_queue ON jobs(tenant_id, priority DESC, seq)
    WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs(tenant_id, seq);
DROP INDEX IF EXISTS jobs_queue;
CREATE TABLE IF NOT EXISTS wallets (
    wallet TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (
    nonce_key BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces(expires_at);
CREATE TABLE IF NOT EXISTS usage (
    tenant_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    jobs INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
CREATE TABLE IF NOT EXISTS callbacks (
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    url TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    PRIMARY KEY (seq, status)
);
CREATE INDEX IF NOT EXISTS callbacks_due ON callbacks(next_at) WHERE state = 'pending';
"#;

/// Version 1 → 2: columns for quotas, fairness, scopes, callbacks.
const MIGRATE_1_2: &str = r#"
ALTER TABLE tenants ADD COLUMN weight INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tenants ADD COLUMN max_queued INTEGER;
ALTER TABLE tenants ADD COLUMN jobs_per_day INTEGER;
ALTER TABLE tenants ADD COLUMN max_payload_bytes INTEGER;
ALTER TABLE tenants ADD COLUMN max_fuel INTEGER;
ALTER TABLE tenants ADD COLUMN rate_per_sec INTEGER;
ALTER TABLE tenants ADD COLUMN burst INTEGER;
ALTER TABLE tenants ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN vtime INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'submit,read,admin';
ALTER TABLE jobs ADD COLUMN callback_url TEXT;
ALTER TABLE jobs ADD COLUMN request_id TEXT;
ALTER TABLE jobs ADD COLUMN max_fuel INTEGER;
UPDATE tenants SET queued = (SELECT count(*) FROM jobs
    WHERE jobs.tenant_id = tenants.id AND jobs.status = 'queued');
"#;

/// Tuning for the embedded store.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Most operations committed together.
    pub max_batch: usize,
    /// Read connections kept open.
    pub readers: usize,
    /// Fairness between tenants.
    pub fair: FairPolicy,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            max_batch: 512,
            readers: 4,
            fair: FairPolicy::default(),
        }
    }
}

type Reply = Box<dyn FnOnce(Result<()>) + Send>;
type Op = Box<dyn FnOnce(&Connection, &mut Effects) -> Reply + Send>;

/// Side effects of a batch, published only after it is durable.
#[derive(Default)]
struct Effects {
    events: Vec<JobEvent>,
    work: bool,
}

impl Effects {
    fn event(&mut self, job_id: JobId, tenant: TenantId, status: JobStatus) {
        if status == JobStatus::Queued {
            self.work = true;
        }
        self.events.push(JobEvent {
            job_id,
            tenant,
            status,
        });
    }
}

pub struct SqliteStore {
    /// `None` for an in-memory store.
    path: Option<PathBuf>,
    writer: mpsc::Sender<Op>,
    readers: Mutex<Vec<Connection>>,
    max_readers: usize,
    events: broadcast::Sender<JobEvent>,
    work: Arc<Notify>,
    /// Modules are immutable by id, so they can be cached forever (bounded).
    programs: crate::cache::ProgramCache,
    /// Rate-limit state (`Store::rate_state`): process memory, bounded.
    rates: Mutex<HashMap<String, u64>>,
    sched: Arc<Sched>,
    _thread: std::thread::JoinHandle<()>,
}

/// Fair-scheduling state shared with the writer's operations.
struct Sched {
    policy: FairPolicy,
    /// The virtual time of the last job started (`vesper_core::sched`).
    system_vtime: AtomicU64,
}

/// Query-planner stability: a prepared statement keeps its plan whatever values are bound.
/// Without it SQLite re-prepares a statement whenever a parameter compared to an indexed column
/// changes (the bundled build has STAT4), which costs a parse per lease and per lookup.
fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Bring the database to [`SCHEMA_VERSION`], in one transaction.
fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )?;
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key='schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let version = match version {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| StoreError::Corrupt { table: "meta" })?,
        ),
    };
    let script = match version {
        None => format!("{SCHEMA}{SCHEMA_V2}"),
        Some(1) => format!("{MIGRATE_1_2}{SCHEMA_V2}"),
        Some(SCHEMA_VERSION) => return Ok(()),
        Some(_) => return Err(StoreError::Corrupt { table: "meta" }),
    };
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;{script}INSERT OR REPLACE INTO meta(key, value) \
         VALUES ('schema_version', '{SCHEMA_VERSION}');COMMIT;"
    ))
    .inspect_err(|_| {
        let _ = conn.execute_batch("ROLLBACK");
    })?;
    Ok(())
}

impl SqliteStore {
    /// Open (or create) the store at `path` (a file; its directory must exist).
    pub fn open(path: &Path, opts: SqliteOptions) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let store = Self::start(conn, Some(path.to_owned()), opts)?;
        restrict_permissions(path);
        Ok(store)
    }

    /// A store on an in-memory database: the same engine and behaviour, nothing on disk,
    /// nothing kept after the store is dropped. Reads go through the one connection.
    pub fn open_in_memory(opts: SqliteOptions) -> Result<Self> {
        Self::start(Connection::open_in_memory()?, None, opts)
    }

    fn start(conn: Connection, path: Option<PathBuf>, opts: SqliteOptions) -> Result<Self> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Every statement the writer runs stays prepared (the default LRU of 16 thrashes).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        stable_plans(&conn)?;
        migrate(&conn)?;
        // The system's virtual time restarts at the furthest any tenant got: conservative (a
        // returning tenant gets at most its burst credit) and cheap.
        let vtime: i64 =
            conn.query_row("SELECT coalesce(max(vtime), 0) FROM tenants", [], |r| {
                r.get(0)
            })?;
        let sched = Arc::new(Sched {
            policy: opts.fair,
            system_vtime: AtomicU64::new(vtime as u64),
        });

        let (events, _) = broadcast::channel(8192);
        let work = Arc::new(Notify::new());
        let (tx, rx) = mpsc::channel::<Op>(4096);
        let thread = {
            let events = events.clone();
            let work = work.clone();
            let max_batch = opts.max_batch.max(1);
            std::thread::Builder::new()
                .name("vesper-store-writer".into())
                .spawn(move || writer_loop(conn, rx, max_batch, events, work))
                .map_err(|_| StoreError::Unavailable)?
        };
        Ok(SqliteStore {
            path,
            writer: tx,
            readers: Mutex::new(Vec::new()),
            max_readers: opts.readers.max(1),
            events,
            work,
            programs: Default::default(),
            rates: Mutex::new(HashMap::new()),
            sched,
            _thread: thread,
        })
    }

    /// Run `f` in the writer's next batch; resolves after the batch is durable.
    async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &mut Effects) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op: Op = Box::new(move |conn, fx| {
            let r = in_savepoint(conn, fx, f);
            Box::new(move |commit: Result<()>| {
                let _ = tx.send(commit.and(r));
            })
        });
        self.writer
            .send(op)
            .await
            .map_err(|_| StoreError::Unavailable)?;
        rx.await.map_err(|_| StoreError::Unavailable)?
    }

    /// Run `f` on a read connection. Reads are point lookups on hot pages (microseconds) and
    /// WAL readers never wait for the writer, so they run inline rather than paying a thread
    /// hand-off per request.
    async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let Some(path) = &self.path else {
            return self.write(move |c, _| f(c)).await;
        };
        let conn = match self.readers.lock().expect("reader pool").pop() {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                stable_plans(&c)?;
                c
            }
        };
        let r = f(&conn);
        let mut pool = self.readers.lock().expect("reader pool");
        if pool.len() < self.max_readers {
            pool.push(conn);
        }
        r
    }
}

fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // The database holds ciphertext and key hashes only, but it is nobody else's business.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

fn in_savepoint<R>(
    conn: &Connection,
    fx: &mut Effects,
    f: impl FnOnce(&Connection, &mut Effects) -> Result<R>,
) -> Result<R> {
    conn.prepare_cached("SAVEPOINT op")?.execute([])?;
    let mut local = Effects::default();
    match f(conn, &mut local) {
        Ok(r) => {
            conn.prepare_cached("RELEASE op")?.execute([])?;
            fx.events.append(&mut local.events);
            fx.work |= local.work;
            Ok(r)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO op; RELEASE op")?;
            Err(e)
        }
    }
}

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Op>,
    max_batch: usize,
    events: broadcast::Sender<JobEvent>,
    work: Arc<Notify>,
) {
    let mut batch: Vec<Op> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut fx = Effects::default();
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let outcome = (|| -> Result<()> {
            let tx = conn.transaction()?;
            for op in batch.drain(..) {
                replies.push(op(&tx, &mut fx));
            }
            tx.commit()?;
            Ok(())
        })();
        // Anything left in `batch` (transaction failed to start) is dropped: callers see
        // Unavailable through their closed reply channel.
        batch.clear();
        // What every caller of the batch hears when the commit failed: a full disk by its
        // name, anything else as "unavailable" (the log has the cause).
        let failure = match &outcome {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(error = %e, "store commit failed");
                Some(matches!(e, StoreError::NoSpace))
            }
        };
        let failed = failure.is_some();
        // Events first, so that a caller who has its answer also finds them published.
        if !failed {
            for e in fx.events {
                let _ = events.send(e);
            }
            if fx.work {
                work.notify_waiters();
            }
        }
        for reply in replies {
            reply(match failure {
                None => Ok(()),
                Some(true) => Err(StoreError::NoSpace),
                Some(false) => Err(StoreError::Unavailable),
            });
        }
    }
}

const JOB_COLUMNS: &str = "job_id, tenant_id, workload_type, program_id, key_id, priority, status, \
     created_at, started_at, completed_at, worker_id, retry_count, max_retries, error_code, \
     payload_digest";

fn hex_encode(b: &[u8]) -> String {
    hex::encode(b)
}

fn hex_decode32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn blob32(row: &Row<'_>, idx: usize, table: &'static str) -> Result<[u8; 32]> {
    let v: Vec<u8> = row.get(idx)?;
    v.try_into().map_err(|_| StoreError::Corrupt { table })
}

fn job_from_row(row: &Row<'_>) -> Result<JobRecord> {
    let corrupt = || StoreError::Corrupt { table: "jobs" };
    let id: Vec<u8> = row.get(0)?;
    let program: Option<Vec<u8>> = row.get(3)?;
    let status: String = row.get(6)?;
    let error: Option<String> = row.get(13)?;
    let workload: String = row.get(2)?;
    let key_id: String = row.get(4)?;
    Ok(JobRecord {
        job_id: JobId::from_bytes(id.try_into().map_err(|_| corrupt())?),
        tenant: TenantId(row.get(1)?),
        workload_type: workload.parse().map_err(|_| corrupt())?,
        program_id: match program {
            None => None,
            Some(p) => Some(ProgramId(p.try_into().map_err(|_| corrupt())?)),
        },
        key_id: key_id.parse().map_err(|_| corrupt())?,
        priority: Priority::new(row.get(5)?).map_err(|_| corrupt())?,
        status: status.parse().map_err(|_| corrupt())?,
        created_at: Timestamp(row.get::<_, i64>(7)? as u64),
        started_at: row.get::<_, Option<i64>>(8)?.map(|v| Timestamp(v as u64)),
        completed_at: row.get::<_, Option<i64>>(9)?.map(|v| Timestamp(v as u64)),
        worker_id: row.get(10)?,
        retry_count: row.get(11)?,
        max_retries: row.get(12)?,
        error: match error {
            None => None,
            Some(e) => Some(e.parse().map_err(|_| corrupt())?),
        },
        payload_digest: blob32(row, 14, "jobs")?,
    })
}

fn load_job(conn: &Connection, id: &JobId) -> Result<Option<JobRecord>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![&id.as_bytes()[..]])?;
    match rows.next()? {
        Some(row) => Ok(Some(job_from_row(row)?)),
        None => Ok(None),
    }
}

fn load_tenant_job(conn: &Connection, tenant: TenantId, id: &JobId) -> Result<Option<JobRecord>> {
    Ok(load_job(conn, id)?.filter(|j| j.tenant == tenant))
}

/// Check the lease and return (seq, tenant, retry_count, max_retries).
fn check_lease(conn: &Connection, lease: &LeaseRef) -> Result<(i64, TenantId, u32, u32)> {
    conn.prepare_cached(
        "SELECT seq, tenant_id, retry_count, max_retries FROM jobs \
         WHERE job_id = ?1 AND status = 'processing' AND lease_epoch = ?2 AND worker_id = ?3",
    )?
    .query_row(
        params![
            &lease.job_id.as_bytes()[..],
            lease.epoch as i64,
            lease.worker.as_str()
        ],
        |r| Ok((r.get(0)?, TenantId(r.get(1)?), r.get(2)?, r.get(3)?)),
    )
    .optional()?
    .ok_or(StoreError::Fenced {
        job_id: lease.job_id,
        epoch: lease.epoch,
    })
}

/// A LIKE pattern matching strings that start with `prefix` literally (wildcards escaped;
/// use with `ESCAPE '\\'`).
fn like_prefix(prefix: &str) -> String {
    format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// What the job row says about the job, for checking a receipt against it.
fn job_facts(conn: &Connection, seq: i64, job_id: JobId) -> Result<vesper_core::JobFacts> {
    let corrupt = || StoreError::Corrupt { table: "jobs" };
    let (workload, program, digest): (String, Option<Vec<u8>>, Vec<u8>) = conn
        .prepare_cached(
            "SELECT workload_type, program_id, payload_digest FROM jobs WHERE seq = ?1",
        )?
        .query_row(params![seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(vesper_core::JobFacts {
        job_id,
        program_id: match program {
            None => None,
            Some(p) => Some(ProgramId(p.try_into().map_err(|_| corrupt())?)),
        },
        workload_type: workload.parse().map_err(|_| corrupt())?,
        payload_digest: digest.try_into().map_err(|_| corrupt())?,
    })
}

/// Apply a retry decision to a job row that is `processing`.
fn apply_retry(
    conn: &Connection,
    fx: &mut Effects,
    sched: &Sched,
    seq: i64,
    job_id: JobId,
    tenant: TenantId,
    decision: RetryDecision,
    code: ErrorCode,
    now: Timestamp,
) -> Result<()> {
    match decision {
        RetryDecision::Retry {
            not_before,
            retry_count,
        } => {
            conn.prepare_cached(
                "UPDATE jobs SET status = 'queued', retry_count = ?2, available_at = ?3, \
                 worker_id = NULL, lease_expires_at = NULL, error_code = ?4 WHERE seq = ?1",
            )?
            .execute(params![
                seq,
                retry_count,
                not_before.0 as i64,
                code.as_str()
            ])?;
            enqueue(conn, sched, tenant)?;
            fx.event(job_id, tenant, JobStatus::Queued);
        }
        RetryDecision::Fail { retry_count } => {
            conn.prepare_cached(
                "UPDATE jobs SET status = 'failed', retry_count = ?2, completed_at = ?3, \
                 lease_expires_at = NULL, error_code = ?4 WHERE seq = ?1",
            )?
            .execute(params![seq, retry_count, now.0 as i64, code.as_str()])?;
            conn.prepare_cached("DELETE FROM payloads WHERE seq = ?1")?
                .execute(params![seq])?;
            owe_callback(conn, seq, JobStatus::Failed, now)?;
            fx.event(job_id, tenant, JobStatus::Failed);
        }
    }
    Ok(())
}

fn expire_where(
    conn: &Connection,
    fx: &mut Effects,
    sched: &Sched,
    filter_sql: &str,
    arg: rusqlite::types::Value,
    now: Timestamp,
    policy: RetryPolicy,
) -> Result<Expired> {
    let sql = format!(
        "SELECT seq, job_id, tenant_id, retry_count, max_retries FROM jobs \
         WHERE status = 'processing' AND {filter_sql}"
    );
    let rows: Vec<(i64, Vec<u8>, i64, u32, u32)> = conn
        .prepare_cached(&sql)?
        .query_map(params![arg], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<std::result::Result<_, _>>()?;
    let mut out = Expired::default();
    for (seq, id, tenant, retries, max) in rows {
        let job_id = JobId::from_bytes(
            id.try_into()
                .map_err(|_| StoreError::Corrupt { table: "jobs" })?,
        );
        let decision = policy.decide(ErrorCode::LeaseExpired, retries, max, now);
        apply_retry(
            conn,
            fx,
            sched,
            seq,
            job_id,
            TenantId(tenant),
            decision,
            ErrorCode::LeaseExpired,
            now,
        )?;
        out.count(decision);
    }
    Ok(out)
}

const SETTINGS_COLUMNS: &str = "t.weight, t.max_queued, t.jobs_per_day, t.max_payload_bytes, t.max_fuel, t.rate_per_sec, t.burst";

fn opt_u64(row: &Row<'_>, idx: usize) -> Result<Option<u64>> {
    Ok(row.get::<_, Option<i64>>(idx)?.map(|v| v.max(0) as u64))
}

/// Settings from [`SETTINGS_COLUMNS`] starting at column `at`.
fn settings_from_row(row: &Row<'_>, at: usize) -> Result<TenantSettings> {
    Ok(TenantSettings {
        weight: row.get::<_, i64>(at)?.clamp(1, u32::MAX as i64) as u32,
        max_queued: opt_u64(row, at + 1)?,
        jobs_per_day: opt_u64(row, at + 2)?,
        max_payload_bytes: opt_u64(row, at + 3)?,
        max_fuel: opt_u64(row, at + 4)?,
        rate_per_sec: opt_u64(row, at + 5)?.map(|v| v.min(u32::MAX as u64) as u32),
        burst: opt_u64(row, at + 6)?.map(|v| v.min(u32::MAX as u64) as u32),
    })
}

fn principal_query(
    conn: &Connection,
    sql: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<Principal>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([key])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let scopes: String = row.get(1)?;
    Ok(Some(Principal {
        tenant: TenantId(row.get(0)?),
        scopes: scopes.parse::<Scopes>().map_err(|_| StoreError::Corrupt {
            table: "credentials",
        })?,
        settings: settings_from_row(row, 2)?,
    }))
}

/// A job of `tenant` became queued: count it, and when the tenant had nothing queued, bring
/// its virtual time forward to the system's (minus its burst credit).
fn enqueue(conn: &Connection, sched: &Sched, tenant: TenantId) -> Result<()> {
    let (queued, vtime, weight): (i64, i64, i64) = conn
        .prepare_cached("SELECT queued, vtime, weight FROM tenants WHERE id = ?1")?
        .query_row(params![tenant.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or(StoreError::TenantNotFound)?;
    let vtime = if queued <= 0 {
        sched.policy.reactivate(
            vtime as u64,
            weight as u32,
            sched.system_vtime.load(Ordering::Relaxed),
        )
    } else {
        vtime as u64
    };
    conn.prepare_cached(
        "UPDATE tenants SET queued = max(queued, 0) + 1, vtime = ?2 WHERE id = ?1",
    )?
    .execute(params![tenant.0, vtime as i64])?;
    Ok(())
}

fn dequeue(conn: &Connection, tenant: TenantId) -> Result<()> {
    conn.prepare_cached("UPDATE tenants SET queued = max(queued - 1, 0) WHERE id = ?1")?
        .execute(params![tenant.0])?;
    Ok(())
}

const DAY_MS: u64 = 86_400_000;

/// Insert one job (idempotency and quotas checked first). Shared by submit and batch.
fn submit_one(
    conn: &Connection,
    fx: &mut Effects,
    sched: &Sched,
    job: NewJob,
) -> Result<SubmitOutcome> {
    let c = conn;
    if let Some(key) = &job.idempotency_key {
        let existing: Option<(Vec<u8>, Vec<u8>)> = c
            .prepare_cached(
                "SELECT job_id, request_digest FROM jobs \
                 WHERE tenant_id = ?1 AND idempotency_key = ?2",
            )?
            .query_row(params![job.tenant.0, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((id, digest)) = existing {
            let id = JobId::from_bytes(
                id.try_into()
                    .map_err(|_| StoreError::Corrupt { table: "jobs" })?,
            );
            if digest != job.request_digest {
                return Ok(SubmitOutcome::IdempotencyConflict { existing: id });
            }
            let rec = load_job(c, &id)?.ok_or(StoreError::NotFound { job_id: id })?;
            return Ok(SubmitOutcome::Existing(rec));
        }
    }
    let queued: i64 = c
        .prepare_cached("SELECT queued FROM tenants WHERE id = ?1")?
        .query_row(params![job.tenant.0], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::TenantNotFound)?;
    if let Some(max) = job.quota.max_queued
        && queued.max(0) as u64 >= max
    {
        return Ok(SubmitOutcome::QuotaExceeded(QuotaKind::MaxQueued));
    }
    let day = (job.created_at.0 / DAY_MS) as i64;
    if let Some(max) = job.quota.jobs_per_day {
        let used: i64 = c
            .prepare_cached("SELECT jobs FROM usage WHERE tenant_id = ?1 AND day = ?2")?
            .query_row(params![job.tenant.0, day], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        if used.max(0) as u64 >= max {
            return Ok(SubmitOutcome::QuotaExceeded(QuotaKind::JobsPerDay));
        }
    }
    c.prepare_cached(
        "INSERT INTO jobs(job_id, tenant_id, workload_type, program_id, key_id, \
         client_pubkey, payload_digest, priority, status, created_at, max_retries, \
         available_at, idempotency_key, request_digest, callback_url, request_id, max_fuel) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?10, ?9, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        &job.job_id.as_bytes()[..],
        job.tenant.0,
        job.workload_type.as_str(),
        job.program_id.map(|p| p.0.to_vec()),
        job.key_id.as_str(),
        &job.client_pubkey[..],
        &vesper_core::sha256(&[&job.encrypted_key, &job.encrypted_payload])[..],
        job.priority.get(),
        job.created_at.0 as i64,
        job.max_retries,
        job.idempotency_key,
        &job.request_digest[..],
        job.callback_url,
        job.request_id,
        job.max_fuel.map(|f| f.min(i64::MAX as u64) as i64),
    ])?;
    let seq = c.last_insert_rowid();
    c.prepare_cached(
        "INSERT INTO payloads(seq, encrypted_key, encrypted_payload) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![seq, job.encrypted_key, job.encrypted_payload])?;
    enqueue(c, sched, job.tenant)?;
    c.prepare_cached(
        "INSERT INTO usage(tenant_id, day, jobs) VALUES (?1, ?2, 1) \
         ON CONFLICT(tenant_id, day) DO UPDATE SET jobs = jobs + 1",
    )?
    .execute(params![job.tenant.0, day])?;
    fx.event(job.job_id, job.tenant, JobStatus::Queued);
    let rec = load_job(c, &job.job_id)?.ok_or(StoreError::NotFound { job_id: job.job_id })?;
    Ok(SubmitOutcome::Created(rec))
}

/// Record that the client is owed a callback announcing `status` (if it asked for one).
fn owe_callback(conn: &Connection, seq: i64, status: JobStatus, now: Timestamp) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO callbacks(seq, status, url, next_at) \
         SELECT seq, ?2, callback_url, ?3 FROM jobs WHERE seq = ?1 AND callback_url IS NOT NULL",
    )?
    .execute(params![seq, status.as_str(), now.0 as i64])?;
    Ok(())
}

fn load_job_by_seq(conn: &Connection, seq: i64) -> Result<Option<JobRecord>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE seq = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![seq])?;
    match rows.next()? {
        Some(row) => Ok(Some(job_from_row(row)?)),
        None => Ok(None),
    }
}

/// Pick the next job to lease: gather each ready tenant's head job, let the fair policy
/// choose. Returns (seq, tenant, tenant's vtime, weight).
fn pick_next(
    conn: &Connection,
    sched: &Sched,
    now: Timestamp,
) -> Result<Option<(i64, TenantId, u64, u32)>> {
    let tenants: Vec<(i64, i64, i64)> = conn
        .prepare_cached("SELECT id, vtime, weight FROM tenants WHERE queued > 0 AND disabled = 0")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<std::result::Result<_, _>>()?;
    let mut cands = Vec::with_capacity(tenants.len());
    let mut meta = Vec::with_capacity(tenants.len());
    let mut head = conn.prepare_cached(
        "SELECT seq, priority FROM jobs WHERE tenant_id = ?1 AND status = 'queued' \
         AND available_at <= ?2 ORDER BY priority DESC, seq ASC LIMIT 1",
    )?;
    for (id, vtime, weight) in tenants {
        let Some((seq, prio)) = head
            .query_row(params![id, now.0 as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?
        else {
            continue;
        };
        cands.push(Candidate {
            tenant: TenantId(id),
            vtime: vtime as u64,
            head_priority: Priority::new(prio)
                .map_err(|_| StoreError::Corrupt { table: "jobs" })?,
            head_seq: seq,
        });
        meta.push((seq, weight.clamp(1, u32::MAX as i64) as u32));
    }
    Ok(sched.policy.pick(&cands).map(|i| {
        let c = cands[i];
        (meta[i].0, c.tenant, c.vtime, meta[i].1)
    }))
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<TenantId> {
        let name = name.to_owned();
        self.write(move |c, _| {
            match c.execute(
                "INSERT INTO tenants(name, created_at) VALUES (?1, ?2)",
                params![name, now.0 as i64],
            ) {
                Ok(_) => Ok(TenantId(c.last_insert_rowid())),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::TenantExists)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn find_tenant(&self, name: &str) -> Result<Option<TenantId>> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT id FROM tenants WHERE name = ?1")?
                .query_row(params![name], |r| r.get(0))
                .optional()?
                .map(TenantId))
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>> {
        self.read(|c| {
            let sql = format!(
                "SELECT t.id, t.name, t.created_at, t.disabled, t.queued, {SETTINGS_COLUMNS} \
                 FROM tenants t ORDER BY t.id"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(TenantRecord {
                    id: TenantId(r.get(0)?),
                    name: r.get(1)?,
                    created_at: Timestamp(r.get::<_, i64>(2)? as u64),
                    disabled: r.get::<_, i64>(3)? != 0,
                    queued: r.get::<_, i64>(4)?.max(0) as u64,
                    settings: settings_from_row(r, 5)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn set_tenant_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let name = name.to_owned();
        self.write(move |c, fx| {
            let n = c.execute(
                "UPDATE tenants SET disabled = ?2 WHERE name = ?1",
                params![name, disabled as i64],
            )?;
            if n == 0 {
                return Err(StoreError::TenantNotFound);
            }
            // Re-enabling may make queued jobs leasable again.
            fx.work = true;
            Ok(())
        })
        .await
    }

    async fn set_tenant_settings(&self, tenant: TenantId, settings: TenantSettings) -> Result<()> {
        self.write(move |c, _| {
            let o = |v: Option<u64>| v.map(|v| v.min(i64::MAX as u64) as i64);
            let n = c.execute(
                "UPDATE tenants SET weight = ?2, max_queued = ?3, jobs_per_day = ?4, \
                 max_payload_bytes = ?5, max_fuel = ?6, rate_per_sec = ?7, burst = ?8 WHERE id = ?1",
                params![
                    tenant.0,
                    settings.weight.max(1),
                    o(settings.max_queued),
                    o(settings.jobs_per_day),
                    o(settings.max_payload_bytes),
                    o(settings.max_fuel),
                    settings.rate_per_sec,
                    settings.burst,
                ],
            )?;
            if n == 0 {
                return Err(StoreError::TenantNotFound);
            }
            Ok(())
        })
        .await
    }

    async fn add_api_key(
        &self,
        tenant: TenantId,
        key_hash: [u8; 32],
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<()> {
        self.write(move |c, _| {
            c.execute(
                "INSERT INTO api_keys(key_hash, tenant_id, created_at, scopes) VALUES (?1, ?2, ?3, ?4)",
                params![&key_hash[..], tenant.0, now.0 as i64, scopes.to_string()],
            )?;
            Ok(())
        })
        .await
    }

    async fn revoke_api_key(&self, tenant: TenantId, hash_prefix: &str) -> Result<u64> {
        let prefix = hash_prefix.to_ascii_uppercase();
        if prefix.len() < 12 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(0);
        }
        self.write(move |c, _| {
            let n = c.execute(
                "UPDATE api_keys SET revoked = 1 WHERE tenant_id = ?1 AND revoked = 0 \
                 AND substr(hex(key_hash), 1, length(?2)) = ?2",
                params![tenant.0, prefix],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn principal_for_key(&self, key_hash: [u8; 32]) -> Result<Option<Principal>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT k.tenant_id, k.scopes, {SETTINGS_COLUMNS} FROM api_keys k \
                 JOIN tenants t ON t.id = k.tenant_id \
                 WHERE k.key_hash = ?1 AND k.revoked = 0 AND t.disabled = 0"
            );
            principal_query(c, &sql, &&key_hash[..])
        })
        .await
    }

    async fn add_wallet(
        &self,
        tenant: TenantId,
        wallet: &str,
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<()> {
        let wallet = wallet.to_owned();
        self.write(move |c, _| {
            match c.execute(
                "INSERT INTO wallets(wallet, tenant_id, scopes, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![wallet, tenant.0, scopes.to_string(), now.0 as i64],
            ) {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::CredentialExists)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn revoke_wallet(&self, wallet: &str) -> Result<bool> {
        let wallet = wallet.to_owned();
        self.write(move |c, _| {
            Ok(c.execute("DELETE FROM wallets WHERE wallet = ?1", params![wallet])? > 0)
        })
        .await
    }

    async fn principal_for_wallet(&self, wallet: &str) -> Result<Option<Principal>> {
        let wallet = wallet.to_owned();
        self.read(move |c| {
            let sql = format!(
                "SELECT w.tenant_id, w.scopes, {SETTINGS_COLUMNS} FROM wallets w \
                 JOIN tenants t ON t.id = w.tenant_id WHERE w.wallet = ?1 AND t.disabled = 0"
            );
            principal_query(c, &sql, &wallet)
        })
        .await
    }

    async fn remember_nonce(
        &self,
        key: [u8; 32],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.write(move |c, _| {
            // New, or remembered once but already past its window: accept and (re)arm.
            let n = c
                .prepare_cached(
                    "INSERT INTO nonces(nonce_key, expires_at) VALUES (?1, ?2) \
                     ON CONFLICT(nonce_key) DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE nonces.expires_at <= ?3",
                )?
                .execute(params![&key[..], expires_at.0 as i64, now.0 as i64])?;
            Ok(n == 1)
        })
        .await
    }

    async fn put_program(&self, id: ProgramId, module: Vec<u8>, now: Timestamp) -> Result<bool> {
        self.write(move |c, _| {
            let n = c.execute(
                "INSERT OR IGNORE INTO programs(program_id, module, created_at) VALUES (?1, ?2, ?3)",
                params![&id.0[..], module, now.0 as i64],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn get_program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>> {
        if let Some(m) = self.programs.get(&id) {
            return Ok(Some(m));
        }
        let module: Option<Vec<u8>> = self
            .read(move |c| {
                Ok(
                    c.prepare_cached("SELECT module FROM programs WHERE program_id = ?1")?
                        .query_row(params![&id.0[..]], |r| r.get(0))
                        .optional()?,
                )
            })
            .await?;
        Ok(module.map(|m| self.programs.insert(id, m)))
    }

    async fn has_program(&self, id: ProgramId) -> Result<bool> {
        if self.programs.contains(&id) {
            return Ok(true);
        }
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM programs WHERE program_id = ?1")?
                    .query_row(params![&id.0[..]], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
        .await
    }

    async fn submit(&self, job: NewJob) -> Result<SubmitOutcome> {
        let sched = self.sched.clone();
        self.write(move |c, fx| submit_one(c, fx, &sched, job))
            .await
    }

    async fn submit_batch(&self, jobs: Vec<NewJob>) -> Result<BatchOutcome> {
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            c.prepare_cached("SAVEPOINT batch")?.execute([])?;
            let mut local = Effects::default();
            let mut out = Vec::with_capacity(jobs.len());
            for (index, job) in jobs.into_iter().enumerate() {
                let outcome = match submit_one(c, &mut local, &sched, job) {
                    Ok(o) => o,
                    Err(e) => {
                        c.execute_batch("ROLLBACK TO batch; RELEASE batch")?;
                        return Err(e);
                    }
                };
                if matches!(
                    outcome,
                    SubmitOutcome::IdempotencyConflict { .. } | SubmitOutcome::QuotaExceeded(_)
                ) {
                    c.execute_batch("ROLLBACK TO batch; RELEASE batch")?;
                    return Ok(BatchOutcome::Rejected { index, outcome });
                }
                out.push(outcome);
            }
            c.prepare_cached("RELEASE batch")?.execute([])?;
            fx.events.append(&mut local.events);
            fx.work |= local.work;
            Ok(BatchOutcome::Accepted(out))
        })
        .await
    }

    async fn list_jobs(
        &self,
        tenant: TenantId,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<JobPage> {
        let limit = limit.clamp(1, 1000);
        self.read(move |c| {
            let sql = format!(
                "SELECT {JOB_COLUMNS}, seq FROM jobs WHERE tenant_id = ?1 \
                 AND (?2 IS NULL OR status = ?2) AND seq < ?3 ORDER BY seq DESC LIMIT ?4"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(params![
                tenant.0,
                status.map(|s| s.as_str()),
                before.unwrap_or(i64::MAX),
                limit as i64 + 1
            ])?;
            let mut jobs = Vec::new();
            let mut seqs = Vec::new();
            while let Some(r) = rows.next()? {
                jobs.push(job_from_row(r)?);
                seqs.push(r.get::<_, i64>(15)?);
            }
            let next = if jobs.len() > limit as usize {
                jobs.truncate(limit as usize);
                Some(seqs[limit as usize - 1])
            } else {
                None
            };
            Ok(JobPage { jobs, next })
        })
        .await
    }

    async fn job(&self, tenant: TenantId, id: JobId) -> Result<Option<JobRecord>> {
        self.read(move |c| load_tenant_job(c, tenant, &id)).await
    }

    async fn result(&self, tenant: TenantId, id: JobId) -> Result<Option<StoredResult>> {
        self.read(move |c| {
            let Some(job) = load_tenant_job(c, tenant, &id)? else {
                return Ok(None);
            };
            let body = c
                .prepare_cached(
                    "SELECT r.encrypted_result, r.receipt, r.signature, r.expires_at \
                     FROM results r JOIN jobs j ON j.seq = r.seq WHERE j.job_id = ?1",
                )?
                .query_row(params![&id.as_bytes()[..]], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .optional()?;
            let body = match body {
                None => None,
                Some((encrypted_result, receipt, sig, expires)) => Some(NewResult {
                    encrypted_result,
                    receipt: Receipt::decode(&receipt)
                        .map_err(|_| StoreError::Corrupt { table: "results" })?,
                    signature: sig
                        .try_into()
                        .map_err(|_| StoreError::Corrupt { table: "results" })?,
                    expires_at: Timestamp(expires as u64),
                }),
            };
            Ok(Some(StoredResult { job, body }))
        })
        .await
    }

    async fn cancel(&self, tenant: TenantId, id: JobId, now: Timestamp) -> Result<CancelOutcome> {
        self.write(move |c, fx| {
            let Some(job) = load_tenant_job(c, tenant, &id)? else {
                return Ok(CancelOutcome::NotFound);
            };
            if job.status != JobStatus::Queued {
                return Ok(CancelOutcome::NotCancellable(job));
            }
            c.prepare_cached(
                "UPDATE jobs SET status = 'cancelled', completed_at = ?2 WHERE job_id = ?1",
            )?
            .execute(params![&id.as_bytes()[..], now.0 as i64])?;
            c.prepare_cached(
                "DELETE FROM payloads WHERE seq = (SELECT seq FROM jobs WHERE job_id = ?1)",
            )?
            .execute(params![&id.as_bytes()[..]])?;
            dequeue(c, tenant)?;
            let seq: i64 = c
                .prepare_cached("SELECT seq FROM jobs WHERE job_id = ?1")?
                .query_row(params![&id.as_bytes()[..]], |r| r.get(0))?;
            owe_callback(c, seq, JobStatus::Cancelled, now)?;
            fx.event(id, tenant, JobStatus::Cancelled);
            let job = load_job(c, &id)?.ok_or(StoreError::NotFound { job_id: id })?;
            Ok(CancelOutcome::Cancelled(job))
        })
        .await
    }

    async fn queue_depth(&self) -> Result<u64> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT coalesce(sum(max(queued, 0)), 0) FROM tenants")?
                    .query_row([], |r| r.get::<_, i64>(0))? as u64,
            )
        })
        .await
    }

    async fn lease(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<Option<LeasedJob>> {
        let worker = worker.clone();
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            // Fair between tenants, priority then FIFO within one; skip jobs backing off.
            let Some((seq, tenant, vtime, weight)) = pick_next(c, &sched, now)? else {
                return Ok(None);
            };
            sched.system_vtime.fetch_max(vtime, Ordering::Relaxed);
            c.prepare_cached(
                "UPDATE tenants SET queued = max(queued - 1, 0), vtime = ?2 WHERE id = ?1",
            )?
            .execute(params![tenant.0, sched.policy.charge(vtime, weight) as i64])?;
            let expires = now.plus_ms(lease_ms);
            let row = c
                .prepare_cached(
                    "UPDATE jobs SET status = 'processing', worker_id = ?2, \
                     lease_epoch = lease_epoch + 1, lease_expires_at = ?3, started_at = ?4 \
                     WHERE seq = ?1 \
                     RETURNING job_id, tenant_id, lease_epoch, workload_type, program_id, key_id, \
                     client_pubkey, payload_digest, created_at, retry_count, max_fuel, request_id",
                )?
                .query_row(
                    params![seq, worker.as_str(), expires.0 as i64, now.0 as i64],
                    |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<Vec<u8>>>(4)?,
                            r.get::<_, String>(5)?,
                            r.get::<_, Vec<u8>>(6)?,
                            r.get::<_, Vec<u8>>(7)?,
                            r.get::<_, i64>(8)?,
                            r.get::<_, u32>(9)?,
                            r.get::<_, Option<i64>>(10)?,
                            r.get::<_, Option<String>>(11)?,
                        ))
                    },
                )?;
            let (encrypted_key, encrypted_payload): (Vec<u8>, Vec<u8>) = c
                .prepare_cached(
                    "SELECT encrypted_key, encrypted_payload FROM payloads WHERE seq = ?1",
                )?
                .query_row(params![seq], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let corrupt = || StoreError::Corrupt { table: "jobs" };
            let job_id = JobId::from_bytes(row.0.try_into().map_err(|_| corrupt())?);
            fx.event(job_id, TenantId(row.1), JobStatus::Processing);
            Ok(Some(LeasedJob {
                lease: LeaseRef {
                    job_id,
                    epoch: row.2 as u64,
                    worker: worker.clone(),
                },
                lease_expires_at: expires,
                workload_type: row.3.parse().map_err(|_| corrupt())?,
                program_id: match row.4 {
                    None => None,
                    Some(p) => Some(ProgramId(p.try_into().map_err(|_| corrupt())?)),
                },
                key_id: row.5.parse().map_err(|_| corrupt())?,
                client_pubkey: row.6.try_into().map_err(|_| corrupt())?,
                encrypted_key,
                encrypted_payload,
                payload_digest: row.7.try_into().map_err(|_| corrupt())?,
                created_at: Timestamp(row.8 as u64),
                retry_count: row.9,
                max_fuel: row.10.map(|f| f.max(0) as u64),
                request_id: row.11,
            }))
        })
        .await
    }

    async fn heartbeat(&self, lease: &LeaseRef, now: Timestamp, lease_ms: u64) -> Result<()> {
        let lease = lease.clone();
        self.write(move |c, _| {
            let (seq, ..) = check_lease(c, &lease)?;
            c.prepare_cached("UPDATE jobs SET lease_expires_at = ?2 WHERE seq = ?1")?
                .execute(params![seq, now.plus_ms(lease_ms).0 as i64])?;
            Ok(())
        })
        .await
    }

    async fn complete(&self, lease: &LeaseRef, result: NewResult, now: Timestamp) -> Result<()> {
        let lease = lease.clone();
        self.write(move |c, fx| {
            let (seq, tenant, ..) = check_lease(c, &lease)?;
            result.check_against(&job_facts(c, seq, lease.job_id)?, &lease)?;
            c.prepare_cached(
                "UPDATE jobs SET status = 'completed', completed_at = ?2, \
                 lease_expires_at = NULL, error_code = NULL WHERE seq = ?1",
            )?
            .execute(params![seq, now.0 as i64])?;
            c.prepare_cached(
                "INSERT INTO results(seq, encrypted_result, receipt, signature, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                seq,
                result.encrypted_result,
                result.receipt.encode(),
                &result.signature[..],
                result.expires_at.0 as i64
            ])?;
            c.prepare_cached("DELETE FROM payloads WHERE seq = ?1")?
                .execute(params![seq])?;
            owe_callback(c, seq, JobStatus::Completed, now)?;
            fx.event(lease.job_id, tenant, JobStatus::Completed);
            Ok(())
        })
        .await
    }

    async fn fail(
        &self,
        lease: &LeaseRef,
        code: ErrorCode,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<RetryDecision> {
        let lease = lease.clone();
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            let (seq, tenant, retries, max) = check_lease(c, &lease)?;
            let decision = policy.decide(code, retries, max, now);
            apply_retry(
                c,
                fx,
                &sched,
                seq,
                lease.job_id,
                tenant,
                decision,
                code,
                now,
            )?;
            Ok(decision)
        })
        .await
    }

    async fn release(&self, lease: &LeaseRef) -> Result<()> {
        let lease = lease.clone();
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            let (seq, tenant, ..) = check_lease(c, &lease)?;
            c.prepare_cached(
                "UPDATE jobs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL, \
                 started_at = NULL WHERE seq = ?1",
            )?
            .execute(params![seq])?;
            enqueue(c, &sched, tenant)?;
            fx.event(lease.job_id, tenant, JobStatus::Queued);
            Ok(())
        })
        .await
    }

    async fn requeue_expired(&self, now: Timestamp, policy: RetryPolicy) -> Result<Expired> {
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            expire_where(
                c,
                fx,
                &sched,
                "lease_expires_at <= ?1",
                (now.0 as i64).into(),
                now,
                policy,
            )
        })
        .await
    }

    async fn expire_leases_of(
        &self,
        prefix: &str,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<Expired> {
        let pattern = like_prefix(prefix);
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            expire_where(
                c,
                fx,
                &sched,
                "worker_id LIKE ?1 ESCAPE '\\'",
                pattern.into(),
                now,
                policy,
            )
        })
        .await
    }

    async fn purge_expired_results(&self, now: Timestamp) -> Result<u64> {
        self.write(move |c, _| {
            let n = c
                .prepare_cached("DELETE FROM results WHERE expires_at <= ?1")?
                .execute(params![now.0 as i64])?;
            c.prepare_cached("DELETE FROM nonces WHERE expires_at <= ?1")?
                .execute(params![now.0 as i64])?;
            // Daily usage counters are needed for today only; keep a week for operators.
            c.prepare_cached("DELETE FROM usage WHERE day < ?1")?
                .execute(params![(now.0 / DAY_MS) as i64 - 7])?;
            Ok(n as u64)
        })
        .await
    }

    async fn claim_callbacks(
        &self,
        now: Timestamp,
        limit: u32,
        lease_ms: u64,
    ) -> Result<Vec<PendingCallback>> {
        // Almost always nothing is due: answer that from a read connection, without a commit.
        let due = self
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT 1 FROM callbacks WHERE state = 'pending' AND next_at <= ?1 LIMIT 1",
                )?
                .query_row(params![now.0 as i64], |_| Ok(()))
                .optional()?
                .is_some())
            })
            .await?;
        if !due {
            return Ok(Vec::new());
        }
        self.write(move |c, _| {
            let due: Vec<(i64, String, String, u32)> = c
                .prepare_cached(
                    "SELECT seq, status, url, attempts FROM callbacks \
                     WHERE state = 'pending' AND next_at <= ?1 ORDER BY next_at LIMIT ?2",
                )?
                .query_map(params![now.0 as i64, limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<std::result::Result<_, _>>()?;
            let mut out = Vec::with_capacity(due.len());
            for (seq, status, url, attempts) in due {
                c.prepare_cached(
                    "UPDATE callbacks SET next_at = ?3 WHERE seq = ?1 AND status = ?2",
                )?
                .execute(params![seq, status, now.plus_ms(lease_ms).0 as i64])?;
                let corrupt = || StoreError::Corrupt { table: "callbacks" };
                let job = load_job_by_seq(c, seq)?.ok_or_else(corrupt)?;
                out.push(PendingCallback {
                    job,
                    status: status.parse().map_err(|_| corrupt())?,
                    url,
                    attempts,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn finish_callback(
        &self,
        job_id: JobId,
        status: JobStatus,
        outcome: CallbackOutcome,
    ) -> Result<()> {
        self.write(move |c, _| {
            let (state, next_at, error) = match outcome {
                CallbackOutcome::Delivered => ("delivered", None, None),
                CallbackOutcome::Retry { at, error } => ("pending", Some(at.0 as i64), Some(error)),
                CallbackOutcome::Dead { error } => ("dead", None, Some(error)),
            };
            c.prepare_cached(
                "UPDATE callbacks SET state = ?3, attempts = attempts + 1, \
                 next_at = coalesce(?4, next_at), last_error = ?5 \
                 WHERE seq = (SELECT seq FROM jobs WHERE job_id = ?1) AND status = ?2",
            )?
            .execute(params![
                &job_id.as_bytes()[..],
                status.as_str(),
                state,
                next_at,
                error
            ])?;
            Ok(())
        })
        .await
    }

    async fn publish_pool_key(
        &self,
        key_id: &str,
        public_key: [u8; 32],
        _now: Timestamp,
    ) -> Result<()> {
        // Kept in `meta` (no schema change): `pool_key:<key id>` → hex public key.
        let key = format!("pool_key:{key_id}");
        self.write(move |c, _| {
            c.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, ?2)",
                params![key, hex_encode(&public_key)],
            )?;
            Ok(())
        })
        .await
    }

    async fn pool_keys(&self) -> Result<Vec<[u8; 32]>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT value FROM meta WHERE key LIKE 'pool\\_key:%' ESCAPE '\\' ORDER BY rowid",
            )?;
            let rows: Vec<String> = stmt
                .query_map([], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?;
            rows.iter()
                .map(|h| hex_decode32(h).ok_or(StoreError::Corrupt { table: "meta" }))
                .collect()
        })
        .await
    }

    // One process owns an embedded store, so rate-limit state is that process's memory.
    async fn rate_state(&self, key: &str) -> Result<Option<u64>> {
        Ok(self.rates.lock().expect("rate state").get(key).copied())
    }

    async fn rate_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        new: u64,
        _ttl_ms: u64,
    ) -> Result<bool> {
        let mut rates = self.rates.lock().expect("rate state");
        if rates.get(key).copied() != expected {
            return Ok(false);
        }
        if rates.len() >= 100_000 && expected.is_none() {
            rates.clear();
        }
        rates.insert(key.to_owned(), new);
        Ok(true)
    }

    async fn register_worker(&self, id: &WorkerId, pubkey: [u8; 32], now: Timestamp) -> Result<()> {
        let id = id.clone();
        self.write(move |c, _| {
            c.execute(
                "INSERT INTO workers(worker_id, pubkey, registered_at, last_seen) \
                 VALUES (?1, ?2, ?3, ?3) \
                 ON CONFLICT(worker_id) DO UPDATE SET pubkey = excluded.pubkey, \
                 last_seen = excluded.last_seen",
                params![id.as_str(), &pubkey[..], now.0 as i64],
            )?;
            Ok(())
        })
        .await
    }

    async fn forget_workers(&self, prefix: &str) -> Result<u64> {
        let pattern = like_prefix(prefix);
        self.write(move |c, _| {
            Ok(
                c.prepare_cached("DELETE FROM workers WHERE worker_id LIKE ?1 ESCAPE '\\'")?
                    .execute(params![pattern])? as u64,
            )
        })
        .await
    }

    async fn workers(&self) -> Result<Vec<WorkerRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT worker_id, pubkey, registered_at, last_seen FROM workers ORDER BY worker_id",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(WorkerRecord {
                    worker_id: r.get(0)?,
                    pubkey: blob32(r, 1, "workers")?,
                    registered_at: Timestamp(r.get::<_, i64>(2)? as u64),
                    last_seen: Timestamp(r.get::<_, i64>(3)? as u64),
                });
            }
            Ok(out)
        })
        .await
    }

    fn events(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    fn work_available(&self) -> Arc<Notify> {
        self.work.clone()
    }
}

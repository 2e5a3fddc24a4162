//! The embedded backend: SQLite in WAL mode with `synchronous=FULL`.
//!
//! One writer thread owns the only write connection and applies operations in batches: it takes
//! the first queued operation, drains whatever else is waiting (up to `max_batch`), runs each in
//! its own savepoint inside one transaction, commits once (one fsync) and only then answers every
//! caller. That is group commit: durability per call, throughput of a batch. Reads go to a small
//! pool of read-only connections, which WAL lets run beside the writer.

mod callbacks;
mod credits;
mod deployments;
mod jobs;
mod lifecycle;
mod programs;
mod provers;
mod queue;
mod rate;
mod retention;
mod tenants;
mod workers;

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
use crate::{Result, Store, StoreError, traits::*};

const SCHEMA_VERSION: i64 = 5;

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

/// Added in version 3: finished jobs by completion time, for the retention sweep.
const SCHEMA_V3: &str = r#"
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(completed_at) WHERE completed_at IS NOT NULL;
"#;

/// Version 4: the proof gateway's deployment registry.
const SCHEMA_V4: &str = r#"
CREATE TABLE IF NOT EXISTS deployments (
    customer_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    image_id TEXT NOT NULL UNIQUE,
    program TEXT NOT NULL,
    verifying_key TEXT NOT NULL,
    metadata TEXT NOT NULL,
    constraints INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, version)
);
CREATE TABLE IF NOT EXISTS proving_keys (
    image_id TEXT PRIMARY KEY,
    key BLOB NOT NULL
);
"#;

/// Version 5: what the provers hold loaded, and prepaid credits with their ledger.
const SCHEMA_V5: &str = r#"
CREATE TABLE IF NOT EXISTS zk_preloads (
    image_id TEXT PRIMARY KEY,
    requested_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS zk_loaded (
    prover TEXT PRIMARY KEY,
    image_ids TEXT NOT NULL,
    reported_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS credits (
    tenant_id INTEGER PRIMARY KEY REFERENCES tenants(id),
    balance INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS credit_debits (
    job_id BLOB PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    at INTEGER NOT NULL,
    refunded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS credit_debits_at ON credit_debits(at);
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
/// How a write operation is isolated from the rest of its batch.
#[derive(Clone, Copy)]
enum Guard {
    /// In a savepoint of its own.
    Savepoint,
    /// Without one ([`SqliteStore::write_direct`]).
    Direct,
}
type Op = Box<dyn FnOnce(&Connection, &mut Effects) -> Reply + Send>;

/// Side effects of a batch, published only after it is durable.
#[derive(Default)]
struct Effects {
    events: Vec<JobEvent>,
    work: bool,
    /// An operation without a savepoint failed after writing: the batch must not commit.
    poisoned: bool,
    /// Set by the writer for a while after a poisoned batch: operations that would skip their
    /// savepoint take one, so that an operation failing the same way again fails alone.
    guarded: bool,
}

impl Effects {
    /// A fresh set for one operation inside this batch (guarded as the batch is).
    fn nested(&self) -> Effects {
        Effects {
            guarded: self.guarded,
            ..Effects::default()
        }
    }
    /// Keep what a succeeded operation's `nested` set collected.
    fn absorb(&mut self, mut local: Effects) {
        self.events.append(&mut local.events);
        self.work |= local.work;
        self.poisoned |= local.poisoned;
    }
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
        None => format!("{SCHEMA}{SCHEMA_V2}{SCHEMA_V3}{SCHEMA_V4}{SCHEMA_V5}"),
        Some(1) => format!("{MIGRATE_1_2}{SCHEMA_V2}{SCHEMA_V3}{SCHEMA_V4}{SCHEMA_V5}"),
        Some(2) => format!("{SCHEMA_V3}{SCHEMA_V4}{SCHEMA_V5}"),
        Some(3) => format!("{SCHEMA_V4}{SCHEMA_V5}"),
        Some(4) => SCHEMA_V5.to_string(),
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

    /// Run `f` in the writer's next batch, in a savepoint of its own (so that its failure
    /// leaves the rest of the batch standing); resolves after the batch is durable.
    async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &mut Effects) -> Result<R> + Send + 'static,
    {
        self.queue_op(Guard::Savepoint, f).await
    }

    /// [`write`](Self::write) without a savepoint of its own, for the hot operations (submit,
    /// lease, hand-in), whose every refusal is decided before their first write: a savepoint
    /// copies each page an operation touches into the sub-journal, a cost paid on every call
    /// for a rollback that a refusal never needs. If `f` fails having written nothing, the
    /// batch goes on without it; if it fails after writing (an I/O error, a corrupt row), the
    /// whole batch is rolled back and every caller in it hears `Unavailable`, so a half-applied
    /// operation is never committed (`unguarded`); for a while afterwards every operation takes
    /// a savepoint again, so that one failing that way each time it is retried fails alone
    /// instead of taking every batch it joins down with it.
    async fn write_direct<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &mut Effects) -> Result<R> + Send + 'static,
    {
        self.queue_op(Guard::Direct, f).await
    }

    async fn queue_op<R, F>(&self, guard: Guard, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &mut Effects) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op: Op = Box::new(move |conn, fx| {
            let r = match guard {
                Guard::Savepoint => in_savepoint(conn, fx, f),
                Guard::Direct => unguarded(conn, fx, f),
            };
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
    let mut local = fx.nested();
    match f(conn, &mut local) {
        Ok(r) => {
            conn.prepare_cached("RELEASE op")?.execute([])?;
            fx.absorb(local);
            Ok(r)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO op; RELEASE op")?;
            Err(e)
        }
    }
}

/// Run `f` inside the batch's transaction without a savepoint. A failure that wrote nothing
/// (told by the connection's change counter) leaves the batch as it was; one that wrote
/// poisons the batch (see [`SqliteStore::write_direct`]). While the writer is guarded (after a
/// poisoned batch), `f` runs in a savepoint instead.
fn unguarded<R>(
    conn: &Connection,
    fx: &mut Effects,
    f: impl FnOnce(&Connection, &mut Effects) -> Result<R>,
) -> Result<R> {
    if fx.guarded {
        return in_savepoint(conn, fx, f);
    }
    let before = conn.total_changes();
    let mut local = fx.nested();
    let r = f(conn, &mut local);
    match &r {
        Ok(_) => fx.absorb(local),
        Err(_) => fx.poisoned |= local.poisoned || conn.total_changes() != before,
    }
    r
}

/// How long the writer takes savepoints for every operation after a poisoned batch.
const GUARDED_AFTER_POISON: std::time::Duration = std::time::Duration::from_secs(10);

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Op>,
    max_batch: usize,
    events: broadcast::Sender<JobEvent>,
    work: Arc<Notify>,
) {
    let mut batch: Vec<Op> = Vec::with_capacity(max_batch);
    // After a poisoned batch, savepoints for everything for a while (`Effects::guarded`).
    let mut guarded_until: Option<std::time::Instant> = None;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut fx = Effects {
            guarded: guarded_until.is_some_and(|t| std::time::Instant::now() < t),
            ..Effects::default()
        };
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let outcome = (|| -> Result<()> {
            let tx = conn.transaction()?;
            for op in batch.drain(..) {
                replies.push(op(&tx, &mut fx));
            }
            if fx.poisoned {
                // An operation failed halfway without a savepoint: none of the batch is kept,
                // and the next batches take savepoints, so that if it fails that way again
                // (its caller retries) it fails alone.
                guarded_until = Some(std::time::Instant::now() + GUARDED_AFTER_POISON);
                tx.rollback()?;
                return Err(StoreError::Unavailable);
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
    let digest = job.payload_digest();
    // The record as written below (a store test compares it with a read of the row).
    let rec = job.queued_record(digest);
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
        &digest[..],
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

/// The job [`pick_next`] chose: (seq, tenant, tenant's vtime, weight, priority).
type Picked = (i64, TenantId, u64, u32, Priority);

/// Pick the next job to lease: gather each ready tenant's head job, let the fair policy
/// choose.
fn pick_next(conn: &Connection, sched: &Sched, now: Timestamp) -> Result<Option<Picked>> {
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
        (meta[i].0, c.tenant, c.vtime, meta[i].1, c.head_priority)
    }))
}

impl Store for SqliteStore {
    fn events(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    fn work_available(&self) -> Arc<Notify> {
        self.work.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rows(c: &Connection) -> Result<Vec<i64>> {
        let mut stmt = c.prepare("SELECT x FROM t ORDER BY x")?;
        let out = stmt
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(out)
    }

    type Answer = Result<()>;

    /// Three savepoint-free operations in one batch (the writer held meanwhile): one inserting
    /// `x`, one refused before writing, one failing after inserting `x + 1`.
    async fn trio(store: &Arc<SqliteStore>, x: i64) -> (Answer, Answer, Answer) {
        let hold = {
            let s = store.clone();
            tokio::spawn(async move {
                s.write(|_, _| {
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let good = {
            let s = store.clone();
            tokio::spawn(async move {
                s.write_direct(move |c, _| {
                    c.execute("INSERT INTO t VALUES (?1)", [x])?;
                    Ok(())
                })
                .await
            })
        };
        let refused = {
            let s = store.clone();
            tokio::spawn(async move {
                s.write_direct(move |_, _| {
                    Err(StoreError::Fenced {
                        job_id: JobId::from_bytes([0; 16]),
                        epoch: 1,
                    })
                })
                .await
            })
        };
        let halfway = {
            let s = store.clone();
            tokio::spawn(async move {
                s.write_direct(move |c, _| {
                    c.execute("INSERT INTO t VALUES (?1)", [x + 1])?;
                    Err(StoreError::Corrupt { table: "t" })
                })
                .await
            })
        };
        hold.await.unwrap().unwrap();
        (
            good.await.unwrap(),
            refused.await.unwrap(),
            halfway.await.unwrap(),
        )
    }

    /// The savepoint-free path: a refusal that wrote nothing leaves its batch standing; a
    /// failure after a write rolls the whole batch back and every caller in it hears
    /// `Unavailable`, so nothing half-applied (nor anything else of that batch) is committed;
    /// then, guarded, the same failure fails alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failure_after_a_write_without_savepoint_rolls_the_batch_back() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(SqliteStore::open(&dir.path().join("s.db"), Default::default()).unwrap());
        store
            .write(|c, _| Ok(c.execute_batch("CREATE TABLE t(x INTEGER)")?))
            .await
            .unwrap();
        let fenced = || StoreError::Fenced {
            job_id: JobId::from_bytes([0; 16]),
            epoch: 1,
        };

        // Refused before writing: the caller hears the refusal, the batch commits.
        let r = store.write_direct(move |_, _| Err::<(), _>(fenced())).await;
        assert!(matches!(r, Err(StoreError::Fenced { .. })), "{r:?}");
        store
            .write_direct(|c, _| Ok(c.execute("INSERT INTO t VALUES (1)", [])?))
            .await
            .unwrap();

        let (good, refused, halfway) = trio(&store, 2).await;
        assert!(
            matches!(halfway, Err(StoreError::Unavailable)),
            "{halfway:?}"
        );
        assert!(matches!(good, Err(StoreError::Unavailable)), "{good:?}");
        assert!(
            matches!(refused, Err(StoreError::Unavailable)),
            "{refused:?}"
        );
        assert_eq!(store.read(|c| rows(c)).await.unwrap(), vec![1]);

        // Its caller retries: for a while every operation takes a savepoint, so the same
        // failure now fails alone and the rest of its batch commits.
        let (good, refused, halfway) = trio(&store, 4).await;
        assert!(
            matches!(halfway, Err(StoreError::Corrupt { .. })),
            "{halfway:?}"
        );
        assert!(good.is_ok(), "{good:?}");
        assert!(
            matches!(refused, Err(StoreError::Fenced { .. })),
            "{refused:?}"
        );
        assert_eq!(store.read(|c| rows(c)).await.unwrap(), vec![1, 4]);
    }
}

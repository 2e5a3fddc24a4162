//! The embedded backend's half of `vesper_core::lifecycle`: load a job's lifecycle row, let the
//! pure machine decide, write back what it returns and carry out its effects, all inside the
//! caller's transaction. No lifecycle rule is written here.

use vesper_core::lifecycle::{Effect, Lifecycle, Step};

use super::*;

/// A job's lifecycle row and where it lives.
pub(super) struct JobRow {
    pub seq: i64,
    pub job_id: JobId,
    pub tenant: TenantId,
    pub state: Lifecycle,
}

const COLUMNS: &str = "seq, job_id, tenant_id, status, retry_count, max_retries, lease_epoch, \
     worker_id, lease_expires_at, available_at, started_at, completed_at, error_code";

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(|v| Timestamp(v.max(0) as u64))
}

fn from_row(r: &Row<'_>) -> Result<JobRow> {
    let corrupt = || StoreError::Corrupt { table: "jobs" };
    let id: Vec<u8> = r.get(1)?;
    let status: String = r.get(3)?;
    let error: Option<String> = r.get(12)?;
    Ok(JobRow {
        seq: r.get(0)?,
        job_id: JobId::from_bytes(id.try_into().map_err(|_| corrupt())?),
        tenant: TenantId(r.get(2)?),
        state: Lifecycle {
            status: status.parse().map_err(|_| corrupt())?,
            retry_count: r.get(4)?,
            max_retries: r.get(5)?,
            epoch: r.get::<_, i64>(6)?.max(0) as u64,
            worker: r.get(7)?,
            lease_expires_at: ts(r.get(8)?),
            available_at: Timestamp(r.get::<_, i64>(9)?.max(0) as u64),
            started_at: ts(r.get(10)?),
            completed_at: ts(r.get(11)?),
            error: match error {
                None => None,
                Some(e) => Some(e.parse().map_err(|_| corrupt())?),
            },
        },
    })
}

/// The lifecycle row of the job with sequence number `seq`.
pub(super) fn by_seq(conn: &Connection, seq: i64) -> Result<Option<JobRow>> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE seq = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![seq])?;
    rows.next()?.map(from_row).transpose()
}

/// The lifecycle row of job `id`.
pub(super) fn by_id(conn: &Connection, id: &JobId) -> Result<Option<JobRow>> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE job_id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![&id.as_bytes()[..]])?;
    rows.next()?.map(from_row).transpose()
}

/// The processing jobs matching `filter_sql` (one parameter, `?1`), oldest first.
pub(super) fn processing_where(
    conn: &Connection,
    filter_sql: &str,
    arg: rusqlite::types::Value,
) -> Result<Vec<JobRow>> {
    let mut stmt = conn.prepare_cached(&processing_sql(filter_sql))?;
    let mut rows = stmt.query(params![arg])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(from_row(r)?);
    }
    Ok(out)
}

/// The query behind [`processing_where`]. Through the partial index of processing jobs, named:
/// left to itself the planner walks the whole table in `seq` order to spare a sort, a scan of
/// every job ever kept (200 ms at 10⁶ queued) on the writer thread at every sweep.
fn processing_sql(filter_sql: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM jobs INDEXED BY jobs_leases \
         WHERE status = 'processing' AND {filter_sql} ORDER BY seq"
    )
}

/// Write `step`'s new state over `row` and carry out its effects. `result` is the hand-in a
/// `StoreResult` effect stores.
pub(super) fn apply(
    conn: &Connection,
    fx: &mut Effects,
    sched: &Sched,
    row: &JobRow,
    step: &Step,
    result: Option<&NewResult>,
    now: Timestamp,
) -> Result<()> {
    let s = &step.state;
    let at = |t: Option<Timestamp>| t.map(|t| t.0 as i64);
    conn.prepare_cached(
        "UPDATE jobs SET status = ?2, retry_count = ?3, lease_epoch = ?4, worker_id = ?5, \
         lease_expires_at = ?6, available_at = ?7, started_at = ?8, completed_at = ?9, \
         error_code = ?10 WHERE seq = ?1",
    )?
    .execute(params![
        row.seq,
        s.status.as_str(),
        s.retry_count,
        s.epoch as i64,
        s.worker,
        at(s.lease_expires_at),
        s.available_at.0 as i64,
        at(s.started_at),
        at(s.completed_at),
        s.error.map(|e| e.as_str()),
    ])?;
    for effect in &step.effects {
        match *effect {
            Effect::Dequeue => dequeue(conn, row.tenant)?,
            Effect::Enqueue => enqueue(conn, sched, row.tenant)?,
            Effect::StoreResult => {
                let r = result.ok_or(StoreError::Corrupt { table: "results" })?;
                conn.prepare_cached(
                    "INSERT INTO results(seq, encrypted_result, receipt, signature, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    row.seq,
                    r.encrypted_result,
                    r.receipt.encode(),
                    &r.signature[..],
                    r.expires_at.0 as i64
                ])?;
            }
            Effect::DropPayload => {
                conn.prepare_cached("DELETE FROM payloads WHERE seq = ?1")?
                    .execute(params![row.seq])?;
            }
            Effect::OweCallback(status) => owe_callback(conn, row.seq, status, now)?,
            Effect::Announce(status) => fx.event(row.job_id, row.tenant, status),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep's queries read only processing jobs, whatever the table holds.
    #[test]
    fn sweeps_read_the_processing_index_not_the_table() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate(&conn).unwrap();
        for filter in ["lease_expires_at <= ?1", "worker_id LIKE ?1 ESCAPE '\\'"] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {}", processing_sql(filter)))
                .unwrap()
                .query_map([0], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<std::result::Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter().any(|p| p.contains("INDEX jobs_leases"))
                    && !plan.iter().any(|p| p == "SCAN jobs"),
                "{filter}: {plan:?}"
            );
        }
    }
}

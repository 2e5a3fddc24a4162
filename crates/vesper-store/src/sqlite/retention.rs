//! Purging expired results and nonces, and the retention sweep of finished jobs.

use super::*;

#[async_trait::async_trait]
impl RetentionStore for SqliteStore {
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

    async fn forget_finished(&self, finished_before: Timestamp, limit: u32) -> Result<u64> {
        self.write(move |c, _| {
            let seqs: Vec<(i64, Vec<u8>, String)> = c
                .prepare_cached(
                    "SELECT seq, job_id, status FROM jobs WHERE completed_at IS NOT NULL AND completed_at <= ?1 \
                     AND status IN ('completed', 'failed', 'cancelled') \
                     AND NOT EXISTS (SELECT 1 FROM callbacks \
                         WHERE callbacks.seq = jobs.seq AND callbacks.state = 'pending') \
                     ORDER BY completed_at LIMIT ?2",
                )?
                .query_map(params![finished_before.0 as i64, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<std::result::Result<_, _>>()?;
            for (seq, job_id, status) in &seqs {
                // A proof's payment is settled with the job it paid for.
                super::credits::settle_forgotten(c, job_id, status)?;
                for sql in [
                    "DELETE FROM results WHERE seq = ?1",
                    "DELETE FROM payloads WHERE seq = ?1",
                    "DELETE FROM callbacks WHERE seq = ?1",
                    // The idempotency key is a column of the job row: it goes with it.
                    "DELETE FROM jobs WHERE seq = ?1",
                ] {
                    c.prepare_cached(sql)?.execute(params![seq])?;
                }
            }
            Ok(seqs.len() as u64)
        })
        .await
    }
}

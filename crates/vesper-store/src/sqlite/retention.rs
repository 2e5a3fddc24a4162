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
}

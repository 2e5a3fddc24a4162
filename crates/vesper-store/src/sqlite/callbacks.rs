//! The callbacks outbox.

use super::*;

#[async_trait::async_trait]
impl CallbackStore for SqliteStore {
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
}

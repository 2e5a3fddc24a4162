//! The callbacks outbox.

use super::*;

#[async_trait::async_trait]
impl CallbackStore for RedisStore {
    async fn claim_callbacks(
        &self,
        now: Timestamp,
        limit: u32,
        lease_ms: u64,
    ) -> Result<Vec<PendingCallback>> {
        let flat: Vec<String> = self
            .eval(
                &self.scripts.claim_callbacks,
                &[&now.0, &limit, &now.plus_ms(lease_ms).0],
            )
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 3);
        for c in flat.chunks(3) {
            let [member, url, attempts] = c else {
                return Err(corrupt());
            };
            let (id, status) = member.split_once('|').ok_or_else(corrupt)?;
            let id: JobId = id.parse().map_err(|_| corrupt())?;
            let job = self.load_job(&id).await?.ok_or_else(corrupt)?;
            out.push(PendingCallback {
                job,
                status: status.parse().map_err(|_| corrupt())?,
                url: url.clone(),
                attempts: attempts.parse().map_err(|_| corrupt())?,
            });
        }
        Ok(out)
    }

    async fn finish_callback(
        &self,
        job_id: JobId,
        status: JobStatus,
        outcome: CallbackOutcome,
    ) -> Result<()> {
        let (state, next_at, error) = match outcome {
            CallbackOutcome::Delivered => ("delivered", 0, String::new()),
            CallbackOutcome::Retry { at, error } => ("pending", at.0, error),
            CallbackOutcome::Dead { error } => ("dead", 0, error),
        };
        let member = format!("{job_id}|{}", status.as_str());
        let _: i64 = self
            .eval(
                &self.scripts.finish_callback,
                &[&member, &state, &next_at, &error],
            )
            .await?;
        Ok(())
    }
}

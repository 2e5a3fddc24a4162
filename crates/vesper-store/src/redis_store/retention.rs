//! Purging expired results and nonces, and the retention sweep of finished jobs.

use super::*;

#[async_trait::async_trait]
impl RetentionStore for RedisStore {
    async fn purge_expired_results(&self, now: Timestamp) -> Result<u64> {
        let mut total = 0;
        loop {
            let due: Vec<String> = self
                .eval(&self.scripts.purge_results, &[&now.0, &500])
                .await?;
            if due.is_empty() {
                return Ok(total);
            }
            let keys: Vec<String> = due
                .chunks(2)
                .filter_map(|c| {
                    let id: JobId = c.first()?.parse().ok()?;
                    let epoch: u64 = c.get(1)?.parse().ok()?;
                    Some(self.result_key(&id, epoch))
                })
                .collect();
            total += (due.len() / 2) as u64;
            let mut con = self.con.clone();
            let _: () = con.del(keys).await.map_err(re)?;
            if due.len() < 1000 {
                return Ok(total);
            }
        }
    }

    async fn forget_finished(&self, finished_before: Timestamp, limit: u32) -> Result<u64> {
        let gone: Vec<String> = self
            .eval(
                &self.scripts.forget_finished,
                &[&finished_before.0, &limit, &(finished_before.0 + 1)],
            )
            .await?;
        let mut keys = Vec::new();
        for pair in gone.chunks(2) {
            let Ok(id) = pair[0].parse::<JobId>() else {
                continue;
            };
            if let Some(epoch) = pair.get(1).and_then(|e| e.parse::<u64>().ok())
                && epoch > 0
            {
                keys.push(self.result_key(&id, epoch));
            }
            keys.push(self.payload_key(&id));
        }
        if !keys.is_empty() {
            let mut con = self.con.clone();
            let _: () = con.del(keys).await.map_err(re)?;
        }
        Ok((gone.len() / 2) as u64)
    }
}

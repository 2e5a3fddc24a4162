//! Registered workers and published pool keys.

use super::*;

#[async_trait::async_trait]
impl WorkerStore for RedisStore {
    async fn register_worker(&self, id: &WorkerId, pubkey: [u8; 32], now: Timestamp) -> Result<()> {
        let _: i64 = self
            .eval(
                &self.scripts.register_worker,
                &[&id.as_str(), &hex::encode(pubkey), &now.0],
            )
            .await?;
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerRecord>> {
        let mut con = self.con.clone();
        let mut ids: Vec<String> = con.smembers(self.key("workers")).await.map_err(re)?;
        ids.sort();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.key(&format!("worker:{id}")));
        }
        let rows: Vec<HashMap<String, String>> = pipe.query_async(&mut con).await.map_err(re)?;
        ids.into_iter()
            .zip(rows)
            .map(|(worker_id, h)| {
                Ok(WorkerRecord {
                    worker_id,
                    pubkey: hex32(field(&h, "pubkey").ok_or_else(corrupt)?)?,
                    registered_at: Timestamp(parse_field(&h, "registered_at")?),
                    last_seen: Timestamp(parse_field(&h, "last_seen")?),
                })
            })
            .collect()
    }

    async fn forget_workers(&self, prefix: &str) -> Result<u64> {
        let mut con = self.con.clone();
        let ids: Vec<String> = con.smembers(self.key("workers")).await.map_err(re)?;
        let gone: Vec<&String> = ids.iter().filter(|id| id.starts_with(prefix)).collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in &gone {
            pipe.srem(self.key("workers"), *id)
                .ignore()
                .del(self.key(&format!("worker:{id}")))
                .ignore();
        }
        let () = pipe.query_async(&mut con).await.map_err(re)?;
        Ok(gone.len() as u64)
    }

    async fn publish_pool_key(
        &self,
        key_id: &str,
        public_key: [u8; 32],
        now: Timestamp,
    ) -> Result<()> {
        let mut con = self.con.clone();
        redis::pipe()
            .cmd("ZADD")
            .arg(self.key("pool_keys"))
            .arg("NX")
            .arg(now.0)
            .arg(format!("{key_id}:{}", hex::encode(public_key)))
            .ignore()
            .query_async::<()>(&mut con)
            .await
            .map_err(re)
    }

    async fn pool_keys(&self) -> Result<Vec<[u8; 32]>> {
        let mut con = self.con.clone();
        let members: Vec<String> = con.zrange(self.key("pool_keys"), 0, -1).await.map_err(re)?;
        members
            .iter()
            .map(|m| hex32(m.rsplit(':').next().unwrap_or_default()))
            .collect()
    }
}

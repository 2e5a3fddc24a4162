//! Registered workers and published pool keys.

use super::*;

#[async_trait::async_trait]
impl WorkerStore for SqliteStore {
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
}

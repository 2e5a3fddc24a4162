//! What the provers hold loaded (`zk_preloads`, `zk_loaded`).

use super::*;

#[async_trait::async_trait]
impl ProverStore for SqliteStore {
    async fn request_preload(&self, image_id: &str, now: Timestamp) -> Result<()> {
        let image_id = image_id.to_owned();
        self.write(move |c, _| {
            c.prepare_cached(
                "INSERT INTO zk_preloads(image_id, requested_at) VALUES (?1, ?2) \
                 ON CONFLICT(image_id) DO UPDATE SET requested_at = excluded.requested_at",
            )?
            .execute(params![image_id, now.0 as i64])?;
            c.prepare_cached(
                "DELETE FROM zk_preloads WHERE image_id NOT IN \
                 (SELECT image_id FROM zk_preloads ORDER BY requested_at DESC, image_id LIMIT ?1)",
            )?
            .execute(params![MAX_PRELOADS as i64])?;
            Ok(())
        })
        .await
    }

    async fn preloads(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT image_id FROM zk_preloads ORDER BY requested_at DESC, image_id",
            )?;
            let rows = stmt
                .query_map([], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn report_loaded(
        &self,
        prover: &str,
        image_ids: &[String],
        now: Timestamp,
    ) -> Result<()> {
        let prover = prover.to_owned();
        let ids = image_ids.join(",");
        self.write(move |c, _| {
            c.prepare_cached(
                "INSERT INTO zk_loaded(prover, image_ids, reported_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(prover) DO UPDATE SET image_ids = excluded.image_ids, \
                 reported_at = excluded.reported_at",
            )?
            .execute(params![prover, ids, now.0 as i64])?;
            c.prepare_cached("DELETE FROM zk_loaded WHERE reported_at < ?1")?
                .execute(params![now.0.saturating_sub(LOADED_REPORT_TTL_MS) as i64])?;
            Ok(())
        })
        .await
    }

    async fn loaded_reports(&self, since: Timestamp) -> Result<Vec<LoadedReport>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT prover, image_ids, reported_at FROM zk_loaded \
                 WHERE reported_at >= ?1 ORDER BY prover",
            )?;
            let mut rows = stmt.query(params![since.0 as i64])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let ids: String = r.get(1)?;
                out.push(LoadedReport {
                    prover: r.get(0)?,
                    image_ids: ids
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    reported_at: Timestamp(r.get::<_, i64>(2)? as u64),
                });
            }
            Ok(out)
        })
        .await
    }
}

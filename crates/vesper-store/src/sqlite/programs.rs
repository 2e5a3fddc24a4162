//! The content-addressed program registry.

use super::*;

#[async_trait::async_trait]
impl ProgramStore for SqliteStore {
    async fn put_program(&self, id: ProgramId, module: Vec<u8>, now: Timestamp) -> Result<bool> {
        self.write(move |c, _| {
            let n = c.execute(
                "INSERT OR IGNORE INTO programs(program_id, module, created_at) VALUES (?1, ?2, ?3)",
                params![&id.0[..], module, now.0 as i64],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn get_program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>> {
        if let Some(m) = self.programs.get(&id) {
            return Ok(Some(m));
        }
        let module: Option<Vec<u8>> = self
            .read(move |c| {
                Ok(
                    c.prepare_cached("SELECT module FROM programs WHERE program_id = ?1")?
                        .query_row(params![&id.0[..]], |r| r.get(0))
                        .optional()?,
                )
            })
            .await?;
        Ok(module.map(|m| self.programs.insert(id, m)))
    }

    async fn has_program(&self, id: ProgramId) -> Result<bool> {
        if self.programs.contains(&id) {
            return Ok(true);
        }
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM programs WHERE program_id = ?1")?
                    .query_row(params![&id.0[..]], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
        .await
    }
}

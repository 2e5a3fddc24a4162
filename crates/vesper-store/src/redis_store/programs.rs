//! The content-addressed program registry.

use super::*;

#[async_trait::async_trait]
impl ProgramStore for RedisStore {
    async fn put_program(&self, id: ProgramId, module: Vec<u8>, _now: Timestamp) -> Result<bool> {
        let mut con = self.con.clone();
        let fresh: bool = redis::cmd("SET")
            .arg(self.program_key(&id))
            .arg(module)
            .arg("NX")
            .query_async::<Option<String>>(&mut con)
            .await
            .map_err(re)?
            .is_some();
        Ok(fresh)
    }

    async fn get_program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>> {
        if let Some(m) = self.programs.get(&id) {
            return Ok(Some(m));
        }
        let mut con = self.con.clone();
        let module: Option<Vec<u8>> = con.get(self.program_key(&id)).await.map_err(re)?;
        Ok(module.map(|m| self.programs.insert(id, m)))
    }

    async fn has_program(&self, id: ProgramId) -> Result<bool> {
        if self.programs.contains(&id) {
            return Ok(true);
        }
        let mut con = self.con.clone();
        con.exists(self.program_key(&id)).await.map_err(re)
    }
}

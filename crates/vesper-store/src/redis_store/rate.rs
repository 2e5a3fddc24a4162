//! Shared rate-limit state.

use super::*;

#[async_trait::async_trait]
impl RateStore for RedisStore {
    fn is_shared(&self) -> bool {
        true
    }

    async fn rate_state(&self, key: &str) -> Result<Option<u64>> {
        let mut con = self.con.clone();
        let v: Option<String> = con.get(self.key(&format!("rl:{key}"))).await.map_err(re)?;
        match v {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| corrupt()),
        }
    }

    async fn rate_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        new: u64,
        ttl_ms: u64,
    ) -> Result<bool> {
        let expected = expected.map(|e| e.to_string()).unwrap_or_default();
        let done: i64 = self
            .eval(
                &self.scripts.rate_swap,
                &[&key, &expected, &new, &ttl_ms.max(1)],
            )
            .await?;
        Ok(done == 1)
    }
}

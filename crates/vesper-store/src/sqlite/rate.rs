//! Shared rate-limit state.

use super::*;

#[async_trait::async_trait]
impl RateStore for SqliteStore {
    async fn rate_state(&self, key: &str) -> Result<Option<u64>> {
        Ok(self.rates.lock().expect("rate state").get(key).copied())
    }

    async fn rate_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        new: u64,
        _ttl_ms: u64,
    ) -> Result<bool> {
        let mut rates = self.rates.lock().expect("rate state");
        if rates.get(key).copied() != expected {
            return Ok(false);
        }
        if rates.len() >= 100_000 && expected.is_none() {
            rates.clear();
        }
        rates.insert(key.to_owned(), new);
        Ok(true)
    }
}

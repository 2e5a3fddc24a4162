//! Prepaid credits and their ledger, each change one script (docs/STORAGE.md): `credits`,
//! `credit:debit:{job}`, `credit:debits`, under the namespace.

use super::*;

#[async_trait::async_trait]
impl CreditStore for RedisStore {
    async fn add_credits(&self, tenant: TenantId, amount: u64, _now: Timestamp) -> Result<u64> {
        // Lua numbers are doubles: amounts stay below 2^53.
        let amount = amount.min(MAX_CREDIT_BALANCE);
        let b: String = self
            .eval(&self.scripts.credit_add, &[&tenant.0, &amount])
            .await?;
        b.parse().map_err(|_| corrupt())
    }

    async fn credit_balance(&self, tenant: TenantId) -> Result<u64> {
        let mut con = self.con.clone();
        let b: Option<String> = con.hget(self.key("credits"), tenant.0).await.map_err(re)?;
        b.map_or(Ok(0), |b| b.parse().map_err(|_| corrupt()))
    }

    async fn debit(
        &self,
        tenant: TenantId,
        job: JobId,
        amount: u64,
        now: Timestamp,
    ) -> Result<Option<u64>> {
        let amount = amount.min(MAX_CREDIT_BALANCE);
        let v: redis::Value = self
            .eval(
                &self.scripts.credit_debit,
                &[&tenant.0, &job.to_string(), &amount, &now.0],
            )
            .await?;
        match v {
            redis::Value::Int(-1) => Ok(None),
            redis::Value::BulkString(b) => std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or_else(corrupt),
            _ => Err(corrupt()),
        }
    }

    async fn refund(&self, job: JobId) -> Result<bool> {
        let n: i64 = self
            .eval(&self.scripts.credit_refund, &[&job.to_string()])
            .await?;
        Ok(n == 1)
    }

    async fn settle_debits(&self, before: Timestamp) -> Result<u64> {
        let n: i64 = self.eval(&self.scripts.credit_settle, &[&before.0]).await?;
        Ok(n as u64)
    }
}

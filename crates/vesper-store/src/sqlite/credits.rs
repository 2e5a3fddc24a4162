//! Prepaid credits (`credits`) and their ledger of debits (`credit_debits`), each change in
//! one transaction.

use super::*;

fn balance(c: &Connection, tenant: TenantId) -> Result<u64> {
    Ok(
        c.prepare_cached("SELECT balance FROM credits WHERE tenant_id = ?1")?
            .query_row(params![tenant.0], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0) as u64,
    )
}

fn set_balance(c: &Connection, tenant: TenantId, b: u64) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO credits(tenant_id, balance) VALUES (?1, ?2) \
         ON CONFLICT(tenant_id) DO UPDATE SET balance = excluded.balance",
    )?
    .execute(params![tenant.0, b.min(MAX_CREDIT_BALANCE) as i64])?;
    Ok(())
}

/// Settle the debit of a job that is being forgotten (the retention sweep), in the sweep's
/// transaction: kept when the job completed, given back otherwise. Once the job row is gone,
/// [`CreditStore::settle_debits`] could no longer tell a forgotten job from one never stored.
pub(super) fn settle_forgotten(c: &Connection, job: &[u8], status: &str) -> Result<()> {
    if status != "completed" {
        refund_in(c, job)?;
    }
    c.prepare_cached("DELETE FROM credit_debits WHERE job_id = ?1")?
        .execute(params![job])?;
    Ok(())
}

/// Give back an unrefunded debit; `true` when it was given back now.
fn refund_in(c: &Connection, job: &[u8]) -> Result<bool> {
    let row: Option<(i64, i64)> = c
        .prepare_cached(
            "SELECT tenant_id, amount FROM credit_debits WHERE job_id = ?1 AND refunded = 0",
        )?
        .query_row(params![job], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((tenant, amount)) = row else {
        return Ok(false);
    };
    let tenant = TenantId(tenant);
    let b = balance(c, tenant)?;
    set_balance(c, tenant, b.saturating_add(amount as u64))?;
    c.prepare_cached("UPDATE credit_debits SET refunded = 1 WHERE job_id = ?1")?
        .execute(params![job])?;
    Ok(true)
}

#[async_trait::async_trait]
impl CreditStore for SqliteStore {
    async fn add_credits(&self, tenant: TenantId, amount: u64, _now: Timestamp) -> Result<u64> {
        self.write(move |c, _| {
            let b = balance(c, tenant)?
                .saturating_add(amount)
                .min(MAX_CREDIT_BALANCE);
            set_balance(c, tenant, b)?;
            Ok(b)
        })
        .await
    }

    async fn credit_balance(&self, tenant: TenantId) -> Result<u64> {
        self.read(move |c| balance(c, tenant)).await
    }

    async fn debit(
        &self,
        tenant: TenantId,
        job: JobId,
        amount: u64,
        now: Timestamp,
    ) -> Result<Option<u64>> {
        self.write(move |c, _| {
            let b = balance(c, tenant)?;
            let known: Option<i64> = c
                .prepare_cached("SELECT amount FROM credit_debits WHERE job_id = ?1")?
                .query_row(params![&job.as_bytes()[..]], |r| r.get(0))
                .optional()?;
            if known.is_some() {
                return Ok(Some(b));
            }
            if b < amount {
                return Ok(None);
            }
            set_balance(c, tenant, b - amount)?;
            c.prepare_cached(
                "INSERT INTO credit_debits(job_id, tenant_id, amount, at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &job.as_bytes()[..],
                tenant.0,
                amount.min(MAX_CREDIT_BALANCE) as i64,
                now.0 as i64
            ])?;
            Ok(Some(b - amount))
        })
        .await
    }

    async fn refund(&self, job: JobId) -> Result<bool> {
        self.write(move |c, _| refund_in(c, &job.as_bytes()[..]))
            .await
    }

    async fn settle_debits(&self, before: Timestamp) -> Result<u64> {
        self.write(move |c, _| {
            let due: Vec<(Vec<u8>, i64, Option<String>)> = c
                .prepare_cached(
                    "SELECT d.job_id, d.refunded, j.status FROM credit_debits d \
                     LEFT JOIN jobs j ON j.job_id = d.job_id WHERE d.at < ?1 \
                     AND (j.status IS NULL OR j.status IN ('completed', 'failed', 'cancelled') \
                          OR d.refunded = 1) \
                     ORDER BY d.at LIMIT 1000",
                )?
                .query_map(params![before.0 as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<std::result::Result<_, _>>()?;
            let mut given = 0;
            for (job, refunded, status) in due {
                let settle = match (refunded, status.as_deref()) {
                    (1, _) | (_, Some("completed")) => true,
                    (_, None | Some("failed") | Some("cancelled")) => {
                        given += refund_in(c, &job)? as u64;
                        true
                    }
                    _ => false,
                };
                if settle {
                    c.prepare_cached("DELETE FROM credit_debits WHERE job_id = ?1")?
                        .execute(params![job])?;
                }
            }
            Ok(given)
        })
        .await
    }
}

//! The proof gateway's payment check (docs/DSL.md §10). The seed checks a Zcash payment per
//! proof; no Zcash node runs here, so the check is an interface with two implementations:
//! [`Free`] (no price: `vesper dev`'s default, so the seed's examples work as written) and
//! [`PrepaidCredits`] (a per-tenant balance in the store, [`vesper_store::CreditStore`]). The
//! marketplace settles credits later; a Zcash (or any chain's) check is one more
//! implementation.
//!
//! A proof job is paid before it is stored: `charge` takes the price for the job's id, once.
//! `refund` gives it back when the job will not complete (refused, replayed, timed out,
//! failed); if the gateway stops between the charge and the submit, the sweep gives back
//! debits whose job does not exist (`CreditStore::settle_debits`). A completed job stays paid,
//! whether its rules held or not: the proving ran.

use std::sync::Arc;

use vesper_api::ApiErrorCode;

use crate::ApiError;
use vesper_core::{JobId, TenantId, Timestamp};
use vesper_store::Store;

#[async_trait::async_trait]
pub trait PaymentCheck: Send + Sync + 'static {
    /// The price of one proof, in credits (0: no check).
    fn price(&self) -> u64;
    /// Take the price of `job` from `tenant`, once per job id. `payment_required` when the
    /// tenant cannot pay.
    async fn charge(&self, tenant: TenantId, job: JobId, now: Timestamp) -> Result<(), ApiError>;
    /// Give `job`'s payment back (a no-op when there is none, or it was given back).
    async fn refund(&self, job: JobId);
}

/// No payment check.
pub struct Free;

#[async_trait::async_trait]
impl PaymentCheck for Free {
    fn price(&self) -> u64 {
        0
    }
    async fn charge(&self, _: TenantId, _: JobId, _: Timestamp) -> Result<(), ApiError> {
        Ok(())
    }
    async fn refund(&self, _: JobId) {}
}

/// Prepaid credits per tenant, granted by an operator (`POST /api/admin/tenants/{name}/credits`).
pub struct PrepaidCredits {
    pub store: Arc<dyn Store>,
    pub price: u64,
}

#[async_trait::async_trait]
impl PaymentCheck for PrepaidCredits {
    fn price(&self) -> u64 {
        self.price
    }
    async fn charge(&self, tenant: TenantId, job: JobId, now: Timestamp) -> Result<(), ApiError> {
        match self.store.debit(tenant, job, self.price, now).await? {
            Some(_) => Ok(()),
            None => {
                let balance = self.store.credit_balance(tenant).await?;
                Err(ApiError::new(
                    ApiErrorCode::PaymentRequired,
                    format!(
                        "a proof costs {} credit(s) and this tenant holds {balance}; an operator grants credits",
                        self.price
                    ),
                ))
            }
        }
    }
    async fn refund(&self, job: JobId) {
        if let Err(e) = self.store.refund(job).await {
            // The sweep gives it back later (`settle_debits`).
            tracing::warn!(error = %e, %job, "giving a proof's payment back failed");
        }
    }
}

/// The check `price` asks for.
pub fn check(store: Arc<dyn Store>, price: u64) -> Arc<dyn PaymentCheck> {
    if price == 0 {
        Arc::new(Free)
    } else {
        Arc::new(PrepaidCredits { store, price })
    }
}

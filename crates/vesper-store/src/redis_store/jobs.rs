//! Jobs as tenants see them: submit, read, list, cancel.

use super::*;

#[async_trait::async_trait]
impl JobStore for RedisStore {
    async fn submit(&self, job: NewJob) -> Result<SubmitOutcome> {
        match self.submit_jobs(vec![job]).await? {
            BatchOutcome::Accepted(mut v) => v.pop().ok_or_else(corrupt),
            BatchOutcome::Rejected { outcome, .. } => Ok(outcome),
        }
    }

    async fn submit_batch(&self, jobs: Vec<NewJob>) -> Result<BatchOutcome> {
        self.submit_jobs(jobs).await
    }

    async fn list_jobs(
        &self,
        tenant: TenantId,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<JobPage> {
        let limit = limit.clamp(1, 1000) as usize;
        let key = match status {
            None => self.key(&format!("t:{}:jobs", tenant.0)),
            Some(s) => self.key(&format!("t:{}:s:{}", tenant.0, s.as_str())),
        };
        let max = match before {
            Some(b) => format!("({b}"),
            None => "+inf".to_owned(),
        };
        let mut con = self.con.clone();
        let rows: Vec<(String, f64)> = con
            .zrevrangebyscore_limit_withscores(key, max, "-inf", 0, limit as isize + 1)
            .await
            .map_err(re)?;
        let more = rows.len() > limit;
        let rows = &rows[..rows.len().min(limit)];
        let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        let jobs = self.load_listed_jobs(&ids).await?;
        let next = if more {
            rows.last().map(|(_, s)| *s as i64)
        } else {
            None
        };
        Ok(JobPage { jobs, next })
    }

    async fn job(&self, tenant: TenantId, id: JobId) -> Result<Option<JobRecord>> {
        Ok(self.load_job(&id).await?.filter(|j| j.tenant == tenant))
    }

    async fn job_by_idempotency_key(&self, tenant: TenantId, key: &str) -> Result<Option<JobId>> {
        let mut con = self.con.clone();
        let id: Option<String> = con
            .hget(self.key(&format!("t:{}:idem", tenant.0)), key)
            .await
            .map_err(re)?;
        id.map(|id| id.parse().map_err(|_| corrupt())).transpose()
    }

    async fn result(&self, tenant: TenantId, id: JobId) -> Result<Option<StoredResult>> {
        // Most results are their job's first lease's: read that body with the job, in the same
        // round trip, and use it only if the job says epoch 1 holds its result.
        const FIRST: u64 = 1;
        let mut con = self.con.clone();
        let (h, first): (HashMap<String, String>, HashMap<String, Vec<u8>>) = redis::pipe()
            .hgetall(self.job_key(&id))
            .hgetall(self.result_key(&id, FIRST))
            .query_async(&mut con)
            .await
            .map_err(re)?;
        if h.is_empty() {
            return Ok(None);
        }
        let job = job_from_hash(&h)?;
        if job.tenant != tenant {
            return Ok(None);
        }
        let epoch: Option<u64> = opt_field(&h, "result_epoch")?;
        let body = match epoch {
            Some(epoch) if field(&h, "result_purged").is_none() => {
                let r = if epoch == FIRST {
                    first
                } else {
                    con.hgetall(self.result_key(&id, epoch)).await.map_err(re)?
                };
                result_body(&r)?
            }
            _ => None,
        };
        Ok(Some(StoredResult { job, body }))
    }

    async fn cancel(&self, tenant: TenantId, id: JobId, now: Timestamp) -> Result<CancelOutcome> {
        let outcome: String = self
            .eval(&self.scripts.cancel, &[&tenant.0, &id.to_string(), &now.0])
            .await?;
        match outcome.as_str() {
            "not_found" => Ok(CancelOutcome::NotFound),
            "not_cancellable" => Ok(CancelOutcome::NotCancellable(
                self.load_job(&id)
                    .await?
                    .ok_or(StoreError::NotFound { job_id: id })?,
            )),
            _ => {
                self.drop_payload(&id);
                Ok(CancelOutcome::Cancelled(
                    self.load_job(&id)
                        .await?
                        .ok_or(StoreError::NotFound { job_id: id })?,
                ))
            }
        }
    }

    async fn queue_depth(&self) -> Result<u64> {
        let mut con = self.con.clone();
        let n: Option<i64> = con.get(self.key("queued")).await.map_err(re)?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }
}

/// A sealed result from its hash (`r`, `receipt`, `sig`, `expires`); `None` when it is gone.
fn result_body(r: &HashMap<String, Vec<u8>>) -> Result<Option<NewResult>> {
    if r.is_empty() {
        return Ok(None);
    }
    let get = |k: &str| r.get(k).ok_or_else(corrupt);
    let expires = std::str::from_utf8(get("expires")?)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(corrupt)?;
    Ok(Some(NewResult {
        encrypted_result: get("r")?.clone(),
        receipt: Receipt::decode(get("receipt")?).map_err(|_| corrupt())?,
        signature: get("sig")?.as_slice().try_into().map_err(|_| corrupt())?,
        expires_at: Timestamp(expires),
    }))
}

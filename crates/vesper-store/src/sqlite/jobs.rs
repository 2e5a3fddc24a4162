//! Jobs as tenants see them: submit, read, list, cancel.

use vesper_core::lifecycle::Event;

use super::*;

#[async_trait::async_trait]
impl JobStore for SqliteStore {
    async fn submit(&self, job: NewJob) -> Result<SubmitOutcome> {
        let sched = self.sched.clone();
        // Every refusal (idempotency conflict, quota, unknown tenant) is decided before the
        // first write.
        self.write_direct(move |c, fx| submit_one(c, fx, &sched, job))
            .await
    }

    async fn submit_batch(&self, jobs: Vec<NewJob>) -> Result<BatchOutcome> {
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            c.prepare_cached("SAVEPOINT batch")?.execute([])?;
            let mut local = Effects::default();
            let mut out = Vec::with_capacity(jobs.len());
            for (index, job) in jobs.into_iter().enumerate() {
                let outcome = match submit_one(c, &mut local, &sched, job) {
                    Ok(o) => o,
                    Err(e) => {
                        c.execute_batch("ROLLBACK TO batch; RELEASE batch")?;
                        return Err(e);
                    }
                };
                if matches!(
                    outcome,
                    SubmitOutcome::IdempotencyConflict { .. } | SubmitOutcome::QuotaExceeded(_)
                ) {
                    c.execute_batch("ROLLBACK TO batch; RELEASE batch")?;
                    return Ok(BatchOutcome::Rejected { index, outcome });
                }
                out.push(outcome);
            }
            c.prepare_cached("RELEASE batch")?.execute([])?;
            fx.events.append(&mut local.events);
            fx.work |= local.work;
            Ok(BatchOutcome::Accepted(out))
        })
        .await
    }

    async fn list_jobs(
        &self,
        tenant: TenantId,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<JobPage> {
        let limit = limit.clamp(1, 1000);
        self.read(move |c| {
            let sql = format!(
                "SELECT {JOB_COLUMNS}, seq FROM jobs WHERE tenant_id = ?1 \
                 AND (?2 IS NULL OR status = ?2) AND seq < ?3 ORDER BY seq DESC LIMIT ?4"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(params![
                tenant.0,
                status.map(|s| s.as_str()),
                before.unwrap_or(i64::MAX),
                limit as i64 + 1
            ])?;
            let mut jobs = Vec::new();
            let mut seqs = Vec::new();
            while let Some(r) = rows.next()? {
                jobs.push(job_from_row(r)?);
                seqs.push(r.get::<_, i64>(15)?);
            }
            let next = if jobs.len() > limit as usize {
                jobs.truncate(limit as usize);
                Some(seqs[limit as usize - 1])
            } else {
                None
            };
            Ok(JobPage { jobs, next })
        })
        .await
    }

    async fn job(&self, tenant: TenantId, id: JobId) -> Result<Option<JobRecord>> {
        self.read(move |c| load_tenant_job(c, tenant, &id)).await
    }

    async fn job_by_idempotency_key(&self, tenant: TenantId, key: &str) -> Result<Option<JobId>> {
        let key = key.to_owned();
        self.read(move |c| {
            let id: Option<Vec<u8>> = c
                .prepare_cached(
                    "SELECT job_id FROM jobs WHERE tenant_id = ?1 AND idempotency_key = ?2",
                )?
                .query_row(params![tenant.0, key], |r| r.get(0))
                .optional()?;
            id.map(|id| {
                id.try_into()
                    .map(JobId::from_bytes)
                    .map_err(|_| StoreError::Corrupt { table: "jobs" })
            })
            .transpose()
        })
        .await
    }

    async fn result(&self, tenant: TenantId, id: JobId) -> Result<Option<StoredResult>> {
        self.read(move |c| {
            let Some(job) = load_tenant_job(c, tenant, &id)? else {
                return Ok(None);
            };
            let body = c
                .prepare_cached(
                    "SELECT r.encrypted_result, r.receipt, r.signature, r.expires_at \
                     FROM results r JOIN jobs j ON j.seq = r.seq WHERE j.job_id = ?1",
                )?
                .query_row(params![&id.as_bytes()[..]], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .optional()?;
            let body = match body {
                None => None,
                Some((encrypted_result, receipt, sig, expires)) => Some(NewResult {
                    encrypted_result,
                    receipt: Receipt::decode(&receipt)
                        .map_err(|_| StoreError::Corrupt { table: "results" })?,
                    signature: sig
                        .try_into()
                        .map_err(|_| StoreError::Corrupt { table: "results" })?,
                    expires_at: Timestamp(expires as u64),
                }),
            };
            Ok(Some(StoredResult { job, body }))
        })
        .await
    }

    async fn cancel(&self, tenant: TenantId, id: JobId, now: Timestamp) -> Result<CancelOutcome> {
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            let Some(job) = load_tenant_job(c, tenant, &id)? else {
                return Ok(CancelOutcome::NotFound);
            };
            let row =
                super::lifecycle::by_id(c, &id)?.ok_or(StoreError::NotFound { job_id: id })?;
            let Ok(st) = vesper_core::lifecycle::step(&row.state, Event::Cancel, now) else {
                return Ok(CancelOutcome::NotCancellable(job));
            };
            super::lifecycle::apply(c, fx, &sched, &row, &st, None, now)?;
            let job = load_job(c, &id)?.ok_or(StoreError::NotFound { job_id: id })?;
            Ok(CancelOutcome::Cancelled(job))
        })
        .await
    }

    async fn queue_depth(&self) -> Result<u64> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT coalesce(sum(max(queued, 0)), 0) FROM tenants")?
                    .query_row([], |r| r.get::<_, i64>(0))? as u64,
            )
        })
        .await
    }
}

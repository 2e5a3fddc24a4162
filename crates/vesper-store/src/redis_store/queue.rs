//! Jobs as workers see them: leases and hand-ins, each a step of `vesper_core::lifecycle`.

use super::*;

#[async_trait::async_trait]
impl QueueStore for RedisStore {
    async fn lease(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
    ) -> Result<Option<LeasedJob>> {
        // Decide in Rust (FairPolicy), commit in Lua; another worker may take the chosen
        // tenant's last job first, in which case look again.
        for _ in 0..8 {
            let rows: Vec<Vec<String>> = self.eval(&self.scripts.candidates, &[&now.0]).await?;
            let mut cands = Vec::with_capacity(rows.len());
            for r in &rows {
                let [tenant, vtime, _weight, disabled, head] = &r[..] else {
                    return Err(corrupt());
                };
                if disabled == "1" {
                    continue;
                }
                let (head_priority, head_seq) = split_score(head)?;
                cands.push(Candidate {
                    tenant: TenantId(tenant.parse().map_err(|_| corrupt())?),
                    vtime: vtime.parse::<f64>().map_err(|_| corrupt())? as u64,
                    head_priority,
                    head_seq,
                });
            }
            let Some(i) = self.fair.pick(&cands) else {
                return Ok(None);
            };
            let expires = now.plus_ms(lease_ms);
            let h: Option<HashMap<String, String>> = self
                .eval(
                    &self.scripts.lease,
                    &[
                        &cands[i].tenant.0,
                        &worker.as_str(),
                        &now.0,
                        &expires.0,
                        &UNIT,
                    ],
                )
                .await?;
            let Some(h) = h else { continue };
            let job_id: JobId = parse_field(&h, "id")?;
            let mut con = self.con.clone();
            let payload: HashMap<String, Vec<u8>> =
                con.hgetall(self.payload_key(&job_id)).await.map_err(re)?;
            let (Some(k), Some(p)) = (payload.get("k"), payload.get("p")) else {
                return Err(corrupt());
            };
            return Ok(Some(LeasedJob {
                lease: LeaseRef {
                    job_id,
                    epoch: parse_field(&h, "epoch")?,
                    worker: worker.clone(),
                },
                lease_expires_at: expires,
                workload_type: parse_field(&h, "workload")?,
                program_id: opt_field(&h, "program")?,
                key_id: parse_field(&h, "key_id")?,
                client_pubkey: hex32(field(&h, "client_pk").ok_or_else(corrupt)?)?,
                encrypted_key: k.clone(),
                encrypted_payload: p.clone(),
                payload_digest: hex32(field(&h, "payload_digest").ok_or_else(corrupt)?)?,
                created_at: Timestamp(parse_field(&h, "created_at")?),
                retry_count: parse_field(&h, "retries")?,
                max_fuel: opt_field(&h, "max_fuel")?,
                request_id: field(&h, "request_id").map(str::to_owned),
            }));
        }
        Ok(None)
    }

    async fn heartbeat(&self, lease: &LeaseRef, now: Timestamp, lease_ms: u64) -> Result<()> {
        let ok: i64 = self
            .eval(
                &self.scripts.heartbeat,
                &[
                    &lease.job_id.to_string(),
                    &lease.epoch,
                    &lease.worker.as_str(),
                    &now.plus_ms(lease_ms).0,
                ],
            )
            .await?;
        if ok == 1 {
            Ok(())
        } else {
            Err(StoreError::Fenced {
                job_id: lease.job_id,
                epoch: lease.epoch,
            })
        }
    }

    async fn complete(&self, lease: &LeaseRef, result: NewResult, now: Timestamp) -> Result<()> {
        // The receipt must agree with the job (immutable fields, so read before the script).
        let facts = self
            .job_facts(&lease.job_id)
            .await?
            .ok_or(StoreError::Fenced {
                job_id: lease.job_id,
                epoch: lease.epoch,
            })?;
        result.check_against(&facts, lease)?;
        // The body goes under this lease's epoch: if the lease is stale, nothing will ever
        // point at it and it expires on its own.
        let rkey = self.result_key(&lease.job_id, lease.epoch);
        let ttl = result
            .expires_at
            .saturating_since(now)
            .saturating_add(GRACE_MS);
        let mut pipe = redis::pipe();
        pipe.hset_multiple(
            &rkey,
            &[
                ("r", result.encrypted_result.as_slice()),
                ("receipt", result.receipt.encode().as_slice()),
                ("sig", &result.signature[..]),
                ("expires", result.expires_at.0.to_string().as_bytes()),
            ],
        )
        .ignore()
        .pexpire(&rkey, ttl as i64)
        .ignore();
        let ok: i64 = self
            .eval_after(
                &pipe,
                &self.scripts.complete,
                &[
                    &lease.job_id.to_string(),
                    &lease.epoch,
                    &lease.worker.as_str(),
                    &now.0,
                    &result.expires_at.0,
                ],
            )
            .await?;
        if ok != 1 {
            return Err(StoreError::Fenced {
                job_id: lease.job_id,
                epoch: lease.epoch,
            });
        }
        self.drop_payload(&lease.job_id);
        Ok(())
    }

    async fn fail(
        &self,
        lease: &LeaseRef,
        code: ErrorCode,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<RetryDecision> {
        let fenced = || StoreError::Fenced {
            job_id: lease.job_id,
            epoch: lease.epoch,
        };
        let id = lease.job_id.to_string();
        let rows = self.lease_rows(vec![id.clone()]).await?;
        let Some((_, row)) = rows.into_iter().next() else {
            return Err(fenced());
        };
        let retries = row[2].as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
        let max = row[3].as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
        self.retry_or_fail(
            Held {
                id: &id,
                epoch: &lease.epoch.to_string(),
                worker: lease.worker.as_str(),
                retries,
                max_retries: max,
            },
            code,
            now,
            policy,
            0,
        )
        .await?
        .ok_or_else(fenced)
    }

    async fn release(&self, lease: &LeaseRef) -> Result<()> {
        let ok: i64 = self
            .eval(
                &self.scripts.release,
                &[
                    &lease.job_id.to_string(),
                    &lease.epoch,
                    &lease.worker.as_str(),
                    &UNIT,
                    &self.fair.burst,
                ],
            )
            .await?;
        if ok == 1 {
            Ok(())
        } else {
            Err(StoreError::Fenced {
                job_id: lease.job_id,
                epoch: lease.epoch,
            })
        }
    }

    async fn requeue_expired(&self, now: Timestamp, policy: RetryPolicy) -> Result<Expired> {
        let mut con = self.con.clone();
        let ids: Vec<String> = con
            .zrangebyscore_limit(self.key("leases"), "-inf", now.0, 0, 1000)
            .await
            .map_err(re)?;
        let rows = self.lease_rows(ids).await?;
        self.expire_rows(rows, now, policy, now.0.max(1), None)
            .await
    }

    async fn expire_leases_of(
        &self,
        prefix: &str,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<Expired> {
        let mut con = self.con.clone();
        let ids: Vec<String> = con.zrange(self.key("leases"), 0, -1).await.map_err(re)?;
        let rows = self.lease_rows(ids).await?;
        self.expire_rows(rows, now, policy, 0, Some(prefix)).await
    }
}

//! Jobs as workers see them: leases and hand-ins, each a step of `vesper_core::lifecycle`.

use std::collections::HashSet;

use super::*;

/// Most jobs one batch lease script invocation takes: a larger batch is leased in rounds of
/// this many (each round hands out what as many single leases would, so the whole does too).
const LEASE_ROUND: usize = 256;

/// A tenant with ready jobs, as the candidates script lists it: its fair-queueing state and
/// its first ready jobs (id, priority, seq), in the order its leases would take them.
struct Ready {
    tenant: TenantId,
    vtime: u64,
    weight: u32,
    disabled: bool,
    heads: Vec<(String, Priority, i64)>,
}

impl Ready {
    fn candidate(&self, head: usize) -> Candidate {
        let (_, head_priority, head_seq) = self.heads[head];
        Candidate {
            tenant: self.tenant,
            vtime: self.vtime,
            head_priority,
            head_seq,
        }
    }
}

/// The tenants `want` single leases would take from, in order, with the job each would get
/// (ignoring other workers): `policy.pick` over local copies of the tenants, charging the
/// chosen one's virtual time as its lease does (`lua::LEASE_HEAD`, `FairPolicy::charge`) and
/// moving it on to its next job. Disabled tenants are not candidates. The plan stops before a
/// job below `floor`, unless it would be the plan's first and `first_free`.
fn plan_leases(
    policy: &FairPolicy,
    ready: Vec<Ready>,
    want: usize,
    floor: Option<Priority>,
    first_free: bool,
) -> Vec<(TenantId, String)> {
    let mut ready: Vec<Ready> = ready.into_iter().filter(|r| !r.disabled).collect();
    let mut next = vec![0usize; ready.len()];
    let mut plan = Vec::with_capacity(want);
    while plan.len() < want {
        let live: Vec<usize> = (0..ready.len())
            .filter(|&i| next[i] < ready[i].heads.len())
            .collect();
        let cands: Vec<Candidate> = live.iter().map(|&i| ready[i].candidate(next[i])).collect();
        let Some(c) = policy.pick(&cands) else {
            break;
        };
        let below = floor.is_some_and(|f| cands[c].head_priority < f);
        if below && !(first_free && plan.is_empty()) {
            break;
        }
        let i = live[c];
        let r = &mut ready[i];
        plan.push((r.tenant, r.heads[next[i]].0.clone()));
        r.vtime = policy.charge(r.vtime, r.weight);
        next[i] += 1;
    }
    plan
}

/// A leased job from its hash (as the lease scripts return it) and its payload hash.
fn leased_job(
    h: &HashMap<String, String>,
    mut payload: HashMap<String, Vec<u8>>,
    worker: &WorkerId,
    expires: Timestamp,
) -> Result<LeasedJob> {
    let (Some(k), Some(p)) = (payload.remove("k"), payload.remove("p")) else {
        return Err(corrupt());
    };
    Ok(LeasedJob {
        lease: LeaseRef {
            job_id: parse_field(h, "id")?,
            epoch: parse_field(h, "epoch")?,
            worker: worker.clone(),
        },
        lease_expires_at: expires,
        workload_type: parse_field(h, "workload")?,
        program_id: opt_field(h, "program")?,
        key_id: parse_field(h, "key_id")?,
        client_pubkey: hex32(field(h, "client_pk").ok_or_else(corrupt)?)?,
        encrypted_key: k,
        encrypted_payload: p,
        payload_digest: hex32(field(h, "payload_digest").ok_or_else(corrupt)?)?,
        created_at: Timestamp(parse_field(h, "created_at")?),
        retry_count: parse_field(h, "retries")?,
        max_fuel: opt_field(h, "max_fuel")?,
        request_id: field(h, "request_id").map(str::to_owned),
        priority: Some(Priority::new(parse_field(h, "priority")?).map_err(|_| corrupt())?),
    })
}

fn fenced(lease: &LeaseRef) -> StoreError {
    StoreError::Fenced {
        job_id: lease.job_id,
        epoch: lease.epoch,
    }
}

impl RedisStore {
    /// Promote due delayed jobs and list the tenants with ready jobs, with their first `heads`
    /// ready jobs each (one round trip).
    async fn ready_tenants(&self, now: Timestamp, heads: usize) -> Result<Vec<Ready>> {
        let rows: Vec<Vec<String>> = self
            .eval(&self.scripts.candidates, &[&now.0, &heads])
            .await?;
        rows.into_iter()
            .map(|r| {
                let [tenant, vtime, weight, disabled, heads @ ..] = &r[..] else {
                    return Err(corrupt());
                };
                if heads.is_empty() || heads.len() % 2 != 0 {
                    return Err(corrupt());
                }
                Ok(Ready {
                    tenant: TenantId(tenant.parse().map_err(|_| corrupt())?),
                    vtime: vtime.parse::<f64>().map_err(|_| corrupt())? as u64,
                    weight: weight.parse::<f64>().map_err(|_| corrupt())?.max(1.0) as u32,
                    disabled: disabled == "1",
                    heads: heads
                        .chunks(2)
                        .map(|h| {
                            let (prio, seq) = split_score(&h[1])?;
                            Ok((h[0].clone(), prio, seq))
                        })
                        .collect::<Result<_>>()?,
                })
            })
            .collect()
    }

    /// One round of [`QueueStore::lease_batch`]: up to `want` jobs in two round trips (the
    /// candidates script; the batch lease script pipelined with the predicted jobs' payload
    /// reads), plus one only for jobs another worker's lease made us take instead.
    async fn lease_round(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
        want: usize,
        floor: Option<Priority>,
        first_free: bool,
    ) -> Result<Vec<LeasedJob>> {
        let expires = now.plus_ms(lease_ms);
        // Decide in Rust (FairPolicy), commit in Lua; another worker may take the chosen
        // tenants' jobs first, in which case those are skipped (or, if none is left, look again).
        for _ in 0..8 {
            let ready = self.ready_tenants(now, want).await?;
            let plan = plan_leases(&self.fair, ready, want, floor, first_free);
            if plan.is_empty() {
                return Ok(Vec::new());
            }
            let leased = self.lease_planned(worker, now, expires, &plan).await?;
            if !leased.is_empty() {
                return Ok(leased);
            }
        }
        Ok(Vec::new())
    }

    /// Run the batch lease script for `plan`'s tenants and read the leased jobs' payloads.
    async fn lease_planned(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        expires: Timestamp,
        plan: &[(TenantId, String)],
    ) -> Result<Vec<LeasedJob>> {
        let mut args: Vec<String> = vec![
            worker.as_str().to_owned(),
            now.0.to_string(),
            expires.0.to_string(),
            UNIT.to_string(),
        ];
        args.extend(plan.iter().map(|(t, _)| t.0.to_string()));
        let refs: Vec<&(dyn std::fmt::Display + Sync)> = args
            .iter()
            .map(|a| a as &(dyn std::fmt::Display + Sync))
            .collect();
        let inv = self.invocation(&self.scripts.lease_batch, &refs);
        // The payloads live in each job's own slot, out of the script's reach: read those of
        // the jobs the plan expects in the same round trip, after the script.
        let predicted: Vec<JobId> = plan
            .iter()
            .map(|(_, id)| id.parse().map_err(|_| corrupt()))
            .collect::<Result<_>>()?;
        let mut con = self.con.clone();
        let mut replies = Vec::new();
        for attempt in 0..2 {
            let mut pipe = redis::pipe();
            pipe.ignore_errors().invoke_script(&inv);
            for id in &predicted {
                pipe.hgetall(self.payload_key(id));
            }
            let r: Vec<redis::RedisResult<redis::Value>> =
                pipe.query_async(&mut con).await.map_err(re)?;
            match r.first() {
                // The server lost its script cache (restart): the script did not run.
                Some(Err(e)) if attempt == 0 && is_noscript(e) => {
                    self.scripts
                        .lease_batch
                        .load_async(&mut con)
                        .await
                        .map_err(re)?;
                }
                _ => {
                    replies = r;
                    break;
                }
            }
        }
        if replies.len() != predicted.len() + 1 {
            return Err(corrupt());
        }
        let mut replies = replies.into_iter();
        let leased: Vec<HashMap<String, String>> =
            value(replies.next().ok_or_else(corrupt)?.map_err(re)?)?;
        let mut payloads: HashMap<JobId, HashMap<String, Vec<u8>>> = HashMap::new();
        for (id, r) in predicted.into_iter().zip(replies) {
            if let Ok(v) = r {
                let p: HashMap<String, Vec<u8>> = value(v)?;
                if !p.is_empty() {
                    payloads.insert(id, p);
                }
            }
        }
        let ids: Vec<JobId> = leased
            .iter()
            .map(|h| parse_field(h, "id"))
            .collect::<Result<_>>()?;
        // Jobs leased in place of the predicted ones (a race): read their payloads now.
        let missing: Vec<JobId> = ids
            .iter()
            .filter(|id| !payloads.contains_key(id))
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            let mut pipe = redis::pipe();
            for id in &missing {
                pipe.hgetall(self.payload_key(id));
            }
            let got: Vec<HashMap<String, Vec<u8>>> =
                pipe.query_async(&mut con).await.map_err(re)?;
            payloads.extend(missing.into_iter().zip(got));
        }
        leased
            .iter()
            .zip(&ids)
            .map(|(h, id)| leased_job(h, payloads.remove(id).unwrap_or_default(), worker, expires))
            .collect()
    }
}

#[async_trait::async_trait]
impl QueueStore for RedisStore {
    async fn lease_batch(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
        ask: LeaseAsk,
    ) -> Result<Vec<LeasedJob>> {
        let max = ask.max as usize;
        let mut out = Vec::new();
        while out.len() < max {
            let want = (max - out.len()).min(LEASE_ROUND);
            // The first job is whatever a single lease would take; the floor is for the rest.
            let round = self.lease_round(worker, now, lease_ms, want, ask.floor, out.is_empty());
            let got = match round.await {
                Ok(got) => got,
                // Leases already granted are handed out; the next call reports the error.
                Err(_) if !out.is_empty() => break,
                Err(e) => return Err(e),
            };
            let short = got.len() < want;
            out.extend(got);
            if short {
                break;
            }
        }
        Ok(out)
    }

    async fn complete_batch(
        &self,
        items: Vec<(LeaseRef, NewResult)>,
        now: Timestamp,
    ) -> Result<Vec<Result<()>>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        // The receipts must agree with the jobs (immutable fields, so read before the
        // scripts), all in one round trip.
        let ids: Vec<JobId> = items.iter().map(|(l, _)| l.job_id).collect();
        let facts = self.jobs_facts(&ids).await?;
        let mut out: Vec<Option<Result<()>>> = Vec::with_capacity(items.len());
        let mut todo = Vec::with_capacity(items.len());
        for (i, ((lease, result), facts)) in items.iter().zip(facts).enumerate() {
            let checked = match facts {
                None => Err(fenced(lease)),
                Some(f) => result.check_against(&f, lease),
            };
            match checked {
                Ok(()) => {
                    out.push(None);
                    todo.push(i);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        // Then every hand-in in one pipeline: each result body under its lease's epoch (if
        // the lease is stale, nothing will ever point at it and it expires on its own), then
        // its complete script, which fences it alone.
        let mut con = self.con.clone();
        for attempt in 0..2 {
            if todo.is_empty() {
                break;
            }
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for &i in &todo {
                let (lease, result) = &items[i];
                let rkey = self.result_key(&lease.job_id, lease.epoch);
                let ttl = result
                    .expires_at
                    .saturating_since(now)
                    .saturating_add(GRACE_MS);
                pipe.hset_multiple(
                    &rkey,
                    &[
                        ("r", result.encrypted_result.as_slice()),
                        ("receipt", result.receipt.encode().as_slice()),
                        ("sig", &result.signature[..]),
                        ("expires", result.expires_at.0.to_string().as_bytes()),
                    ],
                )
                .pexpire(&rkey, ttl as i64);
                let inv = self.invocation(
                    &self.scripts.complete,
                    &[
                        &lease.job_id.to_string(),
                        &lease.epoch,
                        &lease.worker.as_str(),
                        &now.0,
                        &result.expires_at.0,
                    ],
                );
                pipe.invoke_script(&inv);
            }
            let replies: Vec<redis::RedisResult<redis::Value>> =
                pipe.query_async(&mut con).await.map_err(re)?;
            if replies.len() != 3 * todo.len() {
                return Err(corrupt());
            }
            let mut replies = replies.into_iter();
            let mut again = Vec::new();
            for &i in &todo {
                let (write, expire, script) = (
                    replies.next().ok_or_else(corrupt)?,
                    replies.next().ok_or_else(corrupt)?,
                    replies.next().ok_or_else(corrupt)?,
                );
                let answer = match (write, expire, script) {
                    // The server lost its script cache (restart): hand this one in again
                    // once the script is loaded.
                    (_, _, Err(e)) if attempt == 0 && is_noscript(&e) => {
                        again.push(i);
                        continue;
                    }
                    (_, _, Err(e)) | (Err(e), _, _) | (_, Err(e), _) => Err(re(e)),
                    (Ok(_), Ok(_), Ok(v)) => match value::<i64>(v)? {
                        1 => Ok(()),
                        _ => Err(fenced(&items[i].0)),
                    },
                };
                out[i] = Some(answer);
            }
            if !again.is_empty() {
                self.scripts
                    .complete
                    .load_async(&mut con)
                    .await
                    .map_err(re)?;
            }
            todo = again;
        }
        self.drop_payloads(
            (items.iter().zip(&out))
                .filter(|(_, o)| matches!(o, Some(Ok(()))))
                .map(|((lease, _), _)| lease.job_id),
        );
        Ok(out
            .into_iter()
            .map(|o| o.unwrap_or(Err(StoreError::Unavailable)))
            .collect())
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
        // One hand-in is a batch of one: the same checks and fencing, the same round trips.
        self.complete_batch(vec![(lease.clone(), result)], now)
            .await?
            .pop()
            .ok_or_else(corrupt)?
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

//! Jobs as workers see them: leases and hand-ins. Each operation loads the job's lifecycle row,
//! lets `vesper_core::lifecycle::step` decide, and writes back what it returns
//! (`lifecycle.rs`); the lease fencing check is `Lifecycle::holds`.

use vesper_core::lifecycle::{Event, Holder, Refusal, step};

use super::lifecycle::{self, JobRow};
use super::*;

/// The job a lease names, and the event it asks for, applied; `Fenced` when the lease is not
/// the live one.
fn by_holder(
    conn: &Connection,
    fx: &mut Effects,
    sched: &Sched,
    lease: &LeaseRef,
    event: Event<'_>,
    result: Option<&NewResult>,
    now: Timestamp,
) -> Result<Option<RetryDecision>> {
    let fenced = || StoreError::Fenced {
        job_id: lease.job_id,
        epoch: lease.epoch,
    };
    let row = lifecycle::by_id(conn, &lease.job_id)?.ok_or_else(fenced)?;
    if let Some(r) = result
        && row.state.holds(holder(lease))
    {
        r.check_against(&job_facts(conn, row.seq, lease.job_id)?, lease)?;
    }
    let st = step(&row.state, event, now).map_err(|_| fenced())?;
    lifecycle::apply(conn, fx, sched, &row, &st, result, now)?;
    Ok(st.decision)
}

fn holder(lease: &LeaseRef) -> Holder<'_> {
    Holder {
        epoch: lease.epoch,
        worker: lease.worker.as_str(),
    }
}

/// Expire every processing job `rows` names with `event` (a refusal means another operation
/// got there first: skipped).
fn expire_rows(
    conn: &Connection,
    fx: &mut Effects,
    sched: &Sched,
    rows: Vec<JobRow>,
    event: Event<'_>,
    now: Timestamp,
) -> Result<Expired> {
    let mut out = Expired::default();
    for row in rows {
        match step(&row.state, event, now) {
            Ok(st) => {
                lifecycle::apply(conn, fx, sched, &row, &st, None, now)?;
                if let Some(d) = st.decision {
                    out.count(d);
                }
            }
            Err(Refusal::NotExpired) => {}
            Err(_) => return Err(StoreError::Corrupt { table: "jobs" }),
        }
    }
    Ok(out)
}

/// Lease the next job (fair between tenants, priority then FIFO within one), inside the
/// caller's transaction; none when the next one's priority is below `floor`.
fn lease_one(
    c: &Connection,
    fx: &mut Effects,
    sched: &Sched,
    worker: &WorkerId,
    now: Timestamp,
    lease_ms: u64,
    floor: Option<Priority>,
) -> Result<Option<LeasedJob>> {
    // Which job: fair between tenants, priority then FIFO within one; skip jobs
    // backing off (`vesper_core::sched`).
    let Some((seq, tenant, vtime, weight, priority)) = pick_next(c, sched, now)? else {
        return Ok(None);
    };
    if floor.is_some_and(|f| priority < f) {
        return Ok(None);
    }
    let row = lifecycle::by_seq(c, seq)?.ok_or(StoreError::Corrupt { table: "jobs" })?;
    // What happens to it: the lifecycle machine.
    let st = step(
        &row.state,
        Event::Lease {
            worker: worker.as_str(),
            lease_ms,
        },
        now,
    )
    .map_err(|_| StoreError::Corrupt { table: "jobs" })?;
    lifecycle::apply(c, fx, sched, &row, &st, None, now)?;
    // The lease's fair-queueing charge.
    sched.system_vtime.fetch_max(vtime, Ordering::Relaxed);
    c.prepare_cached("UPDATE tenants SET vtime = ?2 WHERE id = ?1")?
        .execute(params![tenant.0, sched.policy.charge(vtime, weight) as i64])?;
    let meta = c
        .prepare_cached(
            "SELECT workload_type, program_id, key_id, client_pubkey, payload_digest, \
                 created_at, max_fuel, request_id FROM jobs WHERE seq = ?1",
        )?
        .query_row(params![seq], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<Vec<u8>>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, Vec<u8>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
    let (encrypted_key, encrypted_payload): (Vec<u8>, Vec<u8>) = c
        .prepare_cached("SELECT encrypted_key, encrypted_payload FROM payloads WHERE seq = ?1")?
        .query_row(params![seq], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let corrupt = || StoreError::Corrupt { table: "jobs" };
    Ok(Some(LeasedJob {
        lease: LeaseRef {
            job_id: row.job_id,
            epoch: st.state.epoch,
            worker: worker.clone(),
        },
        lease_expires_at: st.state.lease_expires_at.ok_or_else(corrupt)?,
        workload_type: meta.0.parse().map_err(|_| corrupt())?,
        program_id: match meta.1 {
            None => None,
            Some(p) => Some(ProgramId(p.try_into().map_err(|_| corrupt())?)),
        },
        key_id: meta.2.parse().map_err(|_| corrupt())?,
        client_pubkey: meta.3.try_into().map_err(|_| corrupt())?,
        encrypted_key,
        encrypted_payload,
        payload_digest: meta.4.try_into().map_err(|_| corrupt())?,
        created_at: Timestamp(meta.5 as u64),
        retry_count: st.state.retry_count,
        max_fuel: meta.6.map(|f| f.max(0) as u64),
        request_id: meta.7,
        priority: Some(priority),
    }))
}

#[async_trait::async_trait]
impl QueueStore for SqliteStore {
    async fn lease_batch(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease_ms: u64,
        ask: LeaseAsk,
    ) -> Result<Vec<LeasedJob>> {
        let worker = worker.clone();
        let sched = self.sched.clone();
        // Nothing is refused once a lease is written: only a storage error stops a batch
        // halfway, and that rolls the whole store batch back (`write_direct`).
        self.write_direct(move |c, fx| {
            let mut out = Vec::with_capacity(ask.max.min(256) as usize);
            while out.len() < ask.max as usize {
                // The first job is whatever a single lease would take; the floor is for the rest.
                let floor = if out.is_empty() { None } else { ask.floor };
                match lease_one(c, fx, &sched, &worker, now, lease_ms, floor)? {
                    Some(job) => out.push(job),
                    None => break,
                }
            }
            Ok(out)
        })
        .await
    }

    async fn heartbeat(&self, lease: &LeaseRef, now: Timestamp, lease_ms: u64) -> Result<()> {
        let lease = lease.clone();
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            let event = Event::Heartbeat {
                holder: holder(&lease),
                lease_ms,
            };
            by_holder(c, fx, &sched, &lease, event, None, now).map(|_| ())
        })
        .await
    }

    async fn complete(&self, lease: &LeaseRef, result: NewResult, now: Timestamp) -> Result<()> {
        let lease = lease.clone();
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            let event = Event::Complete {
                holder: holder(&lease),
            };
            by_holder(c, fx, &sched, &lease, event, Some(&result), now).map(|_| ())
        })
        .await
    }

    async fn complete_batch(
        &self,
        items: Vec<(LeaseRef, NewResult)>,
        now: Timestamp,
    ) -> Result<Vec<Result<()>>> {
        let sched = self.sched.clone();
        self.write_direct(move |c, fx| {
            // Each hand-in on its own: a fenced or refused one is refused before it writes and
            // leaves the others standing (`by_holder` checks first, then applies).
            Ok(items
                .into_iter()
                .map(|(lease, result)| {
                    unguarded(c, fx, |c, fx| {
                        let event = Event::Complete {
                            holder: holder(&lease),
                        };
                        by_holder(c, fx, &sched, &lease, event, Some(&result), now).map(|_| ())
                    })
                })
                .collect())
        })
        .await
    }

    async fn fail(
        &self,
        lease: &LeaseRef,
        code: ErrorCode,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<RetryDecision> {
        let lease = lease.clone();
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            let event = Event::Fail {
                holder: holder(&lease),
                code,
                policy,
            };
            by_holder(c, fx, &sched, &lease, event, None, now)?
                .ok_or(StoreError::Corrupt { table: "jobs" })
        })
        .await
    }

    async fn release(&self, lease: &LeaseRef) -> Result<()> {
        let lease = lease.clone();
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            let event = Event::Release {
                holder: holder(&lease),
            };
            // A release changes no time field: `now` is not read.
            by_holder(c, fx, &sched, &lease, event, None, Timestamp(0)).map(|_| ())
        })
        .await
    }

    async fn requeue_expired(&self, now: Timestamp, policy: RetryPolicy) -> Result<Expired> {
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            let rows =
                lifecycle::processing_where(c, "lease_expires_at <= ?1", (now.0 as i64).into())?;
            expire_rows(c, fx, &sched, rows, Event::LeaseRanOut { policy }, now)
        })
        .await
    }

    async fn expire_leases_of(
        &self,
        prefix: &str,
        now: Timestamp,
        policy: RetryPolicy,
    ) -> Result<Expired> {
        let pattern = like_prefix(prefix);
        let sched = self.sched.clone();
        self.write(move |c, fx| {
            let rows =
                lifecycle::processing_where(c, "worker_id LIKE ?1 ESCAPE '\\'", pattern.into())?;
            expire_rows(c, fx, &sched, rows, Event::HolderGone { policy }, now)
        })
        .await
    }
}

//! The Redis backend: the same [`Store`] behaviour, shared by many gateways and workers.
//!
//! Layout (docs/STORAGE.md has every key): coordination state (tenants, credentials, job
//! state hashes, per-tenant ready queues, leases, the callback outbox) lives under the
//! namespace's hash tag `{ns}`, so every state transition is one Lua script on one slot
//! (`lua.rs`). Bulky ciphertext (payloads, results) lives under each job's own tag
//! `ns:{j:<id>}`, so it spreads over a cluster; it is written before the transition that makes
//! it reachable and deleted after the one that makes it unreachable. Results are keyed by the
//! lease epoch that produced them: a fenced worker's late write lands under a key nothing
//! points to.
//!
//! Status changes are published on `{ns}:events`; every `RedisStore` subscribes and forwards
//! them to its local [`Store::events`] channel, so a gateway sees changes made by workers in
//! other processes.

mod callbacks;
mod credits;
mod deployments;
mod jobs;
mod lua;
mod programs;
mod provers;
mod queue;
mod rate;
mod retention;
mod tenants;
mod workers;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, RedisError, Script};
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;
use vesper_core::sched::{Candidate, FairPolicy, UNIT};
use vesper_core::{
    ErrorCode, JobId, JobStatus, Priority, ProgramId, Receipt, RetryDecision, RetryPolicy, Scopes,
    TenantId, Timestamp, WorkerId,
};

use crate::types::*;
use crate::{Result, Store, StoreError, traits::*};

/// How long Redis keeps a sealed result or a nonce beyond the moment the store's own clock
/// retires it: a backstop that reclaims memory even when no reaper runs.
const GRACE_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

/// Tuning for the Redis backend.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Key namespace: two clusters may share one Redis under different namespaces.
    pub namespace: String,
    /// Fairness between tenants.
    pub fair: FairPolicy,
    /// How long one command may take before the store reports itself unavailable.
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            namespace: "vesper".into(),
            fair: FairPolicy::default(),
            response_timeout: Duration::from_secs(5),
        }
    }
}

struct Scripts {
    create_tenant: Script,
    set_disabled: Script,
    set_settings: Script,
    nonce: Script,
    submit: Script,
    candidates: Script,
    lease_batch: Script,
    heartbeat: Script,
    complete: Script,
    retry: Script,
    release: Script,
    cancel: Script,
    purge_results: Script,
    forget_finished: Script,
    claim_callbacks: Script,
    finish_callback: Script,
    register_worker: Script,
    add_wallet: Script,
    rate_swap: Script,
    put_deployment: Script,
    delete_deployment: Script,
    credit_add: Script,
    credit_debit: Script,
    credit_refund: Script,
    credit_settle: Script,
}

impl Scripts {
    fn new() -> Self {
        let s = |body: &str| Script::new(&format!("{}{}", lua::PRELUDE, body));
        Scripts {
            create_tenant: s(lua::CREATE_TENANT),
            put_deployment: s(lua::PUT_DEPLOYMENT),
            delete_deployment: s(lua::DELETE_DEPLOYMENT),
            credit_add: s(&format!("{}{}", lua::CREDIT_HELPERS, lua::CREDIT_ADD)),
            credit_debit: s(&format!("{}{}", lua::CREDIT_HELPERS, lua::CREDIT_DEBIT)),
            credit_refund: s(&format!("{}{}", lua::CREDIT_HELPERS, lua::CREDIT_REFUND)),
            credit_settle: s(&format!("{}{}", lua::CREDIT_HELPERS, lua::CREDIT_SETTLE)),
            set_disabled: s(lua::SET_DISABLED),
            set_settings: s(lua::SET_SETTINGS),
            nonce: s(lua::NONCE),
            submit: s(lua::SUBMIT),
            candidates: s(lua::CANDIDATES),
            lease_batch: Script::new(&format!(
                "{}{}{}",
                lua::PRELUDE,
                lua::LEASE_HEAD,
                lua::LEASE_BATCH
            )),
            heartbeat: s(lua::HEARTBEAT),
            complete: s(lua::COMPLETE),
            retry: s(lua::RETRY),
            release: s(lua::RELEASE),
            cancel: s(lua::CANCEL),
            purge_results: s(lua::PURGE_RESULTS),
            forget_finished: s(&format!("{}{}", lua::CREDIT_HELPERS, lua::FORGET_FINISHED)),
            claim_callbacks: s(lua::CLAIM_CALLBACKS),
            finish_callback: s(lua::FINISH_CALLBACK),
            register_worker: s(lua::REGISTER_WORKER),
            add_wallet: s(lua::ADD_WALLET),
            rate_swap: s(lua::RATE_SWAP),
        }
    }
}

pub struct RedisStore {
    con: ConnectionManager,
    /// `{ns}:`, the prefix of every coordination key.
    prefix: String,
    /// `ns`, the prefix of per-job and per-program data keys.
    ns: String,
    fair: FairPolicy,
    scripts: Scripts,
    events: broadcast::Sender<JobEvent>,
    work: Arc<Notify>,
    programs: crate::cache::ProgramCache,
    _stop: watch::Sender<()>,
}

/// Connection-level failures mean "unavailable" (the gateway answers 503); anything else is a
/// backend error.
fn re(e: RedisError) -> StoreError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        StoreError::Unavailable
    } else {
        StoreError::from(e)
    }
}

/// Whether the server answered that it does not have a script (its cache was lost: restart).
fn is_noscript(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}

/// A reply (or one element of one) decoded as `T`; a reply of another shape is corrupt.
fn value<T: redis::FromRedisValue>(v: redis::Value) -> Result<T> {
    redis::from_redis_value(v).map_err(|_| corrupt())
}

fn corrupt() -> StoreError {
    StoreError::Corrupt { table: "redis" }
}

fn validate_namespace(ns: &str) -> Result<()> {
    let ok = !ns.is_empty()
        && ns.len() <= 64
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidConfig(
            "redis namespace: 1-64 of [A-Za-z0-9._-]",
        ))
    }
}

impl RedisStore {
    /// Connect to `url` (`redis://HOST:PORT/DB`). Connects lazily: a store whose Redis is down
    /// is created all the same and answers [`StoreError::Unavailable`] until Redis is back.
    /// The event listener (pub/sub → [`Store::events`]) runs as a plain tokio task, for as long
    /// as the store lives: for tools and tests. A node uses [`RedisStore::open_supervised`].
    pub async fn open(url: &str, opts: RedisOptions) -> Result<Self> {
        Self::open_with(url, opts, |listener| {
            tokio::spawn(listener.run(CancellationToken::new()));
        })
        .await
    }

    /// [`RedisStore::open`], with the event listener run under `tasks` as `store/events`
    /// (restarted if it fails; stopped with the node).
    pub async fn open_supervised(
        url: &str,
        opts: RedisOptions,
        tasks: &vesper_supervise::Supervisor,
    ) -> Result<Self> {
        Self::open_with(url, opts, |listener| {
            tasks.spawn(
                "store/events",
                vesper_supervise::Policy::RESTART,
                move |stop| listener.run(stop),
            );
        })
        .await
    }

    async fn open_with(
        url: &str,
        opts: RedisOptions,
        start_listener: impl FnOnce(Listener),
    ) -> Result<Self> {
        validate_namespace(&opts.namespace)?;
        let client =
            Client::open(url).map_err(|_| StoreError::InvalidConfig("redis url: not valid"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(opts.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let con = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(re)?;
        let prefix = format!("{{{}}}:", opts.namespace);
        let (events, _) = broadcast::channel(8192);
        let work = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        start_listener(Listener {
            client,
            channel: format!("{prefix}events"),
            events: events.clone(),
            work: work.clone(),
            stopped,
            ready: Arc::new(std::sync::Mutex::new(Some(ready_tx))),
        });
        // Changes made after `open` returns must reach this store's subscribers: wait for the
        // subscription, unless Redis is down (then the loop keeps trying on its own).
        let _ = tokio::time::timeout(Duration::from_secs(3), ready_rx).await;
        Ok(RedisStore {
            con,
            prefix,
            ns: opts.namespace,
            fair: opts.fair,
            scripts: Scripts::new(),
            events,
            work,
            programs: Default::default(),
            _stop: stop,
        })
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }
    fn job_key(&self, id: &JobId) -> String {
        format!("{}job:{id}", self.prefix)
    }
    fn payload_key(&self, id: &JobId) -> String {
        format!("{}:{{j:{id}}}:payload", self.ns)
    }
    fn result_key(&self, id: &JobId, epoch: u64) -> String {
        format!("{}:{{j:{id}}}:result:{epoch}", self.ns)
    }
    fn program_key(&self, id: &ProgramId) -> String {
        format!("{}:{{p:{id}}}", self.ns)
    }

    /// A script call with the namespace routing key and prefix first, then `args`.
    fn invocation<'a>(
        &self,
        script: &'a Script,
        args: &[&(dyn std::fmt::Display + Sync)],
    ) -> redis::ScriptInvocation<'a> {
        let mut inv = script.key(self.key("queued"));
        inv.arg(&self.prefix);
        for a in args {
            inv.arg(a.to_string());
        }
        inv
    }

    /// Invoke a script (see [`Self::invocation`]).
    async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        args: &[&(dyn std::fmt::Display + Sync)],
    ) -> Result<T> {
        let inv = self.invocation(script, args);
        let mut con = self.con.clone();
        inv.invoke_async(&mut con).await.map_err(re)
    }

    /// Send `pre` (idempotent writes, results ignored) and a script in one round trip, so
    /// they share one AOF fsync. A server that lost its script cache (restart) gets the
    /// script loaded and the whole pipeline again.
    async fn eval_after<T: redis::FromRedisValue>(
        &self,
        pre: &redis::Pipeline,
        script: &Script,
        args: &[&(dyn std::fmt::Display + Sync)],
    ) -> Result<T> {
        let inv = self.invocation(script, args);
        let mut con = self.con.clone();
        for attempt in 0..2 {
            let mut pipe = pre.clone();
            pipe.invoke_script(&inv);
            match pipe.query_async::<(T,)>(&mut con).await {
                Ok((t,)) => return Ok(t),
                Err(e) if attempt == 0 && is_noscript(&e) => {
                    inv.load_async(&mut con).await.map_err(re)?;
                }
                Err(e) => return Err(re(e)),
            }
        }
        Err(StoreError::Unavailable)
    }

    /// Delete a job's payload once nothing can need it, without making the caller wait: a
    /// failure leaves only an unreferenced key.
    fn drop_payload(&self, id: &JobId) {
        self.drop_payloads([*id]);
    }

    /// [`Self::drop_payload`] for several jobs, in one pipeline (one `DEL` per key: each job's
    /// data lives in its own slot).
    fn drop_payloads(&self, ids: impl IntoIterator<Item = JobId>) {
        let keys: Vec<String> = ids.into_iter().map(|id| self.payload_key(&id)).collect();
        if keys.is_empty() {
            return;
        }
        let mut con = self.con.clone();
        tokio::spawn(async move {
            let mut pipe = redis::pipe();
            for k in &keys {
                pipe.del(k).ignore();
            }
            let _: std::result::Result<(), _> = pipe.query_async(&mut con).await;
        });
    }

    async fn hgetall(&self, key: String) -> Result<HashMap<String, String>> {
        let mut con = self.con.clone();
        con.hgetall(key).await.map_err(re)
    }

    async fn load_job(&self, id: &JobId) -> Result<Option<JobRecord>> {
        let h = self.hgetall(self.job_key(id)).await?;
        if h.is_empty() {
            return Ok(None);
        }
        job_from_hash(&h).map(Some)
    }

    /// The hashes of jobs `ids`, in order (empty for a job that is gone), in one round trip.
    async fn job_hashes(&self, ids: &[String]) -> Result<Vec<HashMap<String, String>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(self.key(&format!("job:{id}")));
        }
        let mut con = self.con.clone();
        pipe.query_async(&mut con).await.map_err(re)
    }

    /// The jobs an index listed, skipping any forgotten (retention) between reading the index
    /// and loading them.
    async fn load_listed_jobs(&self, ids: &[String]) -> Result<Vec<JobRecord>> {
        (self.job_hashes(ids).await?.iter())
            .filter(|h| !h.is_empty())
            .map(job_from_hash)
            .collect()
    }

    /// The principal a live credential hash (API key or wallet: `tenant`, `scopes`) speaks for.
    async fn credential_principal(&self, h: &HashMap<String, String>) -> Result<Option<Principal>> {
        let (Some(tenant), Some(scopes)) = (field(h, "tenant"), field(h, "scopes")) else {
            return Err(corrupt());
        };
        self.principal(tenant, scopes).await
    }

    async fn principal(&self, tenant: &str, scopes: &str) -> Result<Option<Principal>> {
        let t = self.hgetall(self.key(&format!("t:{tenant}"))).await?;
        if t.is_empty() || t.get("disabled").map(String::as_str) == Some("1") {
            return Ok(None);
        }
        Ok(Some(Principal {
            tenant: TenantId(tenant.parse().map_err(|_| corrupt())?),
            scopes: scopes.parse().map_err(|_| corrupt())?,
            settings: settings_from_hash(&t),
        }))
    }

    /// Write payloads, run the submit script, tidy up the payloads it did not keep.
    async fn submit_jobs(&self, jobs: Vec<NewJob>) -> Result<BatchOutcome> {
        if jobs.is_empty() {
            return Ok(BatchOutcome::Accepted(Vec::new()));
        }
        // The payloads go first, in the same round trip as the script that references them.
        let mut pipe = redis::pipe();
        for j in &jobs {
            pipe.hset_multiple(
                self.payload_key(&j.job_id),
                &[
                    ("k", j.encrypted_key.as_slice()),
                    ("p", j.encrypted_payload.as_slice()),
                ],
            )
            .ignore();
        }

        let opt = |v: Option<u64>| v.map(|v| v.min(i64::MAX as u64) as i64).unwrap_or(-1);
        let mut args: Vec<String> = vec![
            UNIT.to_string(),
            self.fair.burst.to_string(),
            jobs.len().to_string(),
        ];
        let digests: Vec<[u8; 32]> = jobs.iter().map(NewJob::payload_digest).collect();
        for (j, digest) in jobs.iter().zip(&digests) {
            args.extend([
                j.job_id.to_string(),
                j.tenant.0.to_string(),
                j.workload_type.as_str().to_owned(),
                j.program_id.map(|p| p.to_string()).unwrap_or_default(),
                j.key_id.as_str().to_owned(),
                hex::encode(j.client_pubkey),
                hex::encode(digest),
                j.priority.get().to_string(),
                j.created_at.0.to_string(),
                j.max_retries.to_string(),
                j.idempotency_key.clone().unwrap_or_default(),
                hex::encode(j.request_digest),
                j.callback_url.clone().unwrap_or_default(),
                j.request_id.clone().unwrap_or_default(),
                j.max_fuel.map(|f| f.to_string()).unwrap_or_default(),
                opt(j.quota.max_queued).to_string(),
                opt(j.quota.jobs_per_day).to_string(),
                (j.created_at.0 / DAY_MS).to_string(),
            ]);
        }
        let refs: Vec<&(dyn std::fmt::Display + Sync)> = args
            .iter()
            .map(|a| a as &(dyn std::fmt::Display + Sync))
            .collect();
        // The script's answer carries the jobs' records: no read after it (one round trip).
        // If it failed (or we cannot tell whether it ran), the payloads may be referenced, so
        // they stay: an unreferenced one is garbage only, never a lost job.
        let reply: Vec<redis::Value> = self.eval_after(&pipe, &self.scripts.submit, &refs).await?;
        let mut reply = reply.into_iter();
        let kind: String = value(reply.next().ok_or_else(corrupt)?)?;
        if kind == "ok" {
            let outcomes: Vec<String> = value(reply.next().ok_or_else(corrupt)?)?;
            let records: Vec<HashMap<String, String>> = value(reply.next().ok_or_else(corrupt)?)?;
            if outcomes.len() != jobs.len() || records.len() != jobs.len() {
                return Err(corrupt());
            }
            // Payloads written for jobs that already existed (idempotency) are not referenced.
            self.drop_payloads(
                (jobs.iter().zip(&outcomes))
                    .filter(|(_, o)| !o.is_empty())
                    .map(|(j, _)| j.job_id),
            );
            let out = (records.iter().zip(&outcomes))
                .zip(jobs.iter().zip(&digests))
                .map(|((h, o), (j, digest))| {
                    Ok(if o.is_empty() {
                        SubmitOutcome::Created(j.queued_record(*digest))
                    } else {
                        SubmitOutcome::Existing(job_from_hash(h)?)
                    })
                })
                .collect::<Result<_>>()?;
            return Ok(BatchOutcome::Accepted(out));
        }
        let rest: Vec<String> = reply.map(value).collect::<Result<_>>()?;
        let index: usize = rest
            .first()
            .and_then(|i| i.parse().ok())
            .ok_or_else(corrupt)?;
        // Rejected: none of the payloads is referenced.
        self.drop_payloads(jobs.iter().map(|j| j.job_id));
        let outcome = match kind.as_str() {
            "conflict" => SubmitOutcome::IdempotencyConflict {
                existing: rest
                    .get(1)
                    .and_then(|id| id.parse().ok())
                    .ok_or_else(corrupt)?,
            },
            "quota" => SubmitOutcome::QuotaExceeded(match rest.get(1).map(String::as_str) {
                Some("jobs_per_day") => QuotaKind::JobsPerDay,
                _ => QuotaKind::MaxQueued,
            }),
            "no_tenant" => return Err(StoreError::TenantNotFound),
            _ => return Err(corrupt()),
        };
        Ok(BatchOutcome::Rejected { index, outcome })
    }

    /// Apply `policy`'s decision to a lease that failed with `code` (or ran out).
    async fn retry_or_fail(
        &self,
        lease: Held<'_>,
        code: ErrorCode,
        now: Timestamp,
        policy: RetryPolicy,
        expired_by: u64,
    ) -> Result<Option<RetryDecision>> {
        let Held {
            id,
            epoch,
            worker,
            retries,
            max_retries,
        } = lease;
        let decision = policy.decide(code, retries, max_retries, now);
        let (kind, count, not_before) = match decision {
            RetryDecision::Retry {
                not_before,
                retry_count,
            } => ("retry", retry_count, not_before.0),
            RetryDecision::Fail { retry_count } => ("fail", retry_count, 0),
        };
        let dead = matches!(decision, RetryDecision::Fail { .. }) && code.is_retryable();
        let done: i64 = self
            .eval(
                &self.scripts.retry,
                &[
                    &id,
                    &epoch,
                    &worker,
                    &now.0,
                    &kind,
                    &count,
                    &not_before,
                    &code.as_str(),
                    &UNIT,
                    &self.fair.burst,
                    &expired_by,
                    &(dead as u8),
                ],
            )
            .await?;
        if done != 1 {
            return Ok(None);
        }
        if kind == "fail"
            && let Ok(job) = id.parse::<JobId>()
        {
            self.drop_payload(&job);
        }
        Ok(Some(decision))
    }

    /// The jobs' immutable facts, to check receipts against, in order (`None` for an unknown
    /// job), in one round trip.
    async fn jobs_facts(&self, ids: &[JobId]) -> Result<Vec<Option<vesper_core::JobFacts>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hmget(self.job_key(id), &["workload", "program", "payload_digest"]);
        }
        let mut con = self.con.clone();
        let rows: Vec<Vec<Option<String>>> = pipe.query_async(&mut con).await.map_err(re)?;
        if rows.len() != ids.len() {
            return Err(corrupt());
        }
        ids.iter()
            .zip(rows)
            .map(|(id, row)| {
                let [Some(workload), program, Some(digest)] = &row[..] else {
                    return Ok(None);
                };
                Ok(Some(vesper_core::JobFacts {
                    job_id: *id,
                    program_id: match program.as_deref() {
                        None | Some("") => None,
                        Some(p) => Some(p.parse().map_err(|_| corrupt())?),
                    },
                    workload_type: workload.parse().map_err(|_| corrupt())?,
                    payload_digest: hex32(digest)?,
                }))
            })
            .collect()
    }

    /// Expire the leases listed as (id, worker, epoch, retries, max_retries).
    async fn lease_rows(&self, ids: Vec<String>) -> Result<Vec<(String, Vec<Option<String>>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hmget(
                self.key(&format!("job:{id}")),
                &["worker", "epoch", "retries", "max_retries"],
            );
        }
        let mut con = self.con.clone();
        let rows: Vec<Vec<Option<String>>> = pipe.query_async(&mut con).await.map_err(re)?;
        Ok(ids.into_iter().zip(rows).collect())
    }

    async fn expire_rows(
        &self,
        rows: Vec<(String, Vec<Option<String>>)>,
        now: Timestamp,
        policy: RetryPolicy,
        expired_by: u64,
        only_worker_prefix: Option<&str>,
    ) -> Result<Expired> {
        let mut n = Expired::default();
        for (id, row) in rows {
            let [worker, epoch, retries, max] = &row[..] else {
                return Err(corrupt());
            };
            let (Some(worker), Some(epoch)) = (worker, epoch) else {
                continue;
            };
            if let Some(prefix) = only_worker_prefix
                && !worker.starts_with(prefix)
            {
                continue;
            }
            let retries = retries.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
            let max = max.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
            if let Some(d) = self
                .retry_or_fail(
                    Held {
                        id: &id,
                        epoch,
                        worker,
                        retries,
                        max_retries: max,
                    },
                    ErrorCode::LeaseExpired,
                    now,
                    policy,
                    expired_by,
                )
                .await?
            {
                n.count(d);
            }
        }
        Ok(n)
    }

    /// CPU time the server at `url` has used since it started (`INFO cpu`: system + user, its
    /// main process and threads), for `vesper bench`'s accounting.
    pub async fn server_cpu(url: &str) -> Result<Duration> {
        let info = server_info(&mut plain_connection(url).await?, "cpu").await?;
        let secs = |name: &str| {
            info_field(&info, name)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok(Duration::from_secs_f64(
            (secs("used_cpu_sys") + secs("used_cpu_user")).max(0.0),
        ))
    }

    /// Rewrite the server's append-only file now and wait until it is done (at most
    /// `timeout`), for `vesper bench --prefill`: a large prefill otherwise leaves the server
    /// due for a rewrite of a file of its size, which would then run beside the measurement.
    /// Returns false when the server has no append-only file or the wait ran out.
    pub async fn rewrite_aof_and_wait(url: &str, timeout: Duration) -> Result<bool> {
        let mut con = plain_connection(url).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut asked = false;
        loop {
            let info = server_info(&mut con, "persistence").await?;
            let on = |name: &str| info_field(&info, name) == Some("1");
            if !on("aof_enabled") {
                return Ok(false);
            }
            // One already running (or scheduled) is waited for; then ours.
            if !on("aof_rewrite_in_progress") && !on("aof_rewrite_scheduled") {
                if asked {
                    return Ok(true);
                }
                let _: String = redis::cmd("BGREWRITEAOF")
                    .query_async(&mut con)
                    .await
                    .map_err(re)?;
                asked = true;
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Delete every key of the namespace (tests and `vesper bench` only).
    pub async fn wipe(&self) -> Result<()> {
        let mut con = self.con.clone();
        for pattern in [format!("{}*", self.prefix), format!("{}:{{*", self.ns)] {
            let keys: Vec<String> = con.keys(pattern).await.map_err(re)?;
            for chunk in keys.chunks(500) {
                let _: () = con.del(chunk).await.map_err(re)?;
            }
        }
        Ok(())
    }
}

/// A connection of its own to the server at `url`: no store, no subscription (bench tools).
async fn plain_connection(url: &str) -> Result<redis::aio::MultiplexedConnection> {
    Client::open(url)
        .map_err(re)?
        .get_multiplexed_async_connection()
        .await
        .map_err(re)
}

/// One section of `INFO`.
async fn server_info(con: &mut redis::aio::MultiplexedConnection, section: &str) -> Result<String> {
    redis::cmd("INFO")
        .arg(section)
        .query_async(con)
        .await
        .map_err(re)
}

/// The value of `name` in an `INFO` reply (`name:value` lines).
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// A lease as read back from a job's hash: what a retry decision needs.
struct Held<'a> {
    id: &'a str,
    epoch: &'a str,
    worker: &'a str,
    retries: u32,
    max_retries: u32,
}

/// Forward `{ns}:events` to the local channel; reconnect when the connection drops.
/// The store's event listener: the namespace's pub/sub channel turned into
/// [`Store::events`] and work wake-ups. Each [`Listener::run`] is one run of a restartable
/// task.
pub(crate) struct Listener {
    client: Client,
    channel: String,
    events: broadcast::Sender<JobEvent>,
    work: Arc<Notify>,
    /// Changes (closes) when the store is dropped.
    stopped: watch::Receiver<()>,
    /// Told once, when the first subscription is up.
    ready: Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
}

impl Listener {
    fn run(&self, stop: CancellationToken) -> impl Future<Output = ()> + Send + use<> {
        subscribe_loop(
            self.client.clone(),
            self.channel.clone(),
            self.events.clone(),
            self.work.clone(),
            self.stopped.clone(),
            self.ready.clone(),
            stop,
        )
    }
}

/// Listen until the store is dropped or `stop` is cancelled, reconnecting with a backoff. With
/// the store gone it waits for `stop` (a supervised task that returns early is a failure).
async fn subscribe_loop(
    client: Client,
    channel: String,
    events: broadcast::Sender<JobEvent>,
    work: Arc<Notify>,
    mut stopped: watch::Receiver<()>,
    ready: Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
    stop: CancellationToken,
) {
    use futures_util::StreamExt;
    let mut backoff = Duration::from_millis(50);
    let gone = async move |stopped: &mut watch::Receiver<()>| {
        // `changed` fails once the store (the sender) is dropped.
        while stopped.changed().await.is_ok() {}
    };
    loop {
        let session = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            if let Some(r) = ready.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = r.send(());
            }
            backoff = Duration::from_millis(50);
            // Anything may have happened while we were not listening.
            work.notify_waiters();
            let mut stream = pubsub.on_message();
            while let Some(msg) = stream.next().await {
                let Ok(text) = msg.get_payload::<String>() else {
                    continue;
                };
                if text == "work" {
                    work.notify_waiters();
                    continue;
                }
                if let Some(event) = parse_event(&text) {
                    if event.status == JobStatus::Queued {
                        work.notify_waiters();
                    }
                    let _ = events.send(event);
                }
            }
            Ok::<(), RedisError>(())
        };
        tokio::select! {
            r = session => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "redis event subscription lost; reconnecting");
                }
            }
            _ = gone(&mut stopped) => return stop.cancelled().await,
            _ = stop.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = gone(&mut stopped) => return stop.cancelled().await,
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

fn parse_event(text: &str) -> Option<JobEvent> {
    let mut parts = text.split(' ');
    let job_id = parts.next()?.parse().ok()?;
    let tenant = TenantId(parts.next()?.parse().ok()?);
    let status = parts.next()?.parse().ok()?;
    Some(JobEvent {
        job_id,
        tenant,
        status,
    })
}

fn field<'a>(h: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    h.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn parse_field<T: std::str::FromStr>(h: &HashMap<String, String>, name: &str) -> Result<T> {
    field(h, name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(corrupt)
}

fn opt_field<T: std::str::FromStr>(h: &HashMap<String, String>, name: &str) -> Result<Option<T>> {
    match field(h, name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| corrupt()),
    }
}

fn hex32(v: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(v, &mut out).map_err(|_| corrupt())?;
    Ok(out)
}

fn job_from_hash(h: &HashMap<String, String>) -> Result<JobRecord> {
    Ok(JobRecord {
        job_id: parse_field(h, "id")?,
        tenant: TenantId(parse_field(h, "tenant")?),
        workload_type: parse_field(h, "workload")?,
        program_id: opt_field(h, "program")?,
        key_id: parse_field(h, "key_id")?,
        priority: Priority::new(parse_field(h, "priority")?).map_err(|_| corrupt())?,
        status: parse_field(h, "status")?,
        created_at: Timestamp(parse_field(h, "created_at")?),
        started_at: opt_field(h, "started_at")?.map(Timestamp),
        completed_at: opt_field(h, "completed_at")?.map(Timestamp),
        worker_id: field(h, "worker").map(str::to_owned),
        retry_count: parse_field(h, "retries")?,
        max_retries: parse_field(h, "max_retries")?,
        error: opt_field(h, "error")?,
        payload_digest: hex32(field(h, "payload_digest").ok_or_else(corrupt)?)?,
    })
}

fn settings_from_hash(h: &HashMap<String, String>) -> TenantSettings {
    let o = |name: &str| field(h, name).and_then(|v| v.parse::<u64>().ok());
    let o32 = |name: &str| o(name).map(|v| v.min(u32::MAX as u64) as u32);
    TenantSettings {
        weight: o32("weight").unwrap_or(1).max(1),
        max_queued: o("max_queued"),
        jobs_per_day: o("jobs_per_day"),
        max_payload_bytes: o("max_payload_bytes"),
        max_fuel: o("max_fuel"),
        rate_per_sec: o32("rate_per_sec"),
        burst: o32("burst"),
    }
}

/// A score in a tenant's ready queue: `(10 - priority) * 2^40 + seq`.
fn split_score(score: &str) -> Result<(Priority, i64)> {
    let s: f64 = score.parse().map_err(|_| corrupt())?;
    let s = s as i64;
    let prio = 10 - s / (1 << 40);
    Ok((Priority::new(prio).map_err(|_| corrupt())?, s % (1 << 40)))
}

impl Store for RedisStore {
    fn events(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    fn work_available(&self) -> Arc<Notify> {
        self.work.clone()
    }
}

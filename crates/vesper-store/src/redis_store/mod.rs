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

mod lua;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, RedisError, Script};
use tokio::sync::{Notify, broadcast, watch};
use vesper_core::sched::{Candidate, FairPolicy, UNIT};
use vesper_core::{
    ErrorCode, JobId, JobStatus, Priority, ProgramId, Receipt, RetryDecision, RetryPolicy, Scopes,
    TenantId, Timestamp, WorkerId,
};

use crate::types::*;
use crate::{Result, Store, StoreError};

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
    lease: Script,
    heartbeat: Script,
    complete: Script,
    retry: Script,
    release: Script,
    cancel: Script,
    purge_results: Script,
    claim_callbacks: Script,
    finish_callback: Script,
    register_worker: Script,
    add_wallet: Script,
    rate_swap: Script,
}

impl Scripts {
    fn new() -> Self {
        let s = |body: &str| Script::new(&format!("{}{}", lua::PRELUDE, body));
        Scripts {
            create_tenant: s(lua::CREATE_TENANT),
            set_disabled: s(lua::SET_DISABLED),
            set_settings: s(lua::SET_SETTINGS),
            nonce: s(lua::NONCE),
            submit: s(lua::SUBMIT),
            candidates: s(lua::CANDIDATES),
            lease: s(lua::LEASE),
            heartbeat: s(lua::HEARTBEAT),
            complete: s(lua::COMPLETE),
            retry: s(lua::RETRY),
            release: s(lua::RELEASE),
            cancel: s(lua::CANCEL),
            purge_results: s(lua::PURGE_RESULTS),
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
        StoreError::Redis(e)
    }
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
    pub async fn open(url: &str, opts: RedisOptions) -> Result<Self> {
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
        tokio::spawn(subscribe_loop(
            client,
            format!("{prefix}events"),
            events.clone(),
            work.clone(),
            stopped,
            ready_tx,
        ));
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
                Err(e)
                    if attempt == 0
                        && e.kind()
                            == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
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
        let key = self.payload_key(id);
        let mut con = self.con.clone();
        tokio::spawn(async move {
            let _: std::result::Result<(), _> = con.del(key).await;
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

    async fn load_jobs(&self, ids: &[String]) -> Result<Vec<JobRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(self.key(&format!("job:{id}")));
        }
        let mut con = self.con.clone();
        let rows: Vec<HashMap<String, String>> = pipe.query_async(&mut con).await.map_err(re)?;
        rows.iter().map(job_from_hash).collect()
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
        for j in &jobs {
            args.extend([
                j.job_id.to_string(),
                j.tenant.0.to_string(),
                j.workload_type.as_str().to_owned(),
                j.program_id.map(|p| p.to_string()).unwrap_or_default(),
                j.key_id.as_str().to_owned(),
                hex::encode(j.client_pubkey),
                hex::encode(vesper_core::sha256(&[
                    &j.encrypted_key,
                    &j.encrypted_payload,
                ])),
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
        let reply: Vec<String> = match self.eval_after(&pipe, &self.scripts.submit, &refs).await {
            Ok(r) => r,
            Err(e) => {
                // The script did not run (or we cannot tell): the payloads may be referenced,
                // so they stay. An unreferenced one is garbage only, never a lost job.
                return Err(e);
            }
        };
        let drop_payloads = |ids: Vec<JobId>| async move {
            if ids.is_empty() {
                return;
            }
            let keys: Vec<String> = ids.iter().map(|id| self.payload_key(id)).collect();
            let mut con = self.con.clone();
            let _: std::result::Result<(), _> = con.del(keys).await;
        };
        match reply.first().map(String::as_str) {
            Some("ok") => {
                let mut unused = Vec::new();
                let mut ids = Vec::with_capacity(jobs.len());
                for (j, o) in jobs.iter().zip(&reply[1..]) {
                    if o.is_empty() {
                        ids.push(j.job_id.to_string());
                    } else {
                        unused.push(j.job_id);
                        ids.push(o.clone());
                    }
                }
                drop_payloads(unused).await;
                let records = self.load_jobs(&ids).await?;
                let out = records
                    .into_iter()
                    .zip(&reply[1..])
                    .map(|(r, o)| {
                        if o.is_empty() {
                            SubmitOutcome::Created(r)
                        } else {
                            SubmitOutcome::Existing(r)
                        }
                    })
                    .collect();
                Ok(BatchOutcome::Accepted(out))
            }
            Some(kind) => {
                let kind = kind.to_owned();
                let index: usize = reply
                    .get(1)
                    .and_then(|i| i.parse().ok())
                    .ok_or_else(corrupt)?;
                drop_payloads(jobs.iter().map(|j| j.job_id).collect()).await;
                let outcome = match kind.as_str() {
                    "conflict" => SubmitOutcome::IdempotencyConflict {
                        existing: reply
                            .get(2)
                            .and_then(|id| id.parse().ok())
                            .ok_or_else(corrupt)?,
                    },
                    "quota" => {
                        SubmitOutcome::QuotaExceeded(match reply.get(2).map(String::as_str) {
                            Some("jobs_per_day") => QuotaKind::JobsPerDay,
                            _ => QuotaKind::MaxQueued,
                        })
                    }
                    "no_tenant" => return Err(StoreError::TenantNotFound),
                    _ => return Err(corrupt()),
                };
                Ok(BatchOutcome::Rejected { index, outcome })
            }
            None => Err(corrupt()),
        }
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

    /// The job's immutable facts, to check a receipt against; `None` for an unknown job.
    async fn job_facts(&self, id: &JobId) -> Result<Option<vesper_core::JobFacts>> {
        let mut con = self.con.clone();
        let row: Vec<Option<String>> = con
            .hmget(
                self.key(&format!("job:{id}")),
                &["workload", "program", "payload_digest"],
            )
            .await
            .map_err(re)?;
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

/// A lease as read back from a job's hash: what a retry decision needs.
struct Held<'a> {
    id: &'a str,
    epoch: &'a str,
    worker: &'a str,
    retries: u32,
    max_retries: u32,
}

/// Forward `{ns}:events` to the local channel; reconnect when the connection drops.
async fn subscribe_loop(
    client: Client,
    channel: String,
    events: broadcast::Sender<JobEvent>,
    work: Arc<Notify>,
    mut stopped: watch::Receiver<()>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    use futures_util::StreamExt;
    let mut backoff = Duration::from_millis(50);
    let mut ready = Some(ready);
    loop {
        let session = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            if let Some(r) = ready.take() {
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
            _ = stopped.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
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

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<TenantId> {
        let id: i64 = self
            .eval(&self.scripts.create_tenant, &[&name, &now.0])
            .await?;
        if id == 0 {
            return Err(StoreError::TenantExists);
        }
        Ok(TenantId(id))
    }

    async fn find_tenant(&self, name: &str) -> Result<Option<TenantId>> {
        let mut con = self.con.clone();
        let id: Option<i64> = con.hget(self.key("tenants"), name).await.map_err(re)?;
        Ok(id.map(TenantId))
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>> {
        let mut con = self.con.clone();
        let ids: Vec<i64> = con.hvals(self.key("tenants")).await.map_err(re)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.key(&format!("t:{id}")));
        }
        let rows: Vec<HashMap<String, String>> = pipe.query_async(&mut con).await.map_err(re)?;
        let mut out = Vec::with_capacity(rows.len());
        for h in rows {
            if h.is_empty() {
                continue;
            }
            out.push(TenantRecord {
                id: TenantId(parse_field(&h, "id")?),
                name: field(&h, "name").unwrap_or_default().to_owned(),
                created_at: Timestamp(parse_field(&h, "created_at")?),
                disabled: field(&h, "disabled") == Some("1"),
                queued: opt_field::<i64>(&h, "queued")?.unwrap_or(0).max(0) as u64,
                settings: settings_from_hash(&h),
            });
        }
        out.sort_by_key(|t| t.id.0);
        Ok(out)
    }

    async fn set_tenant_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let done: i64 = self
            .eval(&self.scripts.set_disabled, &[&name, &(disabled as u8)])
            .await?;
        if done == 0 {
            return Err(StoreError::TenantNotFound);
        }
        Ok(())
    }

    async fn set_tenant_settings(&self, tenant: TenantId, settings: TenantSettings) -> Result<()> {
        let o = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let fields = [
            ("max_queued", o(settings.max_queued)),
            ("jobs_per_day", o(settings.jobs_per_day)),
            ("max_payload_bytes", o(settings.max_payload_bytes)),
            ("max_fuel", o(settings.max_fuel)),
            ("rate_per_sec", o(settings.rate_per_sec.map(u64::from))),
            ("burst", o(settings.burst.map(u64::from))),
        ];
        let weight = settings.weight.max(1);
        let mut args: Vec<&(dyn std::fmt::Display + Sync)> = vec![&tenant.0, &weight];
        for (name, value) in &fields {
            args.push(name);
            args.push(value);
        }
        let done: i64 = self.eval(&self.scripts.set_settings, &args).await?;
        if done == 0 {
            return Err(StoreError::TenantNotFound);
        }
        Ok(())
    }

    async fn add_api_key(
        &self,
        tenant: TenantId,
        key_hash: [u8; 32],
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<()> {
        let hex = hex::encode(key_hash);
        let mut con = self.con.clone();
        redis::pipe()
            .atomic()
            .hset_multiple(
                self.key(&format!("key:{hex}")),
                &[
                    ("tenant", tenant.0.to_string()),
                    ("scopes", scopes.to_string()),
                    ("created_at", now.0.to_string()),
                    ("revoked", "0".to_owned()),
                ],
            )
            .ignore()
            .sadd(self.key(&format!("t:{}:keys", tenant.0)), &hex)
            .ignore()
            .query_async::<()>(&mut con)
            .await
            .map_err(re)
    }

    async fn revoke_api_key(&self, tenant: TenantId, hash_prefix: &str) -> Result<u64> {
        let prefix = hash_prefix.to_ascii_lowercase();
        if prefix.len() < 12 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(0);
        }
        let mut con = self.con.clone();
        let keys: Vec<String> = con
            .smembers(self.key(&format!("t:{}:keys", tenant.0)))
            .await
            .map_err(re)?;
        let mut n = 0;
        for k in keys.iter().filter(|k| k.starts_with(&prefix)) {
            let key = self.key(&format!("key:{k}"));
            let was: Option<String> = con.hget(&key, "revoked").await.map_err(re)?;
            if was.as_deref() == Some("0") {
                let _: () = con.hset(&key, "revoked", "1").await.map_err(re)?;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn principal_for_key(&self, key_hash: [u8; 32]) -> Result<Option<Principal>> {
        let k = self
            .hgetall(self.key(&format!("key:{}", hex::encode(key_hash))))
            .await?;
        if k.is_empty() || field(&k, "revoked") != Some("0") {
            return Ok(None);
        }
        self.credential_principal(&k).await
    }

    async fn add_wallet(
        &self,
        tenant: TenantId,
        wallet: &str,
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<()> {
        let done: i64 = self
            .eval(
                &self.scripts.add_wallet,
                &[&wallet, &tenant.0, &scopes.to_string(), &now.0],
            )
            .await?;
        if done == 0 {
            return Err(StoreError::CredentialExists);
        }
        Ok(())
    }

    async fn revoke_wallet(&self, wallet: &str) -> Result<bool> {
        let mut con = self.con.clone();
        let n: i64 = con
            .del(self.key(&format!("wallet:{wallet}")))
            .await
            .map_err(re)?;
        Ok(n > 0)
    }

    async fn principal_for_wallet(&self, wallet: &str) -> Result<Option<Principal>> {
        let w = self.hgetall(self.key(&format!("wallet:{wallet}"))).await?;
        if w.is_empty() {
            return Ok(None);
        }
        self.credential_principal(&w).await
    }

    async fn remember_nonce(
        &self,
        key: [u8; 32],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let ttl = expires_at.saturating_since(now).saturating_add(GRACE_MS);
        let fresh: i64 = self
            .eval(
                &self.scripts.nonce,
                &[&hex::encode(key), &expires_at.0, &now.0, &ttl],
            )
            .await?;
        Ok(fresh == 1)
    }

    async fn put_program(&self, id: ProgramId, module: Vec<u8>, _now: Timestamp) -> Result<bool> {
        let mut con = self.con.clone();
        let fresh: bool = redis::cmd("SET")
            .arg(self.program_key(&id))
            .arg(module)
            .arg("NX")
            .query_async::<Option<String>>(&mut con)
            .await
            .map_err(re)?
            .is_some();
        Ok(fresh)
    }

    async fn get_program(&self, id: ProgramId) -> Result<Option<Arc<Vec<u8>>>> {
        if let Some(m) = self.programs.get(&id) {
            return Ok(Some(m));
        }
        let mut con = self.con.clone();
        let module: Option<Vec<u8>> = con.get(self.program_key(&id)).await.map_err(re)?;
        Ok(module.map(|m| self.programs.insert(id, m)))
    }

    async fn has_program(&self, id: ProgramId) -> Result<bool> {
        if self.programs.contains(&id) {
            return Ok(true);
        }
        let mut con = self.con.clone();
        con.exists(self.program_key(&id)).await.map_err(re)
    }

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
        let jobs = self.load_jobs(&ids).await?;
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

    async fn result(&self, tenant: TenantId, id: JobId) -> Result<Option<StoredResult>> {
        let h = self.hgetall(self.job_key(&id)).await?;
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
                let mut con = self.con.clone();
                let r: HashMap<String, Vec<u8>> =
                    con.hgetall(self.result_key(&id, epoch)).await.map_err(re)?;
                if r.is_empty() {
                    None
                } else {
                    let get = |k: &str| r.get(k).ok_or_else(corrupt);
                    let expires = std::str::from_utf8(get("expires")?)
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(corrupt)?;
                    Some(NewResult {
                        encrypted_result: get("r")?.clone(),
                        receipt: Receipt::decode(get("receipt")?).map_err(|_| corrupt())?,
                        signature: get("sig")?.as_slice().try_into().map_err(|_| corrupt())?,
                        expires_at: Timestamp(expires),
                    })
                }
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

    async fn purge_expired_results(&self, now: Timestamp) -> Result<u64> {
        let mut total = 0;
        loop {
            let due: Vec<String> = self
                .eval(&self.scripts.purge_results, &[&now.0, &500])
                .await?;
            if due.is_empty() {
                return Ok(total);
            }
            let keys: Vec<String> = due
                .chunks(2)
                .filter_map(|c| {
                    let id: JobId = c.first()?.parse().ok()?;
                    let epoch: u64 = c.get(1)?.parse().ok()?;
                    Some(self.result_key(&id, epoch))
                })
                .collect();
            total += (due.len() / 2) as u64;
            let mut con = self.con.clone();
            let _: () = con.del(keys).await.map_err(re)?;
            if due.len() < 1000 {
                return Ok(total);
            }
        }
    }

    async fn claim_callbacks(
        &self,
        now: Timestamp,
        limit: u32,
        lease_ms: u64,
    ) -> Result<Vec<PendingCallback>> {
        let flat: Vec<String> = self
            .eval(
                &self.scripts.claim_callbacks,
                &[&now.0, &limit, &now.plus_ms(lease_ms).0],
            )
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 3);
        for c in flat.chunks(3) {
            let [member, url, attempts] = c else {
                return Err(corrupt());
            };
            let (id, status) = member.split_once('|').ok_or_else(corrupt)?;
            let id: JobId = id.parse().map_err(|_| corrupt())?;
            let job = self.load_job(&id).await?.ok_or_else(corrupt)?;
            out.push(PendingCallback {
                job,
                status: status.parse().map_err(|_| corrupt())?,
                url: url.clone(),
                attempts: attempts.parse().map_err(|_| corrupt())?,
            });
        }
        Ok(out)
    }

    async fn finish_callback(
        &self,
        job_id: JobId,
        status: JobStatus,
        outcome: CallbackOutcome,
    ) -> Result<()> {
        let (state, next_at, error) = match outcome {
            CallbackOutcome::Delivered => ("delivered", 0, String::new()),
            CallbackOutcome::Retry { at, error } => ("pending", at.0, error),
            CallbackOutcome::Dead { error } => ("dead", 0, error),
        };
        let member = format!("{job_id}|{}", status.as_str());
        let _: i64 = self
            .eval(
                &self.scripts.finish_callback,
                &[&member, &state, &next_at, &error],
            )
            .await?;
        Ok(())
    }

    async fn publish_pool_key(
        &self,
        key_id: &str,
        public_key: [u8; 32],
        now: Timestamp,
    ) -> Result<()> {
        let mut con = self.con.clone();
        redis::pipe()
            .cmd("ZADD")
            .arg(self.key("pool_keys"))
            .arg("NX")
            .arg(now.0)
            .arg(format!("{key_id}:{}", hex::encode(public_key)))
            .ignore()
            .query_async::<()>(&mut con)
            .await
            .map_err(re)
    }

    async fn pool_keys(&self) -> Result<Vec<[u8; 32]>> {
        let mut con = self.con.clone();
        let members: Vec<String> = con.zrange(self.key("pool_keys"), 0, -1).await.map_err(re)?;
        members
            .iter()
            .map(|m| hex32(m.rsplit(':').next().unwrap_or_default()))
            .collect()
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn rate_state(&self, key: &str) -> Result<Option<u64>> {
        let mut con = self.con.clone();
        let v: Option<String> = con.get(self.key(&format!("rl:{key}"))).await.map_err(re)?;
        match v {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| corrupt()),
        }
    }

    async fn rate_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        new: u64,
        ttl_ms: u64,
    ) -> Result<bool> {
        let expected = expected.map(|e| e.to_string()).unwrap_or_default();
        let done: i64 = self
            .eval(
                &self.scripts.rate_swap,
                &[&key, &expected, &new, &ttl_ms.max(1)],
            )
            .await?;
        Ok(done == 1)
    }

    async fn register_worker(&self, id: &WorkerId, pubkey: [u8; 32], now: Timestamp) -> Result<()> {
        let _: i64 = self
            .eval(
                &self.scripts.register_worker,
                &[&id.as_str(), &hex::encode(pubkey), &now.0],
            )
            .await?;
        Ok(())
    }

    async fn forget_workers(&self, prefix: &str) -> Result<u64> {
        let mut con = self.con.clone();
        let ids: Vec<String> = con.smembers(self.key("workers")).await.map_err(re)?;
        let gone: Vec<&String> = ids.iter().filter(|id| id.starts_with(prefix)).collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in &gone {
            pipe.srem(self.key("workers"), *id)
                .ignore()
                .del(self.key(&format!("worker:{id}")))
                .ignore();
        }
        let () = pipe.query_async(&mut con).await.map_err(re)?;
        Ok(gone.len() as u64)
    }

    async fn workers(&self) -> Result<Vec<WorkerRecord>> {
        let mut con = self.con.clone();
        let mut ids: Vec<String> = con.smembers(self.key("workers")).await.map_err(re)?;
        ids.sort();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.key(&format!("worker:{id}")));
        }
        let rows: Vec<HashMap<String, String>> = pipe.query_async(&mut con).await.map_err(re)?;
        ids.into_iter()
            .zip(rows)
            .map(|(worker_id, h)| {
                Ok(WorkerRecord {
                    worker_id,
                    pubkey: hex32(field(&h, "pubkey").ok_or_else(corrupt)?)?,
                    registered_at: Timestamp(parse_field(&h, "registered_at")?),
                    last_seen: Timestamp(parse_field(&h, "last_seen")?),
                })
            })
            .collect()
    }

    fn events(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    fn work_available(&self) -> Arc<Notify> {
        self.work.clone()
    }
}

//! The Lua scripts that make every state transition of the Redis backend atomic.
//!
//! Each script starts with [`PRELUDE`]. `KEYS[1]` is always the namespace's queue-depth counter
//! (`{ns}:queued`), which routes the script to the node holding the namespace's hash slot on a
//! Redis Cluster; every key a script touches carries the same `{ns}` tag (docs/STORAGE.md).
//! `ARGV[1]` is the key prefix `{ns}:`. Scripts never touch per-job data keys (payloads,
//! results), which live in the job's own slot; the Rust side writes those before and deletes
//! them after the transition.
//!
//! Numbers: Redis runs Lua 5.1, whose numbers are doubles. Every integer here (sequence
//! numbers, timestamps in ms, virtual times) stays below 2^53 and is exact.
//! The fair-queueing arithmetic (`charge`, `reactivate`) mirrors `vesper_core::sched`, with
//! its constants passed in; which tenant goes next is decided in Rust by `FairPolicy::pick`.

/// Helpers shared by the scripts.
pub const PRELUDE: &str = r#"
local P = ARGV[1]
local function tkey(t) return P .. 't:' .. t end
local function jkey(id) return P .. 'job:' .. id end
local function num(v, d) if v == false or v == nil then return d end return tonumber(v) end
-- Integers as exact decimal strings (Lua would print large ones with an exponent).
local function int(x) return string.format('%d', x) end
local function publish(id, tenant, st)
  redis.call('PUBLISH', P .. 'events', id .. ' ' .. tenant .. ' ' .. st)
end
local function score(prio, seq) return int((10 - prio) * 1099511627776 + seq) end
-- A job's sequence number from its score in a ready queue.
local function seq_of(s) return tonumber(s) % 1099511627776 end
-- Move a job between a tenant's per-status indexes (the caller writes `status` itself).
local function index(id, tenant, seq, old, new)
  if old then redis.call('ZREM', tkey(tenant) .. ':s:' .. old, id) end
  redis.call('ZADD', tkey(tenant) .. ':s:' .. new, seq, id)
end
-- Move a job between a tenant's per-status indexes and write its status.
local function setstatus(id, tenant, seq, old, new)
  index(id, tenant, seq, old, new)
  redis.call('HSET', jkey(id), 'status', new)
end
-- A job of `tenant` became queued: count it; a tenant that had nothing queued has its
-- virtual time brought forward (FairPolicy::reactivate); ready now or after `avail`.
local function enqueue(id, tenant, prio, seq, avail, now, unit, burst)
  local tk = tkey(tenant)
  local queued = redis.call('HINCRBY', tk, 'queued', 1)
  if queued <= 1 then
    if queued < 1 then redis.call('HSET', tk, 'queued', 1) end
    local h = redis.call('HMGET', tk, 'vtime', 'weight')
    local vt = num(h[1], 0)
    local w = math.max(num(h[2], 1), 1)
    local sys = num(redis.call('GET', P .. 'sysvtime'), 0)
    local floor = sys - math.floor(burst * unit / w)
    if floor > vt then redis.call('HSET', tk, 'vtime', int(floor)) end
  end
  redis.call('INCR', P .. 'queued')
  if avail > now then
    redis.call('ZADD', P .. 'delayed', avail, id)
  else
    redis.call('ZADD', tk .. ':ready', score(prio, seq), id)
    redis.call('SADD', P .. 'ready', tenant)
  end
end
-- A queued job left the queue (leased or cancelled).
local function dequeue(tenant)
  if redis.call('HINCRBY', tkey(tenant), 'queued', -1) < 0 then
    redis.call('HSET', tkey(tenant), 'queued', 0)
  end
  if redis.call('DECR', P .. 'queued') < 0 then redis.call('SET', P .. 'queued', 0) end
end
-- The client is owed a callback announcing `st` at `url`, if it asked for one (url set).
local function owe_callback_to(id, url, st, now)
  if url and url ~= '' then
    local member = id .. '|' .. st
    local ck = P .. 'cb:' .. member
    if redis.call('EXISTS', ck) == 0 then
      redis.call('HSET', ck, 'url', url, 'attempts', 0, 'state', 'pending')
      redis.call('ZADD', P .. 'callbacks', now, member)
    end
  end
end
-- The client is owed a callback announcing `st`, if it asked for one.
local function owe_callback(id, st, now)
  owe_callback_to(id, redis.call('HGET', jkey(id), 'callback_url'), st, now)
end
-- A job finished at `at`: index it for the retention sweep, unless a callback is owed (it is
-- indexed when the callback is delivered or given up, by FINISH_CALLBACK).
local function finished_with(id, url, at)
  if not url or url == '' then redis.call('ZADD', P .. 'finished', at, id) end
end
local function finished(id, at)
  finished_with(id, redis.call('HGET', jkey(id), 'callback_url'), at)
end
-- Is `id` leased under (epoch, worker)? (worker '' = any)
local function holds(id, epoch, worker)
  local j = redis.call('HMGET', jkey(id), 'status', 'epoch', 'worker')
  if j[1] ~= 'processing' or j[2] ~= epoch then return false end
  if worker ~= '' and j[3] ~= worker then return false end
  return true
end
"#;

/// Create a tenant. ARGV: P, name, now. Returns the id, or 0 when the name is taken.
pub const CREATE_TENANT: &str = r#"
local name, now = ARGV[2], ARGV[3]
if redis.call('HEXISTS', P .. 'tenants', name) == 1 then return 0 end
local id = redis.call('INCR', P .. 'tenant_seq')
redis.call('HSET', P .. 'tenants', name, id)
redis.call('HSET', tkey(id), 'id', id, 'name', name, 'created_at', now, 'disabled', 0,
  'weight', 1, 'queued', 0, 'vtime', 0)
return id
"#;

/// Enable or disable a tenant by name. ARGV: P, name, 0|1. Returns 1, or 0 if unknown.
pub const SET_DISABLED: &str = r#"
local id = redis.call('HGET', P .. 'tenants', ARGV[2])
if not id then return 0 end
redis.call('HSET', tkey(id), 'disabled', ARGV[3])
redis.call('PUBLISH', P .. 'events', 'work')
return 1
"#;

/// Replace a tenant's settings. ARGV: P, id, weight, then (field, value) pairs where an empty
/// value removes the field. Returns 1, or 0 if unknown.
pub const SET_SETTINGS: &str = r#"
local tk = tkey(ARGV[2])
if redis.call('EXISTS', tk) == 0 then return 0 end
redis.call('HSET', tk, 'weight', ARGV[3])
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', tk, ARGV[i])
  else redis.call('HSET', tk, ARGV[i], ARGV[i + 1]) end
end
return 1
"#;

/// Accept a request nonce once. ARGV: P, nonce hex, expires_at, now, ttl_ms.
/// Returns 1 when new (or remembered but past its window), 0 for a replay.
pub const NONCE: &str = r#"
local k = P .. 'nonce:' .. ARGV[2]
local seen = redis.call('GET', k)
if seen and tonumber(seen) > tonumber(ARGV[4]) then return 0 end
redis.call('SET', k, ARGV[3], 'PX', ARGV[5])
return 1
"#;

/// Submit jobs, all or none. ARGV: P, unit, burst, n, then 18 fields per job (see
/// `RedisStore::submit_jobs`). Returns {'ok', {o1, ..., on}, {h1, ..., hn}} where o is '' for a
/// new job (h empty: its record is what the caller sent) or the existing job's id (h: that
/// job's hash, HGETALL form); or {'conflict', i, existing job's id}; or {'quota', i, kind}; or {'no_tenant', i}
/// (i 0-based).
pub const SUBMIT: &str = r#"
local unit, burst, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local F = 18
local out = {'ok'}
local pending = {}
for i = 0, n - 1 do
  local b = 4 + i * F
  local tenant, idem, digest = ARGV[b + 2], ARGV[b + 11], ARGV[b + 12]
  local max_queued, per_day, day = tonumber(ARGV[b + 16]), tonumber(ARGV[b + 17]), ARGV[b + 18]
  local existing = false
  if idem ~= '' then existing = redis.call('HGET', tkey(tenant) .. ':idem', idem) end
  if existing then
    if redis.call('HGET', jkey(existing), 'request_digest') ~= digest then
      return {'conflict', i, existing}
    end
    out[#out + 1] = existing
  else
    local th = redis.call('HMGET', tkey(tenant), 'name', 'queued')
    if not th[1] then return {'no_tenant', i} end
    local p = (pending[tenant] or 0)
    if max_queued >= 0 and math.max(num(th[2], 0), 0) + p >= max_queued then
      return {'quota', i, 'max_queued'}
    end
    if per_day >= 0
      and num(redis.call('GET', tkey(tenant) .. ':usage:' .. day), 0) + p >= per_day then
      return {'quota', i, 'jobs_per_day'}
    end
    pending[tenant] = p + 1
    out[#out + 1] = ''
  end
end
for i = 0, n - 1 do
  if out[i + 2] == '' then
    local b = 4 + i * F
    local id, tenant = ARGV[b + 1], ARGV[b + 2]
    local prio, created, idem, day = tonumber(ARGV[b + 8]), ARGV[b + 9], ARGV[b + 11], ARGV[b + 18]
    local seq = redis.call('INCR', P .. 'seq')
    redis.call('HSET', jkey(id), 'id', id, 'seq', int(seq), 'tenant', tenant,
      'workload', ARGV[b + 3], 'program', ARGV[b + 4], 'key_id', ARGV[b + 5],
      'client_pk', ARGV[b + 6], 'payload_digest', ARGV[b + 7], 'priority', prio,
      'status', 'queued', 'created_at', created, 'retries', 0, 'max_retries', ARGV[b + 10],
      'available_at', created, 'epoch', 0, 'idem', idem, 'request_digest', ARGV[b + 12],
      'callback_url', ARGV[b + 13], 'request_id', ARGV[b + 14], 'max_fuel', ARGV[b + 15])
    redis.call('ZADD', tkey(tenant) .. ':jobs', seq, id)
    index(id, tenant, seq, false, 'queued')
    if idem ~= '' then redis.call('HSET', tkey(tenant) .. ':idem', idem, id) end
    enqueue(id, tenant, prio, seq, 0, 0, unit, burst)
    local uk = tkey(tenant) .. ':usage:' .. day
    if redis.call('INCR', uk) == 1 then redis.call('EXPIRE', uk, 8 * 86400) end
    publish(id, tenant, 'queued')
  end
end
local outcomes, records = {}, {}
for i = 0, n - 1 do
  local o = out[i + 2]
  outcomes[i + 1] = o
  if o == '' then records[i + 1] = {} else records[i + 1] = redis.call('HGETALL', jkey(o)) end
end
return {'ok', outcomes, records}
"#;

/// Promote delayed jobs whose backoff is over, then list every tenant with a ready job:
/// {tenant, vtime, weight, disabled, id1, score1, ..., idn, scoren} per tenant, its first `n`
/// ready jobs (by score: the order its leases take them; one for a disabled tenant).
/// ARGV: P, now, n (absent: 1).
pub const CANDIDATES: &str = r#"
local now = tonumber(ARGV[2])
local n = math.max(num(ARGV[3], 1), 1)
local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 256)
for _, id in ipairs(due) do
  redis.call('ZREM', P .. 'delayed', id)
  local j = redis.call('HMGET', jkey(id), 'tenant', 'priority', 'seq', 'status')
  if j[4] == 'queued' then
    redis.call('ZADD', tkey(j[1]) .. ':ready', score(tonumber(j[2]), tonumber(j[3])), id)
    redis.call('SADD', P .. 'ready', j[1])
  end
end
local out = {}
for _, t in ipairs(redis.call('SMEMBERS', P .. 'ready')) do
  local h = redis.call('HMGET', tkey(t), 'vtime', 'weight', 'disabled')
  local disabled = h[3] or '0'
  local heads = redis.call('ZRANGE', tkey(t) .. ':ready', 0, (disabled == '1' and 1 or n) - 1, 'WITHSCORES')
  if #heads == 0 then
    redis.call('SREM', P .. 'ready', t)
  else
    local row = {t, h[1] or '0', h[2] or '1', disabled}
    for _, v in ipairs(heads) do row[#row + 1] = v end
    out[#out + 1] = row
  end
end
return out
"#;

/// Lease the head job of a tenant the policy chose: the one transition [`LEASE_BATCH`] makes
/// per job (a single lease is a batch of one). Prepended after [`PRELUDE`].
pub const LEASE_HEAD: &str = r#"
-- Returns the leased job's id, or false when the tenant is disabled or has nothing ready.
local function lease_head(tenant, worker, now, expires, unit)
  local tk = tkey(tenant)
  local t = redis.call('HMGET', tk, 'disabled', 'vtime', 'weight')
  if t[1] == '1' then return false end
  local popped = redis.call('ZPOPMIN', tk .. ':ready')
  if #popped == 0 then
    redis.call('SREM', P .. 'ready', tenant)
    return false
  end
  local id = popped[1]
  if redis.call('ZCARD', tk .. ':ready') == 0 then redis.call('SREM', P .. 'ready', tenant) end
  local vt = num(t[2], 0)
  local w = math.max(num(t[3], 1), 1)
  if vt > num(redis.call('GET', P .. 'sysvtime'), 0) then redis.call('SET', P .. 'sysvtime', int(vt)) end
  redis.call('HSET', tk, 'vtime', int(vt + math.floor(unit / w)))
  dequeue(tenant)
  local jk = jkey(id)
  redis.call('HINCRBY', jk, 'epoch', 1)
  redis.call('HSET', jk, 'worker', worker, 'lease_expires', expires, 'started_at', now,
    'status', 'processing')
  index(id, tenant, seq_of(popped[2]), 'queued', 'processing')
  redis.call('ZADD', P .. 'leases', expires, id)
  publish(id, tenant, 'processing')
  return id
end
"#;

/// Lease the head jobs of the tenants the policy chose, in order (a tenant named k times gives
/// its first k jobs). ARGV: P, worker, now, expires, unit, tenant1, ..., tenantn. A tenant
/// found disabled or with nothing ready (another worker was faster) is skipped. Returns the
/// leased jobs' hashes (HGETALL form), in lease order.
pub const LEASE_BATCH: &str = r#"
local worker, now, expires, unit = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local out = {}
for i = 6, #ARGV do
  local id = lease_head(ARGV[i], worker, now, expires, unit)
  if id then out[#out + 1] = redis.call('HGETALL', jkey(id)) end
end
return out
"#;

/// Extend a lease. ARGV: P, id, epoch, worker, expires. Returns 1, or 0 when fenced.
pub const HEARTBEAT: &str = r#"
local id = ARGV[2]
if not holds(id, ARGV[3], ARGV[4]) then return 0 end
redis.call('HSET', jkey(id), 'lease_expires', ARGV[5])
redis.call('ZADD', P .. 'leases', ARGV[5], id)
return 1
"#;

/// Mark a job completed; its sealed result was written under its epoch beforehand.
/// ARGV: P, id, epoch, worker, now, result expires_at. Returns 1, or 0 when fenced.
pub const COMPLETE: &str = r#"
local id, epoch, worker, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jk = jkey(id)
-- `holds`, and what the transition needs, in one read.
local j = redis.call('HMGET', jk, 'status', 'epoch', 'worker', 'tenant', 'seq', 'callback_url')
if j[1] ~= 'processing' or j[2] ~= epoch then return 0 end
if worker ~= '' and j[3] ~= worker then return 0 end
local tenant, url = j[4], j[6]
redis.call('HSET', jk, 'completed_at', now, 'result_epoch', epoch, 'status', 'completed')
redis.call('HDEL', jk, 'lease_expires', 'error')
redis.call('ZREM', P .. 'leases', id)
index(id, tenant, tonumber(j[5]), 'processing', 'completed')
finished_with(id, url, now)
redis.call('ZADD', P .. 'results', ARGV[6], id)
owe_callback_to(id, url, 'completed', now)
publish(id, tenant, 'completed')
return 1
"#;

/// Apply a retry decision to a leased job. ARGV: P, id, epoch, worker ('' = any), now,
/// 'retry'|'fail', retry_count, not_before, error code, unit, burst, expired_by (0 = no
/// check: otherwise only if the lease ran out by then), dead (1 = dead-letter it).
/// Returns 1, or 0 when fenced (or no longer expired).
pub const RETRY: &str = r#"
local id, epoch, worker, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local kind, retries, not_before, code = ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local unit, burst, expired_by = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
if not holds(id, epoch, worker) then return 0 end
local jk = jkey(id)
if expired_by > 0 and num(redis.call('HGET', jk, 'lease_expires'), 0) > expired_by then return 0 end
local j = redis.call('HMGET', jk, 'tenant', 'seq', 'priority')
local tenant, seq, prio = j[1], tonumber(j[2]), tonumber(j[3])
redis.call('ZREM', P .. 'leases', id)
if kind == 'retry' then
  redis.call('HSET', jk, 'retries', retries, 'available_at', not_before, 'error', code)
  redis.call('HDEL', jk, 'worker', 'lease_expires')
  setstatus(id, tenant, seq, 'processing', 'queued')
  enqueue(id, tenant, prio, seq, not_before, tonumber(now), unit, burst)
  publish(id, tenant, 'queued')
else
  redis.call('HSET', jk, 'retries', retries, 'completed_at', now, 'error', code)
  redis.call('HDEL', jk, 'lease_expires')
  setstatus(id, tenant, seq, 'processing', 'failed')
  finished(id, now)
  if ARGV[13] == '1' then
    redis.call('LPUSH', P .. 'dead', id)
    redis.call('LTRIM', P .. 'dead', 0, 99999)
  end
  owe_callback(id, 'failed', now)
  publish(id, tenant, 'failed')
end
return 1
"#;

/// Give a leased job back without counting an attempt. ARGV: P, id, epoch, worker, unit,
/// burst. Returns 1, or 0 when fenced.
pub const RELEASE: &str = r#"
local id = ARGV[2]
if not holds(id, ARGV[3], ARGV[4]) then return 0 end
local jk = jkey(id)
local j = redis.call('HMGET', jk, 'tenant', 'seq', 'priority')
redis.call('ZREM', P .. 'leases', id)
redis.call('HDEL', jk, 'worker', 'lease_expires', 'started_at')
setstatus(id, j[1], tonumber(j[2]), 'processing', 'queued')
enqueue(id, j[1], tonumber(j[3]), tonumber(j[2]), 0, 0, tonumber(ARGV[5]), tonumber(ARGV[6]))
publish(id, j[1], 'queued')
return 1
"#;

/// Cancel a queued job. ARGV: P, tenant, id, now. Returns 'cancelled', 'not_cancellable' or
/// 'not_found'.
pub const CANCEL: &str = r#"
local tenant, id, now = ARGV[2], ARGV[3], ARGV[4]
local jk = jkey(id)
local j = redis.call('HMGET', jk, 'tenant', 'status', 'seq')
if j[1] ~= tenant then return 'not_found' end
if j[2] ~= 'queued' then return 'not_cancellable' end
local tk = tkey(tenant)
redis.call('ZREM', tk .. ':ready', id)
redis.call('ZREM', P .. 'delayed', id)
if redis.call('ZCARD', tk .. ':ready') == 0 then redis.call('SREM', P .. 'ready', tenant) end
redis.call('HSET', jk, 'completed_at', now)
setstatus(id, tenant, tonumber(j[3]), 'queued', 'cancelled')
finished(id, now)
dequeue(tenant)
owe_callback(id, 'cancelled', now)
publish(id, tenant, 'cancelled')
return 'cancelled'
"#;

/// Forget results past their time to live. ARGV: P, now, limit. Returns {id, epoch, ...} of
/// the results whose sealed bodies the caller must delete.
pub const PURGE_RESULTS: &str = r#"
local due = redis.call('ZRANGEBYSCORE', P .. 'results', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(due) do
  redis.call('ZREM', P .. 'results', id)
  local e = redis.call('HGET', jkey(id), 'result_epoch')
  redis.call('HSET', jkey(id), 'result_purged', 1)
  out[#out + 1] = id
  out[#out + 1] = e or '0'
end
return out
"#;

/// Forget finished jobs (`{ns}:finished`, scored by completion time; a job owing a callback
/// joins it only once the callback is delivered or given up). ARGV: P, finished_before, limit,
/// rescore. A job found with a callback still pending (a safety net) is kept, re-scored to
/// `rescore` (just past this sweep's cut-off) so that the next sweep looks at it again.
/// Returns {id, result epoch, ...} of the forgotten jobs: the caller deletes their data keys.
pub const FORGET_FINISHED: &str = r#"
local due = redis.call('ZRANGEBYSCORE', P .. 'finished', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
local kinds = {'completed', 'failed', 'cancelled'}
for _, id in ipairs(due) do
  local jk = jkey(id)
  local pending = false
  for _, st in ipairs(kinds) do
    if redis.call('HGET', P .. 'cb:' .. id .. '|' .. st, 'state') == 'pending' then pending = true end
  end
  if pending then
    redis.call('ZADD', P .. 'finished', ARGV[4], id)
  else
    local j = redis.call('HMGET', jk, 'tenant', 'status', 'idem', 'result_epoch')
    local t = j[1]
    if t then
      redis.call('ZREM', tkey(t) .. ':jobs', id)
      if j[2] then redis.call('ZREM', tkey(t) .. ':s:' .. j[2], id) end
      if j[3] and j[3] ~= '' and redis.call('HGET', tkey(t) .. ':idem', j[3]) == id then
        redis.call('HDEL', tkey(t) .. ':idem', j[3])
      end
    end
    for _, st in ipairs(kinds) do
      redis.call('DEL', P .. 'cb:' .. id .. '|' .. st)
      redis.call('ZREM', P .. 'callbacks', id .. '|' .. st)
    end
    redis.call('ZREM', P .. 'results', id)
    redis.call('ZREM', P .. 'finished', id)
    -- A proof's payment is settled with the job it paid for (kept when it completed): once
    -- the job is gone, the credit sweep could not tell it from a job never stored.
    local dk = P .. 'credit:debit:' .. id
    if redis.call('EXISTS', dk) == 1 then
      if j[2] ~= 'completed' then refund(id) end
      redis.call('DEL', dk)
      redis.call('ZREM', P .. 'credit:debits', id)
    end
    redis.call('DEL', jk)
    out[#out + 1] = id
    out[#out + 1] = j[4] or '0'
  end
end
return out
"#;

/// Claim due callbacks. ARGV: P, now, limit, claimed_until. Returns {member, url, attempts, ...}.
pub const CLAIM_CALLBACKS: &str = r#"
local due = redis.call('ZRANGEBYSCORE', P .. 'callbacks', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(due) do
  redis.call('ZADD', P .. 'callbacks', ARGV[4], m)
  local c = redis.call('HMGET', P .. 'cb:' .. m, 'url', 'attempts')
  out[#out + 1] = m
  out[#out + 1] = c[1] or ''
  out[#out + 1] = c[2] or '0'
end
return out
"#;

/// Record a delivery attempt. ARGV: P, member, 'delivered'|'pending'|'dead', next_at, error.
pub const FINISH_CALLBACK: &str = r#"
local m = ARGV[2]
local ck = P .. 'cb:' .. m
if redis.call('EXISTS', ck) == 0 then return 0 end
redis.call('HINCRBY', ck, 'attempts', 1)
redis.call('HSET', ck, 'state', ARGV[3], 'last_error', ARGV[5])
if ARGV[3] == 'pending' then
  redis.call('ZADD', P .. 'callbacks', ARGV[4], m)
else
  redis.call('ZREM', P .. 'callbacks', m)
  -- Nothing more is owed: the job may now be forgotten when its retention ends.
  local id = string.match(m, '^(.*)|')
  local at = id and redis.call('HGET', jkey(id), 'completed_at')
  if at then redis.call('ZADD', P .. 'finished', at, id) end
end
return 1
"#;

/// Register (or refresh) a worker. ARGV: P, worker id, pubkey hex, now.
pub const REGISTER_WORKER: &str = r#"
local k = P .. 'worker:' .. ARGV[2]
redis.call('HSETNX', k, 'registered_at', ARGV[4])
redis.call('HSET', k, 'pubkey', ARGV[3], 'last_seen', ARGV[4])
redis.call('SADD', P .. 'workers', ARGV[2])
return 1
"#;

/// Map a wallet to a tenant unless it is mapped already. ARGV: P, wallet, tenant, scopes, now.
pub const ADD_WALLET: &str = r#"
local k = P .. 'wallet:' .. ARGV[2]
if redis.call('EXISTS', k) == 1 then return 0 end
redis.call('HSET', k, 'tenant', ARGV[3], 'scopes', ARGV[4], 'created_at', ARGV[5])
return 1
"#;

/// Compare-and-swap a rate-limit state. ARGV: P, key suffix, expected ('' = absent), new,
/// ttl_ms. Returns 1 when swapped.
pub const RATE_SWAP: &str = r#"
local k = P .. 'rl:' .. ARGV[2]
local cur = redis.call('GET', k) or ''
if cur ~= ARGV[3] then return 0 end
redis.call('SET', k, ARGV[4], 'PX', ARGV[5])
return 1
"#;

/// Register a deployment's next version (the proof gateway; key layout in docs/STORAGE.md).
/// ARGV: P, tenant, customer_id, image_id, program, verifying_key, metadata, constraints,
/// created_at, proving key (hex). Returns the version, or 0 when another tenant holds the
/// customer id or the image id is registered.
pub const PUT_DEPLOYMENT: &str = r#"
local tenant, cid, image = ARGV[2], ARGV[3], ARGV[4]
local cur = P .. 'deployment:' .. cid
local owner = redis.call('HGET', cur, 'tenant')
if owner and owner ~= tenant then return 0 end
if redis.call('EXISTS', P .. 'image_id:' .. image) == 1 then return 0 end
local v = 1
if owner then v = tonumber(redis.call('HGET', cur, 'version')) + 1 end
local fields = {'tenant', tenant, 'customer_id', cid, 'version', v, 'image_id', image,
  'program', ARGV[5], 'verifying_key', ARGV[6], 'metadata', ARGV[7], 'constraints', ARGV[8],
  'created_at', ARGV[9]}
redis.call('HSET', cur, unpack(fields))
redis.call('HSET', cur .. ':v' .. v, unpack(fields))
redis.call('SET', P .. 'image_id:' .. image, cid)
redis.call('SET', P .. 'proving_key:' .. image, ARGV[10])
redis.call('SADD', P .. 'deployments:all', cid)
return v
"#;

/// Remove a customer id with every version, image id and proving key. ARGV: P, tenant,
/// customer_id. Returns 1, or 0 if the tenant holds no such customer id.
pub const DELETE_DEPLOYMENT: &str = r#"
local cur = P .. 'deployment:' .. ARGV[3]
if redis.call('HGET', cur, 'tenant') ~= ARGV[2] then return 0 end
local n = tonumber(redis.call('HGET', cur, 'version'))
for v = 1, n do
  local image = redis.call('HGET', cur .. ':v' .. v, 'image_id')
  if image then
    redis.call('DEL', P .. 'image_id:' .. image, P .. 'proving_key:' .. image)
  end
  redis.call('DEL', cur .. ':v' .. v)
end
redis.call('DEL', cur)
redis.call('SREM', P .. 'deployments:all', ARGV[3])
return 1
"#;

/// Prepaid credits: `credits` (a hash, tenant → balance), `credit:debit:{job}` (a hash:
/// tenant, amount, at, refunded) and `credit:debits` (a sorted set of job ids by time).
pub const CREDIT_HELPERS: &str = r#"
local function balance(t) return num(redis.call('HGET', P .. 'credits', t), 0) end
local function refund(job)
  local dk = P .. 'credit:debit:' .. job
  local d = redis.call('HMGET', dk, 'tenant', 'amount', 'refunded')
  if not d[1] or d[3] == '1' then return 0 end
  redis.call('HSET', P .. 'credits', d[1], int(balance(d[1]) + tonumber(d[2])))
  redis.call('HSET', dk, 'refunded', '1')
  return 1
end
"#;

/// ARGV: P, tenant, amount. Returns the balance after.
pub const CREDIT_ADD: &str = r#"
local b = balance(ARGV[2]) + tonumber(ARGV[3])
if b > 9007199254740991 then b = 9007199254740991 end
redis.call('HSET', P .. 'credits', ARGV[2], int(b))
return int(b)
"#;

/// ARGV: P, tenant, job id, amount, now. Returns the balance after, or -1 when short.
pub const CREDIT_DEBIT: &str = r#"
local t, job, amount = ARGV[2], ARGV[3], tonumber(ARGV[4])
local b = balance(t)
local dk = P .. 'credit:debit:' .. job
if redis.call('EXISTS', dk) == 1 then return int(b) end
if b < amount then return -1 end
redis.call('HSET', P .. 'credits', t, int(b - amount))
redis.call('HSET', dk, 'tenant', t, 'amount', ARGV[4], 'at', ARGV[5], 'refunded', '0')
redis.call('ZADD', P .. 'credit:debits', ARGV[5], job)
return int(b - amount)
"#;

/// ARGV: P, job id. Returns 1 when given back now.
pub const CREDIT_REFUND: &str = r#"
return refund(ARGV[2])
"#;

/// ARGV: P, before. Settles up to 1000 debits made before `before`; returns how many were
/// given back.
pub const CREDIT_SETTLE: &str = r#"
local due = redis.call('ZRANGEBYSCORE', P .. 'credit:debits', '-inf', '(' .. ARGV[2], 'LIMIT', 0, 1000)
local given = 0
for _, job in ipairs(due) do
  local dk = P .. 'credit:debit:' .. job
  local refunded = redis.call('HGET', dk, 'refunded')
  local st = redis.call('HGET', jkey(job), 'status')
  local settle = false
  if refunded == '1' or st == 'completed' then
    settle = true
  elseif (not st) or st == 'failed' or st == 'cancelled' then
    given = given + refund(job)
    settle = true
  end
  if settle then
    redis.call('DEL', dk)
    redis.call('ZREM', P .. 'credit:debits', job)
  else
    -- Still queued or running: looked at again by a later sweep, so that the debits behind
    -- it are reached.
    redis.call('ZADD', P .. 'credit:debits', ARGV[2], job)
  end
end
return given
"#;

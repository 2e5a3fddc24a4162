/**
 * {@link VesperClient}: talks to one gateway. Workloads are sealed and results opened here,
 * in the caller's memory; only ciphertext goes over the wire.
 *
 * @module
 */
import { apiKeyAuth } from "./auth.js";
import { fromUtf8, isCanonicalUuid, utf8 } from "./bytes.js";
import { jobFacts, programIdOf, sealJob, } from "./envelope.js";
import { JobFailedError, NetworkError, ProtocolError, RateLimitError, ServerError, TimeoutError, VesperError, } from "./errors.js";
import { Transport, parseBody } from "./http.js";
import { currentPoolKey, verifyKeys, verifyResultBody, } from "./receipt.js";
import { SseParser } from "./sse.js";
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
/** Consecutive failed status polls tolerated while waiting. */
const MAX_POLL_FAILURES = 5;
/** Is `status` final? */
export function isTerminal(status) {
    return TERMINAL.has(status);
}
function checkJobId(jobId) {
    if (!isCanonicalUuid(jobId)) {
        throw new VesperError("invalid_argument", "a job id is a canonical lowercase UUID");
    }
    return jobId;
}
function checkIdempotencyKey(k) {
    if (k !== undefined && !/^[!-~]{1,128}$/.test(k)) {
        throw new VesperError("invalid_argument", "an Idempotency-Key is 1-128 printable ASCII characters");
    }
}
function asObject(v, what) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
        throw new ProtocolError("malformed_response", `${what}: not a JSON object`);
    }
    return v;
}
function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        if (signal?.aborted)
            return reject(signal.reason);
        const t = setTimeout(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
        }, ms);
        const onAbort = () => {
            clearTimeout(t);
            reject(signal?.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
    });
}
/** A client of one Vesper gateway. */
export class VesperClient {
    opts;
    http;
    maxJson;
    maxResult;
    keysTtlMs;
    cachedKeys;
    constructor(opts) {
        this.opts = opts;
        const auth = typeof opts.auth === "string" ? apiKeyAuth(opts.auth) : opts.auth;
        this.http = new Transport(opts.gateway, auth, opts.fetch, opts.timeoutMs ?? 120_000);
        this.maxJson = opts.maxResponseBytes ?? 4 * 1024 * 1024;
        this.maxResult = opts.maxResultBytes ?? 32 * 1024 * 1024;
        this.keysTtlMs = opts.keysTtlMs ?? 60_000;
    }
    /** The gateway's base URL. */
    get gateway() {
        return this.http.base;
    }
    async getJson(path, signal, timeoutMs) {
        const r = await this.http.send({
            method: "GET",
            path,
            signal,
            maxBytes: this.maxJson,
            ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        });
        return parseBody(r.bytes);
    }
    /** `GET /health`. */
    async health(signal) {
        return this.getJson("/health", signal);
    }
    /**
     * `GET /api/keys`, with the gateway's signature over the key list checked (and the
     * pinned gateway key, if any). Cached for `keysTtlMs`; `refresh` fetches anew.
     */
    async keys(opts = {}) {
        const c = this.cachedKeys;
        if (!opts.refresh && c && Date.now() - c.at < this.keysTtlMs)
            return c.keys;
        const r = await this.http.send({ method: "GET", path: "/api/keys", signal: opts.signal, maxBytes: this.maxJson });
        const keys = verifyKeys(parseBody(r.bytes), this.opts.pinnedGatewayKey);
        this.cachedKeys = { at: Date.now(), keys };
        return keys;
    }
    /** The worker keys receipts are checked against: the pinned list, else the published one. */
    async trustedWorkerKeys(signal) {
        if (this.opts.trustedWorkerKeys)
            return [...this.opts.trustedWorkerKeys];
        const keys = await this.keys(signal ? { signal } : {});
        return keys.workerKeys.map((w) => w.publicKey);
    }
    /** `POST /api/programs`: register a module; checks the answered id is its SHA-256. */
    async uploadProgram(module, signal) {
        const r = await this.http.send({
            method: "POST",
            path: "/api/programs",
            body: module,
            contentType: "application/wasm",
            signal,
            maxBytes: this.maxJson,
        });
        const body = asObject(parseBody(r.bytes), "POST /api/programs");
        if (body.program_id !== programIdOf(module)) {
            throw new ProtocolError("malformed_response", "the gateway registered the module under an unexpected id");
        }
        return body;
    }
    /**
     * Seal a workload to the gateway's current pool key (fetched and verified with
     * {@link keys}). Registry programs must be uploaded first ({@link uploadProgram}).
     */
    async seal(p) {
        const pool = currentPoolKey(await this.keys());
        return sealJob({
            poolPublicKey: pool.publicKey,
            clientPublicKey: p.identity.publicKey,
            program: p.program,
            input: typeof p.input === "string" ? utf8(p.input) : p.input,
            ...(p.workloadType !== undefined ? { workloadType: p.workloadType } : {}),
            ...(p.priority !== undefined ? { priority: p.priority } : {}),
            ...(p.maxRetries !== undefined ? { maxRetries: p.maxRetries } : {}),
            ...(p.maxFuel !== undefined ? { maxFuel: p.maxFuel } : {}),
            ...(p.callbackUrl !== undefined ? { callbackUrl: p.callbackUrl } : {}),
        });
    }
    /** `POST /api/submit`: submit one sealed job. */
    async submit(job, opts = {}) {
        checkIdempotencyKey(opts.idempotencyKey);
        const request = "request" in job ? job.request : job;
        const r = await this.http.send({
            method: "POST",
            path: "/api/submit",
            body: utf8(JSON.stringify(request)),
            contentType: "application/json",
            headers: opts.idempotencyKey !== undefined ? { "Idempotency-Key": opts.idempotencyKey } : {},
            signal: opts.signal,
            maxBytes: this.maxJson,
        });
        const body = asObject(parseBody(r.bytes), "POST /api/submit");
        if (!isCanonicalUuid(body.job_id))
            throw new ProtocolError("malformed_response", "invalid job id in the answer");
        return { ...body, replayed: r.headers.get("idempotent-replayed") === "true", requestId: r.requestId };
    }
    /**
     * `POST /api/submit/batch`: submit 1–100 sealed jobs, stored all or none. Answers in order;
     * with an idempotency key, item `i` uses `<key>#i`.
     */
    async submitBatch(jobs, opts = {}) {
        checkIdempotencyKey(opts.idempotencyKey);
        const requests = jobs.map((j) => ("request" in j ? j.request : j));
        const r = await this.http.send({
            method: "POST",
            path: "/api/submit/batch",
            body: utf8(JSON.stringify({ jobs: requests })),
            contentType: "application/json",
            headers: opts.idempotencyKey !== undefined ? { "Idempotency-Key": opts.idempotencyKey } : {},
            signal: opts.signal,
            maxBytes: this.maxJson,
        });
        const body = asObject(parseBody(r.bytes), "POST /api/submit/batch");
        const out = body["jobs"];
        if (!Array.isArray(out) || out.length !== requests.length) {
            throw new ProtocolError("malformed_response", "batch answer does not list one job per submission");
        }
        for (const j of out) {
            if (!isCanonicalUuid(asObject(j, "batch item")["job_id"])) {
                throw new ProtocolError("malformed_response", "invalid job id in the batch answer");
            }
        }
        return out;
    }
    /** `GET /api/status/{job_id}`, optionally long-polling up to `wait` seconds. */
    async status(jobId, opts = {}) {
        const wait = opts.wait ?? 0;
        if (!Number.isInteger(wait) || wait < 0)
            throw new VesperError("invalid_argument", "wait must be whole seconds");
        const path = `/api/status/${checkJobId(jobId)}${wait > 0 ? `?wait=${wait}` : ""}`;
        return this.getJson(path, opts.signal, (wait + 60) * 1000);
    }
    /** `DELETE /api/jobs/{job_id}`: cancel a queued job. */
    async cancel(jobId, signal) {
        const r = await this.http.send({
            method: "DELETE",
            path: `/api/jobs/${checkJobId(jobId)}`,
            signal,
            maxBytes: this.maxJson,
        });
        return parseBody(r.bytes);
    }
    /** `GET /api/jobs`: one page of this tenant's jobs, newest first. */
    async listJobs(q = {}, signal) {
        const params = new URLSearchParams();
        if (q.status)
            params.set("status", q.status);
        if (q.limit !== undefined)
            params.set("limit", String(q.limit));
        if (q.cursor)
            params.set("cursor", q.cursor);
        const qs = params.toString();
        return this.getJson(`/api/jobs${qs ? `?${qs}` : ""}`, signal);
    }
    /**
     * Wait until the job is `completed`, `failed` or `cancelled` and return its final status.
     * Follows the live stream `GET /api/events?job_id=` and falls back to long-polling
     * `GET /api/status/{id}?wait=` when the stream cannot be used (refused, cut, silent).
     * `onProgress` sees each status change once.
     */
    async waitForJob(jobId, opts = {}) {
        checkJobId(jobId);
        const mode = opts.mode ?? "auto";
        const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Infinity;
        let last;
        const report = (status, source) => {
            if (status === last)
                return;
            last = status;
            opts.onProgress?.({ jobId, status, source });
        };
        if (mode !== "poll") {
            try {
                await this.followEvents(jobId, report, deadline, opts);
                const final = await this.status(jobId, opts.signal ? { signal: opts.signal } : {});
                report(final.status, "poll");
                return final;
            }
            catch (e) {
                if (mode === "events" || !VesperClient.canFallBack(e))
                    throw e;
            }
        }
        const pollWait = opts.pollWaitSecs ?? 5;
        let failures = 0;
        for (;;) {
            const left = deadline - Date.now();
            if (left <= 0)
                throw new TimeoutError(`job ${jobId} did not finish in time`);
            const wait = Math.max(0, Math.min(pollWait, Math.floor(left / 1000)));
            let st;
            try {
                st = await this.status(jobId, { wait, ...(opts.signal ? { signal: opts.signal } : {}) });
                failures = 0;
            }
            catch (e) {
                // Busy or briefly unreachable: back off (as told by Retry-After) and ask again, a
                // few times in a row at most.
                if (!VesperClient.isTransient(e) || ++failures > MAX_POLL_FAILURES)
                    throw e;
                const after = e instanceof RateLimitError || e instanceof ServerError ? e.retryAfter : undefined;
                await sleep(Math.min(after !== undefined ? after * 1000 : 500 * 2 ** failures, 30_000, Math.max(0, left)), opts.signal);
                continue;
            }
            report(st.status, "poll");
            if (isTerminal(st.status))
                return st;
            if (wait === 0)
                await sleep(Math.min(500, left), opts.signal);
        }
    }
    /** Errors worth retrying a status poll after. */
    static isTransient(e) {
        return e instanceof NetworkError || e instanceof RateLimitError || (e instanceof ServerError && e.status === 503);
    }
    /** Errors after which polling may still work. */
    static canFallBack(e) {
        return (e instanceof NetworkError ||
            e instanceof TimeoutError ||
            e instanceof ServerError ||
            e instanceof RateLimitError ||
            e instanceof ProtocolError);
    }
    /** Follow `GET /api/events?job_id=` until a terminal status; throws if the stream fails. */
    async followEvents(jobId, report, deadline, opts) {
        const stream = await this.http.stream({
            method: "GET",
            path: `/api/events?job_id=${jobId}`,
            signal: opts.signal,
            timeoutMs: 30_000,
        });
        const idleMs = opts.streamIdleMs ?? 45_000;
        const reader = stream.body.getReader();
        const decoder = new TextDecoder();
        const parser = new SseParser();
        let timer;
        let why;
        const arm = () => {
            if (timer !== undefined)
                clearTimeout(timer);
            const left = deadline - Date.now();
            const ms = Math.min(idleMs, left);
            timer = setTimeout(() => {
                why = left <= idleMs ? new TimeoutError(`job ${jobId} did not finish in time`) : new TimeoutError("event stream went silent");
                stream.abort();
            }, Math.max(0, ms));
        };
        try {
            arm();
            for (;;) {
                let chunk;
                try {
                    chunk = await reader.read();
                }
                catch (e) {
                    if (why)
                        throw why;
                    if (opts.signal?.aborted)
                        throw opts.signal.reason;
                    throw new NetworkError("event stream broke", e);
                }
                if (chunk.done)
                    throw new ProtocolError("malformed_response", "event stream ended before the job did");
                arm();
                for (const ev of parser.push(decoder.decode(chunk.value, { stream: true }))) {
                    let status;
                    if (ev.event === "status") {
                        let data;
                        try {
                            data = JSON.parse(ev.data);
                        }
                        catch {
                            throw new ProtocolError("malformed_response", "malformed status event");
                        }
                        const s = asObject(data, "status event")["status"];
                        if (typeof s !== "string")
                            throw new ProtocolError("malformed_response", "status event without status");
                        status = s;
                    }
                    else if (ev.event === "resync") {
                        // The stream fell behind: ask directly.
                        status = (await this.status(jobId, opts.signal ? { signal: opts.signal } : {})).status;
                    }
                    else
                        continue;
                    report(status, "events");
                    if (isTerminal(status))
                        return status;
                }
            }
        }
        finally {
            if (timer !== undefined)
                clearTimeout(timer);
            stream.abort();
            reader.cancel().catch(() => { });
        }
    }
    /** `GET /api/result/{job_id}`: the sealed result and receipt, unverified. */
    async fetchResult(jobId, opts = {}) {
        const wait = opts.wait ?? 0;
        const r = await this.http.send({
            method: "GET",
            path: `/api/result/${checkJobId(jobId)}${wait > 0 ? `?wait=${wait}` : ""}`,
            signal: opts.signal,
            maxBytes: this.maxResult,
            timeoutMs: (wait + 120) * 1000,
        });
        let raw;
        try {
            raw = fromUtf8(r.bytes);
        }
        catch {
            throw new ProtocolError("malformed_response", "result body is not UTF-8");
        }
        return { jobId, raw, body: parseBody(r.bytes, { bigints: true }) };
    }
    /**
     * Verify a fetched result (RECEIPT.md §6 a–d) against the trusted worker keys and, with
     * `identity`, open it and check `result_hash` (e). `expected`: what you submitted
     * ({@link jobFacts}), or any part of it.
     */
    async verifyResult(fetched, opts = {}) {
        if (asObject(fetched.body, "result")["job_id"] !== fetched.jobId) {
            throw new ProtocolError("malformed_response", "the result answer names another job");
        }
        return verifyResultBody(fetched.body, {
            workerKeys: await this.trustedWorkerKeys(),
            ...(opts.identity ? { identity: opts.identity } : {}),
            expected: { jobId: fetched.jobId, ...(opts.expected ?? {}) },
        });
    }
    /**
     * Wait for a job, fetch its result, verify the receipt and open the result. Throws
     * {@link JobFailedError} if the job failed or was cancelled, `VerificationError` if
     * anything does not check out.
     */
    async getResult(jobId, opts) {
        const final = await this.waitForJob(jobId, opts.wait);
        if (final.status !== "completed") {
            const err = final.error ?? null;
            throw new JobFailedError(jobId, final.status, err?.code ?? (final.status === "cancelled" ? "job_cancelled" : "job_failed"), err?.message ?? `the job was ${final.status}`);
        }
        const signal = opts.wait?.signal;
        const fetched = await this.fetchResult(jobId, signal ? { signal } : {});
        const v = await this.verifyResult(fetched, {
            identity: opts.identity,
            ...(opts.expected ? { expected: opts.expected } : {}),
        });
        const r = v.result;
        return {
            jobId,
            exitCode: r.exitCode,
            stdout: r.stdout,
            stderr: r.stderr,
            receipt: v.receipt,
            unchecked: v.unchecked,
            raw: fetched.raw,
        };
    }
    /**
     * Everything in one call: register the module (unless `inline`), seal the input, submit,
     * wait, fetch, verify the receipt against what was sealed, and open the result. If the pool
     * key was rotated in between (`unknown_key_id`), the key list is fetched again and the job
     * sealed anew, once.
     */
    async run(p) {
        let program;
        if (p.inline)
            program = { inline: p.module };
        else {
            const reg = await this.uploadProgram(p.module, p.wait?.signal);
            program = { programId: reg.program_id };
        }
        const sealParams = {
            identity: p.identity,
            program,
            input: p.input,
            ...(p.workloadType !== undefined ? { workloadType: p.workloadType } : {}),
            ...(p.priority !== undefined ? { priority: p.priority } : {}),
            ...(p.maxRetries !== undefined ? { maxRetries: p.maxRetries } : {}),
            ...(p.maxFuel !== undefined ? { maxFuel: p.maxFuel } : {}),
            ...(p.callbackUrl !== undefined ? { callbackUrl: p.callbackUrl } : {}),
        };
        const submitOpts = {
            ...(p.idempotencyKey !== undefined ? { idempotencyKey: p.idempotencyKey } : {}),
            ...(p.wait?.signal ? { signal: p.wait.signal } : {}),
        };
        let sealed = await this.seal(sealParams);
        let submitted;
        try {
            submitted = await this.submit(sealed, submitOpts);
        }
        catch (e) {
            if (!(e instanceof VesperError && e.code === "unknown_key_id"))
                throw e;
            await this.keys({ refresh: true });
            sealed = await this.seal(sealParams);
            submitted = await this.submit(sealed, submitOpts);
        }
        return this.getResult(submitted.job_id, {
            identity: p.identity,
            expected: jobFacts(sealed, submitted.job_id),
            ...(p.wait ? { wait: p.wait } : {}),
        });
    }
}

/**
 * {@link VesperClient}: talks to one gateway. Workloads are sealed and results opened here,
 * in the caller's memory; only ciphertext goes over the wire.
 *
 * @module
 */

import { type Authenticator, apiKeyAuth } from "./auth.js";
import { fromUtf8, isCanonicalUuid, utf8 } from "./bytes.js";
import {
  type JobFacts,
  type Program,
  type SealedJob,
  type SubmitRequest,
  type WorkloadType,
  jobFacts,
  programIdOf,
  sealJob,
} from "./envelope.js";
import {
  JobFailedError,
  NetworkError,
  ProtocolError,
  RateLimitError,
  ServerError,
  TimeoutError,
  VesperError,
} from "./errors.js";
import type { components } from "./generated/openapi.js";
import { type FetchLike, Transport, parseBody } from "./http.js";
import type { ClientIdentity } from "./identity.js";
import type { JsonValue } from "./json.js";
import {
  type PublishedKeys,
  type Receipt,
  type SubmissionField,
  type VerifiedResult,
  currentPoolKey,
  verifyKeys,
  verifyResultBody,
} from "./receipt.js";
import { SseParser } from "./sse.js";

type Schemas = components["schemas"];
/** `GET /api/status/{job_id}`. */
export type JobStatus = Schemas["StatusResponse"];
/** One accepted submission. */
export type SubmitResponse = Schemas["SubmitResponse"];
/** `POST /api/programs`. */
export type ProgramResponse = Schemas["ProgramResponse"];
/** `GET /health`. */
export type HealthResponse = Schemas["HealthResponse"];
/** `GET /api/jobs`. */
export type JobList = Schemas["JobListResponse"];
/** A job status name. */
export type JobStatusName = Schemas["JobStatusName"];

/** Options of {@link VesperClient}. */
export interface ClientOptions {
  /** The gateway's base URL, e.g. `https://vesper.example.com`. */
  gateway: string;
  /** Credentials: an API key (`vsk_…`) or an {@link Authenticator} (wallet signatures). */
  auth?: string | Authenticator;
  /** The `fetch` to use (default: the global one). */
  fetch?: FetchLike;
  /** Deadline of one request, ms (default 120 000). */
  timeoutMs?: number;
  /** Largest JSON answer read, bytes (default 4 MiB). */
  maxResponseBytes?: number;
  /** Largest `GET /api/result` answer read, bytes (default 32 MiB). */
  maxResultBytes?: number;
  /** Require `GET /api/keys` to be signed by this gateway key (hex). */
  pinnedGatewayKey?: string;
  /**
   * Trust receipts only from these worker keys (hex), pinned out of band, instead of the
   * list `GET /api/keys` publishes (RECEIPT.md §6 c: the stronger check).
   */
  trustedWorkerKeys?: string[];
  /** How long a fetched key list is reused, ms (default 60 000). */
  keysTtlMs?: number;
}

/** A status change seen while waiting. */
export interface ProgressEvent {
  jobId: string;
  status: JobStatusName | string;
  /** Where it was seen: the live event stream or a status poll. */
  source: "events" | "poll";
}

/** Options of {@link VesperClient.waitForJob}. */
export interface WaitOptions {
  /** Called once for each status change. */
  onProgress?: (e: ProgressEvent) => void;
  /** Give up after this long, ms (default: no limit). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * `auto` (default): follow `GET /api/events`, fall back to polling if the stream cannot be
   * used; `events`: the stream only; `poll`: `GET /api/status/{id}?wait=` only.
   */
  mode?: "auto" | "events" | "poll";
  /** Long-poll length per status request, seconds (default 5). */
  pollWaitSecs?: number;
  /** Abandon a stream silent for this long, ms (the gateway sends keep-alives every 15 s; default 45 000). */
  streamIdleMs?: number;
}

/** Options of {@link VesperClient.submit} and {@link VesperClient.submitBatch}. */
export interface SubmitOptions {
  /** Makes retries safe: 1–128 printable ASCII characters (batch item `i` uses `<key>#i`). */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** An accepted submission. */
export interface Submitted extends SubmitResponse {
  /** `true` when the gateway answered an earlier request with the same idempotency key. */
  replayed: boolean;
  requestId: string | undefined;
}

/** A fetched (not yet verified) result body. */
export interface FetchedResult {
  jobId: string;
  /** The exact JSON text served (what `vesper verify` reads). */
  raw: string;
  /** Parsed exactly: every integer a `bigint`, so that receipts re-encode byte for byte. */
  body: JsonValue;
}

/** A verified and opened result. */
export interface JobResult {
  jobId: string;
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** The worker's signed receipt, checked. */
  receipt: Receipt;
  /** Receipt fields not checked against a submission (empty when the submission was known). */
  unchecked: SubmissionField[];
  /** The exact JSON of `GET /api/result/{job_id}`, e.g. to archive or to `vesper verify`. */
  raw: string;
}

/** What to run with {@link VesperClient.run}. */
export interface RunParams {
  /** The WebAssembly module. */
  module: Uint8Array;
  /** The program's stdin. */
  input: Uint8Array | string;
  /** The client key: the result is sealed to it and opened with it. */
  identity: ClientIdentity;
  /** Send the module inside the sealed payload instead of registering it (a secret program). */
  inline?: boolean;
  workloadType?: WorkloadType;
  priority?: number;
  maxRetries?: number;
  maxFuel?: number;
  callbackUrl?: string;
  idempotencyKey?: string;
  /** Passed to {@link VesperClient.waitForJob}. */
  wait?: WaitOptions;
}

const TERMINAL = new Set(["completed", "failed", "cancelled"]);
/** Consecutive failed status polls tolerated while waiting. */
const MAX_POLL_FAILURES = 5;

/** Is `status` final? */
export function isTerminal(status: string): boolean {
  return TERMINAL.has(status);
}

function checkJobId(jobId: string): string {
  if (!isCanonicalUuid(jobId)) {
    throw new VesperError("invalid_argument", "a job id is a canonical lowercase UUID");
  }
  return jobId;
}

function checkIdempotencyKey(k: string | undefined): void {
  if (k !== undefined && !/^[!-~]{1,128}$/.test(k)) {
    throw new VesperError("invalid_argument", "an Idempotency-Key is 1-128 printable ASCII characters");
  }
}

function asObject(v: JsonValue, what: string): { [k: string]: JsonValue } {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new ProtocolError("malformed_response", `${what}: not a JSON object`);
  }
  return v;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
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
  private readonly http: Transport;
  private readonly maxJson: number;
  private readonly maxResult: number;
  private readonly keysTtlMs: number;
  private cachedKeys: { at: number; keys: PublishedKeys } | undefined;

  constructor(private readonly opts: ClientOptions) {
    const auth = typeof opts.auth === "string" ? apiKeyAuth(opts.auth) : opts.auth;
    this.http = new Transport(opts.gateway, auth, opts.fetch, opts.timeoutMs ?? 120_000);
    this.maxJson = opts.maxResponseBytes ?? 4 * 1024 * 1024;
    this.maxResult = opts.maxResultBytes ?? 32 * 1024 * 1024;
    this.keysTtlMs = opts.keysTtlMs ?? 60_000;
  }

  /** The gateway's base URL. */
  get gateway(): string {
    return this.http.base;
  }

  private async getJson<T>(path: string, signal?: AbortSignal, timeoutMs?: number): Promise<T> {
    const r = await this.http.send({
      method: "GET",
      path,
      signal,
      maxBytes: this.maxJson,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
    return parseBody(r.bytes) as unknown as T;
  }

  /** `GET /health`. */
  async health(signal?: AbortSignal): Promise<HealthResponse> {
    return this.getJson("/health", signal);
  }

  /**
   * `GET /api/keys`, with the gateway's signature over the key list checked (and the
   * pinned gateway key, if any). Cached for `keysTtlMs`; `refresh` fetches anew.
   */
  async keys(opts: { refresh?: boolean; signal?: AbortSignal } = {}): Promise<PublishedKeys> {
    const c = this.cachedKeys;
    if (!opts.refresh && c && Date.now() - c.at < this.keysTtlMs) return c.keys;
    const r = await this.http.send({ method: "GET", path: "/api/keys", signal: opts.signal, maxBytes: this.maxJson });
    const keys = verifyKeys(parseBody(r.bytes), this.opts.pinnedGatewayKey);
    this.cachedKeys = { at: Date.now(), keys };
    return keys;
  }

  /** The worker keys receipts are checked against: the pinned list, else the published one. */
  async trustedWorkerKeys(signal?: AbortSignal): Promise<string[]> {
    if (this.opts.trustedWorkerKeys) return [...this.opts.trustedWorkerKeys];
    const keys = await this.keys(signal ? { signal } : {});
    return keys.workerKeys.map((w) => w.publicKey);
  }

  /** `POST /api/programs`: register a module; checks the answered id is its SHA-256. */
  async uploadProgram(module: Uint8Array, signal?: AbortSignal): Promise<ProgramResponse> {
    const r = await this.http.send({
      method: "POST",
      path: "/api/programs",
      body: module,
      contentType: "application/wasm",
      signal,
      maxBytes: this.maxJson,
    });
    const body = asObject(parseBody(r.bytes), "POST /api/programs") as unknown as ProgramResponse;
    if (body.program_id !== programIdOf(module)) {
      throw new ProtocolError("malformed_response", "the gateway registered the module under an unexpected id");
    }
    return body;
  }

  /**
   * Seal a workload to the gateway's current pool key (fetched and verified with
   * {@link keys}). Registry programs must be uploaded first ({@link uploadProgram}).
   */
  async seal(p: {
    identity: ClientIdentity;
    program: Program;
    input: Uint8Array | string;
    workloadType?: WorkloadType;
    priority?: number;
    maxRetries?: number;
    maxFuel?: number;
    callbackUrl?: string;
  }): Promise<SealedJob> {
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
  async submit(job: SealedJob | SubmitRequest, opts: SubmitOptions = {}): Promise<Submitted> {
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
    const body = asObject(parseBody(r.bytes), "POST /api/submit") as unknown as SubmitResponse;
    if (!isCanonicalUuid(body.job_id)) throw new ProtocolError("malformed_response", "invalid job id in the answer");
    return { ...body, replayed: r.headers.get("idempotent-replayed") === "true", requestId: r.requestId };
  }

  /**
   * `POST /api/submit/batch`: submit 1–100 sealed jobs, stored all or none. Answers in order;
   * with an idempotency key, item `i` uses `<key>#i`.
   */
  async submitBatch(jobs: (SealedJob | SubmitRequest)[], opts: SubmitOptions = {}): Promise<SubmitResponse[]> {
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
    return out as unknown as SubmitResponse[];
  }

  /** `GET /api/status/{job_id}`, optionally long-polling up to `wait` seconds. */
  async status(jobId: string, opts: { wait?: number; signal?: AbortSignal } = {}): Promise<JobStatus> {
    const wait = opts.wait ?? 0;
    if (!Number.isInteger(wait) || wait < 0) throw new VesperError("invalid_argument", "wait must be whole seconds");
    const path = `/api/status/${checkJobId(jobId)}${wait > 0 ? `?wait=${wait}` : ""}`;
    return this.getJson(path, opts.signal, (wait + 60) * 1000);
  }

  /** `DELETE /api/jobs/{job_id}`: cancel a queued job. */
  async cancel(jobId: string, signal?: AbortSignal): Promise<JobStatus> {
    const r = await this.http.send({
      method: "DELETE",
      path: `/api/jobs/${checkJobId(jobId)}`,
      signal,
      maxBytes: this.maxJson,
    });
    return parseBody(r.bytes) as unknown as JobStatus;
  }

  /** `GET /api/jobs`: one page of this tenant's jobs, newest first. */
  async listJobs(q: { status?: JobStatusName; limit?: number; cursor?: string } = {}, signal?: AbortSignal): Promise<JobList> {
    const params = new URLSearchParams();
    if (q.status) params.set("status", q.status);
    if (q.limit !== undefined) params.set("limit", String(q.limit));
    if (q.cursor) params.set("cursor", q.cursor);
    const qs = params.toString();
    return this.getJson(`/api/jobs${qs ? `?${qs}` : ""}`, signal);
  }

  /**
   * Wait until the job is `completed`, `failed` or `cancelled` and return its final status.
   * Follows the live stream `GET /api/events?job_id=` and falls back to long-polling
   * `GET /api/status/{id}?wait=` when the stream cannot be used (refused, cut, silent).
   * `onProgress` sees each status change once.
   */
  async waitForJob(jobId: string, opts: WaitOptions = {}): Promise<JobStatus> {
    checkJobId(jobId);
    const mode = opts.mode ?? "auto";
    const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Infinity;
    let last: string | undefined;
    const report = (status: string, source: ProgressEvent["source"]) => {
      if (status === last) return;
      last = status;
      opts.onProgress?.({ jobId, status, source });
    };
    if (mode !== "poll") {
      try {
        await this.followEvents(jobId, report, deadline, opts);
        const final = await this.status(jobId, opts.signal ? { signal: opts.signal } : {});
        report(final.status, "poll");
        return final;
      } catch (e) {
        if (mode === "events" || !VesperClient.canFallBack(e)) throw e;
      }
    }
    const pollWait = opts.pollWaitSecs ?? 5;
    let failures = 0;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError(`job ${jobId} did not finish in time`);
      const wait = Math.max(0, Math.min(pollWait, Math.floor(left / 1000)));
      let st: JobStatus;
      try {
        st = await this.status(jobId, { wait, ...(opts.signal ? { signal: opts.signal } : {}) });
        failures = 0;
      } catch (e) {
        // Busy or briefly unreachable: back off (as told by Retry-After) and ask again, a
        // few times in a row at most.
        if (!VesperClient.isTransient(e) || ++failures > MAX_POLL_FAILURES) throw e;
        const after = e instanceof RateLimitError || e instanceof ServerError ? e.retryAfter : undefined;
        await sleep(Math.min(after !== undefined ? after * 1000 : 500 * 2 ** failures, 30_000, Math.max(0, left)), opts.signal);
        continue;
      }
      report(st.status, "poll");
      if (isTerminal(st.status)) return st;
      if (wait === 0) await sleep(Math.min(500, left), opts.signal);
    }
  }

  /** Errors worth retrying a status poll after. */
  private static isTransient(e: unknown): boolean {
    return e instanceof NetworkError || e instanceof RateLimitError || (e instanceof ServerError && e.status === 503);
  }

  /** Errors after which polling may still work. */
  private static canFallBack(e: unknown): boolean {
    return (
      e instanceof NetworkError ||
      e instanceof TimeoutError ||
      e instanceof ServerError ||
      e instanceof RateLimitError ||
      e instanceof ProtocolError
    );
  }

  /** Follow `GET /api/events?job_id=` until a terminal status; throws if the stream fails. */
  private async followEvents(
    jobId: string,
    report: (status: string, source: ProgressEvent["source"]) => void,
    deadline: number,
    opts: WaitOptions,
  ): Promise<string> {
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
    let timer: ReturnType<typeof setTimeout> | undefined;
    let why: VesperError | undefined;
    const arm = () => {
      if (timer !== undefined) clearTimeout(timer);
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
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (why) throw why;
          if (opts.signal?.aborted) throw opts.signal.reason;
          throw new NetworkError("event stream broke", e);
        }
        if (chunk.done) throw new ProtocolError("malformed_response", "event stream ended before the job did");
        arm();
        for (const ev of parser.push(decoder.decode(chunk.value, { stream: true }))) {
          let status: string;
          if (ev.event === "status") {
            let data: JsonValue;
            try {
              data = JSON.parse(ev.data) as JsonValue;
            } catch {
              throw new ProtocolError("malformed_response", "malformed status event");
            }
            const s = asObject(data, "status event")["status"];
            if (typeof s !== "string") throw new ProtocolError("malformed_response", "status event without status");
            status = s;
          } else if (ev.event === "resync") {
            // The stream fell behind: ask directly.
            status = (await this.status(jobId, opts.signal ? { signal: opts.signal } : {})).status;
          } else continue;
          report(status, "events");
          if (isTerminal(status)) return status;
        }
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      stream.abort();
      reader.cancel().catch(() => {});
    }
  }

  /** `GET /api/result/{job_id}`: the sealed result and receipt, unverified. */
  async fetchResult(jobId: string, opts: { wait?: number; signal?: AbortSignal } = {}): Promise<FetchedResult> {
    const wait = opts.wait ?? 0;
    const r = await this.http.send({
      method: "GET",
      path: `/api/result/${checkJobId(jobId)}${wait > 0 ? `?wait=${wait}` : ""}`,
      signal: opts.signal,
      maxBytes: this.maxResult,
      timeoutMs: (wait + 120) * 1000,
    });
    let raw: string;
    try {
      raw = fromUtf8(r.bytes);
    } catch {
      throw new ProtocolError("malformed_response", "result body is not UTF-8");
    }
    return { jobId, raw, body: parseBody(r.bytes, { bigints: true }) };
  }

  /**
   * Verify a fetched result (RECEIPT.md §6 a–d) against the trusted worker keys and, with
   * `identity`, open it and check `result_hash` (e). `expected`: what you submitted
   * ({@link jobFacts}), or any part of it.
   */
  async verifyResult(
    fetched: FetchedResult,
    opts: { identity?: ClientIdentity; expected?: Partial<JobFacts> } = {},
  ): Promise<VerifiedResult> {
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
  async getResult(
    jobId: string,
    opts: { identity: ClientIdentity; expected?: Partial<JobFacts>; wait?: WaitOptions },
  ): Promise<JobResult> {
    const final = await this.waitForJob(jobId, opts.wait);
    if (final.status !== "completed") {
      const err = final.error ?? null;
      throw new JobFailedError(
        jobId,
        final.status,
        err?.code ?? (final.status === "cancelled" ? "job_cancelled" : "job_failed"),
        err?.message ?? `the job was ${final.status}`,
      );
    }
    const signal = opts.wait?.signal;
    const fetched = await this.fetchResult(jobId, signal ? { signal } : {});
    const v = await this.verifyResult(fetched, {
      identity: opts.identity,
      ...(opts.expected ? { expected: opts.expected } : {}),
    });
    const r = v.result!;
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
  async run(p: RunParams): Promise<JobResult> {
    let program: Program;
    if (p.inline) program = { inline: p.module };
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
    const submitOpts: SubmitOptions = {
      ...(p.idempotencyKey !== undefined ? { idempotencyKey: p.idempotencyKey } : {}),
      ...(p.wait?.signal ? { signal: p.wait.signal } : {}),
    };
    let sealed = await this.seal(sealParams);
    let submitted: Submitted;
    try {
      submitted = await this.submit(sealed, submitOpts);
    } catch (e) {
      if (!(e instanceof VesperError && e.code === "unknown_key_id")) throw e;
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

/**
 * {@link VesperClient}: talks to one gateway. Workloads are sealed and results opened here,
 * in the caller's memory; only ciphertext goes over the wire.
 *
 * @module
 */
import { type Authenticator } from "./auth.js";
import { type JobFacts, type Program, type SealedJob, type SubmitRequest, type WorkloadType } from "./envelope.js";
import type { components } from "./generated/openapi.js";
import { type FetchLike } from "./http.js";
import type { ClientIdentity } from "./identity.js";
import type { JsonValue } from "./json.js";
import { type PublishedKeys, type Receipt, type SubmissionField, type VerifiedResult } from "./receipt.js";
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
/** Is `status` final? */
export declare function isTerminal(status: string): boolean;
/** A client of one Vesper gateway. */
export declare class VesperClient {
    private readonly opts;
    private readonly http;
    private readonly maxJson;
    private readonly maxResult;
    private readonly keysTtlMs;
    private cachedKeys;
    constructor(opts: ClientOptions);
    /** The gateway's base URL. */
    get gateway(): string;
    private getJson;
    /** `GET /health`. */
    health(signal?: AbortSignal): Promise<HealthResponse>;
    /**
     * `GET /api/keys`, with the gateway's signature over the key list checked (and the
     * pinned gateway key, if any). Cached for `keysTtlMs`; `refresh` fetches anew.
     */
    keys(opts?: {
        refresh?: boolean;
        signal?: AbortSignal;
    }): Promise<PublishedKeys>;
    /** The worker keys receipts are checked against: the pinned list, else the published one. */
    trustedWorkerKeys(signal?: AbortSignal): Promise<string[]>;
    /** `POST /api/programs`: register a module; checks the answered id is its SHA-256. */
    uploadProgram(module: Uint8Array, signal?: AbortSignal): Promise<ProgramResponse>;
    /**
     * Seal a workload to the gateway's current pool key (fetched and verified with
     * {@link keys}). Registry programs must be uploaded first ({@link uploadProgram}).
     */
    seal(p: {
        identity: ClientIdentity;
        program: Program;
        input: Uint8Array | string;
        workloadType?: WorkloadType;
        priority?: number;
        maxRetries?: number;
        maxFuel?: number;
        callbackUrl?: string;
    }): Promise<SealedJob>;
    /** `POST /api/submit`: submit one sealed job. */
    submit(job: SealedJob | SubmitRequest, opts?: SubmitOptions): Promise<Submitted>;
    /**
     * `POST /api/submit/batch`: submit 1–100 sealed jobs, stored all or none. Answers in order;
     * with an idempotency key, item `i` uses `<key>#i`.
     */
    submitBatch(jobs: (SealedJob | SubmitRequest)[], opts?: SubmitOptions): Promise<SubmitResponse[]>;
    /** `GET /api/status/{job_id}`, optionally long-polling up to `wait` seconds. */
    status(jobId: string, opts?: {
        wait?: number;
        signal?: AbortSignal;
    }): Promise<JobStatus>;
    /** `DELETE /api/jobs/{job_id}`: cancel a queued job. */
    cancel(jobId: string, signal?: AbortSignal): Promise<JobStatus>;
    /** `GET /api/jobs`: one page of this tenant's jobs, newest first. */
    listJobs(q?: {
        status?: JobStatusName;
        limit?: number;
        cursor?: string;
    }, signal?: AbortSignal): Promise<JobList>;
    /**
     * Wait until the job is `completed`, `failed` or `cancelled` and return its final status.
     * Follows the live stream `GET /api/events?job_id=` and falls back to long-polling
     * `GET /api/status/{id}?wait=` when the stream cannot be used (refused, cut, silent).
     * `onProgress` sees each status change once.
     */
    waitForJob(jobId: string, opts?: WaitOptions): Promise<JobStatus>;
    /** Errors worth retrying a status poll after. */
    private static isTransient;
    /** Errors after which polling may still work. */
    private static canFallBack;
    /** Follow `GET /api/events?job_id=` until a terminal status; throws if the stream fails. */
    private followEvents;
    /** `GET /api/result/{job_id}`: the sealed result and receipt, unverified. */
    fetchResult(jobId: string, opts?: {
        wait?: number;
        signal?: AbortSignal;
    }): Promise<FetchedResult>;
    /**
     * Verify a fetched result (RECEIPT.md §6 a–d) against the trusted worker keys and, with
     * `identity`, open it and check `result_hash` (e). `expected`: what you submitted
     * ({@link jobFacts}), or any part of it.
     */
    verifyResult(fetched: FetchedResult, opts?: {
        identity?: ClientIdentity;
        expected?: Partial<JobFacts>;
    }): Promise<VerifiedResult>;
    /**
     * Wait for a job, fetch its result, verify the receipt and open the result. Throws
     * {@link JobFailedError} if the job failed or was cancelled, `VerificationError` if
     * anything does not check out.
     */
    getResult(jobId: string, opts: {
        identity: ClientIdentity;
        expected?: Partial<JobFacts>;
        wait?: WaitOptions;
    }): Promise<JobResult>;
    /**
     * Everything in one call: register the module (unless `inline`), seal the input, submit,
     * wait, fetch, verify the receipt against what was sealed, and open the result. If the pool
     * key was rotated in between (`unknown_key_id`), the key list is fetched again and the job
     * sealed anew, once.
     */
    run(p: RunParams): Promise<JobResult>;
}
export {};

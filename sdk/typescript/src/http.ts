/**
 * The HTTP transport: `fetch` with authentication, deadlines, bounded response bodies and
 * typed errors. Browser-safe.
 *
 * @module
 */

import { fromUtf8 } from "./bytes.js";
import type { Authenticator } from "./auth.js";
import { NetworkError, ProtocolError, TimeoutError, VesperError, apiError } from "./errors.js";
import { type JsonValue, type ParseOptions, parseJsonExact } from "./json.js";

/** The `fetch` function the client uses (the global one by default). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** One request. */
export interface HttpRequest {
  method: "GET" | "POST" | "DELETE";
  /** Path and query, starting with `/`. */
  path: string;
  body?: Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Deadline for the whole exchange, body included; `0` for none. */
  timeoutMs?: number;
  /** Largest response body accepted. */
  maxBytes: number;
  /** Send credentials (default true). */
  auth?: boolean;
}

/** A successful (2xx) answer. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
  requestId: string | undefined;
}

/** A streaming answer (for `text/event-stream`): the caller reads and cancels `body`. */
export interface HttpStream {
  status: number;
  headers: Headers;
  body: ReadableStream<Uint8Array>;
  requestId: string | undefined;
  /** Abort the underlying request. */
  abort(): void;
}

/** Largest error body read (error bodies are small JSON). */
const MAX_ERROR_BODY = 64 * 1024;

/** Read a response body, refusing more than `max` bytes. */
export async function readLimited(resp: Response, max: number): Promise<Uint8Array> {
  const declared = resp.headers.get("content-length");
  if (declared !== null && Number(declared) > max) {
    await resp.body?.cancel().catch(() => {});
    throw new ProtocolError("response_too_large", `response body is over the ${max}-byte limit`);
  }
  if (!resp.body) return new Uint8Array(0);
  const reader = resp.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new ProtocolError("response_too_large", `response body is over the ${max}-byte limit`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Parse a JSON body exactly (large integers as `bigint`); `ProtocolError` if it is not JSON. */
export function parseBody(bytes: Uint8Array, opts: ParseOptions = {}): JsonValue {
  let text: string;
  try {
    text = fromUtf8(bytes);
  } catch {
    throw new ProtocolError("malformed_response", "response body is not UTF-8");
  }
  return parseJsonExact(text, opts);
}

/** Turn a non-2xx answer into the matching `VesperApiError` subclass. */
async function errorFrom(resp: Response): Promise<VesperError> {
  const requestId = resp.headers.get("x-request-id") ?? undefined;
  const retry = resp.headers.get("retry-after");
  const retryAfter = retry !== null && /^[0-9]+$/.test(retry) ? Number(retry) : undefined;
  let code = "http_error";
  let message = resp.statusText || "error";
  let jobStatus: string | undefined;
  let jobId: string | undefined;
  try {
    const body = parseBody(await readLimited(resp, MAX_ERROR_BODY));
    if (body && typeof body === "object" && !Array.isArray(body)) {
      const e = body["error"];
      if (e && typeof e === "object" && !Array.isArray(e)) {
        if (typeof e["code"] === "string") code = e["code"];
        if (typeof e["message"] === "string") message = e["message"];
      }
      if (typeof body["job_status"] === "string") jobStatus = body["job_status"];
      if (typeof body["job_id"] === "string") jobId = body["job_id"];
    }
  } catch {
    // Not a JSON error body (a proxy's page, say): keep the generic code.
  }
  return apiError({
    status: resp.status,
    code,
    message,
    ...(requestId !== undefined ? { requestId } : {}),
    ...(jobStatus !== undefined ? { jobStatus } : {}),
    ...(jobId !== undefined ? { jobId } : {}),
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  });
}

/** Sends requests to one gateway. */
export class Transport {
  readonly base: string;
  private readonly fetchFn: FetchLike;

  constructor(
    base: string,
    private readonly auth: Authenticator | undefined,
    fetchFn: FetchLike | undefined,
    private readonly defaultTimeoutMs: number,
  ) {
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      throw new VesperError("invalid_argument", `not a gateway URL: ${base}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new VesperError("invalid_argument", "the gateway URL must be http(s)");
    }
    if (url.username || url.password) {
      throw new VesperError("invalid_argument", "put credentials in `auth`, not in the gateway URL");
    }
    this.base = base.replace(/\/+$/, "");
    const f = fetchFn ?? (globalThis.fetch?.bind(globalThis) as FetchLike | undefined);
    if (!f) throw new VesperError("unsupported", "no fetch() in this environment; pass one in the options");
    this.fetchFn = f;
  }

  /** Send a request; the response is 2xx, else the gateway's error is thrown. */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const { resp, done } = await this.open(req, "application/json");
    try {
      if (!resp.ok) throw await errorFrom(resp);
      const bytes = await readLimited(resp, req.maxBytes);
      return {
        status: resp.status,
        headers: resp.headers,
        bytes,
        requestId: resp.headers.get("x-request-id") ?? undefined,
      };
    } catch (e) {
      throw done.translate(e);
    } finally {
      done.finish();
    }
  }

  /** Open a streaming request (no deadline once the headers are in; `idle` guards it). */
  async stream(req: Omit<HttpRequest, "maxBytes">): Promise<HttpStream> {
    const { resp, done } = await this.open({ ...req, maxBytes: 0 }, "text/event-stream");
    if (!resp.ok) {
      try {
        throw await errorFrom(resp);
      } finally {
        done.finish();
      }
    }
    if (!resp.body) {
      done.finish();
      throw new ProtocolError("malformed_response", "event stream has no body");
    }
    done.clearDeadline();
    return {
      status: resp.status,
      headers: resp.headers,
      body: resp.body,
      requestId: resp.headers.get("x-request-id") ?? undefined,
      abort: () => done.abort(),
    };
  }

  private async open(req: HttpRequest, accept: string) {
    const url = this.base + req.path;
    const body = req.body ?? new Uint8Array(0);
    const headers: Record<string, string> = { Accept: accept, ...(req.headers ?? {}) };
    if (req.contentType) headers["Content-Type"] = req.contentType;
    if (req.auth !== false && this.auth) {
      // Sign the path the gateway receives: the URL's path and query as fetch will send them.
      const u = new URL(url);
      Object.assign(headers, await this.auth.headers({ method: req.method, pathAndQuery: u.pathname + u.search, body }));
    }
    const done = new Deadline(req.timeoutMs ?? this.defaultTimeoutMs, req.signal);
    const init: RequestInit = { method: req.method, headers, signal: done.signal, redirect: "error" };
    if (req.method !== "GET") init.body = body as BodyInit;
    try {
      const resp = await this.fetchFn(url, init);
      return { resp, done };
    } catch (e) {
      done.finish();
      throw done.translate(e, `cannot reach the gateway at ${this.base}`);
    }
  }
}

/** An abort controller tied to a deadline and to the caller's signal. */
class Deadline {
  private readonly ctl = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timedOut = false;
  private readonly onAbort: () => void;

  constructor(
    private readonly ms: number,
    private readonly outer: AbortSignal | undefined,
  ) {
    this.onAbort = () => this.ctl.abort(outer?.reason);
    if (outer?.aborted) this.ctl.abort(outer.reason);
    else outer?.addEventListener("abort", this.onAbort, { once: true });
    if (ms > 0) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.ctl.abort();
      }, ms);
    }
  }

  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  clearDeadline(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  abort(): void {
    this.ctl.abort();
    this.finish();
  }

  finish(): void {
    this.clearDeadline();
    this.outer?.removeEventListener("abort", this.onAbort);
  }

  /** Map a failure to the SDK's error classes; the caller's own abort passes through. */
  translate(e: unknown, what = "request failed"): unknown {
    if (e instanceof VesperError) return e;
    if (this.timedOut) return new TimeoutError(`request timed out after ${this.ms} ms`);
    if (this.outer?.aborted) return this.outer.reason ?? e;
    return new NetworkError(`${what}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

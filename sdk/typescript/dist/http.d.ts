/**
 * The HTTP transport: `fetch` with authentication, deadlines, bounded response bodies and
 * typed errors. Browser-safe.
 *
 * @module
 */
import type { Authenticator } from "./auth.js";
import { type JsonValue, type ParseOptions } from "./json.js";
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
/** Read a response body, refusing more than `max` bytes. */
export declare function readLimited(resp: Response, max: number): Promise<Uint8Array>;
/** Parse a JSON body exactly (large integers as `bigint`); `ProtocolError` if it is not JSON. */
export declare function parseBody(bytes: Uint8Array, opts?: ParseOptions): JsonValue;
/** Sends requests to one gateway. */
export declare class Transport {
    private readonly auth;
    private readonly defaultTimeoutMs;
    readonly base: string;
    private readonly fetchFn;
    constructor(base: string, auth: Authenticator | undefined, fetchFn: FetchLike | undefined, defaultTimeoutMs: number);
    /** Send a request; the response is 2xx, else the gateway's error is thrown. */
    send(req: HttpRequest): Promise<HttpResponse>;
    /** Open a streaming request (no deadline once the headers are in; `idle` guards it). */
    stream(req: Omit<HttpRequest, "maxBytes">): Promise<HttpStream>;
    private open;
}

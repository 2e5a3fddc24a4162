/**
 * A Server-Sent Events parser for `fetch` response streams (the WHATWG "event stream"
 * interpretation: `event:`, `data:`, comments, LF / CRLF / CR line ends). `EventSource`
 * cannot send an `Authorization` header, so the SDK reads `GET /api/events` with `fetch`.
 *
 * @module
 */
/** One dispatched event. */
export interface SseEvent {
    /** The `event:` field; `message` when absent. */
    event: string;
    /** The `data:` lines joined by `\n`. */
    data: string;
}
/**
 * Incremental parser: feed it decoded text as it arrives, get complete events back. Refuses
 * a pending event or line longer than `maxEventChars` (a misbehaving server cannot make the
 * client buffer without bound).
 */
export declare class SseParser {
    private readonly maxEventChars;
    private buf;
    private event;
    private data;
    private dataChars;
    private lastWasCr;
    constructor(maxEventChars?: number);
    /** Feed more text; returns the events completed by it. */
    push(text: string): SseEvent[];
    private line;
}

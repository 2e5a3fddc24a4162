/**
 * A Server-Sent Events parser for `fetch` response streams (the WHATWG "event stream"
 * interpretation: `event:`, `data:`, comments, LF / CRLF / CR line ends). `EventSource`
 * cannot send an `Authorization` header, so the SDK reads `GET /api/events` with `fetch`.
 *
 * @module
 */
import { ProtocolError } from "./errors.js";
/**
 * Incremental parser: feed it decoded text as it arrives, get complete events back. Refuses
 * a pending event or line longer than `maxEventChars` (a misbehaving server cannot make the
 * client buffer without bound).
 */
export class SseParser {
    maxEventChars;
    buf = "";
    event = "";
    data = [];
    dataChars = 0;
    lastWasCr = false;
    constructor(maxEventChars = 64 * 1024) {
        this.maxEventChars = maxEventChars;
    }
    /** Feed more text; returns the events completed by it. */
    push(text) {
        const out = [];
        // A CRLF split across chunks: drop the LF that completes a CR already handled.
        if (this.lastWasCr && text.startsWith("\n"))
            text = text.slice(1);
        this.lastWasCr = false;
        this.buf += text;
        for (;;) {
            const m = /\r\n|\r|\n/.exec(this.buf);
            if (!m)
                break;
            if (m[0] === "\r" && m.index === this.buf.length - 1) {
                // Maybe the first half of CRLF: treat it as a line end, remember to skip an LF.
                this.lastWasCr = true;
            }
            const line = this.buf.slice(0, m.index);
            this.buf = this.buf.slice(m.index + m[0].length);
            const ev = this.line(line);
            if (ev)
                out.push(ev);
        }
        if (this.buf.length + this.dataChars > this.maxEventChars) {
            throw new ProtocolError("response_too_large", "event stream: an event is too large");
        }
        return out;
    }
    line(line) {
        if (line === "") {
            if (this.data.length === 0) {
                this.event = "";
                return undefined;
            }
            const ev = { event: this.event || "message", data: this.data.join("\n") };
            this.event = "";
            this.data = [];
            this.dataChars = 0;
            return ev;
        }
        if (line.startsWith(":"))
            return undefined; // comment (keep-alive)
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" "))
            value = value.slice(1);
        if (field === "event")
            this.event = value;
        else if (field === "data") {
            this.data.push(value);
            this.dataChars += value.length + 1;
        }
        // `id` and `retry` are not used by the gateway; unknown fields are ignored.
        return undefined;
    }
}

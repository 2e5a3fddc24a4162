/**
 * A strict JSON parser that keeps integers exact: an integer literal outside JavaScript's
 * safe range becomes a `bigint` instead of a rounded `number`. Receipts carry u64 fields
 * (`fuel_used`, timestamps) that must be re-encoded byte for byte to check the signature
 * (RECEIPT.md §5: "Parse them as exact integers, not as floats").
 *
 * @module
 */
import { ProtocolError } from "./errors.js";
const MAX_DEPTH = 64;
/** Parse `text` as JSON (RFC 8259), keeping large integers exact. Throws `ProtocolError`. */
export function parseJsonExact(text, opts = {}) {
    let i = 0;
    const fail = (why) => {
        throw new ProtocolError("malformed_response", `invalid JSON at offset ${i}: ${why}`);
    };
    const ws = () => {
        while (i < text.length) {
            const c = text.charCodeAt(i);
            if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d)
                i++;
            else
                break;
        }
    };
    const value = (depth) => {
        if (depth > MAX_DEPTH)
            fail("nested too deeply");
        ws();
        const c = text[i];
        if (c === "{") {
            i++;
            const obj = {};
            ws();
            if (text[i] === "}") {
                i++;
                return obj;
            }
            for (;;) {
                ws();
                if (text[i] !== '"')
                    fail("expected a key");
                const key = str();
                ws();
                if (text[i] !== ":")
                    fail("expected ':'");
                i++;
                if (Object.prototype.hasOwnProperty.call(obj, key))
                    fail(`duplicate key ${JSON.stringify(key)}`);
                Object.defineProperty(obj, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
                ws();
                if (text[i] === ",") {
                    i++;
                    continue;
                }
                if (text[i] === "}") {
                    i++;
                    return obj;
                }
                fail("expected ',' or '}'");
            }
        }
        if (c === "[") {
            i++;
            const arr = [];
            ws();
            if (text[i] === "]") {
                i++;
                return arr;
            }
            for (;;) {
                arr.push(value(depth + 1));
                ws();
                if (text[i] === ",") {
                    i++;
                    continue;
                }
                if (text[i] === "]") {
                    i++;
                    return arr;
                }
                fail("expected ',' or ']'");
            }
        }
        if (c === '"')
            return str();
        if (text.startsWith("true", i)) {
            i += 4;
            return true;
        }
        if (text.startsWith("false", i)) {
            i += 5;
            return false;
        }
        if (text.startsWith("null", i)) {
            i += 4;
            return null;
        }
        return num();
    };
    const str = () => {
        const start = i;
        i++; // opening quote
        for (;;) {
            if (i >= text.length)
                fail("unterminated string");
            const c = text.charCodeAt(i);
            if (c === 0x22)
                break;
            if (c < 0x20)
                fail("control character in string");
            if (c === 0x5c) {
                const e = text[i + 1];
                if (e === "u") {
                    if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6)))
                        fail("bad \\u escape");
                    i += 6;
                }
                else if (e !== undefined && '"\\/bfnrt'.includes(e))
                    i += 2;
                else
                    fail("bad escape");
            }
            else
                i++;
        }
        i++; // closing quote
        // The slice is a valid JSON string literal now; let the platform decode escapes.
        return JSON.parse(text.slice(start, i));
    };
    const num = () => {
        const m = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
        if (!m)
            return fail("unexpected character");
        i += m[0].length;
        if (m[1] === undefined && m[2] === undefined) {
            const n = Number(m[0]);
            return !opts.bigints && Number.isSafeInteger(n) ? n : BigInt(m[0]);
        }
        return Number(m[0]);
    };
    const out = value(0);
    ws();
    if (i !== text.length)
        fail("trailing characters");
    return out;
}

/**
 * Byte helpers shared by the SDK: strict hex and base64 (one spelling per value, as the
 * Vesper wire formats require), UTF-8, concatenation, big-endian integers and UUID bytes.
 *
 * Browser-safe: only `TextEncoder`, `TextDecoder`, `btoa`, `atob` and `Uint8Array`.
 *
 * @module
 */

import { VesperError } from "./errors.js";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 bytes of `s`. */
export function utf8(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

/** Decode UTF-8 strictly (invalid sequences throw). */
export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** Concatenate byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Byte-wise equality (not constant-time; use only on public values). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const HEX = "0123456789abcdef";

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += HEX[b >> 4]! + HEX[b & 15]!;
  return s;
}

/** True if `s` is lowercase hex of exactly `bytes` bytes (or any even length if omitted). */
export function isLowerHex(s: unknown, bytes?: number): s is string {
  if (typeof s !== "string") return false;
  if (bytes !== undefined ? s.length !== bytes * 2 : s.length % 2 !== 0) return false;
  return /^[0-9a-f]*$/.test(s);
}

/**
 * Decode lowercase hex. Uppercase is refused, never normalised: every hex value Vesper reads
 * has exactly one spelling (ENVELOPE.md §2). `what` names the value in the error.
 */
export function fromHex(s: string, bytes?: number, what = "hex value"): Uint8Array {
  if (!isLowerHex(s, bytes)) {
    const len = bytes !== undefined ? `${bytes * 2} ` : "";
    throw new VesperError("invalid_argument", `${what} must be ${len}lowercase hex digits`);
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard base64 with `=` padding (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  const CHUNK = 0x8000;
  let bin = "";
  for (let i = 0; i < bytes.length; i += CHUNK) {
    bin += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(bin);
}

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decode standard padded base64 strictly: no whitespace, no missing padding, and no
 * non-zero trailing bits (so that each byte string has one encoding, as the gateway's
 * decoder requires). Returns `undefined` when `s` is not such base64.
 */
export function tryFromBase64(s: unknown): Uint8Array | undefined {
  if (typeof s !== "string" || !B64_RE.test(s)) return undefined;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // Canonical: re-encoding must give the same text (rejects non-zero padding bits).
  if (toBase64(out) !== s) return undefined;
  return out;
}

/** Like {@link tryFromBase64}, throwing an `invalid_argument` error naming `what`. */
export function fromBase64(s: string, what = "base64 value"): Uint8Array {
  const out = tryFromBase64(s);
  if (out === undefined) {
    throw new VesperError("invalid_argument", `${what} is not canonical padded base64`);
  }
  return out;
}

/** u8 as one byte; throws if out of range. */
export function u8(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new RangeError(`u8 out of range: ${n}`);
  return Uint8Array.of(n);
}

/** u16 big-endian. */
export function u16be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`u16 out of range: ${n}`);
  return Uint8Array.of(n >>> 8, n & 0xff);
}

/** u32 big-endian. */
export function u32be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`u32 out of range: ${n}`);
  }
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

const U64_MAX = (1n << 64n) - 1n;

/** u64 big-endian from an exact integer (a safe `number` or a `bigint`). */
export function u64be(v: number | bigint): Uint8Array {
  const n = typeof v === "bigint" ? v : BigInt(v);
  if (typeof v === "number" && !Number.isSafeInteger(v)) {
    throw new RangeError(`u64 given as an unsafe number: ${v}`);
  }
  if (n < 0n || n > U64_MAX) throw new RangeError(`u64 out of range: ${n}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, false);
  return out;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True if `s` is a canonical hyphenated lowercase UUID (36 characters). */
export function isCanonicalUuid(s: unknown): s is string {
  return typeof s === "string" && UUID_RE.test(s);
}

/**
 * The 16 raw bytes of a canonical lowercase UUID, in string order (Python
 * `uuid.UUID(s).bytes`). Uppercase or other spellings are refused.
 */
export function uuidBytes(s: string): Uint8Array {
  if (!isCanonicalUuid(s)) {
    throw new VesperError("invalid_argument", "job id must be a canonical lowercase UUID");
  }
  return fromHex(s.replaceAll("-", ""), 16, "job id");
}

/** Fresh random bytes from the platform's CSPRNG (WebCrypto). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}

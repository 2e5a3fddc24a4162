/**
 * Byte helpers shared by the SDK: strict hex and base64 (one spelling per value, as the
 * Vesper wire formats require), UTF-8, concatenation, big-endian integers and UUID bytes.
 *
 * Browser-safe: only `TextEncoder`, `TextDecoder`, `btoa`, `atob` and `Uint8Array`.
 *
 * @module
 */
/** UTF-8 bytes of `s`. */
export declare function utf8(s: string): Uint8Array;
/** Decode UTF-8 strictly (invalid sequences throw). */
export declare function fromUtf8(bytes: Uint8Array): string;
/** Concatenate byte arrays. */
export declare function concat(...parts: Uint8Array[]): Uint8Array;
/** Byte-wise equality (not constant-time; use only on public values). */
export declare function bytesEqual(a: Uint8Array, b: Uint8Array): boolean;
/** Lowercase hex of `bytes`. */
export declare function toHex(bytes: Uint8Array): string;
/** True if `s` is lowercase hex of exactly `bytes` bytes (or any even length if omitted). */
export declare function isLowerHex(s: unknown, bytes?: number): s is string;
/**
 * Decode lowercase hex. Uppercase is refused, never normalised: every hex value Vesper reads
 * has exactly one spelling (ENVELOPE.md §2). `what` names the value in the error.
 */
export declare function fromHex(s: string, bytes?: number, what?: string): Uint8Array;
/** Standard base64 with `=` padding (RFC 4648 §4). */
export declare function toBase64(bytes: Uint8Array): string;
/**
 * Decode standard padded base64 strictly: no whitespace, no missing padding, and no
 * non-zero trailing bits (so that each byte string has one encoding, as the gateway's
 * decoder requires). Returns `undefined` when `s` is not such base64.
 */
export declare function tryFromBase64(s: unknown): Uint8Array | undefined;
/** Like {@link tryFromBase64}, throwing an `invalid_argument` error naming `what`. */
export declare function fromBase64(s: string, what?: string): Uint8Array;
/** u8 as one byte; throws if out of range. */
export declare function u8(n: number): Uint8Array;
/** u16 big-endian. */
export declare function u16be(n: number): Uint8Array;
/** u32 big-endian. */
export declare function u32be(n: number): Uint8Array;
/** u64 big-endian from an exact integer (a safe `number` or a `bigint`). */
export declare function u64be(v: number | bigint): Uint8Array;
/** True if `s` is a canonical hyphenated lowercase UUID (36 characters). */
export declare function isCanonicalUuid(s: unknown): s is string;
/**
 * The 16 raw bytes of a canonical lowercase UUID, in string order (Python
 * `uuid.UUID(s).bytes`). Uppercase or other spellings are refused.
 */
export declare function uuidBytes(s: string): Uint8Array;
/** Fresh random bytes from the platform's CSPRNG (WebCrypto). */
export declare function randomBytes(n: number): Uint8Array;

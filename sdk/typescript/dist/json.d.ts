/**
 * A strict JSON parser that keeps integers exact: an integer literal outside JavaScript's
 * safe range becomes a `bigint` instead of a rounded `number`. Receipts carry u64 fields
 * (`fuel_used`, timestamps) that must be re-encoded byte for byte to check the signature
 * (RECEIPT.md §5: "Parse them as exact integers, not as floats").
 *
 * @module
 */
/** A parsed JSON value; integers beyond 2^53 − 1 are `bigint`. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | {
    [key: string]: JsonValue;
};
/** Options of {@link parseJsonExact}. */
export interface ParseOptions {
    /**
     * Return every integer literal as a `bigint` (default: only those beyond 2^53 − 1). Then
     * `12345` and `12345.0` stay distinguishable: the latter is a `number`, a float.
     */
    bigints?: boolean;
}
/** Parse `text` as JSON (RFC 8259), keeping large integers exact. Throws `ProtocolError`. */
export declare function parseJsonExact(text: string, opts?: ParseOptions): JsonValue;

#!/usr/bin/env node
/**
 * `vesper-sdk`: a small command-line client over the SDK, for scripts and for testing the
 * TypeScript implementation against the Rust one. Node only (files, process); the rest of
 * the SDK does not depend on it.
 *
 *     vesper-sdk keygen --out KEYFILE [--force]
 *     vesper-sdk submit --gateway URL --api-key-file F --identity KEYFILE --program FILE.wasm
 *                       --input FILE|- [--inline] [--out JOB.json] [--workload-type T]
 *                       [--priority N] [--idempotency-key K]
 *     vesper-sdk open   --gateway URL --api-key-file F --identity KEYFILE
 *                       (--job JOB_ID | --job-file JOB.json) [--payload-digest HEX]
 *                       [--save RESULT.json] [--timeout SECS] [--poll]
 *     vesper-sdk verify RESULT.json --gateway URL [--api-key-file F] [--identity KEYFILE]
 *                       [--payload-digest HEX | --job-file JOB.json] [--worker-key HEX]...
 *
 * Key files are the Rust CLI's: `vesper-x25519-secret:<64 hex>` and `vesper-api-key:vsk_…`,
 * one line, mode 0600; a file its group or others can read is refused. Without
 * `--api-key-file`, the API key comes from `VESPER_API_KEY`; the gateway from `--gateway`,
 * else `VESPER_GATEWAY`, else http://127.0.0.1:8080.
 *
 * @module
 */
export {};

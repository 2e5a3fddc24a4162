/**
 * Execution receipts and the signed key list (docs/RECEIPT.md): canonical encoding, strict
 * Ed25519 verification, and the client-side checks (a)–(e) of RECEIPT.md §6.
 *
 * Ed25519 comes from `@noble/curves`, SHA-256/512 from `@noble/hashes`.
 *
 * @module
 */
import { type JobFacts, type WorkloadType } from "./envelope.js";
import type { ClientIdentity } from "./identity.js";
import { type JsonValue } from "./json.js";
/** A receipt as the worker signed it; u64 fields are exact `bigint`s. */
export interface Receipt {
    version: 1;
    jobId: string;
    programId: string;
    workloadType: WorkloadType;
    payloadDigest: string;
    resultDigest: string;
    resultHash: string;
    fuelUsed: bigint;
    executionTimeMs: bigint;
    /** Unix milliseconds. */
    startedAt: bigint;
    /** Unix milliseconds. */
    completedAt: bigint;
    workerId: string;
    /** Hex of the worker's Ed25519 public key. */
    workerPubkey: string;
    /** Hex of the 64-byte signature. */
    workerSignature: string;
}
/** The canonical encoding of RECEIPT.md §2 (211 + len(workload_type) + len(worker_id) bytes). */
export declare function encodeReceipt(r: Omit<Receipt, "workerSignature" | "version"> & {
    version?: 1;
}): Uint8Array;
/** The bytes a worker signs: `"vesper/v1/receipt\0" || canonical encoding`. */
export declare function receiptMessage(r: Omit<Receipt, "workerSignature" | "version">): Uint8Array;
/**
 * Ed25519 verification with the rules of `ed25519-dalek`'s `verify_strict` (RECEIPT.md §4):
 * canonical S < ℓ, canonical point encodings, public key A and R not of small order, and the
 * cofactorless equation R = [S]B − [k]A compared exactly. `@noble/curves` does the
 * arithmetic; its own strict mode (`zip215: false`) checks everything but the small-order R
 * and uses the cofactored equation, so both are added here.
 */
export declare function verifyEd25519Strict(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
/** Check a receipt's signature (step a's last part). */
export declare function verifyReceiptSignature(r: Receipt): boolean;
/**
 * Read `execution_proof` into a {@link Receipt}, checking every field's type and spelling
 * (lowercase hex of exact length, canonical UUID, known workload type, exact integers).
 * Pass the output of `parseJsonExact(text, { bigints: true })` so that integers stay exact
 * and a float such as `5.0` is refused, as the Rust verifier refuses it.
 */
export declare function receiptFromJson(proof: JsonValue | undefined): Receipt;
/** A pool encryption key from `GET /api/keys`. */
export interface PoolKey {
    /** Computed here from `publicKey` (and checked against the published one). */
    keyId: string;
    /** Raw 32-byte X25519 public key. */
    publicKey: Uint8Array;
    suite: string;
}
/** A worker's receipt-signing key from `GET /api/keys`. */
export interface WorkerKey {
    workerId: string;
    /** Hex of the 32-byte Ed25519 public key. */
    publicKey: string;
}
/** `GET /api/keys` after its gateway signature was checked. */
export interface PublishedKeys {
    /** Current key first. */
    poolKeys: PoolKey[];
    workerKeys: WorkerKey[];
    /** Hex of the gateway's Ed25519 key that signed the list. */
    gatewayKey: string;
}
/**
 * The signed key-set bytes: `"vesper/v1/keys\0" || u16 n || n × pool key || u16 m ||
 * m × (u8 len(worker_id) || worker_id || worker key)` (RECEIPT.md §6, "Published keys").
 */
export declare function keysetMessage(poolKeys: Uint8Array[], workerKeys: {
    workerId: string;
    publicKey: Uint8Array;
}[]): Uint8Array;
/**
 * Check the body of `GET /api/keys`: every key well-formed, and `signature` a valid Ed25519
 * signature by `gateway_key` over the key set. With `pinnedGatewayKey` (hex), the list must
 * be signed by that key. Throws {@link VerificationError} or {@link ProtocolError}.
 */
export declare function verifyKeys(body: JsonValue, pinnedGatewayKey?: string): PublishedKeys;
/** The current pool key (the first), checking it is of the one suite Vesper uses. */
export declare function currentPoolKey(keys: PublishedKeys): PoolKey;
/** Receipt fields that can only be checked against the submission. */
export type SubmissionField = "program_id" | "workload_type" | "payload_digest";
/** What {@link verifyResultBody} checks the receipt against. */
export interface VerifyOptions {
    /** Trusted worker keys (hex): the published list of `GET /api/keys`, or a pinned one. */
    workerKeys: readonly string[];
    /** With the client key, the result is also opened and `result_hash` checked (step e). */
    identity?: ClientIdentity;
    /**
     * What the client submitted (step d). Any subset: fields left out are reported in
     * `unchecked`. `jobId`, when given, must equal the body's.
     */
    expected?: Partial<JobFacts>;
}
/** A result whose receipt passed every check that was possible. */
export interface VerifiedResult {
    jobId: string;
    receipt: Receipt;
    /** Receipt fields not checked against a submission (no `expected` value for them). */
    unchecked: SubmissionField[];
    /** The decoded result, when an identity was given. */
    result?: {
        exitCode: number;
        stdout: Uint8Array;
        stderr: Uint8Array;
        salt: Uint8Array;
    };
}
/**
 * Verify the JSON body of `GET /api/result/{job_id}` as RECEIPT.md §6 says: (a) the receipt
 * is well-formed, for this job, and signed (strict Ed25519); (c) by a trusted worker key;
 * (d) about the submission in `expected`; (b) over exactly this `encrypted_result`; and,
 * with `identity`, (e) the result opens and its salted hash is `result_hash`.
 * `body` is the JSON text (best: parsed here exactly) or a value from
 * `parseJsonExact(text, { bigints: true })`. Throws {@link VerificationError} on the first
 * failed check.
 */
export declare function verifyResultBody(input: JsonValue, opts: VerifyOptions): Promise<VerifiedResult>;

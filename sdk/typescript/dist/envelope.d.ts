/**
 * Workload and result envelopes, byte for byte as docs/ENVELOPE.md specifies them.
 *
 * HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, comes
 * from `@hpke/core` over WebCrypto; SHA-256 from `@noble/hashes`. This module only frames
 * bytes (AADs, the VWL1 and VRS1 plaintexts) and calls those libraries.
 *
 * @module
 */
import type { components } from "./generated/openapi.js";
import { type ClientIdentity } from "./identity.js";
/** The request body of `POST /api/submit` (generated from the OpenAPI document). */
export type SubmitRequest = components["schemas"]["SubmitRequest"];
/** The workload types the gateway accepts. */
export type WorkloadType = "general" | "ai_inference" | "pos_validation" | "zk_proof";
export declare const WORKLOAD_TYPES: readonly WorkloadType[];
/** Is `s` a workload type? */
export declare function isWorkloadType(s: unknown): s is WorkloadType;
/** The suite string `GET /api/keys` publishes for pool keys. */
export declare const POOL_KEY_SUITE = "DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM";
/** Largest inline module in a VWL1 plaintext (8 MiB). */
export declare const MAX_INLINE_MODULE: number;
/** Largest input in a VWL1 plaintext (16 MiB). */
export declare const MAX_INPUT: number;
/** `key_id`: hex of the first 8 bytes of SHA-256(raw 32-byte pool public key). */
export declare function keyIdOf(poolPublicKey: Uint8Array): string;
/** `program_id`: hex SHA-256 of the WebAssembly module bytes. */
export declare function programIdOf(module: Uint8Array): string;
/** `payload_digest` = SHA-256(encrypted_key || encrypted_payload), over the decoded bytes. */
export declare function payloadDigestOf(enc: Uint8Array, ciphertext: Uint8Array): Uint8Array;
/** The public metadata bound into a workload envelope as its AAD (ENVELOPE.md §3.2). */
export interface JobMetadata {
    workloadType: WorkloadType;
    /** Registry program (64 lowercase hex), or `null` for an inline module. */
    programId: string | null;
    /** Raw 32-byte client X25519 public key. */
    clientPublicKey: Uint8Array;
    /** 16 lowercase hex digits. */
    keyId: string;
}
/**
 * The job AAD: `"vesper/v1/job-aad\0" || u8 len(wt) || wt || u8 has_program || [program_id]
 * || client_pubkey || key_id` (the 16 ASCII hex characters of `key_id`).
 */
export declare function jobAad(meta: JobMetadata): Uint8Array;
/** What to run: a registered program, by id, or a module carried inside the sealed payload. */
export type Program = {
    programId: string;
} | {
    inline: Uint8Array;
};
/**
 * The VWL1 workload plaintext (ENVELOPE.md §3.3): `"VWL1" || kind || [u32 len || module] ||
 * u32 len || input`; kind 0 = registry, 1 = inline.
 */
export declare function encodeWorkload(input: Uint8Array, inlineModule?: Uint8Array): Uint8Array;
/** A decoded VWL1 plaintext. */
export interface Workload {
    /** The inline module, or `undefined` for a registry program. */
    module: Uint8Array | undefined;
    input: Uint8Array;
}
/** Decode a VWL1 plaintext strictly (wrong magic, kind, lengths or trailing bytes throw). */
export declare function decodeWorkload(pt: Uint8Array): Workload;
/** Facts a client keeps about a job it submitted, to check the receipt against (RECEIPT.md §6 d). */
export interface JobFacts {
    jobId: string;
    /** The program that must have run (for an inline module, SHA-256 of the module). */
    programId: string;
    workloadType: WorkloadType;
    /** Hex SHA-256(enc || ciphertext) of what was submitted. */
    payloadDigest: string;
}
/** A sealed workload, ready to submit, plus what its client must remember to check the result. */
export interface SealedJob {
    /** The body of `POST /api/submit` (or one item of a batch). */
    request: SubmitRequest;
    /** The program that will run: the registry id, or SHA-256 of the inline module. */
    programId: string;
    workloadType: WorkloadType;
    /** Hex SHA-256(encrypted_key || encrypted_payload). */
    payloadDigest: string;
}
/** The receipt facts of `sealed` once the gateway named its job `jobId`. */
export declare function jobFacts(sealed: SealedJob, jobId: string): JobFacts;
/** Parameters of {@link sealJob}. */
export interface SealParams {
    /** The pool's raw 32-byte X25519 public key (current key of `GET /api/keys`). */
    poolPublicKey: Uint8Array;
    /** The client's raw 32-byte X25519 public key: the result will be sealed to it. */
    clientPublicKey: Uint8Array;
    program: Program;
    /** The program's stdin. */
    input: Uint8Array;
    /** Default `general`. */
    workloadType?: WorkloadType;
    /** 1 (lowest) to 10 (highest). */
    priority?: number;
    /** Retries after transient failures (gateway default when absent). */
    maxRetries?: number;
    /** Fuel ceiling for this job. */
    maxFuel?: number;
    /** `http(s)` URL that receives signed status events (docs/CALLBACKS.md). */
    callbackUrl?: string;
}
/**
 * Seal a workload to the pool key and build the submit request (ENVELOPE.md §3.4). Pure: no
 * network; a fresh HPKE ephemeral key for every call.
 */
export declare function sealJob(p: SealParams): Promise<SealedJob>;
/**
 * {@link sealJob} with the HPKE ephemeral key pair fixed. Internal (not exported by the
 * package): it exists only to reproduce the documented vectors; a reused ephemeral key
 * breaks HPKE.
 */
export declare function sealJobWith(p: SealParams, testOnlyEphemeral?: CryptoKeyPair): Promise<SealedJob>;
/**
 * Open a workload envelope with the pool's key pair. The client never does this (workers
 * do); it is here to check the documented vectors and for tests.
 */
export declare function openWorkload(pool: CryptoKeyPair, meta: JobMetadata, enc: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array>;
/** The result AAD: `"vesper/v1/result-aad\0" || uuid bytes(job_id) || payload_digest`. */
export declare function resultAad(jobId: string, payloadDigest: Uint8Array): Uint8Array;
/**
 * Open `encrypted_result` (enc || ct) with the client's key (ENVELOPE.md §4.3). Any failure
 * (wrong key, another job or payload, tampering) throws `VerificationError("decrypt_failed")`.
 * Returns the VRS1 plaintext.
 */
export declare function openResult(identity: ClientIdentity, jobId: string, payloadDigest: Uint8Array, encryptedResult: Uint8Array): Promise<Uint8Array>;
/**
 * Seal a VRS1 plaintext to a client key, as a worker does (ENVELOPE.md §4.2). For tests and
 * vectors; `testOnlyEphemeral` as in {@link sealJobWith}.
 */
export declare function sealResult(clientPublicKey: Uint8Array, jobId: string, payloadDigest: Uint8Array, plaintext: Uint8Array, testOnlyEphemeral?: CryptoKeyPair): Promise<Uint8Array>;
/** A decoded VRS1 result plaintext. */
export interface ResultPlaintext {
    /** 32 random bytes that make `result_hash` unguessable. */
    salt: Uint8Array;
    /** The program's exit code (i32). */
    exitCode: number;
    stdout: Uint8Array;
    stderr: Uint8Array;
}
/** Decode a VRS1 plaintext strictly (ENVELOPE.md §4.1). */
export declare function decodeResult(pt: Uint8Array): ResultPlaintext;
/** Encode a VRS1 plaintext (for tests and vectors). */
export declare function encodeResult(r: ResultPlaintext): Uint8Array;
/** `result_hash` = SHA-256("vesper/v1/result-hash\0" || VRS1 plaintext) (RECEIPT.md §3). */
export declare function resultHashOf(vrs1: Uint8Array): Uint8Array;
/** Decode the base64 envelope fields of a submit request (for payload digests of requests). */
export declare function payloadDigestOfRequest(req: Pick<SubmitRequest, "encrypted_key" | "encrypted_payload">): string;

/**
 * Workload and result envelopes, byte for byte as docs/ENVELOPE.md specifies them.
 *
 * HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, comes
 * from `@hpke/core` over WebCrypto; SHA-256 from `@noble/hashes`. This module only frames
 * bytes (AADs, the VWL1 and VRS1 plaintexts) and calls those libraries.
 *
 * @module
 */
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesEqual, concat, fromBase64, fromHex, isLowerHex, toBase64, toHex, u32be, u8, utf8, uuidBytes, } from "./bytes.js";
import { VerificationError, VesperError } from "./errors.js";
import { importX25519PublicKey } from "./identity.js";
export const WORKLOAD_TYPES = ["general", "ai_inference", "pos_validation", "zk_proof"];
/** Is `s` a workload type? */
export function isWorkloadType(s) {
    return typeof s === "string" && WORKLOAD_TYPES.includes(s);
}
/** The suite string `GET /api/keys` publishes for pool keys. */
export const POOL_KEY_SUITE = "DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM";
const INFO_JOB = utf8("vesper/v1/job");
const INFO_RESULT = utf8("vesper/v1/result");
const JOB_AAD_DOMAIN = utf8("vesper/v1/job-aad\0");
const RESULT_AAD_DOMAIN = utf8("vesper/v1/result-aad\0");
const RESULT_HASH_DOMAIN = utf8("vesper/v1/result-hash\0");
const VWL1 = utf8("VWL1");
const VRS1 = utf8("VRS1");
/** Largest inline module in a VWL1 plaintext (8 MiB). */
export const MAX_INLINE_MODULE = 8 * 1024 * 1024;
/** Largest input in a VWL1 plaintext (16 MiB). */
export const MAX_INPUT = 16 * 1024 * 1024;
let suiteSingleton;
/** The one HPKE suite Vesper uses. */
function suite() {
    suiteSingleton ??= new CipherSuite({
        kem: new DhkemX25519HkdfSha256(),
        kdf: new HkdfSha256(),
        aead: new Aes256Gcm(),
    });
    return suiteSingleton;
}
/** Plain `ArrayBuffer` view of `b`, as WebCrypto-based APIs want. */
function ab(b) {
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}
/** `key_id`: hex of the first 8 bytes of SHA-256(raw 32-byte pool public key). */
export function keyIdOf(poolPublicKey) {
    if (poolPublicKey.length !== 32)
        throw new VesperError("invalid_argument", "pool public key must be 32 bytes");
    return toHex(sha256(poolPublicKey).subarray(0, 8));
}
/** `program_id`: hex SHA-256 of the WebAssembly module bytes. */
export function programIdOf(module) {
    return toHex(sha256(module));
}
/** `payload_digest` = SHA-256(encrypted_key || encrypted_payload), over the decoded bytes. */
export function payloadDigestOf(enc, ciphertext) {
    return sha256(concat(enc, ciphertext));
}
/**
 * The job AAD: `"vesper/v1/job-aad\0" || u8 len(wt) || wt || u8 has_program || [program_id]
 * || client_pubkey || key_id` (the 16 ASCII hex characters of `key_id`).
 */
export function jobAad(meta) {
    if (!isWorkloadType(meta.workloadType))
        throw new VesperError("invalid_argument", "unknown workload type");
    if (meta.clientPublicKey.length !== 32)
        throw new VesperError("invalid_argument", "client public key must be 32 bytes");
    if (!isLowerHex(meta.keyId, 8))
        throw new VesperError("invalid_argument", "key_id must be 16 lowercase hex digits");
    const wt = utf8(meta.workloadType);
    const program = meta.programId === null ? u8(0) : concat(u8(1), fromHex(meta.programId, 32, "program_id"));
    return concat(JOB_AAD_DOMAIN, u8(wt.length), wt, program, meta.clientPublicKey, utf8(meta.keyId));
}
/**
 * The VWL1 workload plaintext (ENVELOPE.md §3.3): `"VWL1" || kind || [u32 len || module] ||
 * u32 len || input`; kind 0 = registry, 1 = inline.
 */
export function encodeWorkload(input, inlineModule) {
    if (input.length > MAX_INPUT)
        throw new VesperError("invalid_argument", `input is over ${MAX_INPUT} bytes`);
    if (inlineModule === undefined)
        return concat(VWL1, u8(0), u32be(input.length), input);
    if (inlineModule.length > MAX_INLINE_MODULE) {
        throw new VesperError("invalid_argument", `inline module is over ${MAX_INLINE_MODULE} bytes`);
    }
    return concat(VWL1, u8(1), u32be(inlineModule.length), inlineModule, u32be(input.length), input);
}
/** Decode a VWL1 plaintext strictly (wrong magic, kind, lengths or trailing bytes throw). */
export function decodeWorkload(pt) {
    const bad = (why) => new VesperError("bad_payload", `malformed VWL1 plaintext: ${why}`);
    const view = new DataView(pt.buffer, pt.byteOffset, pt.byteLength);
    if (pt.length < 5 || !bytesEqual(pt.subarray(0, 4), VWL1))
        throw bad("magic");
    const kind = pt[4];
    let at = 5;
    const take = (limit) => {
        if (at + 4 > pt.length)
            throw bad("truncated length");
        const n = view.getUint32(at, false);
        if (n > limit)
            throw bad("length over the limit");
        at += 4;
        if (at + n > pt.length)
            throw bad("length past the end");
        const out = pt.subarray(at, at + n);
        at += n;
        return out;
    };
    let module;
    if (kind === 1)
        module = take(MAX_INLINE_MODULE);
    else if (kind !== 0)
        throw bad("program kind");
    const input = take(MAX_INPUT);
    if (at !== pt.length)
        throw bad("trailing bytes");
    return { module, input };
}
/** The receipt facts of `sealed` once the gateway named its job `jobId`. */
export function jobFacts(sealed, jobId) {
    return {
        jobId,
        programId: sealed.programId,
        workloadType: sealed.workloadType,
        payloadDigest: sealed.payloadDigest,
    };
}
/**
 * Seal a workload to the pool key and build the submit request (ENVELOPE.md §3.4). Pure: no
 * network; a fresh HPKE ephemeral key for every call.
 */
export function sealJob(p) {
    return sealJobWith(p);
}
/**
 * {@link sealJob} with the HPKE ephemeral key pair fixed. Internal (not exported by the
 * package): it exists only to reproduce the documented vectors; a reused ephemeral key
 * breaks HPKE.
 */
export async function sealJobWith(p, testOnlyEphemeral) {
    const workloadType = p.workloadType ?? "general";
    if (!isWorkloadType(workloadType))
        throw new VesperError("invalid_argument", "unknown workload type");
    const keyId = keyIdOf(p.poolPublicKey);
    let programId;
    let metaProgram;
    let inline;
    if ("inline" in p.program) {
        inline = p.program.inline;
        programId = programIdOf(inline);
        metaProgram = null;
    }
    else {
        if (!isLowerHex(p.program.programId, 32)) {
            throw new VesperError("invalid_argument", "program_id must be 64 lowercase hex digits");
        }
        programId = metaProgram = p.program.programId;
    }
    const aad = jobAad({ workloadType, programId: metaProgram, clientPublicKey: p.clientPublicKey, keyId });
    const plaintext = encodeWorkload(p.input, inline);
    const recipientPublicKey = await importX25519PublicKey(p.poolPublicKey);
    let enc;
    let ct;
    try {
        const sender = await suite().createSenderContext({
            recipientPublicKey,
            info: ab(INFO_JOB),
            ...(testOnlyEphemeral ? { ekm: testOnlyEphemeral } : {}),
        });
        ct = new Uint8Array(await sender.seal(ab(plaintext), ab(aad)));
        enc = new Uint8Array(sender.enc);
    }
    catch (e) {
        throw new VesperError("seal_failed", "HPKE seal to the pool key failed (small-order key?)", { cause: e });
    }
    finally {
        plaintext.fill(0);
    }
    const request = {
        encrypted_payload: toBase64(ct),
        encrypted_key: toBase64(enc),
        client_pubkey: toBase64(p.clientPublicKey),
        workload_type: workloadType,
        key_id: keyId,
    };
    if (metaProgram !== null)
        request.program_id = metaProgram;
    if (p.priority !== undefined)
        request.priority = p.priority;
    if (p.maxRetries !== undefined)
        request.max_retries = p.maxRetries;
    if (p.maxFuel !== undefined)
        request.max_fuel = p.maxFuel;
    if (p.callbackUrl !== undefined)
        request.callback_url = p.callbackUrl;
    return { request, programId, workloadType, payloadDigest: toHex(payloadDigestOf(enc, ct)) };
}
/**
 * Open a workload envelope with the pool's key pair. The client never does this (workers
 * do); it is here to check the documented vectors and for tests.
 */
export async function openWorkload(pool, meta, enc, ciphertext) {
    try {
        const pt = await suite().open({ recipientKey: pool, enc: ab(enc), info: ab(INFO_JOB) }, ab(ciphertext), ab(jobAad(meta)));
        return new Uint8Array(pt);
    }
    catch (e) {
        throw new VerificationError("decrypt_failed", "workload envelope did not open", { cause: e });
    }
}
/** The result AAD: `"vesper/v1/result-aad\0" || uuid bytes(job_id) || payload_digest`. */
export function resultAad(jobId, payloadDigest) {
    if (payloadDigest.length !== 32)
        throw new VesperError("invalid_argument", "payload digest must be 32 bytes");
    return concat(RESULT_AAD_DOMAIN, uuidBytes(jobId), payloadDigest);
}
/**
 * Open `encrypted_result` (enc || ct) with the client's key (ENVELOPE.md §4.3). Any failure
 * (wrong key, another job or payload, tampering) throws `VerificationError("decrypt_failed")`.
 * Returns the VRS1 plaintext.
 */
export async function openResult(identity, jobId, payloadDigest, encryptedResult) {
    if (encryptedResult.length < 48) {
        throw new VerificationError("decrypt_failed", "encrypted_result is shorter than 48 bytes");
    }
    const aad = resultAad(jobId, payloadDigest);
    try {
        const pt = await suite().open({ recipientKey: identity.keyPair, enc: ab(encryptedResult.subarray(0, 32)), info: ab(INFO_RESULT) }, ab(encryptedResult.subarray(32)), ab(aad));
        return new Uint8Array(pt);
    }
    catch (e) {
        throw new VerificationError("decrypt_failed", "the result could not be opened with this key (wrong key, another job or payload, or tampering)", { cause: e });
    }
}
/**
 * Seal a VRS1 plaintext to a client key, as a worker does (ENVELOPE.md §4.2). For tests and
 * vectors; `testOnlyEphemeral` as in {@link sealJobWith}.
 */
export async function sealResult(clientPublicKey, jobId, payloadDigest, plaintext, testOnlyEphemeral) {
    const sender = await suite().createSenderContext({
        recipientPublicKey: await importX25519PublicKey(clientPublicKey),
        info: ab(INFO_RESULT),
        ...(testOnlyEphemeral ? { ekm: testOnlyEphemeral } : {}),
    });
    const ct = new Uint8Array(await sender.seal(ab(plaintext), ab(resultAad(jobId, payloadDigest))));
    return concat(new Uint8Array(sender.enc), ct);
}
/** Decode a VRS1 plaintext strictly (ENVELOPE.md §4.1). */
export function decodeResult(pt) {
    const bad = (why) => new VerificationError("malformed_result", `malformed VRS1 plaintext: ${why}`);
    if (pt.length < 48 || !bytesEqual(pt.subarray(0, 4), VRS1))
        throw bad("magic or length");
    const view = new DataView(pt.buffer, pt.byteOffset, pt.byteLength);
    const salt = pt.slice(4, 36);
    const exitCode = view.getInt32(36, false);
    let at = 40;
    const take = () => {
        if (at + 4 > pt.length)
            throw bad("truncated length");
        const n = view.getUint32(at, false);
        at += 4;
        if (at + n > pt.length)
            throw bad("length past the end");
        const out = pt.slice(at, at + n);
        at += n;
        return out;
    };
    const stdout = take();
    const stderr = take();
    if (at !== pt.length)
        throw bad("trailing bytes");
    return { salt, exitCode, stdout, stderr };
}
/** Encode a VRS1 plaintext (for tests and vectors). */
export function encodeResult(r) {
    if (r.salt.length !== 32)
        throw new VesperError("invalid_argument", "salt must be 32 bytes");
    const code = new Uint8Array(4);
    new DataView(code.buffer).setInt32(0, r.exitCode, false);
    return concat(VRS1, r.salt, code, u32be(r.stdout.length), r.stdout, u32be(r.stderr.length), r.stderr);
}
/** `result_hash` = SHA-256("vesper/v1/result-hash\0" || VRS1 plaintext) (RECEIPT.md §3). */
export function resultHashOf(vrs1) {
    return sha256(concat(RESULT_HASH_DOMAIN, vrs1));
}
/** Decode the base64 envelope fields of a submit request (for payload digests of requests). */
export function payloadDigestOfRequest(req) {
    return toHex(payloadDigestOf(fromBase64(req.encrypted_key, "encrypted_key"), fromBase64(req.encrypted_payload, "encrypted_payload")));
}

/**
 * Execution receipts and the signed key list (docs/RECEIPT.md): canonical encoding, strict
 * Ed25519 verification, and the client-side checks (a)–(e) of RECEIPT.md §6.
 *
 * Ed25519 comes from `@noble/curves`, SHA-256/512 from `@noble/hashes`.
 *
 * @module
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { bytesEqual, concat, fromHex, isCanonicalUuid, isLowerHex, toHex, tryFromBase64, u16be, u64be, u8, utf8, uuidBytes, } from "./bytes.js";
import { decodeResult, isWorkloadType, keyIdOf, openResult, POOL_KEY_SUITE, resultHashOf, } from "./envelope.js";
import { ProtocolError, VerificationError } from "./errors.js";
import { parseJsonExact } from "./json.js";
const RECEIPT_DOMAIN = utf8("vesper/v1/receipt\0");
const KEYSET_DOMAIN = utf8("vesper/v1/keys\0");
/** The canonical encoding of RECEIPT.md §2 (211 + len(workload_type) + len(worker_id) bytes). */
export function encodeReceipt(r) {
    const wt = utf8(r.workloadType);
    const wid = utf8(r.workerId);
    if (wid.length === 0 || wid.length > 255)
        throw new VerificationError("malformed_receipt", "worker_id length");
    return concat(u8(1), uuidBytes(r.jobId), fromHex(r.programId, 32, "program_id"), u8(wt.length), wt, fromHex(r.payloadDigest, 32, "payload_digest"), fromHex(r.resultDigest, 32, "result_digest"), fromHex(r.resultHash, 32, "result_hash"), u64be(r.fuelUsed), u64be(r.executionTimeMs), u64be(r.startedAt), u64be(r.completedAt), u8(wid.length), wid, fromHex(r.workerPubkey, 32, "worker_pubkey"));
}
/** The bytes a worker signs: `"vesper/v1/receipt\0" || canonical encoding`. */
export function receiptMessage(r) {
    return concat(RECEIPT_DOMAIN, encodeReceipt(r));
}
const Point = ed25519.Point;
const L = Point.Fn.ORDER;
function leInt(b) {
    let n = 0n;
    for (let i = b.length - 1; i >= 0; i--)
        n = (n << 8n) | BigInt(b[i]);
    return n;
}
/**
 * Ed25519 verification with the rules of `ed25519-dalek`'s `verify_strict` (RECEIPT.md §4):
 * canonical S < ℓ, canonical point encodings, public key A and R not of small order, and the
 * cofactorless equation R = [S]B − [k]A compared exactly. `@noble/curves` does the
 * arithmetic; its own strict mode (`zip215: false`) checks everything but the small-order R
 * and uses the cofactored equation, so both are added here.
 */
export function verifyEd25519Strict(signature, message, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32)
        return false;
    let ok;
    try {
        ok = ed25519.verify(signature, message, publicKey, { zip215: false });
    }
    catch {
        return false;
    }
    if (!ok)
        return false;
    try {
        const rBytes = signature.subarray(0, 32);
        const A = Point.fromBytes(publicKey, false);
        const R = Point.fromBytes(rBytes, false);
        if (A.isSmallOrder() || R.isSmallOrder())
            return false;
        const s = leInt(signature.subarray(32));
        const k = leInt(sha512(concat(rBytes, publicKey, message))) % L;
        const rCheck = Point.BASE.multiplyUnsafe(s).subtract(A.multiplyUnsafe(k));
        return bytesEqual(rCheck.toBytes(), rBytes);
    }
    catch {
        return false;
    }
}
/** Check a receipt's signature (step a's last part). */
export function verifyReceiptSignature(r) {
    if (!isLowerHex(r.workerSignature, 64))
        return false;
    return verifyEd25519Strict(fromHex(r.workerSignature, 64), receiptMessage(r), fromHex(r.workerPubkey, 32));
}
// ---- JSON -> Receipt -------------------------------------------------------------------
function obj(v, what) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
        throw new VerificationError("malformed_receipt", `${what} is not an object`);
    }
    return v;
}
function hexField(p, k, bytes) {
    const v = p[k];
    if (!isLowerHex(v, bytes)) {
        throw new VerificationError("malformed_receipt", `receipt ${k} is not ${bytes * 2} lowercase hex digits`);
    }
    return v;
}
/**
 * A u64 field. From an exact parse (`bigints: true`, recognisable by `version` being a
 * `bigint`) only a `bigint` is an integer, so a float like `5.0` is refused, as serde refuses
 * it. From a plain `JSON.parse`, which cannot tell them apart, a safe integer is accepted.
 */
function u64Field(p, k, exact) {
    const v = p[k];
    if (!exact && typeof v === "number" && Number.isSafeInteger(v) && v >= 0)
        return BigInt(v);
    if (typeof v === "bigint" && v >= 0n && v < 1n << 64n)
        return v;
    throw new VerificationError("malformed_receipt", `receipt ${k} is not an exact u64 integer`);
}
/**
 * Read `execution_proof` into a {@link Receipt}, checking every field's type and spelling
 * (lowercase hex of exact length, canonical UUID, known workload type, exact integers).
 * Pass the output of `parseJsonExact(text, { bigints: true })` so that integers stay exact
 * and a float such as `5.0` is refused, as the Rust verifier refuses it.
 */
export function receiptFromJson(proof) {
    const p = obj(proof, "execution_proof");
    if (p["version"] !== 1 && p["version"] !== 1n)
        throw new VerificationError("malformed_receipt", "unknown receipt version");
    const jobId = p["job_id"];
    if (!isCanonicalUuid(jobId))
        throw new VerificationError("malformed_receipt", "receipt job_id is not a canonical UUID");
    const workloadType = p["workload_type"];
    if (!isWorkloadType(workloadType))
        throw new VerificationError("malformed_receipt", "unknown workload_type");
    const exact = typeof p["version"] === "bigint";
    const workerId = p["worker_id"];
    if (typeof workerId !== "string" || workerId.length === 0 || utf8(workerId).length > 255) {
        throw new VerificationError("malformed_receipt", "receipt worker_id is invalid");
    }
    return {
        version: 1,
        jobId,
        programId: hexField(p, "program_id", 32),
        workloadType,
        payloadDigest: hexField(p, "payload_digest", 32),
        resultDigest: hexField(p, "result_digest", 32),
        resultHash: hexField(p, "result_hash", 32),
        fuelUsed: u64Field(p, "fuel_used", exact),
        executionTimeMs: u64Field(p, "execution_time_ms", exact),
        startedAt: u64Field(p, "started_at", exact),
        completedAt: u64Field(p, "completed_at", exact),
        workerId,
        workerPubkey: hexField(p, "worker_pubkey", 32),
        workerSignature: hexField(p, "worker_signature", 64),
    };
}
/**
 * The signed key-set bytes: `"vesper/v1/keys\0" || u16 n || n × pool key || u16 m ||
 * m × (u8 len(worker_id) || worker_id || worker key)` (RECEIPT.md §6, "Published keys").
 */
export function keysetMessage(poolKeys, workerKeys) {
    const parts = [KEYSET_DOMAIN, u16be(poolKeys.length), ...poolKeys, u16be(workerKeys.length)];
    for (const w of workerKeys) {
        const id = utf8(w.workerId);
        parts.push(u8(id.length), id, w.publicKey);
    }
    return concat(...parts);
}
/**
 * Check the body of `GET /api/keys`: every key well-formed, and `signature` a valid Ed25519
 * signature by `gateway_key` over the key set. With `pinnedGatewayKey` (hex), the list must
 * be signed by that key. Throws {@link VerificationError} or {@link ProtocolError}.
 */
export function verifyKeys(body, pinnedGatewayKey) {
    const malformed = (why) => new ProtocolError("malformed_response", `GET /api/keys: ${why}`);
    if (body === null || typeof body !== "object" || Array.isArray(body))
        throw malformed("not an object");
    const { pool_keys, worker_keys, gateway_key, signature } = body;
    if (!Array.isArray(pool_keys) || !Array.isArray(worker_keys))
        throw malformed("missing key arrays");
    if (!isLowerHex(gateway_key, 32))
        throw malformed("gateway_key is not 64 lowercase hex digits");
    if (!isLowerHex(signature, 64))
        throw malformed("signature is not 128 lowercase hex digits");
    if (pinnedGatewayKey !== undefined && pinnedGatewayKey !== gateway_key) {
        throw new VerificationError("untrusted_gateway_key", "key list signed by an unexpected gateway key");
    }
    const poolKeys = pool_keys.map((k) => {
        if (k === null || typeof k !== "object" || Array.isArray(k))
            throw malformed("pool key is not an object");
        const raw = tryFromBase64(k["public_key"]);
        if (!raw || raw.length !== 32)
            throw malformed("pool public_key is not base64 of 32 bytes");
        if (typeof k["suite"] !== "string")
            throw malformed("pool key suite missing");
        const keyId = keyIdOf(raw);
        if (k["key_id"] !== keyId) {
            throw new VerificationError("key_id_mismatch", "a published key_id does not match its public key");
        }
        return { keyId, publicKey: raw, suite: k["suite"] };
    });
    const workers = worker_keys.map((w) => {
        if (w === null || typeof w !== "object" || Array.isArray(w))
            throw malformed("worker key is not an object");
        const id = w["worker_id"];
        const pk = w["public_key"];
        if (typeof id !== "string" || utf8(id).length > 255)
            throw malformed("worker_id invalid");
        if (!isLowerHex(pk, 32))
            throw malformed("worker public_key is not 64 lowercase hex digits");
        return { workerId: id, publicKey: pk };
    });
    const msg = keysetMessage(poolKeys.map((k) => k.publicKey), workers.map((w) => ({ workerId: w.workerId, publicKey: fromHex(w.publicKey, 32) })));
    if (!verifyEd25519Strict(fromHex(signature, 64), msg, fromHex(gateway_key, 32))) {
        throw new VerificationError("keyset_signature", "the key list's gateway signature does not verify");
    }
    return { poolKeys, workerKeys: workers, gatewayKey: gateway_key };
}
/** The current pool key (the first), checking it is of the one suite Vesper uses. */
export function currentPoolKey(keys) {
    const k = keys.poolKeys[0];
    if (!k)
        throw new ProtocolError("malformed_response", "the gateway publishes no pool key");
    if (k.suite !== POOL_KEY_SUITE) {
        throw new ProtocolError("unsupported_suite", `the pool key's suite ${JSON.stringify(k.suite)} is not supported`);
    }
    return k;
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
export async function verifyResultBody(input, opts) {
    let body = input;
    if (typeof input === "string") {
        try {
            body = parseJsonExact(input, { bigints: true });
        }
        catch {
            throw new VerificationError("malformed_result", "result body is not JSON");
        }
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
        throw new VerificationError("malformed_result", "result body is not an object");
    }
    // (a) Well-formed, for this job, signed.
    const receipt = receiptFromJson(body["execution_proof"]);
    if (body["job_id"] !== receipt.jobId) {
        throw new VerificationError("job_id_mismatch", "the receipt is for another job");
    }
    if (!verifyReceiptSignature(receipt)) {
        throw new VerificationError("receipt_signature", "the receipt's signature does not verify");
    }
    // (c) By a worker of the pool.
    if (!opts.workerKeys.includes(receipt.workerPubkey)) {
        throw new VerificationError("unknown_worker_key", "the receipt is signed by a key that is not a pool worker's");
    }
    // (d) About the job this client submitted.
    const exp = opts.expected ?? {};
    if (exp.jobId !== undefined && exp.jobId !== receipt.jobId) {
        throw new VerificationError("job_id_mismatch", "the receipt's job_id does not match the job you submitted");
    }
    const unchecked = [];
    const check = (field, want, got) => {
        if (want === undefined)
            unchecked.push(field);
        else if (want !== got) {
            throw new VerificationError(`${field}_mismatch`, `the receipt's ${field} does not match the job you submitted`);
        }
    };
    check("program_id", exp.programId, receipt.programId);
    check("workload_type", exp.workloadType, receipt.workloadType);
    check("payload_digest", exp.payloadDigest, receipt.payloadDigest);
    // (b) Over exactly the ciphertext served with it.
    const sealed = tryFromBase64(body["encrypted_result"]);
    if (!sealed)
        throw new VerificationError("malformed_result", "encrypted_result is not base64");
    if (toHex(sha256(sealed)) !== receipt.resultDigest) {
        throw new VerificationError("result_digest_mismatch", "encrypted_result does not match the receipt");
    }
    const out = { jobId: receipt.jobId, receipt, unchecked };
    // (e) The plaintext, for the holder of the client key.
    if (opts.identity) {
        const digest = fromHex(exp.payloadDigest ?? receipt.payloadDigest, 32);
        const pt = await openResult(opts.identity, receipt.jobId, digest, sealed);
        try {
            const decoded = decodeResult(pt);
            if (toHex(resultHashOf(pt)) !== receipt.resultHash) {
                throw new VerificationError("result_hash_mismatch", "result_hash does not match the opened result");
            }
            out.result = decoded;
        }
        finally {
            pt.fill(0);
        }
    }
    return out;
}

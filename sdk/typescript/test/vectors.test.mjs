// Byte-exact test vectors of docs/ENVELOPE.md §5, docs/RECEIPT.md §8 and docs/AUTH.md §5,
// plus tampering: every change to a signed or sealed value must be refused.
// Runs against the built package (dist/), as users get it.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ED25519_TORSION_SUBGROUP, ed25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";

import {
  ClientIdentity,
  VerificationError,
  canonicalRequest,
  decodeResult,
  decodeWorkload,
  eip191Digest,
  eip191SignerFromSecretKey,
  ed25519SignerFromSeed,
  encodeReceipt,
  encodeWorkload,
  fromBase64,
  fromHex,
  jobAad,
  keyIdOf,
  keysetMessage,
  openResult,
  payloadDigestOfRequest,
  programIdOf,
  receiptFromJson,
  receiptMessage,
  resultAad,
  resultHashOf,
  signEd25519Request,
  signEip191Request,
  toBase64,
  toHex,
  verifyEd25519Strict,
  verifyKeys,
  verifyResultBody,
} from "../dist/index.js";
import { encodeResult, openWorkload, sealJobWith, sealResult } from "../dist/envelope.js";
import { parseJsonExact } from "../dist/json.js";

const h = (s) => fromHex(s.replace(/\s+/g, ""));
const utf8 = (s) => new TextEncoder().encode(s);

// ---- ENVELOPE.md §5.1 ------------------------------------------------------------------

const V = {
  poolSk: "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
  poolPk: "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
  keyId: "8b228cd75ab70bad",
  clientSk: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
  clientPk: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  module: "0061736d01000000",
  programId: "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476",
  vwl1: "56574c31000000000334320a",
  ephSk: "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
  enc: "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
  ct: "71b0b5532c73c9c36ebb136fa6ac4828c62a4349f558fb48248a63a1",
  payloadDigest: "f784bb74535945237513431f3c5aec0ee5eef70d7a7f779f06e25d1e06a3208a",
  jobAad: `7665737065722f76312f6a6f622d616164000767656e6572616c0193a44bbb96
           c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f94768520f00989
           30a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a3862323238
           6364373561623730626164`,
  submitBody: {
    encrypted_payload: "cbC1UyxzycNuuxNvpqxIKMYqQ0n1WPtIJIpjoQ==",
    encrypted_key: "N/2jVnvb1ijohmjDyNfpfR0SU7bU6m1EwVD3QfG/RDE=",
    client_pubkey: "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
    workload_type: "general",
    key_id: "8b228cd75ab70bad",
    program_id: "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476",
    priority: 5,
    max_retries: 3,
  },
  jobId: "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
  bobSk: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
  vrs1: "56525331 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 00000000 00000003 38340a 00000000",
  resultAad:
    "7665737065722f76312f726573756c742d61616400 6f1c2a3b4d5e4f608a7b9c0d1e2f3a4b f784bb74535945237513431f3c5aec0ee5eef70d7a7f779f06e25d1e06a3208a",
  encryptedResult:
    "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08RRfRo87Lbc2rGH6JaBL2n5cLnI4PoBcYzUFWei6lw9+msRKQiYGqWSpHtCMyb5GY7qaqu9XfVrMwvvRWfV3f/Nxj/",
};

const identityOf = (hex) => ClientIdentity.fromSecretKey(fromHex(hex));

describe("ENVELOPE.md §2 and §3 framing", () => {
  test("key_id and program_id examples", () => {
    assert.equal(keyIdOf(h(V.poolPk)), V.keyId);
    assert.equal(programIdOf(utf8("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(programIdOf(h(V.module)), V.programId);
  });

  test("job AAD worked example (§3.2, 75 bytes)", () => {
    const aad = jobAad({
      workloadType: "general",
      programId: null,
      clientPublicKey: new Uint8Array(32).fill(0x11),
      keyId: "0123456789abcdef",
    });
    assert.equal(aad.length, 75);
    assert.equal(
      toHex(aad),
      "7665737065722f76312f6a6f622d616164000767656e6572616c001111111111" +
        "1111111111111111111111111111111111111111111111111111113031323334" +
        "3536373839616263646566",
    );
  });

  test("job AAD of the end-to-end vector (107 bytes)", () => {
    const aad = jobAad({ workloadType: "general", programId: V.programId, clientPublicKey: h(V.clientPk), keyId: V.keyId });
    assert.equal(aad.length, 107);
    assert.equal(toHex(aad), toHex(h(V.jobAad)));
  });

  test("VWL1 examples (§3.3) and strict decoding", () => {
    assert.equal(toHex(encodeWorkload(utf8("hi"))), "56574c31000000000268" + "69");
    assert.equal(toHex(encodeWorkload(new Uint8Array(0), h("0061736d"))), "56574c3101000000040061736d00000000");
    assert.equal(toHex(encodeWorkload(utf8("42\n"))), V.vwl1);
    const d = decodeWorkload(h("56574c3101000000040061736d00000000"));
    assert.equal(toHex(d.module), "0061736d");
    assert.equal(d.input.length, 0);
    for (const bad of [
      "56574c32000000000268", // magic
      "56574c31020000000268", // kind
      "56574c310000000002", // length past the end
      "56574c3100000000026869ff", // trailing byte
      "56574c310001000001", // input length over 16 MiB (checked first)
    ]) {
      assert.throws(() => decodeWorkload(h(bad)), { code: "bad_payload" }, bad);
    }
  });
});

describe("ENVELOPE.md §5.1 end-to-end vector", () => {
  test("sealing with the fixed ephemeral key reproduces enc, ct, digest and the submit body", async () => {
    const client = await identityOf(V.clientSk);
    assert.equal(toHex(client.publicKey), V.clientPk);
    const eph = await identityOf(V.ephSk);
    const sealed = await sealJobWith(
      {
        poolPublicKey: h(V.poolPk),
        clientPublicKey: client.publicKey,
        program: { programId: V.programId },
        input: utf8("42\n"),
        priority: 5,
        maxRetries: 3,
      },
      eph.keyPair,
    );
    assert.equal(toHex(fromBase64(sealed.request.encrypted_key)), V.enc);
    assert.equal(toHex(fromBase64(sealed.request.encrypted_payload)), V.ct);
    assert.equal(sealed.payloadDigest, V.payloadDigest);
    assert.equal(payloadDigestOfRequest(sealed.request), V.payloadDigest);
    assert.deepEqual(sealed.request, V.submitBody);
    // Same key order as the documented body, so the JSON text matches too.
    assert.equal(JSON.stringify(sealed.request), JSON.stringify(V.submitBody));
  });

  test("the documented ciphertext opens with the pool key, and only under its exact AAD", async () => {
    const pool = await identityOf(V.poolSk);
    assert.equal(toHex(pool.publicKey), V.poolPk);
    const meta = { workloadType: "general", programId: V.programId, clientPublicKey: h(V.clientPk), keyId: V.keyId };
    const pt = await openWorkload(pool.keyPair, meta, h(V.enc), h(V.ct));
    assert.equal(toHex(pt), V.vwl1);
    // Change each metadata field: the open must fail (ENVELOPE.md §3.2 "Why the metadata is bound").
    const variants = [
      { ...meta, workloadType: "ai_inference" },
      { ...meta, programId: null },
      { ...meta, programId: "00".repeat(32) },
      { ...meta, clientPublicKey: new Uint8Array(32).fill(1) },
      { ...meta, keyId: "0123456789abcdef" },
    ];
    for (const m of variants) {
      await assert.rejects(openWorkload(pool.keyPair, m, h(V.enc), h(V.ct)), { code: "decrypt_failed" });
    }
    // Flip bytes of enc and of ct.
    for (const [which, i] of [["enc", 0], ["enc", 31], ["ct", 0], ["ct", 27]]) {
      const enc = h(V.enc);
      const ct = h(V.ct);
      (which === "enc" ? enc : ct)[i] ^= 1;
      await assert.rejects(openWorkload(pool.keyPair, meta, enc, ct), { code: "decrypt_failed" }, `${which}[${i}]`);
    }
  });

  test("the documented encrypted_result opens with the client key; sealing with Bob's key reproduces it", async () => {
    const client = await identityOf(V.clientSk);
    assert.equal(toHex(resultAad(V.jobId, h(V.payloadDigest))), toHex(h(V.resultAad)));
    const sealedResult = fromBase64(V.encryptedResult);
    assert.equal(sealedResult.length, 99);
    const pt = await openResult(client, V.jobId, h(V.payloadDigest), sealedResult);
    assert.equal(toHex(pt), toHex(h(V.vrs1)));
    const r = decodeResult(pt);
    assert.equal(r.exitCode, 0);
    assert.equal(new TextDecoder().decode(r.stdout), "84\n");
    assert.equal(r.stderr.length, 0);
    assert.equal(toHex(encodeResult(r)), toHex(pt));
    const bob = await identityOf(V.bobSk);
    const again = await sealResult(client.publicKey, V.jobId, h(V.payloadDigest), pt, bob.keyPair);
    assert.equal(toBase64(again), V.encryptedResult);
  });

  test("a result does not open for another job, payload, key, or when tampered", async () => {
    const client = await identityOf(V.clientSk);
    const sealedResult = fromBase64(V.encryptedResult);
    await assert.rejects(
      openResult(client, "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c", h(V.payloadDigest), sealedResult),
      VerificationError,
    );
    const otherDigest = h(V.payloadDigest);
    otherDigest[0] ^= 1;
    await assert.rejects(openResult(client, V.jobId, otherDigest, sealedResult), { code: "decrypt_failed" });
    await assert.rejects(openResult(await ClientIdentity.generate(), V.jobId, h(V.payloadDigest), sealedResult), {
      code: "decrypt_failed",
    });
    for (const i of [0, 31, 32, 98]) {
      const t = sealedResult.slice();
      t[i] ^= 0x80;
      await assert.rejects(openResult(client, V.jobId, h(V.payloadDigest), t), { code: "decrypt_failed" }, `byte ${i}`);
    }
    await assert.rejects(openResult(client, V.jobId, h(V.payloadDigest), sealedResult.subarray(0, 47)), {
      code: "decrypt_failed",
    });
  });

  test("VRS1 decoding is strict", () => {
    const pt = h(V.vrs1);
    assert.throws(() => decodeResult(Uint8Array.of(...pt, 0)), { code: "malformed_result" });
    assert.throws(() => decodeResult(pt.subarray(0, pt.length - 1)), { code: "malformed_result" });
    const magic = pt.slice();
    magic[3] = 0x32;
    assert.throws(() => decodeResult(magic), { code: "malformed_result" });
    // exit code is an i32: 0xffffffff is -1.
    const neg = pt.slice();
    neg.set([0xff, 0xff, 0xff, 0xff], 36);
    assert.equal(decodeResult(neg).exitCode, -1);
  });

  test("sealing to a small-order pool key fails", async () => {
    const client = await ClientIdentity.generate();
    for (const bad of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
      await assert.rejects(
        sealJobWith({ poolPublicKey: bad, clientPublicKey: client.publicKey, program: { inline: h(V.module) }, input: new Uint8Array() }),
        { code: "seal_failed" },
      );
    }
  });
});

// ---- RECEIPT.md §8 -------------------------------------------------------------------------

const RECEIPT_JSON = `{
  "version": 1,
  "job_id": "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
  "program_id": "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476",
  "workload_type": "general",
  "payload_digest": "f784bb74535945237513431f3c5aec0ee5eef70d7a7f779f06e25d1e06a3208a",
  "result_digest": "fe0486cda4aa455278aa14928e10bb1dc40c766fde1454b05879ffe0417e0118",
  "result_hash": "2611e131df8416ed379dd674eeac65fefc04f52dd99f2b87cb207628eeb769b1",
  "fuel_used": 12345,
  "execution_time_ms": 3,
  "started_at": 1767225600000,
  "completed_at": 1767225600003,
  "worker_id": "w-1",
  "worker_pubkey": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  "worker_signature": "824dcaf489c685bafc953f13cac496e2eab0b9299883b3d6331c9576a747ea9a1454d3f8f70d2ec9b58b1efa62746aa2c174f15a0c8a779034fa0b75d779f70b"
}`;
const RECEIPT_ENCODING = `
016f1c2a3b4d5e4f608a7b9c0d1e2f3a4b93a44bbb96c751218e4c00d479e4c1
4358122a389acca16205b1e4d0dc5f94760767656e6572616cf784bb74535945
237513431f3c5aec0ee5eef70d7a7f779f06e25d1e06a3208afe0486cda4aa45
5278aa14928e10bb1dc40c766fde1454b05879ffe0417e01182611e131df8416
ed379dd674eeac65fefc04f52dd99f2b87cb207628eeb769b100000000000030
3900000000000000030000019b76daa8000000019b76daa80303772d31d75a98
0182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a`;
const WORKER_SK = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const WORKER_PK = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

function resultBodyText(proof = RECEIPT_JSON, encryptedResult = V.encryptedResult, jobId = V.jobId) {
  return `{"job_id":"${jobId}","status":"completed","encrypted_result":"${encryptedResult}","execution_proof":${proof},"completed_at":"2026-01-01T00:00:00.003Z"}`;
}
const body = (text = resultBodyText()) => parseJsonExact(text, { bigints: true });
const FACTS = { jobId: V.jobId, programId: V.programId, workloadType: "general", payloadDigest: V.payloadDigest };

describe("RECEIPT.md §8 vectors", () => {
  test("pinned snapshot: 221-byte encoding and the SHA-256 of the signed message", () => {
    const r = {
      jobId: "01010101-0101-0101-0101-010101010101",
      programId: "02".repeat(32),
      workloadType: "general",
      payloadDigest: "03".repeat(32),
      resultDigest: "04".repeat(32),
      resultHash: "05".repeat(32),
      fuelUsed: 6n,
      executionTimeMs: 7n,
      startedAt: 8n,
      completedAt: 9n,
      workerId: "w-1",
      workerPubkey: "0a".repeat(32),
    };
    const enc = encodeReceipt(r);
    assert.equal(enc.length, 221);
    assert.equal(toHex(sha256(enc)), "636f7e184c1ee797d8ecd16e5bfdc7af5233a961aee5926e7cad7daa028357b4");
    const msg = receiptMessage(r);
    assert.equal(msg.length, 239);
    assert.equal(toHex(sha256(msg)), "2f6c53bd07e3146902cb0d9124f63828975e6d7b6de4eda20ca6553d088f5e88");
  });

  test("end-to-end receipt: encoding, deterministic signature, result_hash, result_digest", () => {
    const receipt = receiptFromJson(parseJsonExact(RECEIPT_JSON, { bigints: true }));
    assert.equal(toHex(encodeReceipt(receipt)), toHex(h(RECEIPT_ENCODING)));
    assert.equal(toHex(ed25519.getPublicKey(h(WORKER_SK))), WORKER_PK);
    assert.equal(toHex(ed25519.sign(receiptMessage(receipt), h(WORKER_SK))), receipt.workerSignature);
    assert.equal(toHex(resultHashOf(h(V.vrs1))), receipt.resultHash);
    assert.equal(toHex(sha256(fromBase64(V.encryptedResult))), receipt.resultDigest);
  });

  test("the documented result verifies (a)-(e) and opens", async () => {
    const client = await identityOf(V.clientSk);
    const v = await verifyResultBody(body(), { workerKeys: [WORKER_PK], identity: client, expected: FACTS });
    assert.deepEqual(v.unchecked, []);
    assert.equal(new TextDecoder().decode(v.result.stdout), "84\n");
    assert.equal(v.receipt.fuelUsed, 12345n);
    const noFacts = await verifyResultBody(body(), { workerKeys: [WORKER_PK] });
    assert.deepEqual(noFacts.unchecked, ["program_id", "workload_type", "payload_digest"]);
    assert.equal(noFacts.result, undefined);
  });

  // Each tampering must be refused with the right check.
  const tamper = (field, value) => RECEIPT_JSON.replace(new RegExp(`"${field}": [^,\\n]+`), `"${field}": ${value}`);
  const cases = [
    ["fuel_used changed", () => body(resultBodyText(tamper("fuel_used", "12346"))), "receipt_signature"],
    ["execution_time_ms changed", () => body(resultBodyText(tamper("execution_time_ms", "4"))), "receipt_signature"],
    ["started_at changed", () => body(resultBodyText(tamper("started_at", "1767225600001"))), "receipt_signature"],
    ["worker_id changed", () => body(resultBodyText(tamper("worker_id", '"w-2"'))), "receipt_signature"],
    ["program_id changed", () => body(resultBodyText(tamper("program_id", `"${"00".repeat(32)}"`))), "receipt_signature"],
    ["workload_type changed", () => body(resultBodyText(tamper("workload_type", '"ai_inference"'))), "receipt_signature"],
    ["result_hash changed", () => body(resultBodyText(tamper("result_hash", `"${"11".repeat(32)}"`))), "receipt_signature"],
    ["signature flipped", () => body(resultBodyText(tamper("worker_signature", `"${"924dcaf489c685bafc953f13cac496e2eab0b9299883b3d6331c9576a747ea9a1454d3f8f70d2ec9b58b1efa62746aa2c174f15a0c8a779034fa0b75d779f70b"}"`))), "receipt_signature"],
    ["uppercase hex", () => body(resultBodyText(tamper("program_id", `"${V.programId.toUpperCase()}"`))), "malformed_receipt"],
    ["version 2", () => body(resultBodyText(tamper("version", "2"))), "malformed_receipt"],
    ["float fuel", () => body(resultBodyText(tamper("fuel_used", "12345.0"))), "malformed_receipt"],
    ["u64 overflow", () => body(resultBodyText(tamper("fuel_used", "18446744073709551616"))), "malformed_receipt"],
    ["receipt for another job", () => body(resultBodyText(RECEIPT_JSON, V.encryptedResult, "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c")), "job_id_mismatch"],
    ["encrypted_result swapped", () => {
      const t = fromBase64(V.encryptedResult);
      t[50] ^= 1;
      return body(resultBodyText(RECEIPT_JSON, toBase64(t)));
    }, "result_digest_mismatch"],
  ];
  for (const [name, make, code] of cases) {
    test(`tampered receipt refused: ${name}`, async () => {
      await assert.rejects(verifyResultBody(make(), { workerKeys: [WORKER_PK], expected: FACTS }), (e) => {
        assert.ok(e instanceof VerificationError, `${e}`);
        assert.equal(e.code, code);
        return true;
      });
    });
  }

  test("a genuine receipt by an unlisted worker, or about another submission, is refused", async () => {
    await assert.rejects(verifyResultBody(body(), { workerKeys: ["ab".repeat(32)] }), { code: "unknown_worker_key" });
    await assert.rejects(verifyResultBody(body(), { workerKeys: [WORKER_PK], expected: { ...FACTS, programId: "00".repeat(32) } }), {
      code: "program_id_mismatch",
    });
    await assert.rejects(verifyResultBody(body(), { workerKeys: [WORKER_PK], expected: { ...FACTS, workloadType: "ai_inference" } }), {
      code: "workload_type_mismatch",
    });
    await assert.rejects(verifyResultBody(body(), { workerKeys: [WORKER_PK], expected: { payloadDigest: "00".repeat(32) } }), {
      code: "payload_digest_mismatch",
    });
  });

  test("a receipt re-signed over a wrong result_hash fails the plaintext check (e)", async () => {
    const client = await identityOf(V.clientSk);
    const r = receiptFromJson(parseJsonExact(tamper("result_hash", `"${"11".repeat(32)}"`)));
    const sig = toHex(ed25519.sign(receiptMessage(r), h(WORKER_SK)));
    const proof = tamper("result_hash", `"${"11".repeat(32)}"`).replace(/"worker_signature": "[0-9a-f]+"/, `"worker_signature": "${sig}"`);
    const b = body(resultBodyText(proof));
    await verifyResultBody(b, { workerKeys: [WORKER_PK] }); // (a)-(d) pass
    await assert.rejects(verifyResultBody(b, { workerKeys: [WORKER_PK], identity: client }), { code: "result_hash_mismatch" });
  });

  test("u64 fields above 2^53 are kept exact", async () => {
    const big = "18446744073709551615";
    const r = receiptFromJson(parseJsonExact(tamper("fuel_used", big)));
    assert.equal(r.fuelUsed, 18446744073709551615n);
    const sig = toHex(ed25519.sign(receiptMessage(r), h(WORKER_SK)));
    const proof = tamper("fuel_used", big).replace(/"worker_signature": "[0-9a-f]+"/, `"worker_signature": "${sig}"`);
    const v = await verifyResultBody(body(resultBodyText(proof)), { workerKeys: [WORKER_PK] });
    assert.equal(v.receipt.fuelUsed, 18446744073709551615n);
  });
});

describe("strict Ed25519 (ed25519-dalek verify_strict rules, RECEIPT.md §4)", () => {
  const msg = utf8("vesper");
  const sk = h(WORKER_SK);
  const pk = ed25519.getPublicKey(sk);
  const P = ed25519.Point;
  const L = P.Fn.ORDER;
  const le = (n) => {
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
    return out;
  };
  const leInt = (b) => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
  const scalarOf = (seed) => {
    // RFC 8032 secret scalar (clamped SHA-512 of the seed).
    const { scalar } = ed25519.utils.getExtendedPublicKey(seed);
    return scalar;
  };
  // A point of order 8.
  const T8 = P.fromHex(ED25519_TORSION_SUBGROUP[1]);

  test("accepts an honest signature, refuses a changed message, a non-canonical S", () => {
    const sig = ed25519.sign(msg, sk);
    assert.ok(verifyEd25519Strict(sig, msg, pk));
    assert.ok(!verifyEd25519Strict(sig, utf8("vesper!"), pk));
    const s = leInt(sig.subarray(32));
    const nonCanonical = Uint8Array.of(...sig.subarray(0, 32), ...le(s + L));
    assert.ok(!verifyEd25519Strict(nonCanonical, msg, pk));
  });

  test("refuses small-order public keys and small-order R", () => {
    // Identity key, identity R, S = 0: valid under the cofactored equation, refused strictly.
    const identity = P.ZERO.toBytes();
    const sig = Uint8Array.of(...identity, ...new Uint8Array(32));
    assert.ok(!verifyEd25519Strict(sig, msg, identity));
    assert.ok(!verifyEd25519Strict(sig, msg, T8.toBytes()));
  });

  test("uses the cofactorless equation: a torsion component in R is refused", () => {
    // A = a·B + T8 (mixed order), signature R = r·B, S = r + k·a: [S]B - [k]A = R - [k]T8,
    // which equals R only when 8 | k. Cofactored verification accepts it either way.
    const a = scalarOf(sk);
    const A = P.BASE.multiply(a).add(T8);
    const Ab = A.toBytes();
    let tried = 0;
    for (let r = 1n; tried < 50; r++, tried++) {
      const R = P.BASE.multiply(r).toBytes();
      const k = leInt(sha512(Uint8Array.of(...R, ...Ab, ...msg))) % L;
      const S = (r + k * a) % L;
      const sig = Uint8Array.of(...R, ...le(S));
      const cofactored = ed25519.verify(sig, msg, Ab, { zip215: true });
      assert.ok(cofactored, "cofactored verification accepts the mixed-order key");
      assert.equal(verifyEd25519Strict(sig, msg, Ab), k % 8n === 0n, `r=${r}`);
    }
  });
});


describe("signed key list (RECEIPT.md §6)", () => {
  const gwSk = h("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"); // RFC 8032 TEST 2
  const gwPk = toHex(ed25519.getPublicKey(gwSk));
  const pool = h(V.poolPk);
  const workers = [{ workerId: "w-1", publicKey: h(WORKER_PK) }];
  const sig = toHex(ed25519.sign(keysetMessage([pool], workers), gwSk));
  const keysBody = (over = {}) => ({
    pool_keys: [{ key_id: V.keyId, public_key: toBase64(pool), suite: "DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM" }],
    worker_keys: [{ worker_id: "w-1", public_key: WORKER_PK }],
    gateway_key: gwPk,
    signature: sig,
    ...over,
  });

  test("verifies, and pins the gateway key", () => {
    const k = verifyKeys(keysBody(), gwPk);
    assert.equal(k.poolKeys[0].keyId, V.keyId);
    assert.equal(k.workerKeys[0].publicKey, WORKER_PK);
    assert.throws(() => verifyKeys(keysBody(), "00".repeat(32)), { code: "untrusted_gateway_key" });
  });

  test("refuses any change to the list", () => {
    assert.throws(() => verifyKeys(keysBody({ worker_keys: [{ worker_id: "w-2", public_key: WORKER_PK }] })), {
      code: "keyset_signature",
    });
    assert.throws(() => verifyKeys(keysBody({ worker_keys: [] })), { code: "keyset_signature" });
    const otherPool = h(V.clientPk);
    assert.throws(
      () => verifyKeys(keysBody({ pool_keys: [{ key_id: keyIdOf(otherPool), public_key: toBase64(otherPool), suite: "x" }] })),
      { code: "keyset_signature" },
    );
    assert.throws(() => verifyKeys(keysBody({ pool_keys: [{ key_id: "0000000000000000", public_key: toBase64(pool), suite: "x" }] })), {
      code: "key_id_mismatch",
    });
    assert.throws(() => verifyKeys(keysBody({ signature: sig.toUpperCase() })), { code: "malformed_response" });
  });
});

// ---- AUTH.md §5 -----------------------------------------------------------------------------

describe("AUTH.md §5 vectors", () => {
  test("Ed25519: canonical request (205 bytes) and signature", async () => {
    const seed = h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const signer = ed25519SignerFromSeed(seed);
    assert.equal(toHex(signer.publicKey), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const walletId = "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const req = { method: "POST", pathAndQuery: "/api/submit", body: utf8('{"hello":"vesper"}') };
    const canon = canonicalRequest(req.method, req.pathAndQuery, req.body, 1700000000, "vesper-vector-nonce-0001", walletId);
    assert.equal(
      canon,
      [
        "vesper-auth-v1",
        "POST",
        "/api/submit",
        "a385c172e1aaf527c21e30e5b9ec7d0c3e38a4a3fd354647327716430c6de676",
        "1700000000",
        "vesper-vector-nonce-0001",
        walletId,
      ].join("\n"),
    );
    assert.equal(utf8(canon).length, 205);
    const headers = await signEd25519Request(signer, req, { timestamp: 1700000000, nonce: "vesper-vector-nonce-0001" });
    assert.deepEqual(headers, {
      "X-Vesper-Wallet": walletId,
      "X-Vesper-Timestamp": "1700000000",
      "X-Vesper-Nonce": "vesper-vector-nonce-0001",
      "X-Vesper-Signature":
        "98f7f81caebfd8883e20307fcad854769070432ea58e3fb7a25772c907314d2939178ce99a0b455db9f7e2ff875ee24cf15c45f52fcf70b992047d6021b9f20f",
    });
  });

  test("EIP-191: canonical request (193 bytes), digest and signature", async () => {
    const signer = eip191SignerFromSecretKey(h("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"));
    assert.equal(signer.address, "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    const walletId = "eip191:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    const req = { method: "GET", pathAndQuery: "/api/jobs?status=queued", body: new Uint8Array() };
    const canon = canonicalRequest(req.method, req.pathAndQuery, req.body, 1700000000, "vesper-vector-nonce-0002", walletId);
    assert.equal(utf8(canon).length, 193);
    assert.ok(canon.includes("\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"));
    assert.equal(toHex(eip191Digest(utf8(canon))), "44b5b9cf859f60a2f9febaa96f588e92cb505430d99218eaca92d22df63e363c");
    const headers = await signEip191Request(signer, req, { timestamp: 1700000000, nonce: "vesper-vector-nonce-0002" });
    assert.deepEqual(headers, {
      "X-Vesper-Wallet": walletId,
      "X-Vesper-Timestamp": "1700000000",
      "X-Vesper-Nonce": "vesper-vector-nonce-0002",
      "X-Vesper-Signature":
        "0xabc1d24942d5b89c69fd3327bbbfc5a05f63a6f2f5c7f276e9655e9ab61fbb53025c2d984d42d42e2d9ba6ad092123b479ce72af5ec9e2a0e126a5ede0ab2eb01c",
    });
    // An external signer returning 0x-hex with EIP-55 address works the same.
    const external = {
      address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
      signMessage: async (m) => `0x${toHex(await signer.signMessage(m))}`,
    };
    assert.deepEqual(await signEip191Request(external, req, { timestamp: 1700000000, nonce: "vesper-vector-nonce-0002" }), headers);
    // The signature recovers to the address, and s is low (EIP-2).
    const sig = fromHex(headers["X-Vesper-Signature"].slice(2));
    const rec = secp256k1.Signature.fromBytes(Uint8Array.of(sig[64] - 27, ...sig.subarray(0, 64)), "recovered");
    assert.ok(!rec.hasHighS());
  });

  test("each part of the request changes what is signed", () => {
    const base = ["POST", "/api/submit", utf8("{}"), 1700000000, "vesper-vector-nonce-0001", "ed25519:" + WORKER_PK];
    const c0 = canonicalRequest(...base);
    const changed = [
      ["GET", ...base.slice(1)],
      [base[0], "/api/submit?x=1", ...base.slice(2)],
      [...base.slice(0, 2), utf8("{ }"), ...base.slice(3)],
      [...base.slice(0, 3), 1700000001, ...base.slice(4)],
      [...base.slice(0, 4), "vesper-vector-nonce-0003", base[5]],
    ];
    for (const c of changed) assert.notEqual(canonicalRequest(...c), c0);
  });

  test("a nonce outside the alphabet or length is refused before signing", async () => {
    const signer = ed25519SignerFromSeed(h(WORKER_SK));
    const req = { method: "GET", pathAndQuery: "/", body: new Uint8Array() };
    for (const nonce of ["short", "x".repeat(65), "has space in it!!"]) {
      await assert.rejects(signEd25519Request(signer, req, { nonce }), { code: "invalid_argument" });
    }
  });
});

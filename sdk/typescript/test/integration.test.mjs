// Integration and interoperability tests against a real `vesper dev` node ($VESPER_BIN,
// required): the SDK end to end, wallet authentication, the Rust CLI reading what the SDK
// writes and the other way round, and the README quick start installed as a user would.

import assert from "node:assert/strict";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { ed25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";

import {
  AuthenticationError,
  ClientIdentity,
  JobFailedError,
  UnprocessableError,
  VesperClient,
  ed25519SignerFromSeed,
  ed25519WalletAuth,
  ed25519WalletId,
  eip191SignerFromSecretKey,
  eip191WalletAuth,
  eip191WalletId,
  fromBase64,
  jobFacts,
  keyIdOf,
  parseIdentityFile,
  programIdOf,
  signEd25519Request,
  toHex,
} from "../dist/index.js";
import { CLI, DevNode, REPO_ROOT, SDK_ROOT, TRAP_WAT, exampleWasm, run, wat2wasm } from "./support.mjs";

const text = (b) => new TextDecoder().decode(b);
const INPUT = "hello private world\nsecond line here\n"; // wordcount: "2 6 37"
const EXPECTED = "2 6 37\n";

let node;
let client;
let wordcount;
let tmp;

before(async () => {
  node = await DevNode.start();
  client = new VesperClient({ gateway: node.url, auth: node.apiKey });
  wordcount = await exampleWasm("wordcount");
  tmp = mkdtempSync(join(tmpdir(), "vesper-ts-it-"));
});

after(async () => {
  await node?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("SDK against vesper dev", () => {
  test("published keys verify; key_id is computed from the pool key", async () => {
    const keys = await client.keys({ refresh: true });
    assert.ok(keys.poolKeys.length >= 1);
    assert.equal(keys.poolKeys[0].keyId, keyIdOf(keys.poolKeys[0].publicKey));
    assert.equal(keys.workerKeys.length, 1);
    assert.match(keys.gatewayKey, /^[0-9a-f]{64}$/);
    // Pinned to another gateway key: refused.
    const pinned = new VesperClient({ gateway: node.url, pinnedGatewayKey: "00".repeat(32) });
    await assert.rejects(pinned.keys(), { code: "untrusted_gateway_key" });
  });

  test("run a registry program: submit, follow, verify, open; progress reported", async () => {
    const identity = await ClientIdentity.generate();
    const seen = [];
    const r = await client.run({
      module: wordcount,
      input: INPUT,
      identity,
      wait: { onProgress: (e) => seen.push(e) },
    });
    assert.equal(text(r.stdout), EXPECTED);
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.unchecked, []);
    assert.equal(r.receipt.programId, programIdOf(wordcount));
    assert.equal(r.receipt.workloadType, "general");
    assert.ok(r.receipt.fuelUsed > 0n);
    assert.ok(seen.length >= 1 && seen.at(-1).status === "completed", JSON.stringify(seen));
    assert.ok(seen.some((e) => e.source === "events"), "the live stream was used");
    assert.equal(new Set(seen.map((e) => e.status)).size, seen.length, "each change reported once");
    assert.equal(JSON.parse(r.raw).job_id, r.jobId);
  });

  test("run an inline (secret) program; the receipt names its hash", async () => {
    const identity = await ClientIdentity.generate();
    const sealed = await client.seal({ identity, program: { inline: wordcount }, input: INPUT });
    assert.equal(sealed.request.program_id, undefined);
    assert.equal(sealed.programId, programIdOf(wordcount));
    const sub = await client.submit(sealed);
    assert.equal(sub.replayed, false);
    const r = await client.getResult(sub.job_id, { identity, expected: jobFacts(sealed, sub.job_id) });
    assert.equal(text(r.stdout), EXPECTED);
    assert.equal(r.receipt.programId, programIdOf(wordcount));
    assert.equal(r.receipt.payloadDigest, sealed.payloadDigest);
  });

  test("batch submit: all jobs accepted in order, each verifies against its own submission", async () => {
    const identity = await ClientIdentity.generate();
    const { program_id } = await client.uploadProgram(wordcount);
    const inputs = ["a\n", "a b\nc\n", "one two three four"];
    const sealed = await Promise.all(inputs.map((input) => client.seal({ identity, program: { programId: program_id }, input })));
    const jobs = await client.submitBatch(sealed, { idempotencyKey: `batch-${Date.now()}` });
    assert.equal(jobs.length, 3);
    const outs = [];
    for (let i = 0; i < 3; i++) {
      const r = await client.getResult(jobs[i].job_id, { identity, expected: jobFacts(sealed[i], jobs[i].job_id) });
      outs.push(text(r.stdout));
    }
    assert.deepEqual(outs, ["1 1 2\n", "2 3 6\n", "0 4 18\n"]);
    // A receipt checked against another item's submission is refused.
    await assert.rejects(client.getResult(jobs[0].job_id, { identity, expected: jobFacts(sealed[1], jobs[0].job_id) }), {
      code: "payload_digest_mismatch",
    });
  });

  test("Idempotency-Key: a repeat answers the same job; another body with the key is a conflict", async () => {
    const identity = await ClientIdentity.generate();
    const key = `idem-${Date.now()}`;
    const sealed = await client.seal({ identity, program: { inline: wordcount }, input: "x" });
    const first = await client.submit(sealed, { idempotencyKey: key });
    const again = await client.submit(sealed, { idempotencyKey: key });
    assert.equal(again.job_id, first.job_id);
    assert.equal(first.replayed, false);
    assert.equal(again.replayed, true);
    const other = await client.seal({ identity, program: { inline: wordcount }, input: "y" });
    const err = await client.submit(other, { idempotencyKey: key }).catch((e) => e);
    assert.ok(err instanceof UnprocessableError, String(err));
    assert.equal(err.code, "idempotency_conflict");
    assert.equal(err.status, 422);
    assert.equal(err.jobId, first.job_id);
    const r = await client.getResult(first.job_id, { identity, expected: jobFacts(sealed, first.job_id) });
    assert.equal(text(r.stdout), "0 1 1\n");
  });

  test("typed errors: unknown key_id, bad API key, missing job, bad program id", async () => {
    const identity = await ClientIdentity.generate();
    const sealed = await client.seal({ identity, program: { inline: wordcount }, input: "x" });
    const e1 = await client.submit({ ...sealed.request, key_id: "0123456789abcdef" }).catch((e) => e);
    assert.ok(e1 instanceof UnprocessableError, String(e1));
    assert.equal(e1.code, "unknown_key_id");
    assert.equal(e1.status, 422);
    assert.match(e1.requestId, /\S/);
    const bad = new VesperClient({ gateway: node.url, auth: `vsk_${"0".repeat(64)}` });
    const e2 = await bad.status("01a23051-499a-71a5-801a-4f9fbdb73b63").catch((e) => e);
    assert.ok(e2 instanceof AuthenticationError, String(e2));
    assert.equal(e2.code, "unauthorized");
    assert.equal(e2.status, 401);
    const e3 = await client.status("01a23051-499a-71a5-801a-4f9fbdb73b63").catch((e) => e);
    assert.equal(e3.code, "job_not_found");
    assert.equal(e3.status, 404);
    const e4 = await client.submit({ ...sealed.request, program_id: "00".repeat(32) }).catch((e) => e);
    assert.equal(e4.code, "program_not_found");
    const e5 = await client.submit({ ...sealed.request, program_id: "AB".repeat(32) }).catch((e) => e);
    assert.equal(e5.code, "invalid_program_id");
    assert.equal(e5.status, 400);
  });

  test("a failing program ends in JobFailedError with the job's failure code", async () => {
    const identity = await ClientIdentity.generate();
    const err = await client
      .run({ module: await wat2wasm(TRAP_WAT), input: "", identity, inline: true, maxRetries: 0 })
      .catch((e) => e);
    assert.ok(err instanceof JobFailedError, String(err));
    assert.equal(err.jobStatus, "failed");
    assert.match(err.code, /^[a-z_]+$/);
  });

  test("polling only (no event stream) reaches the same result", async () => {
    const identity = await ClientIdentity.generate();
    const sealed = await client.seal({ identity, program: { inline: wordcount }, input: INPUT });
    const sub = await client.submit(sealed);
    const seen = [];
    const st = await client.waitForJob(sub.job_id, { mode: "poll", onProgress: (e) => seen.push(e) });
    assert.equal(st.status, "completed");
    assert.ok(seen.every((e) => e.source === "poll"));
    const fetched = await client.fetchResult(sub.job_id);
    const v = await client.verifyResult(fetched, { identity, expected: jobFacts(sealed, sub.job_id) });
    assert.equal(text(v.result.stdout), EXPECTED);
  });

  test("a result for another key does not open; a tampered one does not verify", async () => {
    const identity = await ClientIdentity.generate();
    const sealed = await client.seal({ identity, program: { inline: wordcount }, input: INPUT });
    const sub = await client.submit(sealed);
    await client.waitForJob(sub.job_id);
    const fetched = await client.fetchResult(sub.job_id);
    await assert.rejects(client.verifyResult(fetched, { identity: await ClientIdentity.generate() }), { code: "decrypt_failed" });
    const body = JSON.parse(fetched.raw);
    const sealedResult = fromBase64(body.encrypted_result);
    sealedResult[40] ^= 1;
    const tampered = fetched.raw.replace(body.encrypted_result, Buffer.from(sealedResult).toString("base64"));
    await assert.rejects(
      client.verifyResult({ ...fetched, raw: tampered, body: JSON.parse(tampered) }, { identity }),
      { code: "result_digest_mismatch" },
    );
  });
});

describe("wallet authentication against vesper dev", () => {
  test("Ed25519 wallet: a full job, signed request by request", async () => {
    const seed = ed25519.utils.randomSecretKey();
    const signer = ed25519SignerFromSeed(seed);
    await node.addWallet(ed25519WalletId(signer.publicKey));
    const wallet = new VesperClient({ gateway: node.url, auth: ed25519WalletAuth(seed) });
    const identity = await ClientIdentity.generate();
    // Registry program: the upload's raw wasm body, the JSON submit, the event stream and the
    // result are all signed.
    const r = await wallet.run({ module: wordcount, input: INPUT, identity });
    assert.equal(text(r.stdout), EXPECTED);
    const page = await wallet.listJobs({ limit: 5 });
    assert.ok(page.jobs.some((j) => j.job_id === r.jobId));
  });

  test("EIP-191 wallet: a full job", async () => {
    const sk = secp256k1.utils.randomSecretKey();
    const signer = eip191SignerFromSecretKey(sk);
    await node.addWallet(eip191WalletId(signer.address));
    const wallet = new VesperClient({ gateway: node.url, auth: eip191WalletAuth(sk) });
    const identity = await ClientIdentity.generate();
    const r = await wallet.run({ module: wordcount, input: INPUT, identity, inline: true });
    assert.equal(text(r.stdout), EXPECTED);
  });

  test("wallet errors: unknown wallet, replayed nonce, stale timestamp, bad signature", async () => {
    const stranger = new VesperClient({ gateway: node.url, auth: ed25519WalletAuth(ed25519.utils.randomSecretKey()) });
    const e1 = await stranger.listJobs().catch((e) => e);
    assert.ok(e1 instanceof AuthenticationError);
    assert.equal(e1.code, "unknown_wallet");

    const seed = ed25519.utils.randomSecretKey();
    const signer = ed25519SignerFromSeed(seed);
    await node.addWallet(ed25519WalletId(signer.publicKey));
    const fixedNonce = `fixed-nonce-${Date.now()}`;
    const replaying = new VesperClient({
      gateway: node.url,
      auth: { headers: (req) => signEd25519Request(signer, req, { nonce: fixedNonce }) },
    });
    await replaying.listJobs();
    const e2 = await replaying.listJobs().catch((e) => e);
    assert.equal(e2.code, "replayed_nonce");

    const stale = new VesperClient({
      gateway: node.url,
      auth: { headers: (req) => signEd25519Request(signer, req, { timestamp: Math.floor(Date.now() / 1000) - 3600 }) },
    });
    assert.equal((await stale.listJobs().catch((e) => e)).code, "stale_request");

    const forged = new VesperClient({
      gateway: node.url,
      auth: {
        headers: async (req) => ({
          ...(await signEd25519Request(signer, req)),
          "X-Vesper-Signature": toHex(new Uint8Array(64).fill(7)),
        }),
      },
    });
    assert.equal((await forged.listJobs().catch((e) => e)).code, "signature_invalid");
  });
});

describe("interop with the Rust CLI", () => {
  const sdk = (args, opts) => run(process.execPath, [CLI, ...args], opts);
  let env;
  let wasmPath;
  let inputPath;
  let sdkKey;
  let rustKey;

  before(async () => {
    env = { VESPER_STATE_DIR: join(tmp, "state"), HOME: tmp };
    wasmPath = join(tmp, "wordcount.wasm");
    writeFileSync(wasmPath, wordcount);
    inputPath = join(tmp, "input.txt");
    writeFileSync(inputPath, INPUT);
    // Each side makes a key; each side's key file is used by the other side.
    sdkKey = join(tmp, "sdk.key");
    const g1 = await sdk(["keygen", "--out", sdkKey]);
    assert.equal(g1.code, 0, g1.stderr);
    assert.match(readFileSync(sdkKey, "utf8"), /^vesper-x25519-secret:[0-9a-f]{64}\n$/);
    rustKey = join(tmp, "rust.key");
    const g2 = await node.cli(["keygen", "--out", rustKey], { env });
    assert.equal(g2.code, 0, g2.stderr);
    assert.equal((await sdk(["keygen", "--out", sdkKey])).code, 1, "keygen never replaces a key");
  });

  const common = () => ["--gateway", node.url, "--api-key-file", node.apiKeyFile];

  test("(a) the SDK seals (registry and inline); `vesper result` opens it", async () => {
    for (const inline of [false, true]) {
      const jobFile = join(tmp, `job-${inline}.json`);
      const s = await sdk(["submit", ...common(), "--identity", rustKey, "--program", wasmPath, "--input", inputPath, "--out", jobFile, ...(inline ? ["--inline"] : [])]);
      assert.equal(s.code, 0, s.stderr);
      const job = JSON.parse(s.stdout.toString());
      assert.deepEqual(Object.keys(job).sort(), ["job_id", "payload_digest", "program_id", "workload_type"]);
      assert.deepEqual(JSON.parse(readFileSync(jobFile, "utf8")), job);
      assert.equal(job.program_id, programIdOf(wordcount));
      const r = await node.cli(["result", job.job_id, ...common(), "--identity", rustKey], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), EXPECTED);
      // And the SDK opens it too, checked against the job file.
      const o = await sdk(["open", ...common(), "--identity", rustKey, "--job-file", jobFile]);
      assert.equal(o.code, 0, o.stderr);
      assert.equal(o.stdout.toString(), EXPECTED);
    }
  });

  test("(b) `vesper submit` seals; the SDK opens and verifies it", async () => {
    const s = await node.cli(["submit", ...common(), "--identity", sdkKey, "--program", join(REPO_ROOT, "examples/wordcount.wat"), "--input", inputPath], { env });
    assert.equal(s.code, 0, s.stderr);
    const jobId = s.stdout.toString().trim();
    assert.match(jobId, /^[0-9a-f-]{36}$/);
    const o = await sdk(["open", ...common(), "--identity", sdkKey, "--job", jobId]);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(o.stdout.toString(), EXPECTED);
    assert.match(o.stderr, /receipt verified/);
    // Library: the same, with the key file imported as a non-extractable identity.
    const identity = await ClientIdentity.fromSecretKey(parseIdentityFile(readFileSync(sdkKey, "utf8")));
    const r = await client.getResult(jobId, { identity });
    assert.equal(text(r.stdout), EXPECTED);
    assert.deepEqual(r.unchecked, ["program_id", "workload_type", "payload_digest"]);
    // The wrong payload digest is refused.
    const bad = await sdk(["open", ...common(), "--identity", sdkKey, "--job", jobId, "--payload-digest", "00".repeat(32)]);
    assert.notEqual(bad.code, 0);
  });

  test("(c) saved results verify on both sides; tampered copies on neither", async () => {
    // SDK-saved result.
    const s = await sdk(["submit", ...common(), "--identity", sdkKey, "--program", wasmPath, "--input", inputPath]);
    assert.equal(s.code, 0, s.stderr);
    const job = JSON.parse(s.stdout.toString());
    const sdkSaved = join(tmp, "sdk-result.json");
    const o = await sdk(["open", ...common(), "--identity", sdkKey, "--job", job.job_id, "--payload-digest", job.payload_digest, "--save", sdkSaved]);
    assert.equal(o.code, 0, o.stderr);
    const rv = await node.cli(["verify", sdkSaved, ...common()], { env });
    assert.equal(rv.code, 0, rv.stdout.toString() + rv.stderr);
    assert.match(rv.stdout.toString(), /^VERIFIED/);
    const rvId = await node.cli(["verify", sdkSaved, ...common(), "--identity", sdkKey], { env });
    assert.equal(rvId.code, 0, rvId.stdout.toString());

    // Rust-saved result.
    const rs = await node.cli(["submit", ...common(), "--identity", rustKey, "--program", join(REPO_ROOT, "examples/wordcount.wat"), "--input", inputPath], { env });
    assert.equal(rs.code, 0, rs.stderr);
    const rustJob = rs.stdout.toString().trim();
    const rustSaved = join(tmp, "rust-result.json");
    const rr = await node.cli(["result", rustJob, ...common(), "--identity", rustKey, "--save", rustSaved], { env });
    assert.equal(rr.code, 0, rr.stderr);
    const pinned = (await client.keys()).workerKeys.map((w) => ["--worker-key", w.publicKey]).flat();
    for (const extra of [[], ["--identity", rustKey], pinned]) {
      const v = await sdk(["verify", rustSaved, "--gateway", node.url, ...extra]);
      assert.equal(v.code, 0, v.stdout.toString() + v.stderr);
      assert.match(v.stdout.toString(), /^VERIFIED/);
    }
    // With the wrong client key the opened-result check fails.
    const wrongKey = await sdk(["verify", rustSaved, "--gateway", node.url, "--identity", sdkKey]);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stdout.toString(), /^NOT VERIFIED/);

    // Tampered copies: a signed number, the sealed result, the job id.
    for (const saved of [sdkSaved, rustSaved]) {
      const raw = readFileSync(saved, "utf8");
      const body = JSON.parse(raw);
      const flipped = fromBase64(body.encrypted_result);
      flipped[flipped.length - 1] ^= 1;
      const tampers = [
        raw.replace(`"fuel_used":${body.execution_proof.fuel_used}`, `"fuel_used":${body.execution_proof.fuel_used + 1}`),
        raw.replace(body.encrypted_result, Buffer.from(flipped).toString("base64")),
        raw.replace(`"worker_id":"${body.execution_proof.worker_id}"`, `"worker_id":"${body.execution_proof.worker_id}x"`),
      ];
      for (const [i, t] of tampers.entries()) {
        assert.notEqual(t, raw, `tamper ${i} applies`);
        const f = join(tmp, `tampered-${i}.json`);
        writeFileSync(f, t);
        const ts = await sdk(["verify", f, "--gateway", node.url]);
        assert.equal(ts.code, 1, `SDK accepted tamper ${i} of ${saved}`);
        assert.match(ts.stdout.toString(), /^NOT VERIFIED/);
        const tr = await node.cli(["verify", f, ...common()], { env });
        assert.notEqual(tr.code, 0, `vesper verify accepted tamper ${i} of ${saved}`);
      }
    }
  });

  test("key files readable by group or others are refused", async () => {
    const loose = join(tmp, "loose.key");
    copyFileSync(sdkKey, loose);
    chmodSync(loose, 0o644);
    const o = await sdk(["open", ...common(), "--identity", loose, "--job", "01a23051-499a-71a5-801a-4f9fbdb73b63"]);
    assert.equal(o.code, 1);
    assert.match(o.stderr, /readable by group or others/);
    assert.doesNotMatch(o.stderr, /vesper-x25519-secret|vsk_/);
  });
});

describe("README quick start", () => {
  test("README's quick start block is examples/quickstart.mjs", () => {
    const readme = readFileSync(join(SDK_ROOT, "README.md"), "utf8");
    const m = /<!-- quickstart:begin -->\s*```js\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(readme);
    assert.ok(m, "README has a quickstart block between the markers");
    assert.equal(m[1], readFileSync(join(SDK_ROOT, "examples/quickstart.mjs"), "utf8"));
  });

  test("installed into a fresh directory with npm, the quick start runs against the dev node", async (t) => {
    const app = mkdtempSync(join(tmpdir(), "vesper-ts-app-"));
    t.after(() => rmSync(app, { recursive: true, force: true }));
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module" }));
    // --install-links: copy the package as a registry install would (its `files`, its
    // dependencies from the registry), instead of symlinking this checkout.
    const inst = await run("npm", ["install", "--install-links", "--no-audit", "--no-fund", "--prefer-offline", SDK_ROOT], {
      env: { npm_config_loglevel: "error" },
      cwd: app,
      timeoutMs: 300_000,
    });
    assert.equal(inst.code, 0, inst.stderr);
    const installed = JSON.parse(readFileSync(join(app, "node_modules/@vesper/sdk/package.json"), "utf8"));
    assert.equal(installed.name, "@vesper/sdk");
    copyFileSync(join(SDK_ROOT, "examples/quickstart.mjs"), join(app, "quickstart.mjs"));
    writeFileSync(join(app, "wordcount.wasm"), wordcount);
    const r = await run(process.execPath, ["quickstart.mjs", "wordcount.wasm"], {
      env: { VESPER_GATEWAY: node.url, VESPER_API_KEY: node.apiKey, NODE_PATH: "" },
      cwd: app,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), "1 3 20\n");
    assert.match(r.stderr, /receipt verified/);
    // The installed CLI works too.
    const bin = await run(join(app, "node_modules/.bin/vesper-sdk"), ["--help"]);
    assert.equal(bin.code, 0);
  });
});

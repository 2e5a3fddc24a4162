// Unit tests of the SDK's building blocks: strict encodings, the exact JSON parser, the SSE
// parser, key files, identities, the HTTP layer's errors and limits (against a stub fetch),
// and that the core stays browser-safe.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { x25519 } from "@noble/curves/ed25519.js";

import {
  AuthenticationError,
  ClientIdentity,
  ConflictError,
  NetworkError,
  ProtocolError,
  RateLimitError,
  SseParser,
  UnprocessableError,
  VesperApiError,
  VesperClient,
  VesperError,
  apiKeyAuth,
  ed25519WalletAuth,
  formatIdentityFile,
  fromBase64,
  fromHex,
  parseApiKeyFile,
  parseIdentityFile,
  parseJsonExact,
  toBase64,
  toHex,
} from "../dist/index.js";
import { tryFromBase64 } from "../dist/bytes.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const KEY = `vsk_${"ab".repeat(32)}`;
const JOB = "01a23051-499a-71a5-801a-4f9fbdb73b63";

describe("strict encodings", () => {
  test("base64: canonical padded only", () => {
    assert.equal(toBase64(Uint8Array.of(1, 2, 3, 4)), "AQIDBA==");
    assert.deepEqual(fromBase64("AQIDBA=="), Uint8Array.of(1, 2, 3, 4));
    for (const bad of ["AQIDBA=", "AQIDBA", "AQID BA==", "AQIDBB==", "AQ==\n", "A===", "*QID"]) {
      assert.equal(tryFromBase64(bad), undefined, bad);
    }
    const big = new Uint8Array(200_000).map((_, i) => i * 7);
    assert.deepEqual(fromBase64(toBase64(big)), big);
  });

  test("hex: lowercase, exact length", () => {
    assert.equal(toHex(Uint8Array.of(0, 255, 16)), "00ff10");
    assert.deepEqual(fromHex("00ff10", 3), Uint8Array.of(0, 255, 16));
    assert.throws(() => fromHex("00FF10"), { code: "invalid_argument" });
    assert.throws(() => fromHex("00ff1", undefined), { code: "invalid_argument" });
    assert.throws(() => fromHex("00ff10", 4), { code: "invalid_argument" });
  });

  test("exact JSON: big integers, duplicates, trailing text", () => {
    const v = parseJsonExact('{"a": 9007199254740993, "b": [1, 2.5, -0, "x\\u00e9"], "c": null}');
    assert.equal(v.a, 9007199254740993n);
    assert.deepEqual(v.b, [1, 2.5, -0, "xé"]);
    assert.equal(parseJsonExact("7", { bigints: true }), 7n);
    assert.equal(parseJsonExact("7.0", { bigints: true }), 7);
    for (const bad of ['{"a":1,"a":2}', "[1,]", "{} x", "01", '"\u0001"', "[", '{"__proto__": 1, "__proto__": 2}']) {
      assert.throws(() => parseJsonExact(bad), ProtocolError, bad);
    }
    // __proto__ is an ordinary key, never the prototype.
    const p = parseJsonExact('{"__proto__": {"polluted": true}}');
    assert.equal(Object.getPrototypeOf(p), Object.prototype);
    assert.equal({}.polluted, undefined);
  });
});

describe("SSE parser", () => {
  test("events split anywhere, CRLF and CR, comments", () => {
    const text =
      ': keep-alive\n\nevent: status\ndata: {"job_id":"x","status":"queued"}\n\n' +
      'event: status\r\ndata: {"status":\r\ndata: "processing"}\r\n\r\nevent: resync\rdata: {}\r\r';
    for (let cut = 1; cut < text.length; cut += 7) {
      const p = new SseParser();
      const evs = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      assert.deepEqual(
        evs.map((e) => [e.event, e.data]),
        [
          ["status", '{"job_id":"x","status":"queued"}'],
          ["status", '{"status":\n"processing"}'],
          ["resync", "{}"],
        ],
        `cut at ${cut}`,
      );
    }
    // One character at a time.
    const p = new SseParser();
    const evs = [];
    for (const c of text) evs.push(...p.push(c));
    assert.equal(evs.length, 3);
  });

  test("an oversized event is refused", () => {
    const p = new SseParser(1024);
    assert.throws(() => p.push(`data: ${"x".repeat(2000)}`), { code: "response_too_large" });
    const q = new SseParser(1024);
    assert.throws(() => {
      for (let i = 0; i < 100; i++) q.push(`data: ${"y".repeat(50)}\n`);
    }, { code: "response_too_large" });
  });
});

describe("key files and identities", () => {
  test("identity file: the Rust CLI's format", () => {
    const secret = fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const text = formatIdentityFile(secret);
    assert.equal(text, "vesper-x25519-secret:77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a\n");
    assert.deepEqual(parseIdentityFile(text), secret);
    assert.deepEqual(parseIdentityFile(text.trim()), secret);
    for (const bad of ["vesper-ed25519-secret:" + "00".repeat(32), "vesper-x25519-secret:" + "0".repeat(63), "nonsense", text.toUpperCase()]) {
      assert.throws(() => parseIdentityFile(bad), { code: "invalid_key_file" });
    }
  });

  test("API key file", () => {
    assert.equal(parseApiKeyFile(`vesper-api-key:${KEY}\n`), KEY);
    assert.throws(() => parseApiKeyFile(`vesper-x25519-secret:${KEY}\n`), { code: "invalid_key_file" });
    assert.throws(() => apiKeyAuth("vsk_123"), { code: "invalid_argument" });
  });

  test("generated identities are non-extractable by default", async () => {
    const id = await ClientIdentity.generate();
    assert.equal(id.extractable, false);
    assert.equal(id.keyPair.privateKey.extractable, false);
    assert.equal(id.publicKey.length, 32);
    await assert.rejects(id.exportSecretKey(), { code: "not_extractable" });
    // The same key re-wrapped from its CryptoKey (e.g. out of IndexedDB) has the same public key.
    const again = await ClientIdentity.fromCryptoKey(id.keyPair.privateKey);
    assert.deepEqual(again.publicKey, id.publicKey);
  });

  test("raw import matches RFC 7748 and round-trips when extractable", async () => {
    const sk = fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const id = await ClientIdentity.fromSecretKey(sk);
    assert.equal(id.extractable, false);
    assert.equal(toHex(id.publicKey), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    const gen = await ClientIdentity.generate({ extractable: true });
    const raw = await gen.exportSecretKey();
    assert.deepEqual(x25519.getPublicKey(raw), gen.publicKey);
    const back = await ClientIdentity.fromSecretKey(raw);
    assert.deepEqual(back.publicKey, gen.publicKey);
    await assert.rejects(ClientIdentity.fromSecretKey(new Uint8Array(31)), { code: "invalid_argument" });
  });
});

/** A stub fetch answering from a function, recording requests. */
function stubFetch(answer) {
  const calls = [];
  const f = async (url, init) => {
    calls.push({ url, init });
    return answer(url, init, calls.length);
  };
  f.calls = calls;
  return f;
}

const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

describe("HTTP layer (stub fetch)", () => {
  test("error answers become typed errors with code, status, request id", async () => {
    const f = stubFetch(() =>
      json(422, { error: { code: "unknown_key_id", message: "key_id names no current pool key" } }, { "x-request-id": "req-1" }),
    );
    const c = new VesperClient({ gateway: "http://gw.test/", auth: KEY, fetch: f });
    const err = await c.status(JOB).catch((e) => e);
    assert.ok(err instanceof UnprocessableError && err instanceof VesperApiError && err instanceof VesperError);
    assert.equal(err.code, "unknown_key_id");
    assert.equal(err.status, 422);
    assert.equal(err.requestId, "req-1");
    assert.equal(f.calls[0].url, `http://gw.test/api/status/${JOB}`);
    assert.equal(f.calls[0].init.headers.Authorization, `Bearer ${KEY}`);
    // Never echo the key in the error.
    assert.ok(!String(err.message).includes(KEY) && !String(err.stack).includes(KEY));
  });

  test("status classes, job_status, Retry-After, non-JSON bodies", async () => {
    const answers = [
      json(401, { error: { code: "unauthorized", message: "no" } }),
      json(409, { error: { code: "result_not_ready", message: "wait" }, job_status: "queued" }),
      json(429, { error: { code: "rate_limited", message: "slow" } }, { "retry-after": "3" }),
      new Response("<html>bad gateway</html>", { status: 502 }),
    ];
    const f = stubFetch((_u, _i, n) => answers[n - 1]);
    const c = new VesperClient({ gateway: "http://gw.test", fetch: f });
    const e1 = await c.status(JOB).catch((e) => e);
    assert.ok(e1 instanceof AuthenticationError);
    const e2 = await c.fetchResult(JOB).catch((e) => e);
    assert.ok(e2 instanceof ConflictError);
    assert.equal(e2.jobStatus, "queued");
    const e3 = await c.status(JOB).catch((e) => e);
    assert.ok(e3 instanceof RateLimitError);
    assert.equal(e3.retryAfter, 3);
    const e4 = await c.status(JOB).catch((e) => e);
    assert.equal(e4.status, 502);
    assert.equal(e4.code, "http_error");
  });

  test("response bodies are bounded", async () => {
    const big = () =>
      new Response(
        new ReadableStream({
          start(ctl) {
            for (let i = 0; i < 64; i++) ctl.enqueue(new Uint8Array(1024).fill(32));
            ctl.close();
          },
        }),
        { status: 200 },
      );
    const c = new VesperClient({ gateway: "http://gw.test", fetch: stubFetch(big), maxResponseBytes: 16 * 1024 });
    await assert.rejects(c.health(), { code: "response_too_large" });
    const declared = new VesperClient({
      gateway: "http://gw.test",
      fetch: stubFetch(() => new Response("{}", { status: 200, headers: { "content-length": "999999999" } })),
      maxResponseBytes: 1024,
    });
    await assert.rejects(declared.health(), { code: "response_too_large" });
  });

  test("network failures and deadlines", async () => {
    const down = new VesperClient({ gateway: "http://gw.test", fetch: async () => { throw new TypeError("fetch failed"); } });
    const e = await down.health().catch((x) => x);
    assert.ok(e instanceof NetworkError);
    // A gateway that never answers: only an abort ends the request.
    const hang = (_u, init) => new Promise((_r, reject) => init.signal.addEventListener("abort", () => reject(new Error("aborted"))));
    const slow = new VesperClient({ gateway: "http://gw.test", timeoutMs: 50, fetch: hang });
    await assert.rejects(slow.health(), { code: "timeout" });
    // The caller's own abort passes through unchanged.
    const patient = new VesperClient({ gateway: "http://gw.test", fetch: hang });
    const ctl = new AbortController();
    const p = patient.health(ctl.signal);
    ctl.abort(new Error("mine"));
    await assert.rejects(p, { message: "mine" });
  });

  test("wallet requests sign the exact path, query and body bytes", async () => {
    const f = stubFetch(() => json(200, { jobs: [] }));
    const seed = fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const c = new VesperClient({ gateway: "http://gw.test/", auth: ed25519WalletAuth(seed), fetch: f });
    await c.listJobs({ status: "queued", limit: 5 });
    const h = f.calls[0].init.headers;
    assert.equal(f.calls[0].url, "http://gw.test/api/jobs?status=queued&limit=5");
    assert.equal(h["X-Vesper-Wallet"], "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    assert.match(h["X-Vesper-Nonce"], /^[0-9a-f]{32}$/);
    assert.equal(h.Authorization, undefined);
    const { ed25519 } = await import("@noble/curves/ed25519.js");
    const { canonicalRequest } = await import("../dist/auth.js");
    const msg = canonicalRequest("GET", "/api/jobs?status=queued&limit=5", new Uint8Array(), h["X-Vesper-Timestamp"], h["X-Vesper-Nonce"], h["X-Vesper-Wallet"]);
    assert.ok(ed25519.verify(fromHex(h["X-Vesper-Signature"]), new TextEncoder().encode(msg), ed25519.getPublicKey(seed)));
  });

  test("waiting falls back from a refused event stream to polling, reporting each change once", async () => {
    const statuses = ["queued", "queued", "processing", "completed", "completed"];
    let polls = 0;
    const f = stubFetch((url) => {
      if (url.includes("/api/events")) return json(503, { error: { code: "too_many_streams", message: "poll" } });
      const status = statuses[Math.min(polls++, statuses.length - 1)];
      return json(200, { job_id: JOB, status });
    });
    const c = new VesperClient({ gateway: "http://gw.test", auth: KEY, fetch: f });
    const seen = [];
    const final = await c.waitForJob(JOB, { onProgress: (e) => seen.push(`${e.source}:${e.status}`), pollWaitSecs: 0 });
    assert.equal(final.status, "completed");
    assert.deepEqual(seen, ["poll:queued", "poll:processing", "poll:completed"]);
    assert.match(f.calls[1].url, /\/api\/status\/.+$/);
  });

  test("polling rides out a busy gateway (Retry-After) but not a real error", async () => {
    let n = 0;
    const f = stubFetch(() => {
      n++;
      if (n <= 2) return json(503, { error: { code: "unavailable", message: "busy" } }, { "retry-after": "0" });
      return json(200, { job_id: JOB, status: "completed" });
    });
    const c = new VesperClient({ gateway: "http://gw.test", auth: KEY, fetch: f });
    assert.equal((await c.waitForJob(JOB, { mode: "poll" })).status, "completed");
    assert.equal(n, 3);
    const g = stubFetch(() => json(404, { error: { code: "job_not_found", message: "no such job" } }));
    const d = new VesperClient({ gateway: "http://gw.test", auth: KEY, fetch: g });
    await assert.rejects(d.waitForJob(JOB, { mode: "poll" }), { code: "job_not_found" });
    assert.equal(g.calls.length, 1);
  });

  test("waiting follows the event stream; resync asks for the status", async () => {
    const sse = [
      ": hi\n\n",
      `event: status\ndata: {"job_id":"${JOB}","status":"queued"}\n\n`,
      "event: resync\ndata: {}\n\n",
      `event: status\ndata: {"job_id":"${JOB}","status":"completed"}\n\n`,
    ];
    const f = stubFetch((url) => {
      if (url.includes("/api/events")) {
        return new Response(
          new ReadableStream({
            start(ctl) {
              for (const s of sse) ctl.enqueue(new TextEncoder().encode(s));
              ctl.close();
            },
          }),
          { status: 200, headers: { "content-type": "text/event-stream" } },
        );
      }
      return json(200, { job_id: JOB, status: url.includes("/api/status") && f.calls.length <= 2 ? "processing" : "completed" });
    });
    const c = new VesperClient({ gateway: "http://gw.test", auth: KEY, fetch: f });
    const seen = [];
    const final = await c.waitForJob(JOB, { onProgress: (e) => seen.push(`${e.source}:${e.status}`) });
    assert.equal(final.status, "completed");
    assert.deepEqual(seen, ["events:queued", "events:processing", "events:completed"]);
    assert.equal(f.calls[0].init.headers.Accept, "text/event-stream");
  });

  test("a stream that ends early falls back to polling; 'events' mode does not", async () => {
    const f = stubFetch((url) =>
      url.includes("/api/events")
        ? new Response(`event: status\ndata: {"job_id":"${JOB}","status":"queued"}\n\n`, { status: 200 })
        : json(200, { job_id: JOB, status: "failed", error: { code: "fuel_exhausted", message: "x" } }),
    );
    const c = new VesperClient({ gateway: "http://gw.test", auth: KEY, fetch: f });
    assert.equal((await c.waitForJob(JOB, { pollWaitSecs: 0 })).status, "failed");
    await assert.rejects(c.waitForJob(JOB, { mode: "events" }), { code: "malformed_response" });
    await assert.rejects(c.getResult(JOB, { identity: await ClientIdentity.generate(), wait: { pollWaitSecs: 0 } }), {
      name: "JobFailedError",
      code: "fuel_exhausted",
    });
  });

  test("arguments are checked before anything is sent", async () => {
    const f = stubFetch(() => json(200, {}));
    const c = new VesperClient({ gateway: "http://gw.test", auth: KEY, fetch: f });
    await assert.rejects(c.status("../admin/tenants"), { code: "invalid_argument" });
    await assert.rejects(c.status(JOB.toUpperCase()), { code: "invalid_argument" });
    await assert.rejects(c.submit({}, { idempotencyKey: "has space" }), { code: "invalid_argument" });
    assert.throws(() => new VesperClient({ gateway: "ftp://x" }), { code: "invalid_argument" });
    assert.throws(() => new VesperClient({ gateway: "http://user:pw@x" }), { code: "invalid_argument" });
    assert.equal(f.calls.length, 0);
  });
});

describe("browser safety of the core", () => {
  const srcDir = join(ROOT, "src");
  const coreFiles = readdirSync(srcDir, { recursive: true })
    .filter((f) => f.endsWith(".ts") && f !== "cli.ts")
    .map((f) => join(srcDir, f));

  test("no Node built-ins, Buffer or process outside src/cli.ts", () => {
    assert.ok(coreFiles.length >= 10);
    for (const f of coreFiles) {
      const code = readFileSync(f, "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
      assert.doesNotMatch(code, /from\s+["']node:|require\(|\bBuffer\b|\bprocess\./, f);
    }
  });

  test("the core bundles for the browser with esbuild", () => {
    const out = execFileSync(
      join(ROOT, "node_modules/.bin/esbuild"),
      ["--bundle", "--minify", "--format=esm", "--platform=browser", "--log-level=error", join(ROOT, "src/index.ts")],
      { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
    );
    assert.ok(out.length > 10_000 && out.length < 400_000, `bundle is ${out.length} bytes`);
    assert.doesNotMatch(out, /\bnode:[a-z]/);
  });
});

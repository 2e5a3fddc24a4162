// Test support: a real `vesper dev` node, WebAssembly fixtures assembled with wabt, and a
// helper to run commands. Used by integration.test.mjs.

import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import wabtInit from "wabt";

export const SDK_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = join(SDK_ROOT, "..", "..");
export const CLI = join(SDK_ROOT, "dist", "cli.js");

/** The `vesper` binary under test: `$VESPER_BIN`, required. */
export function vesperBin() {
  const bin = process.env.VESPER_BIN;
  if (!bin) throw new Error("VESPER_BIN is not set: point it at a vesper binary (e.g. target/release/vesper)");
  if (!existsSync(bin) || !(statSync(bin).mode & 0o111)) throw new Error(`VESPER_BIN=${bin} is not an executable file`);
  return bin;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Run a command; resolves to `{ code, stdout (Buffer), stderr (string) }`. The environment is
 * this process's minus anything that would change a Vesper CLI's choices, plus `env`.
 */
export function run(cmd, args, { env = {}, input, cwd, timeoutMs = 120_000 } = {}) {
  const base = { ...process.env };
  for (const k of ["VESPER_API_KEY", "VESPER_GATEWAY", "VESPER_CONFIG", "VESPER_IDENTITY"]) delete base[k];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...base, ...env }, cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(input ?? "");
  });
}

/** A running `vesper dev` node in a fresh data directory, with one worker. */
export class DevNode {
  static async start() {
    const bin = vesperBin();
    const dir = mkdtempSync(join(tmpdir(), "vesper-ts-"));
    const port = await freePort();
    const log = join(dir, "dev.log");
    const fd = openSync(log, "w");
    const child = spawn(bin, ["dev", "--data", join(dir, "data"), "--listen", `127.0.0.1:${port}`, "--workers", "1"], {
      stdio: ["ignore", fd, fd],
      env: { ...process.env, HOME: dir },
    });
    closeSync(fd);
    const node = new DevNode(bin, dir, port, child, log);
    await node.waitHealthy();
    return node;
  }

  constructor(bin, dir, port, child, log) {
    this.bin = bin;
    this.dir = dir;
    this.data = join(dir, "data");
    this.url = `http://127.0.0.1:${port}`;
    this.child = child;
    this.log = log;
    this.exited = null;
    child.on("exit", (code, sig) => (this.exited = { code, sig }));
  }

  /** The dev API key file (`vesper-api-key:vsk_…`, 0600) and the key in it. */
  get apiKeyFile() {
    return join(this.data, "dev-api-key");
  }
  get apiKey() {
    return readFileSync(this.apiKeyFile, "utf8").trim().split(":").slice(1).join(":");
  }

  /** The last lines of the node's log, without the line that prints the API key. */
  logTail() {
    try {
      return readFileSync(this.log, "utf8").split("\n").filter((l) => !l.includes("vsk_")).slice(-40).join("\n");
    } catch {
      return "";
    }
  }

  async waitHealthy(timeoutMs = 60_000) {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.exited) throw new Error(`vesper dev exited (${JSON.stringify(this.exited)}):\n${this.logTail()}`);
      try {
        const r = await fetch(`${this.url}/health`);
        if (r.ok && existsSync(this.apiKeyFile)) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`vesper dev did not become healthy:\n${this.logTail()}`);
  }

  /** Run `vesper <args>` against this node's data directory where the command needs it. */
  cli(args, opts = {}) {
    return run(this.bin, args, { ...opts, env: { HOME: this.dir, ...(opts.env ?? {}) } });
  }

  /** The name of the tenant `vesper dev` made (from `vesper tenant list`). */
  async devTenant() {
    const r = await this.cli(["tenant", "--data", this.data, "list"]);
    if (r.code !== 0) throw new Error(`tenant list failed: ${r.stderr}`);
    const rows = r.stdout.toString().trim().split("\n").slice(1);
    if (rows.length === 0) throw new Error("no tenant");
    return rows[0].trim().split(/\s+/)[1];
  }

  async addWallet(walletId) {
    const r = await this.cli(["key", "--data", this.data, "add-wallet", "--tenant", await this.devTenant(), walletId]);
    if (r.code !== 0) throw new Error(`add-wallet failed: ${r.stderr}`);
  }

  /** Stop the node and delete its data directory (keys included). */
  async stop() {
    if (!this.exited) {
      const gone = new Promise((r) => this.child.once("exit", r));
      this.child.kill("SIGTERM");
      const t = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let wabt;
/** Assemble WebAssembly text into a binary module with wabt. */
export async function wat2wasm(text, name = "module.wat") {
  wabt ??= await wabtInit();
  const m = wabt.parseWat(name, text);
  try {
    m.validate();
    return new Uint8Array(m.toBinary({}).buffer);
  } finally {
    m.destroy();
  }
}

/** examples/<name>.wat, assembled. */
export async function exampleWasm(name) {
  return wat2wasm(readFileSync(join(REPO_ROOT, "examples", `${name}.wat`), "utf8"), `${name}.wat`);
}

/** A WASI command that traps at once. */
export const TRAP_WAT = `(module (memory (export "memory") 1) (func (export "_start") unreachable))`;

#!/usr/bin/env node
/// <reference types="node" />
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
import { open, readFile, rename, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { VesperClient } from "./client.js";
import { isWorkloadType, jobFacts, programIdOf } from "./envelope.js";
import { JobFailedError, VesperApiError, VesperError } from "./errors.js";
import { ClientIdentity, formatIdentityFile, parseApiKeyFile, parseIdentityFile } from "./identity.js";
import { parseBody } from "./http.js";
import { verifyResultBody } from "./receipt.js";
import { isLowerHex, toBase64 } from "./bytes.js";
const USAGE = `usage:
  vesper-sdk keygen --out KEYFILE [--force]
  vesper-sdk submit --gateway URL --api-key-file F --identity KEYFILE --program FILE.wasm --input FILE
                    [--inline] [--out JOB.json] [--workload-type T] [--priority N] [--idempotency-key K]
  vesper-sdk open   --gateway URL --api-key-file F --identity KEYFILE (--job JOB_ID | --job-file JOB.json)
                    [--payload-digest HEX] [--save RESULT.json] [--timeout SECS] [--poll]
  vesper-sdk verify RESULT.json --gateway URL [--api-key-file F] [--identity KEYFILE]
                    [--payload-digest HEX | --job-file JOB.json] [--worker-key HEX]...`;
/** A command-line mistake: exit status 2. */
class UsageError extends Error {
}
/** Largest key file read (they are one short line). */
const MAX_KEY_FILE = 4096;
/**
 * Read a secret file, refusing one that group or others can read (as the Rust CLI does).
 * The mode is checked on the open file itself, so the file cannot be swapped in between.
 */
async function readSecretFile(path) {
    const fh = await open(path, "r");
    try {
        const st = await fh.stat();
        if ((st.mode & 0o077) !== 0) {
            throw new VesperError("insecure_key_file", `${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
        }
        if (st.size > MAX_KEY_FILE)
            throw new VesperError("invalid_key_file", `${path} is too large for a key file`);
        return await fh.readFile("utf8");
    }
    finally {
        await fh.close();
    }
}
async function loadIdentity(path) {
    const secret = parseIdentityFile(await readSecretFile(path));
    try {
        return await ClientIdentity.fromSecretKey(secret);
    }
    finally {
        secret.fill(0);
    }
}
function str(flags, name) {
    const v = flags[name];
    return typeof v === "string" ? v : undefined;
}
function need(flags, name) {
    const v = str(flags, name);
    if (v === undefined)
        throw new UsageError(`--${name} is required`);
    return v;
}
async function makeClient(flags, workerKeys) {
    const gateway = str(flags, "gateway") ?? process.env["VESPER_GATEWAY"] ?? "http://127.0.0.1:8080";
    const keyFile = str(flags, "api-key-file");
    let auth;
    if (keyFile !== undefined)
        auth = parseApiKeyFile(await readSecretFile(keyFile));
    else if (process.env["VESPER_API_KEY"])
        auth = process.env["VESPER_API_KEY"];
    return new VesperClient({
        gateway,
        ...(auth !== undefined ? { auth } : {}),
        ...(workerKeys && workerKeys.length > 0 ? { trustedWorkerKeys: workerKeys } : {}),
    });
}
async function readInput(path) {
    if (path !== "-")
        return new Uint8Array(await readFile(path));
    const chunks = [];
    for await (const c of process.stdin)
        chunks.push(c);
    return new Uint8Array(Buffer.concat(chunks));
}
/** Read `--job-file` (the JSON `submit` writes) into receipt facts. */
async function readJobFile(path) {
    const j = JSON.parse(await readFile(path, "utf8"));
    const { job_id, program_id, workload_type, payload_digest } = j;
    if (typeof job_id !== "string" ||
        !isLowerHex(program_id, 32) ||
        !isWorkloadType(workload_type) ||
        !isLowerHex(payload_digest, 32)) {
        throw new UsageError(`${path} is not a job file written by \`vesper-sdk submit\``);
    }
    return { jobId: job_id, programId: program_id, workloadType: workload_type, payloadDigest: payload_digest };
}
function payloadDigestFlag(flags) {
    const d = str(flags, "payload-digest");
    if (d !== undefined && !isLowerHex(d, 32))
        throw new UsageError("--payload-digest must be 64 lowercase hex digits");
    return d;
}
async function keygen(flags) {
    const out = need(flags, "out");
    const identity = await ClientIdentity.generate({ extractable: true });
    const secret = await identity.exportSecretKey();
    const text = formatIdentityFile(secret);
    secret.fill(0);
    if (flags["force"]) {
        const tmp = `${out}.tmp${process.pid}`;
        await writeFile(tmp, text, { mode: 0o600, flag: "wx" });
        await rename(tmp, out);
    }
    else {
        // Exclusive create: never replace an existing key.
        const fh = await open(out, "wx", 0o600).catch((e) => {
            if (e.code === "EEXIST")
                throw new VesperError("key_file_exists", `${out} exists (use --force to replace it)`);
            throw e;
        });
        try {
            await fh.writeFile(text);
            await fh.sync();
        }
        finally {
            await fh.close();
        }
    }
    process.stdout.write(`wrote ${out} (mode 0600)\npublic key: ${toBase64(identity.publicKey)}\n`);
    return 0;
}
async function submit(flags) {
    const client = await makeClient(flags);
    const identity = await loadIdentity(need(flags, "identity"));
    const programPath = need(flags, "program");
    if (programPath.endsWith(".wat")) {
        throw new UsageError("--program takes a binary .wasm module (assemble .wat first, e.g. with wat2wasm)");
    }
    const module = new Uint8Array(await readFile(programPath));
    const input = await readInput(need(flags, "input"));
    const workloadType = str(flags, "workload-type") ?? "general";
    if (!isWorkloadType(workloadType))
        throw new UsageError("--workload-type must be general, ai_inference, pos_validation or zk_proof");
    const priorityText = str(flags, "priority");
    const priority = priorityText !== undefined ? Number(priorityText) : undefined;
    if (priority !== undefined && !(Number.isInteger(priority) && priority >= 1 && priority <= 10)) {
        throw new UsageError("--priority must be 1 to 10");
    }
    let programId;
    if (flags["inline"])
        programId = programIdOf(module);
    else
        programId = (await client.uploadProgram(module)).program_id;
    const sealed = await client.seal({
        identity,
        program: flags["inline"] ? { inline: module } : { programId },
        input,
        workloadType,
        ...(priority !== undefined ? { priority } : {}),
    });
    input.fill(0);
    const key = str(flags, "idempotency-key");
    const resp = await client.submit(sealed, key !== undefined ? { idempotencyKey: key } : {});
    const facts = jobFacts(sealed, resp.job_id);
    const json = `${JSON.stringify({
        job_id: facts.jobId,
        payload_digest: facts.payloadDigest,
        program_id: facts.programId,
        workload_type: facts.workloadType,
    })}\n`;
    const out = str(flags, "out");
    if (out !== undefined)
        await writeFile(out, json);
    process.stdout.write(json);
    return 0;
}
async function openCmd(flags) {
    const client = await makeClient(flags);
    const identity = await loadIdentity(need(flags, "identity"));
    const jobFile = str(flags, "job-file");
    const expected = jobFile !== undefined ? await readJobFile(jobFile) : {};
    const jobId = str(flags, "job") ?? expected.jobId;
    if (jobId === undefined)
        throw new UsageError("--job or --job-file is required");
    const digest = payloadDigestFlag(flags);
    if (digest !== undefined)
        expected.payloadDigest = digest;
    const timeout = str(flags, "timeout");
    const final = await client.waitForJob(jobId, {
        ...(timeout !== undefined ? { timeoutMs: Number(timeout) * 1000 } : {}),
        ...(flags["poll"] ? { mode: "poll" } : {}),
        onProgress: (e) => process.stderr.write(`job ${e.jobId}: ${e.status}\n`),
    });
    if (final.status !== "completed") {
        const e = final.error;
        throw new JobFailedError(jobId, final.status, e?.code ?? final.status, e?.message ?? `the job was ${final.status}`);
    }
    const fetched = await client.fetchResult(jobId);
    const save = str(flags, "save");
    if (save !== undefined)
        await writeFile(save, fetched.raw);
    const v = await client.verifyResult(fetched, { identity, expected });
    const r = v.result;
    process.stderr.write(`receipt verified: worker ${v.receipt.workerId} ran program ${v.receipt.programId} in ` +
        `${v.receipt.executionTimeMs} ms (${v.receipt.fuelUsed} fuel)\n`);
    if (v.unchecked.length > 0) {
        process.stderr.write(`not checked against your submission (not given): ${v.unchecked.join(", ")}\n`);
    }
    await new Promise((resolve, reject) => process.stdout.write(r.stdout, (e) => (e ? reject(e) : resolve())));
    if (r.stderr.length > 0)
        process.stderr.write(r.stderr);
    return r.exitCode >= 0 && r.exitCode <= 255 ? r.exitCode : 1;
}
async function verify(flags, positionals) {
    const file = positionals[0];
    if (file === undefined)
        throw new UsageError("verify needs the RESULT.json file");
    const workerKeys = flags["worker-key"] ?? [];
    for (const k of workerKeys)
        if (!isLowerHex(k, 32))
            throw new UsageError("--worker-key must be 64 lowercase hex digits");
    const identityPath = str(flags, "identity");
    const jobFile = str(flags, "job-file");
    const expected = jobFile !== undefined ? await readJobFile(jobFile) : {};
    const digest = payloadDigestFlag(flags);
    if (digest !== undefined)
        expected.payloadDigest = digest;
    const raw = await readFile(file);
    try {
        const body = parseBody(new Uint8Array(raw), { bigints: true });
        const keys = workerKeys.length > 0 ? workerKeys : await (await makeClient(flags)).trustedWorkerKeys();
        const v = await verifyResultBody(body, {
            workerKeys: keys,
            ...(identityPath !== undefined ? { identity: await loadIdentity(identityPath) } : {}),
            expected,
        });
        process.stdout.write(`VERIFIED: job ${v.jobId} ran program ${v.receipt.programId} on worker ${v.receipt.workerId} ` +
            `(${v.receipt.workerPubkey})${v.result ? "; result hash matches the decrypted result" : ""}\n`);
        if (v.unchecked.length > 0)
            process.stdout.write(`  not checked against a submission: ${v.unchecked.join(", ")}\n`);
        return 0;
    }
    catch (e) {
        // Only a failed check is "NOT VERIFIED"; a gateway that cannot be reached is an error.
        if (e instanceof VesperError && !(e instanceof VesperApiError) && e.code !== "network_error") {
            process.stdout.write(`NOT VERIFIED: ${e.message}\n`);
            return 1;
        }
        throw e;
    }
}
async function main(argv) {
    const [cmd, ...rest] = argv;
    const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        strict: true,
        options: {
            gateway: { type: "string" },
            "api-key-file": { type: "string" },
            identity: { type: "string" },
            program: { type: "string" },
            input: { type: "string" },
            inline: { type: "boolean" },
            out: { type: "string" },
            force: { type: "boolean" },
            "workload-type": { type: "string" },
            priority: { type: "string" },
            "idempotency-key": { type: "string" },
            job: { type: "string" },
            "job-file": { type: "string" },
            "payload-digest": { type: "string" },
            save: { type: "string" },
            timeout: { type: "string" },
            poll: { type: "boolean" },
            "worker-key": { type: "string", multiple: true },
        },
    });
    const flags = values;
    switch (cmd) {
        case "keygen":
            return keygen(flags);
        case "submit":
            return submit(flags);
        case "open":
            return openCmd(flags);
        case "verify":
            return verify(flags, positionals);
        case undefined:
        case "help":
        case "--help":
        case "-h":
            process.stdout.write(`${USAGE}\n`);
            return cmd === undefined ? 2 : 0;
        default:
            throw new UsageError(`unknown command ${cmd}`);
    }
}
main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
}, (e) => {
    if (e instanceof UsageError || (e instanceof TypeError && e.code?.startsWith("ERR_PARSE_ARGS"))) {
        process.stderr.write(`error: ${e.message}\n${USAGE}\n`);
        process.exitCode = 2;
        return;
    }
    if (e instanceof VesperError) {
        const extra = [e.code, e.status !== undefined ? `HTTP ${e.status}` : "", e.requestId ? `request ${e.requestId}` : ""]
            .filter(Boolean)
            .join(", ");
        process.stderr.write(`error: ${e.message} (${extra})\n`);
    }
    else {
        process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    process.exitCode = 1;
});

// Quick start: run a WebAssembly program privately on a Vesper gateway and verify the result.
// Usage: VESPER_GATEWAY=http://127.0.0.1:8080 VESPER_API_KEY=vsk_… node quickstart.mjs wordcount.wasm
import { readFile } from "node:fs/promises";
import { ClientIdentity, VesperClient } from "@vesper/sdk";

const client = new VesperClient({
  gateway: process.env.VESPER_GATEWAY ?? "http://127.0.0.1:8080",
  auth: process.env.VESPER_API_KEY,
});

// Your X25519 key: the result is sealed to it. Generated non-extractable, it never leaves WebCrypto.
const identity = await ClientIdentity.generate();

// A WASI command module that reads stdin and writes stdout (e.g. examples/wordcount.wat, assembled).
const module = await readFile(process.argv[2] ?? "wordcount.wasm");

// Register the module, seal the input to the pool key, submit, follow the job, then check the
// worker's signed receipt against what was sealed and open the result with your key.
const result = await client.run({
  module,
  input: "hello private world\n",
  identity,
  wait: { onProgress: (e) => console.error(`job ${e.jobId}: ${e.status}`) },
});

console.error(`receipt verified: worker ${result.receipt.workerId}, ${result.receipt.fuelUsed} fuel`);
process.stdout.write(result.stdout); // wordcount prints "1 3 20"

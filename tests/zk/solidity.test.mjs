// Vesper's Solidity verifier on a real EVM (test in CI):
// - `vesper zk export --solidity` writes a contract for a deployment's key; solc-js compiles it
//   and it is deployed on a local anvil (loopback only) with plain JSON-RPC;
// - `verifyProof` accepts a proof Vesper made, and returns false (never reverts) for a changed
//   public input, a changed or malformed proof, B in snarkjs's order, and an input ≥ r that is
//   congruent to the real one (which the precompile alone would accept);
// - the arguments are built here from proof.json/public.json and must equal what
//   `vesper zk export --calldata-for` writes, so the G2 order is pinned on both sides;
// - the gas verifyProof costs is printed as a `figure:` line; too little gas reverts, never
//   reads as false.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const BIN = process.env.VESPER_BIN;
if (!BIN || !fs.existsSync(BIN)) throw new Error(`VESPER_BIN must name the vesper binary (got ${JSON.stringify(BIN)})`);
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'vesper-sol-'));
const TODAY = '2026-12-01';
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

function vesper(...args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `vesper ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The anvil binary of this platform's package (started directly: no npx wrapper to outlive). */
function anvilBinary() {
  const require = createRequire(import.meta.url);
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch];
  const pkg = require.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/package.json`);
  return path.join(path.dirname(pkg), 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
}

let anvil;
let url;
let rpcId = 0;
async function rpc(method, params = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

const hex = (n) => '0x' + BigInt(n).toString(16);
const word = (v) => BigInt(v).toString(16).padStart(64, '0');

let verifier; // deployed address
let selector; // of verifyProof
let args; // [a, b, c, input] for the real proof

/** ABI encoding of verifyProof's arguments: every one is static, so words in order. */
function encode([a, b, c, input]) {
  return selector + [...a, ...b.flat(), ...c, ...input].map(word).join('');
}

async function verify(callArgs, gas) {
  const tx = { to: verifier, data: encode(callArgs) };
  if (gas) tx.gas = hex(gas);
  const out = await rpc('eth_call', [tx, 'latest']); // a revert would throw here
  assert.match(out, /^0x[0-9a-f]{64}$/);
  return BigInt(out) === 1n;
}

before(async () => {
  // A deployment, a proof of a satisfying request, the contract and its arguments.
  const dir = path.join(WORK, 'age');
  vesper('zk', 'setup', path.join(ROOT, 'templates/age_verification.json'), '--out', dir);
  const req = path.join(WORK, 'req.json');
  fs.writeFileSync(req, JSON.stringify({ private_inputs: { user_data: { date_of_birth: '1990-01-01' } }, public_params: { min_age: 18 } }));
  const proofDir = path.join(WORK, 'proof');
  vesper('zk', 'prove', dir, '--input', req, '--today', TODAY, '--binding', '12345', '--out', proofDir);
  const sol = path.join(WORK, 'Verifier.sol');
  vesper('zk', 'export', dir, '--solidity', sol, '--calldata-for', proofDir);
  const source = fs.readFileSync(sol, 'utf8');
  assert.match(source, new RegExp(`Image id: ${fs.readFileSync(path.join(dir, 'image_id'), 'utf8').trim()}`));

  // The arguments from snarkjs's JSON: pi_b's pairs swapped to EIP-197's [c1, c0].
  const proof = JSON.parse(fs.readFileSync(path.join(proofDir, 'proof.json'), 'utf8'));
  const pub = JSON.parse(fs.readFileSync(path.join(proofDir, 'public.json'), 'utf8'));
  args = [
    proof.pi_a.slice(0, 2),
    [[proof.pi_b[0][1], proof.pi_b[0][0]], [proof.pi_b[1][1], proof.pi_b[1][0]]],
    proof.pi_c.slice(0, 2),
    pub,
  ];
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(proofDir, 'calldata.json'), 'utf8')), args, 'Rust calldata() = snarkjs JSON with pi_b swapped');

  // solc-js, optimizer on.
  const out = JSON.parse(solc.compile(JSON.stringify({
    language: 'Solidity',
    sources: { 'Verifier.sol': { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.methodIdentifiers'] } },
    },
  })));
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  assert.deepEqual(errors.map((e) => e.formattedMessage), [], 'solc errors');
  const warnings = (out.errors ?? []).filter((e) => e.severity === 'warning');
  assert.deepEqual(warnings.map((e) => e.formattedMessage), [], 'solc warnings');
  const contract = out.contracts['Verifier.sol'].VesperGroth16Verifier;
  selector = '0x' + contract.evm.methodIdentifiers[`verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[${pub.length}])`];
  assert.match(selector, /^0x[0-9a-f]{8}$/);

  // anvil on a loopback port it picks itself (--port 0), read back from its banner.
  anvil = spawn(anvilBinary(), ['--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  url = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`anvil did not start: ${seen.slice(-500)}`)), 30_000);
    anvil.on('exit', (code) => reject(new Error(`anvil exited (${code}): ${seen.slice(-500)}`)));
    anvil.stdout.on('data', (chunk) => {
      seen += chunk; // keep draining after the banner, so anvil never blocks on a full pipe
      const m = seen.match(/Listening on 127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m[1]}`);
        seen = '';
      }
    });
  });
  assert.equal(await rpc('eth_chainId'), '0x7a69');

  // Deploy from anvil's first unlocked account; wait for the receipt.
  const [from] = await rpc('eth_accounts');
  const tx = await rpc('eth_sendTransaction', [{ from, data: '0x' + contract.evm.bytecode.object, gas: hex(5_000_000) }]);
  let receipt = null;
  for (let i = 0; i < 100 && !receipt; i++) {
    receipt = await rpc('eth_getTransactionReceipt', [tx]);
    if (!receipt) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(receipt, 'no receipt for the deployment');
  assert.equal(receipt.status, '0x1');
  verifier = receipt.contractAddress;
  assert.notEqual(await rpc('eth_getCode', [verifier, 'latest']), '0x');
});

after(() => {
  if (anvil && anvil.exitCode === null) anvil.kill('SIGTERM');
});

test('the verifier accepts Vesper’s proof', async () => {
  assert.equal(await verify(args), true);
});

test('a changed public input is refused (every one)', async () => {
  for (let i = 0; i < args[3].length; i++) {
    const input = args[3].slice();
    input[i] = String((BigInt(input[i]) + 1n) % R);
    assert.equal(await verify([args[0], args[1], args[2], input]), false, `input ${i} changed`);
  }
});

test('a changed proof is refused, whether or not its points are on the curve', async () => {
  const [a, b, c, input] = args;
  // A off the curve: the pairing precompile fails, and the contract returns false.
  assert.equal(await verify([[String(BigInt(a[0]) + 1n), a[1]], b, c, input]), false);
  // A replaced by C, a valid point: the pairing check fails.
  assert.equal(await verify([c, b, c, input]), false);
  // -A given for A.
  assert.equal(await verify([[a[0], String(Q - BigInt(a[1]))], b, c, input]), false);
  // A's y plus q: the same point modulo q, but not a canonical coordinate.
  assert.equal(await verify([[a[0], String(BigInt(a[1]) + Q)], b, c, input]), false);
  // B in snarkjs's order (c0 first), not EIP-197's.
  assert.equal(await verify([a, [[b[0][1], b[0][0]], [b[1][1], b[1][0]]], c, input]), false);
});

test('an input ≥ r is refused, even one congruent to the real input', async () => {
  for (let i = 0; i < args[3].length; i++) {
    const input = args[3].slice();
    input[i] = String(BigInt(input[i]) + R); // ecMul would reduce it to the real input
    assert.equal(await verify([args[0], args[1], args[2], input]), false, `input ${i} + r`);
  }
  const input = args[3].slice();
  input[0] = String(2n ** 256n - 1n);
  assert.equal(await verify([args[0], args[1], args[2], input]), false);
});

test('gas of verifyProof (figure)', async () => {
  const data = encode(args);
  const estimate = BigInt(await rpc('eth_estimateGas', [{ to: verifier, data }]));
  // A real transaction: gasUsed (intrinsic 21000 and calldata included), with a generous limit.
  const [from] = await rpc('eth_accounts');
  const tx = await rpc('eth_sendTransaction', [{ from, to: verifier, data, gas: hex(1_000_000) }]);
  let receipt = null;
  for (let i = 0; i < 100 && !receipt; i++) {
    receipt = await rpc('eth_getTransactionReceipt', [tx]);
    if (!receipt) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(receipt.status, '0x1');
  const used = BigInt(receipt.gasUsed);
  // The pairing alone is 45,000 + 4 × 34,000 (EIP-1108).
  assert.ok(used > 181_000n && used < 400_000n, `gasUsed ${used}`);
  // Too little gas reverts, never reads as false, so eth_estimateGas finds the real cost and
  // a relayer cannot turn a valid proof into false by sending just too little.
  assert.equal(await verify(args, estimate), true, `the estimate ${estimate} is too low`);
  assert.equal(await verify(args, used + 10_000n), true);
  for (const gas of [estimate / 2n, estimate - 5_000n]) {
    await assert.rejects(verify(args, gas), /revert|out of gas/i, `gas ${gas} did not revert`);
  }
  console.log(`figure: Solidity verifyProof (age_verification, ${args[3].length} public inputs): gasUsed ${used} in a transaction (incl. 21000 intrinsic); eth_estimateGas ${estimate}`);
});

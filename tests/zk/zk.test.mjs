// Vesper's proofs, checked by tools Vesper did not write (test in CI):
// - every template is set up, proves a satisfying request, and `snarkjs groth16 verify`
//   accepts Vesper's exported verification key, proof and public signals;
// - a tampered public signal, another deployment's key, or a proof of another template is
//   refused by snarkjs and by `vesper zk verify`;
// - a violating request gives `success: false` naming the rule, and no proof;
// - the Merkle trees and credential commitments are built here with poseidon-lite (circomlib's
//   Poseidon in JavaScript), so Vesper's in-circuit Poseidon is checked against it;
// - snarkjs proves the same circuit from Vesper's exported `.r1cs` and `.wtns`
//   (`wtns check`), which is what the side-by-side benchmark uses.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { poseidon2, poseidon3 } from 'poseidon-lite';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const BIN = process.env.VESPER_BIN;
if (!BIN || !fs.existsSync(BIN)) throw new Error(`VESPER_BIN must name the vesper binary (got ${JSON.stringify(BIN)})`);
const SNARKJS = path.join(HERE, 'node_modules/.bin/snarkjs');
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'vesper-zk-'));
const TODAY = '2026-12-01';
const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

/** SHA-256 of a string's UTF-8, mod p: a DSL `string` value (docs/DSL.md). */
const str = (s) => BigInt('0x' + crypto.createHash('sha256').update(s, 'utf8').digest('hex')) % P;

/** A Poseidon Merkle tree of `depth` over `leaves` (zeros after): root and the path of `index`. */
function merkle(leaves, depth, index) {
  const empty = [0n];
  for (let h = 0; h < depth; h++) empty.push(poseidon2([empty[h], empty[h]]));
  let level = leaves.slice();
  const siblings = [];
  let i = index;
  for (let h = 0; h < depth; h++) {
    siblings.push(level[i ^ 1] ?? empty[h]);
    const next = [];
    for (let j = 0; j < level.length; j += 2) next.push(poseidon2([level[j], level[j + 1] ?? empty[h]]));
    level = next.length ? next : [empty[h + 1]];
    i >>= 1;
  }
  return { root: level[0], path: { siblings: siblings.map(String), index } };
}

function vesper(...args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function snarkjs(...args) {
  return spawnSync(SNARKJS, args, { encoding: 'utf8' });
}

function write(name, value) {
  const p = path.join(WORK, name);
  fs.writeFileSync(p, JSON.stringify(value, null, 1));
  return p;
}

// Requests per template: one that satisfies it, one that breaks the named rule.
const allowed = ['DE', 'FR', 'NL', 'PT'].map(str);
const country = merkle(allowed, 8, 2);
const cred = { subject: 'alice-7731', dob: '1990-05-17', salt: 987654321n };
const leaf = poseidon3([str(cred.subject), 19900517n, cred.salt]);
const issuer = merkle([0n, 0n, 0n, leaf], 16, 3);
const CASES = {
  age_verification: {
    good: { private_inputs: { user_data: { date_of_birth: '1990-01-01' } }, public_params: { min_age: 18 } },
    bad: { private_inputs: { user_data: { date_of_birth: '2010-01-01' } }, public_params: { min_age: 18 } },
    rule: 'old_enough',
  },
  income_threshold: {
    good: { private_inputs: { financial: { annual_income: '75000.50' } }, public_params: { min_income: 50000 } },
    bad: { private_inputs: { financial: { annual_income: '49999.99' } }, public_params: { min_income: 50000 } },
    rule: 'income_at_least_threshold',
  },
  country_allowed: {
    good: { private_inputs: { identity: { country: 'NL', country_path: country.path } }, public_params: { allowed_countries_root: String(country.root) } },
    bad: { private_inputs: { identity: { country: 'US', country_path: country.path } }, public_params: { allowed_countries_root: String(country.root) } },
    rule: 'country_in_allowed_set',
  },
  credit_score_range: {
    good: { private_inputs: { credit: { score: 720 } }, public_params: { min_score: 650, max_score: 850 } },
    bad: { private_inputs: { credit: { score: 600 } }, public_params: { min_score: 650, max_score: 850 } },
    rule: 'score_in_range',
  },
  kyc_credential: {
    good: { private_inputs: { credential: { subject_id: cred.subject, date_of_birth: cred.dob, salt: String(cred.salt), path: issuer.path } }, public_params: { issuer_root: String(issuer.root), min_age: 21 } },
    bad: { private_inputs: { credential: { subject_id: cred.subject, date_of_birth: '1980-05-17', salt: String(cred.salt), path: issuer.path } }, public_params: { issuer_root: String(issuer.root), min_age: 21 } },
    rule: 'credential_issued',
  },
};

const deployed = {};

before(() => {
  for (const name of Object.keys(CASES)) {
    const dir = path.join(WORK, name);
    const r = vesper('zk', 'setup', path.join(ROOT, 'templates', `${name}.json`), '--out', dir);
    assert.equal(r.code, 0, r.err);
    deployed[name] = { dir, ...JSON.parse(r.out) };
  }
});

for (const [name, c] of Object.entries(CASES)) {
  test(`${name}: proves, snarkjs verifies, tampering and violations are refused`, () => {
    const d = deployed[name];
    const out = path.join(d.dir, 'proof');
    const r = vesper('zk', 'prove', d.dir, '--input', write(`${name}-good.json`, c.good), '--today', TODAY, '--binding', '12345', '--out', out);
    assert.equal(r.code, 0, r.err + r.out);
    const res = JSON.parse(r.out);
    assert.equal(res.success, true);
    assert.equal(res.image_id, d.image_id);
    assert.equal(res.outputs.compliance_result, true);
    assert.match(res.proof, /^[0-9a-f]{256}$/);
    const vk = path.join(d.dir, 'verification_key.json');
    const proof = path.join(out, 'proof.json');
    const pub = path.join(out, 'public.json');

    // snarkjs, an independent verifier, accepts it; so does vesper.
    const s = snarkjs('groth16', 'verify', vk, pub, proof);
    assert.equal(s.status, 0, s.stdout + s.stderr);
    assert.match(s.stdout, /OK/);
    assert.equal(vesper('zk', 'verify', '--vk', vk, '--proof', proof, '--public', pub).code, 0);

    // Another set of public inputs (each one changed): refused by both.
    const signals = JSON.parse(fs.readFileSync(pub, 'utf8'));
    assert.equal(signals[signals.length - 1], '12345', 'the binding is the last public input');
    for (let i = 0; i < signals.length; i++) {
      const other = signals.slice();
      other[i] = String((BigInt(other[i]) + 1n) % P);
      const p2 = write(`${name}-public-${i}.json`, other);
      assert.notEqual(snarkjs('groth16', 'verify', vk, p2, proof).status, 0, `snarkjs accepted signal ${i} changed`);
      assert.equal(vesper('zk', 'verify', '--vk', vk, '--proof', proof, '--public', p2).code, 1);
    }

    // A violating request: success false, the rule named, no proof.
    const v = vesper('zk', 'prove', d.dir, '--input', write(`${name}-bad.json`, c.bad), '--today', TODAY);
    assert.equal(v.code, 1, v.err);
    const bad = JSON.parse(v.out);
    assert.deepEqual([bad.success, bad.failed_rule, bad.proof], [false, c.rule, undefined]);
  });
}

test('a proof is refused under another deployment’s key, even of the same template', () => {
  const d = deployed.age_verification;
  const again = path.join(WORK, 'age-again');
  const r = vesper('zk', 'setup', path.join(ROOT, 'templates/age_verification.json'), '--out', again);
  assert.equal(r.code, 0, r.err);
  assert.notEqual(JSON.parse(r.out).image_id, d.image_id);
  const proof = path.join(d.dir, 'proof/proof.json');
  const pub = path.join(d.dir, 'proof/public.json');
  assert.notEqual(snarkjs('groth16', 'verify', path.join(again, 'verification_key.json'), pub, proof).status, 0);
  // A credit-score proof checked against the age key: refused.
  const credit = deployed.credit_score_range;
  assert.notEqual(
    snarkjs('groth16', 'verify', path.join(d.dir, 'verification_key.json'), path.join(credit.dir, 'proof/public.json'), path.join(credit.dir, 'proof/proof.json')).status,
    0,
  );
});

test('snarkjs reads the exported .r1cs and .wtns, and the witness satisfies the circuit', () => {
  const d = deployed.age_verification;
  const r1cs = path.join(d.dir, 'circuit.r1cs');
  const wtns = path.join(d.dir, 'witness.wtns');
  const r = vesper('zk', 'export', d.dir, '--r1cs', r1cs, '--wtns', wtns, '--input', write('age-good-2.json', CASES.age_verification.good), '--today', TODAY, '--binding', '12345');
  assert.equal(r.code, 0, r.err);
  const info = snarkjs('r1cs', 'info', r1cs);
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, new RegExp(`# of Constraints: ${JSON.parse(vesper('zk', 'compile', path.join(ROOT, 'templates/age_verification.json')).out).constraints}`));
  const check = snarkjs('wtns', 'check', r1cs, wtns);
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /WITNESS IS CORRECT/);
});

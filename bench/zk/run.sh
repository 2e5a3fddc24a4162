#!/usr/bin/env bash
# Issue [I]: zero-knowledge proofs, measured (docs/PERFORMANCE.md, "Issue [I]"). Each run:
#   1. `vesper zk bench`: every template in process (a proof uses every core; then again pinned to
#      one core with taskset for the snarkjs templates): constraints, setup, prove and
#      verify times, proof and proving-key sizes;
#   2. snarkjs side by side, on the same circuits (Vesper's exported .r1cs and .wtns):
#      - snarkjs's JS API in one Node process (zkey and witness in memory, after a warm-up):
#        the fair comparison with (1);
#      - the CLIs, `vesper zk prove` and `snarkjs groth16 prove` (and verify) alternating round
#        by round, each including its process start-up;
#   3. 2-worker throughput end to end: `vesper dev --workers 2`, age_verification deployed
#      through POST /api/deploy, PROVES POST /api/prove requests at each of CONCS at once
#      (loopback; a Python client with one keep-alive connection per thread).
# RUNS runs (default 3); the medians of the runs at the end.
#
#   bench/zk/run.sh                  # builds release first (NO_BUILD=1: use target/release as is)
#   RUNS=3 ROUNDS=30 SROUNDS=10 PROVES=200 CONCS=2,8 SNARK_TEMPLATES=age_verification,kyc_credential \
#     PTAU12=/tmp/zkexp/pot12_final.ptau PTAU13=/tmp/zkexp/pot13_final.ptau bench/zk/run.sh
#
# Needs python3, tests/zk's node_modules (`cd tests/zk && npm ci`, for snarkjs 0.7.6) and
# prepared powers-of-tau files: PTAU12 (2^12, for circuits up to ~4,090
# constraints: age_verification) and PTAU13 (2^13: kyc_credential). They are not in the
# repository; make one offline with snarkjs (P = 12 or 13; `prepare phase2` takes minutes):
#   snarkjs powersoftau new bn128 P pot_0.ptau
#   snarkjs powersoftau contribute pot_0.ptau pot_1.ptau --name=bench -e="entropy"
#   snarkjs powersoftau prepare phase2 pot_1.ptau potP_final.ptau
# A benchmark, not a test: CI never runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-30}
SROUNDS=${SROUNDS:-10}
PROVES=${PROVES:-200}
CONCS=${CONCS:-2,8}
WORKERS=${WORKERS:-2}
SNARK_TEMPLATES=${SNARK_TEMPLATES:-age_verification,kyc_credential}
PTAU12=${PTAU12:-/tmp/zkexp/pot12_final.ptau}
PTAU13=${PTAU13:-/tmp/zkexp/pot13_final.ptau}
TODAY=2026-12-01
ROOT=$PWD
VESPER=$ROOT/target/release/vesper
SNARKJS=$ROOT/tests/zk/node_modules/.bin/snarkjs
SNARKJS_MAIN=$ROOT/tests/zk/node_modules/snarkjs/main.js
[ -n "${NO_BUILD:-}" ] || cargo build --release
[ -x "$VESPER" ] || { echo "no release build: cargo build --release" >&2; exit 1; }
[ -x "$SNARKJS" ] || { echo "install snarkjs first: cd tests/zk && npm ci" >&2; exit 1; }

DIR=$(mktemp -d)
DPID=""
trap '[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
RES=$DIR/results.jsonl
: >"$RES"
echo "machine: $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/.*: *//'); $(node --version); snarkjs 0.7.6"

# The benchmark's requests, as files for `vesper zk prove` and `vesper zk export`: the shapes of
# tests/zk/zk.test.mjs (and of `vesper zk bench`); kyc_credential's issuer tree is built with
# poseidon-lite as that test builds it.
python3 - "$DIR" <<'EOF'
import json, sys
json.dump({"private_inputs": {"user_data": {"date_of_birth": "1990-01-01"}}, "public_params": {"min_age": 18}},
          open(f"{sys.argv[1]}/age_verification.req.json", "w"))
EOF
(cd tests/zk && node --input-type=module -e '
import { poseidon2, poseidon3 } from "poseidon-lite";
import crypto from "node:crypto";
import fs from "node:fs";
const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const str = (s) => BigInt("0x" + crypto.createHash("sha256").update(s, "utf8").digest("hex")) % P;
function merkle(leaves, depth, index) {
  const empty = [0n];
  for (let h = 0; h < depth; h++) empty.push(poseidon2([empty[h], empty[h]]));
  let level = leaves.slice(); const siblings = []; let i = index;
  for (let h = 0; h < depth; h++) {
    siblings.push(level[i ^ 1] ?? empty[h]);
    const next = [];
    for (let j = 0; j < level.length; j += 2) next.push(poseidon2([level[j], level[j + 1] ?? empty[h]]));
    level = next.length ? next : [empty[h + 1]]; i >>= 1;
  }
  return { root: level[0], path: { siblings: siblings.map(String), index } };
}
const leaf = poseidon3([str("alice-7731"), 19900517n, 987654321n]);
const t = merkle([0n, 0n, 0n, leaf], 16, 3);
fs.writeFileSync(process.argv[1] + "/kyc_credential.req.json", JSON.stringify({
  private_inputs: { credential: { subject_id: "alice-7731", date_of_birth: "1990-05-17", salt: "987654321", path: t.path } },
  public_params: { issuer_root: String(t.root), min_age: 21 } }));
' "$DIR")

ptau_for() { # the smallest prepared ptau that fits the circuit (constraints + public inputs < 2^P)
    local n=$1
    if [ "$n" -lt 4090 ] && [ -f "$PTAU12" ]; then echo "$PTAU12"; elif [ "$n" -lt 8180 ] && [ -f "$PTAU13" ]; then echo "$PTAU13"; else echo ""; fi
}

# snarkjs.groth16.prove and .verify, timed in one Node process: one JSON line of KIND.
SNARK_API='
const snarkjs = await import(process.env.SNARKJS_MAIN);
import fs from "node:fs";
const [w, t, run, rounds, kind] = process.argv.slice(1);
const zkey = new Uint8Array(fs.readFileSync(w + "/c.zkey"));
const wtns = new Uint8Array(fs.readFileSync(w + "/w.wtns"));
const vk = JSON.parse(fs.readFileSync(w + "/vk_snarkjs.json"));
const prove = () => snarkjs.groth16.prove({ type: "mem", data: zkey }, { type: "mem", data: wtns });
for (let i = 0; i < 2; i++) await prove();
const pt = [], vt = [];
for (let i = 0; i < Number(rounds); i++) {
  let t0 = process.hrtime.bigint();
  const { proof, publicSignals } = await prove();
  pt.push(Number(process.hrtime.bigint() - t0) / 1e6);
  t0 = process.hrtime.bigint();
  const ok = await snarkjs.groth16.verify(vk, publicSignals, proof);
  vt.push(Number(process.hrtime.bigint() - t0) / 1e6);
  if (!ok) throw new Error("snarkjs proof did not verify");
}
const s = (a) => a.slice().sort((x, y) => x - y);
const pc = (a, p) => s(a)[Math.max(1, Math.ceil(p / 100 * a.length)) - 1];
const r3 = (v) => Math.round(v * 1000) / 1000;
console.log(JSON.stringify({ kind, run: Number(run), template: t, rounds: pt.length,
  prove_ms: { p50: r3(pc(pt, 50)), p99: r3(pc(pt, 99)), mean: r3(pt.reduce((a, b) => a + b) / pt.length) },
  verify_ms: { p50: r3(pc(vt, 50)), p99: r3(pc(vt, 99)) } }));
process.exit(0);
'

# run template: snarkjs setup, then the JS API, then the CLIs alternating.
snark() {
    local run=$1 t=$2 w="$DIR/r$1-$2"
    local n ptau
    n=$("$VESPER" zk compile "templates/$t.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["constraints"])')
    ptau=$(ptau_for "$n")
    if [ -z "$ptau" ]; then echo "  $t: no prepared ptau fits $n constraints; skipped" >&2; return; fi
    "$VESPER" zk setup "templates/$t.json" --out "$w" >/dev/null
    "$VESPER" zk export "$w" --r1cs "$w/c.r1cs" --wtns "$w/w.wtns" --input "$DIR/$t.req.json" \
        --today "$TODAY" --binding 12345 >/dev/null
    local s0 s1
    s0=$(date +%s%N)
    "$SNARKJS" groth16 setup "$w/c.r1cs" "$ptau" "$w/c.zkey" >/dev/null
    s1=$(date +%s%N)
    "$SNARKJS" zkey export verificationkey "$w/c.zkey" "$w/vk_snarkjs.json" >/dev/null
    echo "{\"kind\":\"snarkjs_setup\",\"run\":$run,\"template\":\"$t\",\"ms\":$(( (s1 - s0) / 1000000 )),\"ptau\":\"$(basename "$ptau")\"}" >>"$RES"
    # snarkjs's JS API, one process: zkey and witness read into memory once, 2 warm-up proofs;
    # as it comes (ffjavascript's worker threads, one per core), then pinned to one core.
    SNARKJS_MAIN=$SNARKJS_MAIN node --input-type=module -e "$SNARK_API" "$w" "$t" "$run" "$ROUNDS" snarkjs_api >>"$RES"
    SNARKJS_MAIN=$SNARKJS_MAIN taskset -c 0 node --input-type=module -e "$SNARK_API" "$w" "$t" "$run" "$ROUNDS" snarkjs_api_1core >>"$RES"
    # The CLIs, alternating: each includes its process start and reading its keys.
    python3 - "$w" "$t" "$run" "$SROUNDS" "$VESPER" "$SNARKJS" "$DIR/$t.req.json" "$TODAY" >>"$RES" <<'EOF'
import json, statistics, subprocess, sys, time
w, t, run, rounds, vesper, snarkjs, req, today = sys.argv[1:]
def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000
vp, sp, vv, sv = [], [], [], []
for i in range(int(rounds)):
    vp.append(timed([vesper, "zk", "prove", w, "--input", req, "--today", today, "--binding", "12345", "--out", f"{w}/vproof"]))
    sp.append(timed([snarkjs, "groth16", "prove", f"{w}/c.zkey", f"{w}/w.wtns", f"{w}/sproof.json", f"{w}/spublic.json"]))
    vv.append(timed([vesper, "zk", "verify", "--vk", f"{w}/verification_key.json", "--proof", f"{w}/vproof/proof.json", "--public", f"{w}/vproof/public.json"]))
    sv.append(timed([snarkjs, "groth16", "verify", f"{w}/vk_snarkjs.json", f"{w}/spublic.json", f"{w}/sproof.json"]))
same = json.load(open(f"{w}/vproof/public.json")) == json.load(open(f"{w}/spublic.json"))
m = lambda a: round(statistics.median(a), 1)
print(json.dumps({"kind": "cli", "run": int(run), "template": t, "rounds": len(vp),
    "vesper_prove_ms": m(vp), "snarkjs_prove_ms": m(sp), "vesper_verify_ms": m(vv),
    "snarkjs_verify_ms": m(sv), "same_public_signals": same}, separators=(",", ":")))
EOF
}

# run: `vesper dev --workers 2`, deploy age_verification, PROVES proofs at each of CONCS at once.
through() {
    local run=$1 data="$DIR/dev-$1" port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    VESPER_LOG=warn "$VESPER" dev --workers "$WORKERS" --data "$data" --listen "127.0.0.1:$port" >"$data.log" 2>&1 &
    DPID=$!
    for _ in $(seq 400); do [ -s "$data/dev-api-key" ] && grep -q "Press Ctrl-C" "$data.log" 2>/dev/null && break; sleep 0.05; done
    python3 - "$port" "$data/dev-api-key" "$run" "$PROVES" "$CONCS" "$WORKERS" >>"$RES" <<'EOF'
import http.client, json, re, statistics, sys, threading, time
port, keyfile, run, n, concs, workers = sys.argv[1:]
n = int(n)
key = re.search(r"vsk_[0-9a-f]+", open(keyfile).read()).group(0)
H = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
def post(conn, path, body):
    conn.request("POST", path, json.dumps(body), H)
    r = conn.getresponse()
    return r.status, json.loads(r.read())
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
st, d = post(c, "/api/deploy", {"dsl": json.load(open("templates/age_verification.json")), "customer_id": "bench-age"})
assert st in (200, 201), (st, d)
REQ = {"customer_id": "bench-age", "private_inputs": {"user_data": {"date_of_birth": "1990-01-01"}},
       "public_params": {"min_age": 18}}
# Warm-up: each worker loads the program and its proving key once per image id.
for _ in range(4):
    st, d = post(c, "/api/prove", REQ)
    assert st == 200 and d["success"] and len(d["proof"]) == 256, (st, d)
for conc in map(int, concs.split(",")):
    lat, errors, lock, left = [], [], threading.Lock(), [n]
    def client():
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            t0 = time.perf_counter()
            st, d = post(conn, "/api/prove", REQ)
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                if st == 200 and d.get("success"):
                    lat.append(ms)
                else:
                    errors.append((st, d))
    t0 = time.perf_counter()
    ts = [threading.Thread(target=client) for _ in range(conc)]
    for t in ts: t.start()
    for t in ts: t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    pc = lambda p: lat[max(1, -(-p * len(lat) // 100)) - 1]
    print(json.dumps({"kind": "throughput", "run": int(run), "workers": int(workers), "concurrency": conc,
        "proofs": len(lat), "errors": len(errors), "wall_s": round(wall, 3),
        "proofs_per_s": round(len(lat) / wall, 2), "p50_ms": round(pc(50), 1), "p99_ms": round(pc(99), 1)},
        separators=(",", ":")), flush=True)
    if errors:
        print(errors[:3], file=sys.stderr)
EOF
    kill "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=""
}

for run in $(seq "$RUNS"); do
    echo "### run $run"
    "$VESPER" zk bench --rounds "$ROUNDS" | tee "$DIR/bench-$run.txt" | grep -v '^{'
    grep '^{' "$DIR/bench-$run.txt" | sed "s/^{/{\"kind\":\"vesper\",\"run\":$run,/" >>"$RES"
    # The same, pinned to one core: the per-core comparison with snarkjs on one core.
    taskset -c 0 "$VESPER" zk bench --rounds "$ROUNDS" --templates "$SNARK_TEMPLATES" | grep '^{' \
        | sed "s/^{/{\"kind\":\"vesper_1core\",\"run\":$run,/" >>"$RES"
    for t in ${SNARK_TEMPLATES//,/ }; do
        snark "$run" "$t"
    done
    through "$run"
    grep "\"run\":$run" "$RES" | grep -v '"kind":"vesper"'
done

python3 - "$RES" "$RUNS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = lambda xs: statistics.median(xs) if xs else float("nan")
def pick(kind, t=None):
    return [r for r in rows if r["kind"] == kind and (t is None or r.get("template") == t)]
print(f"\n### medians of {sys.argv[2]} runs")
print(f"{'template':<20} {'constr':>6} {'setup ms':>9} {'prove p50':>9} {'p99':>7} {'mean':>7} {'verify p50':>10} {'p99':>6} {'proof':>5} {'pk bytes':>9}")
ceiling = {}
for t in dict.fromkeys(r["template"] for r in pick("vesper")):
    v = pick("vesper", t)
    g = lambda f: med([f(r) for r in v])
    ceiling[t] = g(lambda r: r["proofs_per_s"])
    print(f"{t:<20} {v[0]['constraints']:>6} {g(lambda r: r['setup_ms']):>9.1f} {g(lambda r: r['prove_ms']['p50']):>9.2f} "
          f"{g(lambda r: r['prove_ms']['p99']):>7.2f} {g(lambda r: r['prove_ms']['mean']):>7.2f} "
          f"{g(lambda r: r['verify_ms']['p50']):>10.2f} {g(lambda r: r['verify_ms']['p99']):>6.2f} {v[0]['proof_bytes']:>5} {v[0]['proving_key_bytes']:>9}")
for t in dict.fromkeys(r["template"] for r in pick("snarkjs_api")):
    vr = {r["run"]: r for r in pick("vesper", t)}
    print(f"{t}: Vesper prove p50 {med([r['prove_ms']['p50'] for r in vr.values()]):.2f} ms, verify p50 {med([r['verify_ms']['p50'] for r in vr.values()]):.2f} ms; "
          f"snarkjs setup {med([r['ms'] for r in pick('snarkjs_setup', t)]):.0f} ms")
    v1 = {r["run"]: r for r in pick("vesper_1core", t)}
    print(f"  Vesper pinned to one core: prove p50 {med([r['prove_ms']['p50'] for r in v1.values()]):.2f} ms")
    for kind, label, base in (("snarkjs_api", "snarkjs API, its threads, vs Vesper on every core", vr),
                              ("snarkjs_api_1core", "snarkjs API, one core, vs Vesper on one core", v1)):
        vr_ = base
        a = pick(kind, t)
        ratios = [r["prove_ms"]["p50"] / vr_[r["run"]]["prove_ms"]["p50"] for r in a if r["run"] in vr_]
        vratios = [r["verify_ms"]["p50"] / vr_[r["run"]]["verify_ms"]["p50"] for r in a if r["run"] in vr_]
        print(f"  {label}: prove p50 {med([r['prove_ms']['p50'] for r in a]):.2f} ms (p99 {med([r['prove_ms']['p99'] for r in a]):.2f}), "
              f"verify p50 {med([r['verify_ms']['p50'] for r in a]):.2f} ms; snarkjs/Vesper: prove {med(ratios):.2f}x "
              f"(runs: {', '.join(f'{x:.2f}' for x in ratios)}), verify {med(vratios):.1f}x")
    cli = pick("cli", t)
    if cli:
        g = lambda k: med([r[k] for r in cli])
        print(f"  CLIs (median per run, medians of runs): vesper prove {g('vesper_prove_ms'):.1f} ms, snarkjs prove {g('snarkjs_prove_ms'):.1f} ms "
              f"({g('snarkjs_prove_ms') / g('vesper_prove_ms'):.1f}x); vesper verify {g('vesper_verify_ms'):.1f} ms, snarkjs verify {g('snarkjs_verify_ms'):.1f} ms; "
              f"same public signals: {all(r['same_public_signals'] for r in cli)}")
# The ceiling for 2 workers: two proofs at once, each on one core (the one-core rate, twice).
one = pick("vesper_1core", "age_verification")
c = med([r["proofs_per_s"] for r in one]) if one else None
if ceiling.get("age_verification"):
    print(f"age_verification in process: {ceiling['age_verification']:.1f} proofs/s on every core, "
          + (f"{c:.1f}/s on one core" if c else "no one-core figure"))
for conc in sorted({r["concurrency"] for r in pick("throughput")}):
    th = [r for r in pick("throughput") if r["concurrency"] == conc]
    pps = med([r["proofs_per_s"] for r in th])
    print(f"{th[0]['workers']}-worker throughput, age_verification, {conc} at once: {pps:.1f} proofs/s (runs: {', '.join(str(r['proofs_per_s']) for r in th)}), "
          f"p50 {med([r['p50_ms'] for r in th]):.1f} ms, p99 {med([r['p99_ms'] for r in th]):.1f} ms, errors {sum(r['errors'] for r in th)}"
          + (f"; {pps / c:.2f}x the in-process one-core rate ({c:.1f}/s), {pps / (2 * c):.2f} of two cores' ({2 * c:.1f}/s)" if c else ""))
EOF

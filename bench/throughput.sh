#!/usr/bin/env bash
# Issue [G]: jobs/s as a fraction of the in-run ceiling, this build side by side with an
# earlier one, interleaved round by round on the same machine:
#   - embedded store, in-process client (`vesper bench`), 2 workers;
#   - Redis (AOF, appendfsync always), in-process client, 2 workers;
#   - embedded store, the client in its own process (`vesper dev` + `vesper bench --target`).
# The earlier build runs the same commands without `--ceiling` (it has none). Medians at the end.
#
#   BEFORE=/path/to/earlier/vesper ROUNDS=3 bench/throughput.sh
#
# Build the earlier binary in a worktree:
#   git worktree add /tmp/before <commit> && (cd /tmp/before && cargo build --release -p vesper)
# Needs redis-server and a release build of this tree (`cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-10000}
CONC=${CONC:-64}
LOW=${LOW:-300}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-2}
VESPER=$PWD/target/release/vesper
BEFORE=${BEFORE:-}
[ -x "$VESPER" ] || { echo "build first: cargo build --release" >&2; exit 1; }

DIR=$(mktemp -d)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' \
    --appendonly yes --appendfsync always >"$DIR/redis.log" 2>&1 &
RPID=$!
DPID=""
trap 'kill $RPID $DPID 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
REDIS="redis://127.0.0.1:$PORT/0"
OUT="$DIR/results"

# label binary store [extra args]: one in-process run; keeps its lines under the label.
inproc() {
    local label=$1 bin=$2 store=$3
    shift 3
    echo "### $label"
    # Start from a quiet machine: the previous run's files written out and deleted.
    sync; sleep 1
    "$bin" bench --store "$store" --workers "$WORKERS" --jobs "$JOBS" --concurrency "$CONC" \
        --low-load-jobs "$LOW" "$@" | grep -v '^vesper bench' | tee -a "$DIR/$label.log"
}

# label binary: `vesper dev` in one process, `vesper bench --target` in another.
outproc() {
    local label=$1 bin=$2
    shift 2
    local data="$DIR/dev-$RANDOM" gw
    gw=$(free_port)
    VESPER_LIMITS_TENANT_RATE_PER_SEC=0 VESPER_LIMITS_IP_RATE_PER_SEC=0 \
        VESPER_QUOTAS_MAX_QUEUED=0 VESPER_LOG=warn \
        "$bin" dev --data "$data" --listen "127.0.0.1:$gw" --workers "$WORKERS" >"$data.log" 2>&1 &
    DPID=$!
    for _ in $(seq 400); do grep -q "Press Ctrl-C" "$data.log" 2>/dev/null && break; sleep 0.05; done
    sync; sleep 1
    echo "### $label"
    VESPER_API_KEY=$(grep -o "vsk_[0-9a-f]*" "$data/dev-api-key") "$VESPER" bench --target "http://127.0.0.1:$gw" \
        --jobs "$JOBS" --concurrency "$CONC" "$@" | grep -v '^vesper bench' | tee -a "$DIR/$label.log"
    kill "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=""
    rm -rf "$data"
}

for r in $(seq "$ROUNDS"); do
    echo "======== round $r of $ROUNDS"
    [ -n "$BEFORE" ] && inproc before-embedded "$BEFORE" embedded
    inproc after-embedded "$VESPER" embedded --ceiling
    [ -n "$BEFORE" ] && inproc before-redis "$BEFORE" "$REDIS"
    inproc after-redis "$VESPER" "$REDIS" --ceiling
    outproc after-embedded-outproc "$VESPER" --ceiling
done

echo "======== medians over $ROUNDS rounds"
python3 - "$DIR" <<'EOF'
import re, statistics, sys, pathlib
d = pathlib.Path(sys.argv[1])
def med(xs): return statistics.median(xs) if xs else float("nan")
rows = {}
for f in sorted(d.glob("*.log")):
    if f.name.startswith("dev-") or f.stem == "redis": continue
    t = f.read_text()
    thr = [float(x) for x in re.findall(r"throughput \([^)]*\): (\d+) jobs/s", t)]
    frac = [float(x) for x in re.findall(r"(\d+) % of the in-run ceiling", t)]
    par = [float(x) for x in re.findall(r"(\d+) % of what \d+ threads do at once", t)]
    # The ceiling each fraction was taken of (the faster of the measurements before and after
    # the run), as the throughput line states it.
    ceil = [float(x) for x in re.findall(r"% of the in-run ceiling of (\d+) jobs/s", t)]
    lp50 = [float(x) for x in re.findall(r"low load .*: p50 ([\d.]+) ms", t)]
    lp99 = [float(x) for x in re.findall(r"low load .*p99 ([\d.]+) ms", t)]
    # CPU per job in the window: this process (+ redis-server), or the --target client's own.
    cpu = [float(a) + float(b or 0) for a, b in re.findall(
        r"CPU per job in the window: (\d+) µs in this process(?: \+ (\d+) µs in redis-server)?", t)] \
        or [float(x) for x in re.findall(r"client CPU per job in the window: (\d+) µs", t)]
    rows[f.stem] = (med(thr), med(frac), med(ceil), med(par), med(lp50), med(lp99), thr, med(cpu))
for k, (thr, frac, ceil, par, lp50, lp99, all_, cpu) in rows.items():
    print(f"{k:26} {thr:7.0f} jobs/s  {frac:4.0f} % of ceiling {ceil:6.0f} ({par:3.0f} % of all cores at once)  low-load p50 {lp50:5.2f} ms p99 {lp99:5.2f} ms  CPU/job {cpu:5.0f} µs  runs {all_}")
if "before-embedded" in rows:
    print(f"embedded after/before: {rows['after-embedded'][0] / rows['before-embedded'][0]:.2f}x")
if "before-redis" in rows:
    print(f"redis after/before: {rows['after-redis'][0] / rows['before-redis'][0]:.2f}x")
print(f"redis/embedded (after, same rounds): {rows['after-redis'][0] / rows['after-embedded'][0]:.2f}x")
EOF

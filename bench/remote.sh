#!/usr/bin/env bash
# Remote workers over libp2p vs in-process workers, same machine, same embedded store, same
# number of workers: `vesper dev` with N in-process workers, then `vesper dev --workers 0` with
# one `vesper worker --connect` process running N workers over loopback TCP + Noise + Yamux.
# Each is loaded with `vesper bench --target` (every receipt verified, every result
# decrypted, exactly-once checked).
#
#   bench/remote.sh        # JOBS=5000 CONC=32 WORKERS=2 RUNS=3
#
# Needs a release build (`cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-5000}
CONC=${CONC:-32}
N=${WORKERS:-2}
RUNS=${RUNS:-3}
VESPER=$PWD/target/release/vesper
[ -x "$VESPER" ] || { echo "build first: cargo build --release" >&2; exit 1; }

DIR=$(mktemp -d)
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap 'stop; rm -rf "$DIR"' EXIT
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export VESPER_LIMITS_TENANT_RATE_PER_SEC=0 VESPER_LIMITS_IP_RATE_PER_SEC=0 VESPER_QUOTAS_MAX_QUEUED=0
export VESPER_LOG=warn

wait_up() { for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.05; done; cat "$1"; exit 1; }

bench() {
    local url=$1 key=$2
    "$VESPER" bench --target "$url" --api-key "$key" --jobs "$JOBS" --concurrency "$CONC" |
        grep -E "throughput"
}

for run in $(seq "$RUNS"); do
    # In-process workers.
    H=$(port)
    "$VESPER" dev --data "$DIR/local$run" --listen "127.0.0.1:$H" --workers "$N" >"$DIR/local$run.log" 2>&1 &
    PIDS+=($!)
    wait_up "$DIR/local$run.log" "Press Ctrl-C"
    KEY=$(cut -d: -f2 "$DIR/local$run/dev-api-key")
    echo "run $run in-process ($N workers): $(bench "http://127.0.0.1:$H" "$KEY")"
    stop

    # The same number of workers in one remote worker process, over libp2p on loopback.
    H=$(port)
    P=$(port)
    GH="$DIR/gwhome$run" WH="$DIR/whome$run"
    GW_ID=$("$VESPER" id --home "$GH" 2>/dev/null)
    W_ID=$("$VESPER" id --home "$WH" 2>/dev/null)
    "$VESPER" peers add "$W_ID" --home "$GH" >/dev/null
    "$VESPER" peers add "$GW_ID" --home "$WH" >/dev/null
    "$VESPER" dev --data "$DIR/remote$run" --listen "127.0.0.1:$H" --workers 0 \
        --p2p-listen "/ip4/127.0.0.1/tcp/$P" --home "$GH" >"$DIR/remote$run.log" 2>&1 &
    PIDS+=($!)
    wait_up "$DIR/remote$run.log" "Press Ctrl-C"
    VESPER_LOG=info "$VESPER" worker --connect "/ip4/127.0.0.1/tcp/$P/p2p/$GW_ID" --home "$WH" \
        --workers "$N" >"$DIR/w$run.log" 2>&1 &
    PIDS+=($!)
    wait_up "$DIR/w$run.log" "remote worker serving"
    KEY=$(cut -d: -f2 "$DIR/remote$run/dev-api-key")
    echo "run $run remote ($N workers over libp2p): $(bench "http://127.0.0.1:$H" "$KEY")"
    stop
done

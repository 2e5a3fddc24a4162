#!/usr/bin/env bash
# Two gateways and three workers (separate processes) on one Redis (AOF, appendfsync always),
# loaded through both gateways; every receipt verified, every result decrypted, the tenant's
# listing checked for exactly one job per submission.
#
#   bench/scale-out.sh                 # JOBS=100000 CONC=64 WORKERS_PER_NODE=1
#
# Needs redis-server and a release build (`cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-100000}
CONC=${CONC:-64}
PER=${WORKERS_PER_NODE:-1}
VESPER=$PWD/target/release/vesper
[ -x "$VESPER" ] || { echo "build first: cargo build --release" >&2; exit 1; }

DIR=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' \
    --appendonly yes --appendfsync always >"$DIR/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
STORE="redis://127.0.0.1:$PORT/0"
# Unlimited rates and queue for the run: we measure the pipeline, not the limits.
export VESPER_LIMITS_TENANT_RATE_PER_SEC=0 VESPER_LIMITS_IP_RATE_PER_SEC=0 VESPER_QUOTAS_MAX_QUEUED=0
export VESPER_LOG=warn

for i in 1 2 3; do
    "$VESPER" worker --store "$STORE" --data "$DIR/w$i" --pool-key "$DIR/pool.x25519" \
        --workers "$PER" >"$DIR/w$i.log" 2>&1 &
    PIDS+=($!)
    # The first worker creates the pool key file; the others read it.
    [ "$i" = 1 ] && for _ in $(seq 200); do [ -s "$DIR/pool.x25519" ] && break; sleep 0.05; done
done
G1=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
G2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$VESPER" gateway --store "$STORE" --data "$DIR/g1" --listen "127.0.0.1:$G1" >"$DIR/g1.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do grep -q "Press Ctrl-C" "$DIR/g1.log" 2>/dev/null && break; sleep 0.05; done
"$VESPER" gateway --store "$STORE" --data "$DIR/g2" --listen "127.0.0.1:$G2" >"$DIR/g2.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do grep -q "Press Ctrl-C" "$DIR/g2.log" 2>/dev/null && break; sleep 0.05; done
KEY=$(grep -A1 "bootstrap API key" "$DIR/g1.log" | tail -1 | tr -d ' ')

echo "2 gateways, 3 worker processes x $PER workers, Redis $STORE"
VESPER_API_KEY="$KEY" "$VESPER" bench --target "http://127.0.0.1:$G1,http://127.0.0.1:$G2" \
    --jobs "$JOBS" --concurrency "$CONC"
echo "redis: $(redis-cli -p "$PORT" info memory | grep used_memory_human)"

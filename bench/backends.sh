#!/usr/bin/env bash
# Throughput and submit→result latency on the embedded store and on Redis (AOF,
# appendfsync always), for 1, 2, 4 and 8 workers; then the cost per job with 10^3, 10^5 and
# 10^6 jobs queued behind the measured ones. One `vesper bench` per line of output.
#
#   bench/backends.sh                  # JOBS=5000 CONC=64 LOW=200
#   PREFILLS="1000 100000" bench/backends.sh queue
#
# Needs redis-server and a release build (`cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-5000}
CONC=${CONC:-64}
LOW=${LOW:-200}
WORKERS=${WORKERS:-"1 2 4 8"}
PREFILLS=${PREFILLS:-"1000 100000 1000000"}
WHAT=${1:-all}
VESPER=$PWD/target/release/vesper
[ -x "$VESPER" ] || { echo "build first: cargo build --release" >&2; exit 1; }

DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' \
    --appendonly yes --appendfsync always >"$DIR/redis.log" 2>&1 &
RPID=$!
trap 'kill $RPID 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
REDIS="redis://127.0.0.1:$PORT/0"

run() { # store workers prefill
    echo "### store=$1 workers=$2 prefill=$3"
    # Start from a quiet machine: the previous run's files written out and deleted.
    sync; sleep 1
    "$VESPER" bench --store "$1" --workers "$2" --prefill "$3" --ceiling \
        --jobs "$JOBS" --concurrency "$CONC" --low-load-jobs "$LOW" | grep -v '^vesper bench'
}

if [ "$WHAT" = all ] || [ "$WHAT" = workers ]; then
    for w in $WORKERS; do
        run embedded "$w" 0
        run "$REDIS" "$w" 0
    done
fi
if [ "$WHAT" = all ] || [ "$WHAT" = queue ]; then
    for n in $PREFILLS; do
        run embedded 2 "$n"
        run "$REDIS" 2 "$n"
        redis-cli -p "$PORT" info memory | grep used_memory_human
    done
fi

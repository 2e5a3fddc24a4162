#!/usr/bin/env bash
# Vesper vs Celery, side by side on the same Redis (AOF, appendfsync always), doing the same
# per-job work: open an X25519/AES-256-GCM envelope, run the trivial program, seal the result
# to the client's key, sign an Ed25519 receipt. Prints both tables; docs/PERFORMANCE.md
# records the figures.
#
#   bench/celery/run.sh                # defaults: JOBS=5000 CONC=64 LOW=300 WORKERS=2
#   JOBS=20000 WORKERS=4 bench/celery/run.sh
#
# Needs: redis-server, python3 (a virtualenv with Celery is made in target/celery-venv),
# and a release build (`cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
JOBS=${JOBS:-5000}
CONC=${CONC:-64}
LOW=${LOW:-300}
WORKERS=${WORKERS:-2}
VENV=$ROOT/target/celery-venv
VESPER=$ROOT/target/release/vesper

[ -x "$VESPER" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is needed" >&2; exit 1; }
if [ ! -x "$VENV/bin/celery" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'celery[redis]>=5.4,<6' 'cryptography>=43'
fi
"$VENV/bin/python" -c 'import celery, cryptography; print("celery", celery.__version__, "cryptography", cryptography.__version__)'

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' \
    --appendonly yes --appendfsync always >"$DIR/redis.log" 2>&1 &
RPID=$!
CPID=""
cleanup() { [ -n "$CPID" ] && kill "$CPID" 2>/dev/null; kill "$RPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

export CELERY_BROKER="redis://127.0.0.1:$PORT/0" BENCH_KEYS="$DIR/keys"
cd "$ROOT/bench/celery"
"$VENV/bin/python" driver.py --init-keys
"$VENV/bin/celery" -A tasks worker --concurrency "$WORKERS" --pool prefork \
    --loglevel warning --without-gossip --without-mingle --without-heartbeat >"$DIR/celery.log" 2>&1 &
CPID=$!
for _ in $(seq 200); do
    "$VENV/bin/celery" -A tasks inspect ping >/dev/null 2>&1 && break
    sleep 0.1
done

echo "== Celery: $WORKERS prefork worker processes, Redis broker and result backend =="
"$VENV/bin/python" driver.py --jobs "$JOBS" --concurrency "$CONC" --low-load-jobs "$LOW"
kill "$CPID"; wait "$CPID" 2>/dev/null || true; CPID=""

echo "== Vesper: $WORKERS workers, same Redis (gateway over HTTP included) =="
cd "$ROOT"
"$VESPER" bench --store "redis://127.0.0.1:$PORT/0" --workers "$WORKERS" --ceiling \
    --jobs "$JOBS" --concurrency "$CONC" --low-load-jobs "$LOW"

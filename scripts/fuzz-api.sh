#!/usr/bin/env bash
# Fuzz the HTTP API against its own OpenAPI document with Schemathesis.
#
# Starts `vesper dev` on a free loopback port with a throw-away data directory (rate limits
# off, so the fuzz is not turned into 429s), then runs `schemathesis run` on
# /api/openapi.json with the dev API key. Every operation is called with generated valid and
# invalid requests, and every response is checked with every Schemathesis check (`--checks
# all`): no 5xx, a documented status, content type and headers, a body that matches the
# documented schema, invalid input refused, valid input accepted, authentication enforced,
# resources available after creation. The node is stopped at the end. One check is off, with
# its reason: `use_after_free` expects a resource to be gone after its DELETE, but
# `DELETE /api/jobs/{id}` cancels a job, which stays readable (status `cancelled`).
#
# Usage: scripts/fuzz-api.sh [--bin PATH] [--max-examples N] [--max-time SECONDS]
#                            [--seed N] [-- extra schemathesis args]
#   --bin PATH         a built `vesper` binary (default: cargo build --release, target/release/vesper)
#   --max-examples N   generated cases per operation and phase (default 50)
#   --max-time S       time budget for the whole run (default 300)
#   --seed N           reproduce a run
# Environment: FUZZ_VENV (default target/fuzz-venv), FUZZ_KEEP=1 keeps the data directory
# and the node's log, SCHEMATHESIS_SPEC (default "schemathesis>=4,<5").
#
# GET /api/events is left out: a stream without ?job_id= stays open for an hour, which
# Schemathesis would count as a timeout. The integration test (crates/vesper/tests/it/openapi.rs)
# checks it against the document instead.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=""
max_examples=50
max_time=300
seed=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --max-examples) max_examples=$2; shift 2 ;;
        --max-time) max_time=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "fuzz-api: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

# 1. Schemathesis in a virtual environment of its own.
venv=${FUZZ_VENV:-$root/target/fuzz-venv}
if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "fuzz-api: installing Schemathesis into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "${SCHEMATHESIS_SPEC:-schemathesis>=4,<5}"
fi
py="$venv/bin/python"
echo "fuzz-api: $("$venv/bin/schemathesis" --version)" >&2

# 2. The node binary.
if [ -z "$bin" ]; then
    (cd "$root" && cargo build --release -p vesper)
    bin=$root/target/release/vesper
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# 3. A throw-away node on a free loopback port. Run from the temp directory so that no
#    ./vesper.toml of the caller's is picked up.
work=$(mktemp -d "${TMPDIR:-/tmp}/vesper-fuzz.XXXXXX")
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export VESPER_LIMITS_TENANT_RATE_PER_SEC=0 VESPER_LIMITS_IP_RATE_PER_SEC=0
(cd "$work" && "$bin" config show) | grep -q '^tenant_rate_per_sec = 0$' || {
    echo "fuzz-api: vesper does not read VESPER_LIMITS_TENANT_RATE_PER_SEC" >&2
    exit 1
}
(cd "$work" && exec "$bin" dev --data "$work/data" --listen "127.0.0.1:$port" --workers 2) \
    >"$work/node.log" 2>&1 &
node=$!
cleanup() {
    kill -INT "$node" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$node" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$node" 2>/dev/null || true
    wait "$node" 2>/dev/null || true
    if [ "${FUZZ_KEEP:-0}" = 1 ]; then
        echo "fuzz-api: kept $work (node.log, data/, report/)" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

"$py" - "$base/health" <<'EOF' || { cat "$work/node.log" >&2; exit 1; }
import sys, time, urllib.request
deadline = time.time() + 60
while True:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2).read()
        break
    except Exception:
        if time.time() > deadline:
            sys.exit("fuzz-api: the node did not come up within 60 s")
        time.sleep(0.2)
EOF
key=$(cut -d: -f2- "$work/data/dev-api-key" | tr -d '[:space:]')
[ -n "$key" ] || { echo "fuzz-api: no dev API key in $work/data/dev-api-key" >&2; exit 1; }
# A second tenant, the documented example name, for the admin routes to act on; and a few
# real jobs (sealed by the CLI), so that the links from GET /api/jobs lead the stateful phase
# to real job ids: statuses, results, refused cancellations.
(cd "$work" && "$bin" tenant create acme --data "$work/data") >/dev/null
(
    cd "$work"
    "$bin" keygen --out "$work/client.key" >/dev/null
    printf 'hello fuzzer\n' >"$work/input.txt"
    for program in wordcount sha256; do
        VESPER_STATE_DIR="$work/state" "$bin" submit --gateway "$base" \
            --api-key-file "$work/data/dev-api-key" \
            --identity "$work/client.key" --program "$root/examples/$program.wat" \
            --input "$work/input.txt" --wait --out /dev/null
    done
) >"$work/seed.log" 2>&1 || { cat "$work/seed.log" >&2; exit 1; }
# What schema-valid submissions must name to be accepted (positive cases get them, below):
# the current pool key and the registered programs.
export FUZZ_KEY_ID FUZZ_PROGRAM_IDS
FUZZ_KEY_ID=$("$py" -c 'import json, sys, urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["pool_keys"][0]["key_id"])' "$base/api/keys")
FUZZ_PROGRAM_IDS=$(grep -o 'ran program [0-9a-f]\{64\}' "$work/seed.log" | awk '{print $3}' | sort -u | paste -sd, -)
[ -n "$FUZZ_KEY_ID" ] && [ -n "$FUZZ_PROGRAM_IDS" ] || {
    echo "fuzz-api: could not read the pool key id or the seeded program ids" >&2
    exit 1
}

# 4. Hooks: generate schema-valid `application/wasm` bodies as modules (the `\0asm` header
#    the schema's pattern names; Schemathesis does not apply patterns to binary bodies) and
#    send any body as raw bytes; give schema-valid submissions what they must name (the current pool
#    key, a registered program, a fresh Idempotency-Key), which no static schema can say;
#    never disable the tenant whose key the fuzzer holds.
cat >"$work/fuzz_api_hooks.py" <<'EOF'
import json
import os
import uuid

import schemathesis
from hypothesis import strategies as st

# Schema-valid modules: binary bodies that start with the WebAssembly header.
schemathesis.openapi.media_type(
    "application/wasm",
    st.binary(max_size=2048).map(lambda b: b"\0asm\x01\x00\x00\x00" + b),
)

KEY_ID = os.environ["FUZZ_KEY_ID"]
PROGRAM_IDS = os.environ["FUZZ_PROGRAM_IDS"].split(",")


def _name_real_things(job, i):
    if isinstance(job, dict):
        job["key_id"] = KEY_ID
        if job.get("program_id") is not None:
            job["program_id"] = PROGRAM_IDS[i % len(PROGRAM_IDS)]


@schemathesis.serializer("application/wasm")
def wasm(ctx, value):
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


@schemathesis.hook
def before_call(ctx, case, kwargs):
    # Disabling `dev` (reachable through the tenant list) would lock the fuzzer out.
    params = case.path_parameters or {}
    if case.operation.path.endswith("/disable") and params.get("name") == "dev":
        params["name"] = "not-the-fuzzers-tenant"
    # Wholly positive cases only: negative ones (in any component) must stay as generated.
    positive = (
        case.meta is not None
        and case.meta.generation.mode.is_positive
        and not any(c.mode.is_negative for c in case.meta.components.values())
    )
    if positive and case.operation.path in ("/api/submit", "/api/submit/batch"):
        body = case.body
        if case.operation.path == "/api/submit":
            _name_real_things(body, 0)
        elif isinstance(body, dict) and isinstance(body.get("jobs"), list):
            for i, job in enumerate(body["jobs"]):
                _name_real_things(job, i)
        headers = case.headers or {}
        for name in list(headers):
            if name.lower() == "idempotency-key":
                headers[name] = uuid.uuid4().hex
EOF
# Positive cases may still name something the gateway refuses on purpose (a callback to a
# private address: 422 callback_address_refused). 422 is a semantic refusal of a well-formed
# request, not a malformed one, so the positive-data check accepts it.
cat >"$work/schemathesis.toml" <<'EOF'
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
EOF

# 5. Fuzz.
args=(
    --config-file "$work/schemathesis.toml"
    run "$base/api/openapi.json"
    --header "Authorization: Bearer $key"
    --checks all
    --exclude-checks use_after_free
    --max-examples "$max_examples"
    --max-time "$max_time"
    --request-timeout 40
    --exclude-path /api/events
    --generation-with-security-parameters false
    --generation-database none
    --continue-on-failure
    --report junit --report-dir "$work/report"
    --no-color
)
[ -n "$seed" ] && args+=(--seed "$seed")
set +e
PYTHONPATH="$work" SCHEMATHESIS_HOOKS=fuzz_api_hooks "$venv/bin/schemathesis" "${args[@]}" "${extra[@]}"
status=$?
set -e
if grep -qE 'panicked|ERROR' "$work/node.log"; then
    echo "fuzz-api: the node logged errors or panics:" >&2
    grep -E 'panicked|ERROR' "$work/node.log" | head -20 >&2
    [ $status -eq 0 ] && status=1
fi
exit $status

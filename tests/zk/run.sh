#!/usr/bin/env bash
# Vesper's proofs checked by snarkjs and poseidon-lite (tests/zk/zk.test.mjs), against $VESPER_BIN.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ -z "${VESPER_BIN:-}" ] || [ ! -x "$VESPER_BIN" ]; then
    echo "run.sh: set VESPER_BIN to a built vesper binary" >&2
    exit 2
fi
export VESPER_BIN="$(realpath "$VESPER_BIN")"
npm ci --no-audit --no-fund
node --test --test-concurrency=1 zk.test.mjs
node --test --test-concurrency=1 solidity.test.mjs

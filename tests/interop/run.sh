#!/usr/bin/env bash
# The cross-implementation matrix (pytest, tests/interop) and the web console in headless
# Chromium (tests/browser), against $VESPER_BIN. Installs the Python SDK into a fresh venv and
# uses the TypeScript SDK's committed dist/ (its node_modules from `npm ci`).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -z "${VESPER_BIN:-}" ] || [ ! -x "$VESPER_BIN" ]; then
    echo "run.sh: set VESPER_BIN to a built vesper binary" >&2
    exit 2
fi
export VESPER_BIN="$(realpath "$VESPER_BIN")"
work="$(mktemp -d "${VESPER_SDK_WORK:-/tmp}/vesper-interop.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$repo"
"${PYTHON:-python3}" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "./sdk/python[eip191]" "pytest>=8" "wasmtime>=30"
if [ ! -d sdk/typescript/node_modules ]; then (cd sdk/typescript && npm ci --no-audit --no-fund); fi
(cd tests/browser && npm ci --no-audit --no-fund)
export VESPER_PYTHON="$work/venv/bin/python" VESPER_TS_CLI="$repo/sdk/typescript/dist/cli.js"
echo "== cross-implementation matrix"
"$VESPER_PYTHON" -m pytest tests/interop -ra -p no:cacheprovider --basetemp="$work/pytest"
echo "== the console in headless Chromium"
export VESPER_ARTIFACTS="${VESPER_ARTIFACTS:-$repo/target/browser-artifacts}"
(cd tests/browser && node --test --test-concurrency=1 console.test.mjs)

#!/usr/bin/env bash
# The TypeScript SDK's whole check: clean install, stale-output check (generated types and
# the committed dist/), then every test, including integration against a real vesper dev
# node. Needs VESPER_BIN (a vesper binary) and the npm registry (or its cache).
set -euo pipefail
cd "$(dirname "$0")"

if [ -z "${VESPER_BIN:-}" ]; then
  echo "test.sh: VESPER_BIN must point to a vesper binary (e.g. target/release/vesper)" >&2
  exit 1
fi
if [ ! -x "$VESPER_BIN" ]; then
  echo "test.sh: VESPER_BIN=$VESPER_BIN is not an executable file" >&2
  exit 1
fi
VESPER_BIN="$(cd "$(dirname "$VESPER_BIN")" && pwd)/$(basename "$VESPER_BIN")"
export VESPER_BIN

npm ci --no-audit --no-fund
npm test

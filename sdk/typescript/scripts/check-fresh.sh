#!/usr/bin/env bash
# Fail if the committed generated types or the committed dist/ are not what the sources
# produce now. Regenerates into a scratch directory; the working tree is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

npx --no-install openapi-typescript ../openapi.json -o "$scratch/openapi.ts" >/dev/null 2>&1
if ! cmp -s "$scratch/openapi.ts" src/generated/openapi.ts; then
  echo "src/generated/openapi.ts is stale: run 'npm run gen' and commit it" >&2
  diff -u src/generated/openapi.ts "$scratch/openapi.ts" | head -40 >&2 || true
  exit 1
fi

npx --no-install tsc -p tsconfig.json --outDir "$scratch/dist"
if ! diff -r "$scratch/dist" dist >/dev/null; then
  echo "dist/ is stale: run 'npm run build' and commit it" >&2
  diff -ru dist "$scratch/dist" | head -60 >&2 || true
  exit 1
fi
echo "generated types and dist/ are current"

#!/usr/bin/env bash
# Regenerate src/vesper_sdk/_generated.py (or the file named by $1) from sdk/openapi.json with
# the datamodel-code-generator version pinned in pyproject.toml (`pip install '.[gen]'`).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$here/src/vesper_sdk/_generated.py}")"
want="$(grep -o 'datamodel-code-generator==[0-9][0-9.]*' "$here/pyproject.toml" | cut -d= -f3)"
have="$(datamodel-codegen --version 2>/dev/null | awk '{print $NF}' || true)"
if [ "$have" != "$want" ]; then
    echo "gen_types.sh: need datamodel-code-generator $want (pip install '$here[gen]'), found $have" >&2
    exit 1
fi

header='# Generated from sdk/openapi.json by datamodel-code-generator; do not edit.
# Regenerate with sdk/python/scripts/gen_types.sh.
"""Request and response bodies of the Vesper API as TypedDicts (generated from OpenAPI)."""'

datamodel-codegen \
    --input "$here/../openapi.json" \
    --input-file-type openapi \
    --output-model-type typing.TypedDict \
    --target-python-version 3.10 \
    --enum-field-as-literal all \
    --use-schema-description \
    --use-field-description \
    --disable-timestamp \
    --formatters builtin \
    --custom-file-header "$header" \
    --output "$out"

#!/usr/bin/env bash
# Install the Python SDK into a fresh virtual environment, as on a clean machine, check that
# the generated API types are current, and run its tests against $VESPER_BIN.
#
#   VESPER_BIN=target/release/vesper bash sdk/python/test.sh [pytest args...]
#
# The environment goes under ${VESPER_SDK_WORK:-/tmp} and is removed afterwards.
set -euo pipefail

sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$sdk/../.." && pwd)"

if [ -z "${VESPER_BIN:-}" ]; then
    echo "test.sh: set VESPER_BIN to a built vesper binary (e.g. target/release/vesper)" >&2
    exit 2
fi
if [ ! -x "$VESPER_BIN" ]; then
    echo "test.sh: VESPER_BIN=$VESPER_BIN is not an executable file" >&2
    exit 2
fi
VESPER_BIN="$(realpath "$VESPER_BIN")"
export VESPER_BIN

base="${VESPER_SDK_WORK:-/tmp}"
mkdir -p "$base"
work="$(mktemp -d "$base/vesper-sdk-python.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "== fresh virtual environment in $work/venv"
"${PYTHON:-python3}" -m venv "$work/venv"
# shellcheck disable=SC1091
source "$work/venv/bin/activate"
cd "$repo"
pip install --quiet "./sdk/python[test]"

echo "== generated types are current"
bash "$sdk/scripts/gen_types.sh" "$work/_generated.py"
if ! diff -u "$sdk/src/vesper_sdk/_generated.py" "$work/_generated.py"; then
    echo "test.sh: src/vesper_sdk/_generated.py is out of date: run sdk/python/scripts/gen_types.sh" >&2
    exit 1
fi

echo "== pytest"
cd "$sdk"
export PYTHONDONTWRITEBYTECODE=1
python -m pytest -ra -p no:cacheprovider --basetemp="$work/pytest" "$@"

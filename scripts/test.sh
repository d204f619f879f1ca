#!/usr/bin/env bash
# Lint, type-check, check the import layers, then run the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k journal`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== import layers"; lint-imports
echo "== pytest"; pytest "$@"

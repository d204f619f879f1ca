#!/usr/bin/env bash
# Lint, type-check, check the import layers, then run the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k journal`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# Postgres and Redis for the topology test bed (tests/topology), from Debian's packages when missing.
bash scripts/system-packages.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== import layers"; lint-imports
echo "== pytest"; pytest "$@"

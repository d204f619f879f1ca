#!/usr/bin/env bash
# Create .venv and install the provider with its test extras. Idempotent: a second run
# only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
    .venv/bin/python -m pip install --quiet uv
fi
# Bytecode is compiled at install: environments that set PYTHONDONTWRITEBYTECODE would
# otherwise compile Airflow from source in every process a test starts (~3 s each).
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -e '.[test]'

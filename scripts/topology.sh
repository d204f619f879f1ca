#!/usr/bin/env bash
# The production-shaped test bed, by hand: Postgres, Redis, S3 (moto), Airflow api-server,
# scheduler, dag-processor, triggerer and two Celery workers (queues `a` and `b`), on the
# Kubernetes emulator (or the cluster of KRKN_TEST_KUBECONFIG). Same code as the pytest
# fixture (tests/topology/bed.py).
#   scripts/topology.sh up|down|status     (state in $KRKN_BED_ROOT, default /tmp/krkn-topology)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
    up) bash scripts/bootstrap.sh && bash scripts/system-packages.sh ;;
    down | status) ;;
    *) echo "usage: scripts/topology.sh up|down|status" >&2; exit 2 ;;
esac
exec env PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" .venv/bin/python -m tests.topology "$@"

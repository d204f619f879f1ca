#!/usr/bin/env bash
# Run the chaos_gameday DAG end to end: against the bundled Kubernetes API emulator, or
# against a real cluster when KUBECONFIG is set. Prints where the version files are.
# Knobs: DEMO_NAMESPACE (default demo: the emulator's sample workload, pods app=web),
# DEMO_HOLD_SECONDS (default 10), KRKN_ROLLBACK_LOCATION, VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# VENV=/path/to/venv uses an existing environment instead of bootstrapping .venv.
if [ -z "${VENV:-}" ]; then
    bash scripts/bootstrap.sh
    VENV="$ROOT/.venv"
fi
export PATH="$VENV/bin:$PATH"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

WORK=$(mktemp -d -t krkn-demo-XXXXXX)
export AIRFLOW_HOME="$WORK/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export KRKN_ROLLBACK_LOCATION="${KRKN_ROLLBACK_LOCATION:-$WORK/rollback}"
NAMESPACE=${DEMO_NAMESPACE:-demo}
HOLD=${DEMO_HOLD_SECONDS:-10}

EMULATOR_PID=""
cleanup() {
    if [ -n "$EMULATOR_PID" ]; then
        kill "$EMULATOR_PID" 2>/dev/null || true
        wait "$EMULATOR_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if [ -z "${KUBECONFIG:-}" ]; then
    KUBECONFIG="$WORK/kubeconfig"
    echo "== starting the Kubernetes API emulator (sample workload in namespace $NAMESPACE)"
    python -m kube_emulator --kubeconfig "$KUBECONFIG" --sample-workload >"$WORK/emulator.log" 2>&1 &
    EMULATOR_PID=$!
    # It prints "kubeconfig: PATH" once the sample workload has settled.
    for _ in $(seq 1 300); do
        grep -q '^kubeconfig:' "$WORK/emulator.log" 2>/dev/null && break
        kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$WORK/emulator.log"; exit 1; }
        sleep 0.1
    done
    grep -q '^kubeconfig:' "$WORK/emulator.log" || { echo "the emulator did not start"; cat "$WORK/emulator.log"; exit 1; }
else
    echo "== using the cluster of KUBECONFIG=$KUBECONFIG (namespace $NAMESPACE must run pods labelled app=web)"
fi
export AIRFLOW_CONN_KUBERNETES_DEFAULT="{\"conn_type\": \"kubernetes\", \"extra\": {\"kube_config_path\": \"$KUBECONFIG\"}}"

echo "== preparing Airflow in $AIRFLOW_HOME"
airflow db migrate >"$WORK/db-migrate.log" 2>&1

echo "== airflow dags test chaos_gameday"
status=0
airflow dags test chaos_gameday -c "{\"namespace\": \"$NAMESPACE\", \"hold_seconds\": $HOLD}" || status=$?

echo
echo "== version files (undo records) are in: $KRKN_ROLLBACK_LOCATION"
find "$KRKN_ROLLBACK_LOCATION" -type f | sort | sed 's/^/   /'
echo "   inspect with: KRKN_ROLLBACK_LOCATION=$KRKN_ROLLBACK_LOCATION krkn-rollback list"
exit $status

#!/usr/bin/env bash
# A gameday end to end, against the bundled Kubernetes API emulator, or against a real
# cluster when KUBECONFIG is set:
#   1. chaos_gameday: every step succeeds and cleans up after itself (rollback skipped);
#   2. chaos_undo_demo: a step fails after its change; the rollback task undoes it, the
#      run ends failed, and the demo prints the gameday report's path and `krkn-rollback list`.
# Knobs: DEMO_NAMESPACE (default demo: the emulator's sample workload, pods app=web),
# DEMO_HOLD_SECONDS (default 5), DEMO_FAIL=0 (skip part 2), KRKN_ROLLBACK_LOCATION, VENV.
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
HOLD=${DEMO_HOLD_SECONDS:-5}

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

echo "== 1/2 airflow dags test chaos_gameday (everything succeeds)"
status=0
airflow dags test chaos_gameday -c "{\"namespace\": \"$NAMESPACE\", \"hold_seconds\": $HOLD}" \
    >"$WORK/gameday.log" 2>&1 || status=$?
grep -E "state=|gameday report:|chaos experiment" "$WORK/gameday.log" | sed 's/^/   /' | tail -n 12
if [ "$status" -ne 0 ]; then
    echo "chaos_gameday failed (exit $status); its log: $WORK/gameday.log"
    exit "$status"
fi

if [ "${DEMO_FAIL:-1}" != "0" ]; then
    echo
    echo "== 2/2 airflow dags test chaos_undo_demo (a step fails after its change)"
    airflow dags test chaos_undo_demo -c "{\"namespace\": \"$NAMESPACE\"}" >"$WORK/undo.log" 2>&1 || true
    grep -E "… (undone|already_clean)|replayed|gameday report:|chaos experiment failed|refused" "$WORK/undo.log" \
        | sed -E 's/^.*(\[[0-9]+\/[0-9]+\]|replayed|gameday report:|chaos experiment failed)/   \1/' | head -n 12
    run_uuid=$(krkn-rollback list --dag-id chaos_undo_demo -o json | python -c \
        'import json, sys; runs = json.load(sys.stdin); print(runs[-1]["run_uuid"] if runs else "")')
    if [ -z "$run_uuid" ]; then
        echo "chaos_undo_demo wrote no undo record; its log: $WORK/undo.log"
        exit 1
    fi
    echo
    echo "== the run, as krkn-rollback sees it"
    krkn-rollback show "$run_uuid" | sed 's/^/   /'
    echo
    echo "== gameday report (open in a browser; also in the Airflow UI: Browse > Chaos gameday):"
    find "$KRKN_ROLLBACK_LOCATION" -name gameday-report.html -path "*$run_uuid*" | sed 's/^/   /'
    if [ -n "$(krkn-rollback list --run-uuid "$run_uuid" --state pending -o json | python -c \
        'import json, sys; print("".join(r["id"] for run in json.load(sys.stdin) for r in run["records"]))')" ]; then
        echo "records of $run_uuid are still pending; its log: $WORK/undo.log"
        exit 1
    fi
fi

echo
echo "== krkn-rollback list (version files in $KRKN_ROLLBACK_LOCATION)"
krkn-rollback list | sed 's/^/   /'
echo "   inspect with: KRKN_ROLLBACK_LOCATION=$KRKN_ROLLBACK_LOCATION krkn-rollback list -o wide"

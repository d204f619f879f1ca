#!/usr/bin/env bash
# A gameday end to end, against the bundled Kubernetes API emulator, or against a real
# cluster when KUBECONFIG is set:
#   1. chaos_gameday: every step succeeds and cleans up after itself (rollback skipped);
#   2. chaos_undo_demo: a step fails after its change; the rollback task undoes it, the
#      run ends failed, and the demo prints the gameday report's path and `krkn-rollback list`.
# Knobs: DEMO_NAMESPACE (default demo: the emulator's sample workload, pods app=web),
# DEMO_HOLD_SECONDS (default 3), DEMO_FAIL=0 (skip part 2), KRKN_ROLLBACK_LOCATION, VENV.
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
STARTED=$SECONDS

WORK=$(mktemp -d -t krkn-demo-XXXXXX)
export AIRFLOW_HOME="$WORK/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export KRKN_ROLLBACK_LOCATION="${KRKN_ROLLBACK_LOCATION:-$WORK/rollback}"
NAMESPACE=${DEMO_NAMESPACE:-demo}
HOLD=${DEMO_HOLD_SECONDS:-3}

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
    # The emulator is its own distribution (emulator/), installed by the provider's test extra.
    python -c 'import kube_emulator' 2>/dev/null || {
        echo "the Kubernetes API emulator is not installed in $VENV: pip install -e '$ROOT/emulator'"
        exit 1
    }
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

# The lines of a task log worth showing: changes, undos, verdicts, task ends, the run's state.
summarise() {
    grep -E "\[[0-9]+/[0-9]+\] |gameday report: .*\(|DagRun Finished|AirflowException: |AirflowFailException: chaos" "$1" \
        | sed -E -e 's/ \[airflow[^]]*\] loc=[^ ]*$//' -e 's/^[0-9T:.-]+Z \[[a-z ]+\] +//' \
            -e 's/^DagRun Finished: dag_id=([^,]*),.*run_duration=([0-9]+(\.[0-9])?)[^,]*, state=([a-z]+),.*/run of \1 ended \4 after \2 s/' \
            -e 's/^airflow[.a-z]*AirflowFailException: /watcher: /' -e 's/^airflow[.a-z]*AirflowException: /task failed: /' \
        | sed 's/^/   /'
    echo "   ($(( SECONDS - STARTED )) s since the demo started; full log: $1)"
}

echo "== preparing Airflow in $AIRFLOW_HOME"
airflow db migrate >"$WORK/db-migrate.log" 2>&1

# Both DAGs in one process (as `airflow dags test` runs each): Airflow starts once.
runs=(chaos_gameday "{\"namespace\": \"$NAMESPACE\", \"hold_seconds\": $HOLD}" "$WORK/gameday.log")
if [ "${DEMO_FAIL:-1}" != "0" ]; then
    runs+=(chaos_undo_demo "{\"namespace\": \"$NAMESPACE\"}" "$WORK/undo.log")
    echo "== running chaos_gameday (everything succeeds), then chaos_undo_demo (a step fails after its change)"
else
    echo "== running chaos_gameday (everything succeeds)"
fi
python scripts/demo_runs.py "${runs[@]}" >"$WORK/runs.txt" || true

echo "== 1/2 chaos_gameday"
summarise "$WORK/gameday.log"
if ! grep -qx "chaos_gameday success" "$WORK/runs.txt"; then
    echo "chaos_gameday did not succeed: $(cat "$WORK/runs.txt"); its log: $WORK/gameday.log"
    exit 1
fi

if [ "${DEMO_FAIL:-1}" != "0" ]; then
    echo
    echo "== 2/2 chaos_undo_demo: the step fails, the rollback task undoes its change, the run fails"
    summarise "$WORK/undo.log"
    if ! grep -qx "chaos_undo_demo failed" "$WORK/runs.txt"; then
        echo "chaos_undo_demo did not end failed: $(cat "$WORK/runs.txt"); its log: $WORK/undo.log"
        exit 1
    fi
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
echo "== done in $(( SECONDS - STARTED )) s"

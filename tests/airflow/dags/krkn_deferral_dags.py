"""DAGs for the deferrable-hold tests; the scenario, probes and hold come from run conf."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from krkn_airflow_provider.operators import ChaosScenarioOperator, RollbackOperator, chaos_experiment

START = datetime(2026, 1, 1)
PARAMS = {
    "scenario_type": Param("hog_scenarios", type="string"),
    "config": Param({}, type=["object", "array"]),
    "probes": Param([], type="array"),
}


def deferred_chaos(dag_id: str, dead_man_seconds: float) -> None:
    """One deferrable chaos task (rollback + watcher after it)."""
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        render_template_as_native_obj=True,
        params=PARAMS,
    ):
        chaos = ChaosScenarioOperator(
            task_id="chaos",
            scenario_type="{{ params.scenario_type }}",
            scenario_config="{{ params.config }}",  # type: ignore[arg-type]
            probes="{{ params.probes }}",  # type: ignore[arg-type]
            probe_interval=1.0,
            recovery_timeout=30.0,
            deferrable=True,
            dead_man_seconds=dead_man_seconds,
            retries=0,
        )
        chaos_experiment([chaos], rollback_kwargs={"retries": 0})


deferred_chaos("krkn_deferred", 5.0)
# A grace long enough for a triggerer to stop and start again on a busy machine.
deferred_chaos("krkn_deferred_long_grace", 120.0)

# The same, as a dry run: it must never defer.
with DAG(
    "krkn_deferred_dry_run",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
    params=PARAMS,
):
    ChaosScenarioOperator(
        task_id="chaos",
        scenario_type="{{ params.scenario_type }}",
        scenario_config="{{ params.config }}",  # type: ignore[arg-type]
        deferrable=True,
        dry_run=True,
        retries=0,
    )


# Another team's DAG: one task that needs a worker slot (for ``seconds``).
with DAG(
    "krkn_other_team",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"seconds": Param(0, type="integer")},
):

    @task
    def busy(params: dict[str, Any] | None = None) -> str:
        time.sleep(int((params or {}).get("seconds", 0)))
        return "ran"

    busy()


# A rollback of a given run that waits for another replay's claims in the triggerer.
with DAG(
    "krkn_deferred_rollback",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"run_uuid": Param("", type="string")},
):
    RollbackOperator(
        task_id="rollback",
        target_run_uuid="{{ params.run_uuid }}",
        trigger_rule="all_done",
        deferrable=True,
        retries=0,
    )


# The same chaos task holding in its worker (not deferrable): for a worker that dies.
with DAG(
    "krkn_in_worker",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
    params=PARAMS,
):
    ChaosScenarioOperator(
        task_id="chaos",
        scenario_type="{{ params.scenario_type }}",
        scenario_config="{{ params.config }}",  # type: ignore[arg-type]
        deferrable=False,
        dead_man_seconds=5.0,
        retries=0,
    )

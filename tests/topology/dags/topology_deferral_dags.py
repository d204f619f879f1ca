"""DAGs of the topology bed for deferred holds: everything on queue ``b`` (worker B, one slot)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from krkn_airflow_provider.operators import ChaosScenarioOperator, chaos_experiment

START = datetime(2026, 1, 1)

# An application outage (a NetworkPolicy) held in the triggerer; rollback and watcher on B too.
with DAG(
    "topology_deferred",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=4,
    params={"namespace": Param("default", type="string"), "hold_seconds": Param(30, type="integer")},
):
    chaos = ChaosScenarioOperator(
        task_id="chaos",
        scenario_type="application_outages_scenarios",
        scenario_config={
            "application_outage": {
                "duration": "{{ params.hold_seconds }}",
                "namespace": "{{ params.namespace }}",
                "pod_selector": {"app": "web"},
            }
        },
        deferrable=True,
        dead_man_seconds=30.0,
        queue="b",
        retries=0,
    )
    deferred = chaos_experiment([chaos], rollback_kwargs={"retries": 0, "queue": "b"})
    deferred.watcher.queue = "b"

# Another team's DAG: one short task that needs a slot on worker B.
with DAG("topology_other_team", schedule=None, start_date=START, catchup=False):

    @task(queue="b", retries=0)
    def busy() -> str:
        return "ran"

    busy()

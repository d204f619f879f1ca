"""See an undo happen: an application outage whose step fails after it cut the app off.

The outage writes its undo record, creates its deny-all NetworkPolicy, then fails (a
stand-in for any scenario that breaks half-way: a lost worker, a bug, a failed check).
Its record stays pending, so ``rollback`` deletes the NetworkPolicy, ``watcher`` fails the
run, and the gameday report says why. ``scripts/demo.sh`` runs it after the green gameday.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.operators import ChaosScenarioOperator, chaos_experiment
from krkn_airflow_provider.scenarios import known_types, register
from krkn_airflow_provider.scenarios.application_outage import ApplicationOutage


class OutageThatFails(ApplicationOutage):
    """Krkn's application outage, made to fail right after its change (for the demo)."""

    type_name = "demo_failing_outage_scenarios"

    def inject(self, targets: list[str]) -> None:
        super().inject(targets)
        raise ScenarioError("demo: the step failed after cutting the app off; the rollback task undoes it")


# Once per process, whichever copy of this file is parsed first.
if OutageThatFails.type_name not in known_types():
    register(OutageThatFails)


with DAG(
    dag_id="chaos_undo_demo",
    description="A chaos step that fails after its change: watch the rollback undo it",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # gamedays must not overlap
    tags=["chaos", "krkn", "demo"],
    params={
        "namespace": Param("demo", type="string", description="namespace of the application"),
        "app": Param("web", type="string", description="value of the pods' `app` label"),
    },
) as dag:
    outage = ChaosScenarioOperator(
        task_id="application_outage",
        scenario_type="demo_failing_outage_scenarios",
        scenario_config={
            "application_outage": {
                "duration": 0,
                "namespace": "{{ params.namespace }}",
                "pod_selector": {"app": "{{ params.app }}"},
                "block": ["Ingress", "Egress"],
            }
        },
        retries=0,
    )
    chaos_experiment([outage], rollback_kwargs={"retries": 0})

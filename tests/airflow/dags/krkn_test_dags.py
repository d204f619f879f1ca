"""DAGs for the provider's Airflow tests; aimed with run conf (namespace, hold...)."""

from __future__ import annotations

from datetime import datetime, timedelta

import krkn_test_scenarios  # noqa: F401  (registers the failing scenario types)
from airflow.sdk import DAG, Param

from krkn_airflow_provider.operators import ChaosScenarioOperator, chaos_experiment

START = datetime(2026, 1, 1)
PARAMS = {
    "namespace": Param("default", type="string"),
    "app": Param("web", type="string"),
    "hold_seconds": Param(3, type="integer"),
    "nodes": Param(1, type="integer"),
}


def hog(type_name: str, task_id: str, **kwargs: object) -> ChaosScenarioOperator:
    return ChaosScenarioOperator(
        task_id=task_id,
        scenario_type=type_name,
        scenario_config={
            "hog-type": "cpu",
            "duration": "{{ params.hold_seconds }}",
            "namespace": "{{ params.namespace }}",
            "number-of-nodes": "{{ params.nodes }}",
        },
        **kwargs,  # type: ignore[arg-type]
    )


# Fails after its changes: rollback restores, watcher fails the run.
with DAG("krkn_fail_after_inject", schedule=None, start_date=START, catchup=False, params=PARAMS):
    outage = ChaosScenarioOperator(
        task_id="application_outage",
        scenario_type="application_outages_scenarios",
        scenario_config={
            "application_outage": {
                "duration": 0,
                "namespace": "{{ params.namespace }}",
                "pod_selector": {"app": "{{ params.app }}"},
            }
        },
    )
    breaking = hog("fail_after_inject_scenarios", "breaking_hog", retries=0)
    chaos_experiment([outage, breaking], rollback_kwargs={"retries": 0})


# The chaos task's second try replays what the first one left.
with DAG("krkn_retry", schedule=None, start_date=START, catchup=False, params=PARAMS):
    flaky = hog("fail_first_try_scenarios", "flaky_hog", retries=1, retry_delay=timedelta(seconds=0))
    chaos_experiment([flaky], rollback_kwargs={"retries": 0})


# One scenario given entirely by run conf (type, config, location): for bad input and kills.
with DAG(
    "krkn_single",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "scenario_type": Param("hog_scenarios", type="string"),
        "config": Param({}, type=["object", "array"]),
        "location": Param("", type="string"),
    },
):
    single = ChaosScenarioOperator(
        task_id="chaos",
        scenario_type="{{ params.scenario_type }}",
        scenario_config="{{ params.config }}",  # type: ignore[arg-type]
        rollback_location="{{ params.location }}",
        retries=0,
    )
    chaos_experiment([single], rollback_location="{{ params.location }}", rollback_kwargs={"retries": 0})


# The teardown wiring, for the same failure as krkn_fail_after_inject.
with DAG("krkn_teardown", schedule=None, start_date=START, catchup=False, params=PARAMS):
    breaking = hog("fail_after_inject_scenarios", "breaking_hog", retries=0)
    chaos_experiment([breaking], teardown=True, rollback_kwargs={"retries": 0})


# Two chaos tasks in parallel, both failing after their changes (a policy and a pod).
with DAG("krkn_two_failures", schedule=None, start_date=START, catchup=False, params=PARAMS):
    failing_outage = ChaosScenarioOperator(
        task_id="failing_outage",
        scenario_type="failing_outage_scenarios",
        scenario_config={
            "application_outage": {
                "duration": 0,
                "namespace": "{{ params.namespace }}",
                "pod_selector": {"app": "{{ params.app }}"},
            }
        },
        retries=0,
    )
    breaking = hog("fail_after_inject_scenarios", "breaking_hog", retries=0)
    chaos_experiment([failing_outage, breaking], sequential=False, rollback_kwargs={"retries": 0})

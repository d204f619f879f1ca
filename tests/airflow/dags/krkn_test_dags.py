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


# Leftovers: a task leaves an object with the run's labels and no record (as after a crash
# between a change and its record, or a lost journal); the sweep lists it, then deletes it.
with DAG("krkn_sweep", schedule=None, start_date=START, catchup=False, params=PARAMS):
    from airflow.sdk import task

    from krkn_airflow_provider.operators import RollbackOperator

    @task(task_id="leave_leftover")
    def leave_leftover(params: dict[str, object], dag_run: object = None) -> None:
        from kubernetes import client as k8s

        from krkn_airflow_provider.hooks.krkn import KrknHook
        from krkn_airflow_provider.rollback import run_uuid_for
        from krkn_airflow_provider.rollback.records import (
            MANAGED_BY,
            MANAGED_BY_LABEL,
            NONCE_LABEL,
            RUN_LABEL,
        )

        run = run_uuid_for("krkn_sweep", str(getattr(dag_run, "run_id", "")))
        core = k8s.CoreV1Api(KrknHook().api_client)
        labels = {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: run, NONCE_LABEL: "leftover"}
        for name, extra in (("orphan", labels), ("users-own", {"app": "x"})):
            body = {"metadata": {"name": name, "labels": extra}, "data": {"a": "b"}}
            core.create_namespaced_config_map(str(params["namespace"]), body)

    sweep_listing = RollbackOperator(
        task_id="sweep_dry_run", sweep=True, dry_run=True, trigger_rule="all_success", retries=0
    )
    sweep_delete = RollbackOperator(task_id="sweep", sweep=True, trigger_rule="all_success", retries=0)
    leave_leftover() >> sweep_listing >> sweep_delete  # type: ignore[arg-type, call-arg]


# A task Airflow reports successful (it even returns a summary) while a record of the run is
# still pending, as after a SIGKILL the executor missed: the watcher replays it and fails.
with DAG("krkn_reported_success", schedule=None, start_date=START, catchup=False, params=PARAMS):
    from airflow.sdk import task

    @task(task_id="looks_fine")
    def looks_fine(params: dict[str, object], dag_run: object = None) -> dict[str, object]:
        from kubernetes import client as k8s

        from krkn_airflow_provider.hooks.krkn import KrknHook
        from krkn_airflow_provider.rollback import Journal, Origin, UndoRecord, run_uuid_for

        hook = KrknHook()
        run_id = str(getattr(dag_run, "run_id", ""))
        origin = Origin(run_uuid=run_uuid_for("krkn_reported_success", run_id), scenario="manual")
        journal = Journal(hook.store, origin)
        labels = journal.object_labels()
        namespace = str(params["namespace"])
        undo = UndoRecord(
            action="delete",
            api_version="v1",
            kind="ConfigMap",
            namespace=namespace,
            name="left",
            guard=labels,
        )
        journal.record(undo)
        body = {"metadata": {"name": "left", "labels": labels}, "data": {"a": "b"}}
        k8s.CoreV1Api(hook.api_client).create_namespaced_config_map(namespace, body)
        return {"targets": [], "records": [entry.id for entry in journal.recorded]}

    chaos_experiment([looks_fine().operator], rollback_kwargs={"retries": 0})


# A mapped chaos task: one instance succeeds, the other fails after its change.
with DAG("krkn_mapped", schedule=None, start_date=START, catchup=False, params=PARAMS):
    outages = ChaosScenarioOperator.partial(
        task_id="outages",
        scenario_config={
            "application_outage": {
                "duration": 0,
                "namespace": "{{ params.namespace }}",
                "pod_selector": {"app": "{{ params.app }}"},
            }
        },
        retries=0,
    ).expand(scenario_type=["application_outages_scenarios", "failing_outage_scenarios"])
    chaos_experiment([outages], rollback_kwargs={"retries": 0})  # type: ignore[list-item]


# A scenario file that reaches for ``__globals__``, in a DAG that renders native objects.
with DAG(
    "krkn_template_escape",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
    params={"marker": Param("/nonexistent/marker", type="string")},
):
    escape = ChaosScenarioOperator(
        task_id="chaos", scenario_type="hog_scenarios", scenario_file="krkn_escape.yaml", retries=0
    )

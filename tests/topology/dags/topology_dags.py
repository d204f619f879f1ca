"""DAGs of the topology test bed: chaos on worker A (queue ``a``), rollback and watcher on B."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.operators import ChaosScenarioOperator, chaos_experiment
from krkn_airflow_provider.scenarios import register
from krkn_airflow_provider.scenarios.hog import Hog
from krkn_airflow_provider.scenarios.plan import Plan

START = datetime(2026, 1, 1)
RELEASE = "krkn-topology-release"  # ConfigMap the test creates to let the chaos task fail
SCHEDULED_NAMESPACE = "krkn-topology-scheduled"


@register
class GatedFailure(Hog):
    """A hog that, after creating its pods, waits for ConfigMap ``krkn-topology-release`` and fails.

    The test decides when the chaos task fails (after it edited a record, or never: it
    kills the worker instead), by a durable object rather than a sleep.
    """

    type_name = "topology_gated_failure_scenarios"

    def _released(self) -> bool:
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            self.ctx.resource("v1", "ConfigMap").get(name=RELEASE, namespace=self.config.namespace)
        except NotFoundError:
            return False
        return True

    def inject(self, plan: Plan) -> None:
        super().inject(plan)
        self.ctx.poll(self._released, timeout=600, what=f"ConfigMap {RELEASE}")
        raise ScenarioError("made to fail after its changes")


def hog(type_name: str, **kwargs: Any) -> ChaosScenarioOperator:
    return ChaosScenarioOperator(
        task_id="chaos",
        scenario_type=type_name,
        scenario_config={
            "hog-type": "cpu",
            "duration": "{{ params.hold_seconds }}",
            "namespace": "{{ params.namespace }}",
            "number-of-nodes": "{{ params.nodes }}",
        },
        rollback_location="{{ params.location }}",
        storage_conn_id="{{ params.storage_conn_id }}",
        queue="a",
        retries=0,
        **kwargs,
    )


PARAMS = {
    "namespace": Param("default", type="string"),
    "hold_seconds": Param(0, type="integer"),
    "nodes": Param(2, type="integer"),
    "location": Param("", type="string"),
    "storage_conn_id": Param("", type="string"),
}

# The gameday: chaos on worker A fails after its changes (when released); the rollback and
# the watcher run on worker B.
with DAG(
    "topology_gameday", schedule=None, start_date=START, catchup=False, params=PARAMS, max_active_runs=4
):
    gameday = chaos_experiment(
        [hog(GatedFailure.type_name)],
        rollback_location="{{ params.location }}",
        storage_conn_id="{{ params.storage_conn_id }}",
        rollback_kwargs={"retries": 0, "queue": "b"},
    )
    gameday.watcher.queue = "b"

# A scheduled gameday that succeeds: created paused; the test unpauses it and the scheduler
# starts the run for the latest interval.
with DAG(
    "topology_scheduled",
    schedule=timedelta(days=1),
    start_date=START,
    catchup=False,
    is_paused_upon_creation=True,
    max_active_runs=1,
    params={
        **PARAMS,
        "namespace": Param(SCHEDULED_NAMESPACE, type="string"),
        "nodes": Param(1, type="integer"),
    },
):
    scheduled = chaos_experiment([hog("hog_scenarios")], rollback_kwargs={"retries": 0, "queue": "b"})
    scheduled.watcher.queue = "b"

# Airflow's own hand-off, for the benchmark: a failing task and an empty one_failed task.
with DAG("topology_handoff", schedule=None, start_date=START, catchup=False):
    from airflow.sdk import TriggerRule, task

    @task(queue="a", retries=0)
    def fails() -> None:
        raise RuntimeError("made to fail")

    @task(task_id="handoff", queue="b", trigger_rule=TriggerRule.ONE_FAILED)
    def handoff() -> None:
        """Does nothing: the time it starts is Airflow's own hand-off."""

    fails() >> handoff()

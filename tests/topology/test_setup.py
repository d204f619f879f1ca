"""A scheduled DAG end to end, and bad setups refused before any cluster change."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from krkn_airflow_provider.rollback import run_uuid_for
from tests import workloads
from tests.topology import scenarios
from tests.topology.bed import Bed, wait_for

pytestmark = [pytest.mark.topology, pytest.mark.timeout(900)]
SCHEDULED = "topology_scheduled"
SCHEDULED_NAMESPACE = "krkn-topology-scheduled"  # as in dags/topology_dags.py


def test_scheduled_dag_runs_through_the_scheduler(bed: Bed, kube: Any) -> None:
    core = kube.core()
    core.create_namespace({"metadata": {"name": SCHEDULED_NAMESPACE}})
    try:
        bed.rest("PATCH", f"/api/v2/dags/{SCHEDULED}", {"is_paused": False})
        run = wait_for(
            lambda: bed.rest("GET", f"/api/v2/dags/{SCHEDULED}/dagRuns")["dag_runs"],
            timeout=120,
            what="the scheduler to start a run",
        )[0]
        assert run["run_type"] == "scheduled"
        assert bed.wait_run(SCHEDULED, run["dag_run_id"]) == "success"
    finally:
        bed.rest("PATCH", f"/api/v2/dags/{SCHEDULED}", {"is_paused": True})
    states = {task: ti["state"] for task, ti in bed.task_instances(SCHEDULED, run["dag_run_id"]).items()}
    assert states == {"chaos": "success", "rollback": "skipped", "watcher": "success"}
    files = scenarios.records(scenarios.journal_files(bed, run_uuid_for(SCHEDULED, run["dag_run_id"])))
    assert files and all(name.endswith(".py.executed") for name in files)
    assert workloads.managed(kube.api_client(), SCHEDULED_NAMESPACE) == []
    with contextlib.suppress(Exception):
        core.delete_namespace(SCHEDULED_NAMESPACE)


BAD_SETUPS = {
    "missing bucket": ({"location": "s3://no-such-bucket/krkn"}, "s3://no-such-bucket/krkn"),
    "unknown connection": (
        {"storage_conn_id": "no_such_conn"},
        "rollback storage connection 'no_such_conn' does not exist",
    ),
    "no provider for the scheme": (
        {"location": "nosuchscheme://bucket/krkn"},
        "is the provider for this storage installed",
    ),
}


def test_bad_setup_is_refused_before_any_cluster_change(bed: Bed, kube: Any) -> None:
    runs = {
        case: bed.trigger("topology_gameday", {"namespace": kube.namespace, **conf})
        for case, (conf, _) in BAD_SETUPS.items()
    }
    for case, run_id in runs.items():
        assert bed.wait_run("topology_gameday", run_id) == "failed", case
        chaos = bed.task_instances("topology_gameday", run_id)["chaos"]
        assert chaos["state"] == "failed", case
        log = bed.task_log("topology_gameday", run_id, "chaos")
        assert BAD_SETUPS[case][1] in log, (case, log[-3000:])
    assert workloads.managed(kube.api_client(), kube.namespace) == []
    if kube.emulator is not None:
        assert kube.emulator.writes(f"/namespaces/{kube.namespace}/") == []

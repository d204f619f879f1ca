"""Deferred holds on the production topology: a hold in the triggerer holds no Celery slot.

Everything runs on queue ``b``, served by worker B alone with one task slot. While the
chaos task's hold goes on in the triggerer, another DAG's task takes that slot and finishes;
the chaos task then resumes on B, undoes its NetworkPolicy (records ``.executed`` on S3) and
succeeds. A deferred task marked failed through the REST API is rolled back.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from krkn_airflow_provider.rollback import run_uuid_for
from tests import workloads
from tests.topology import scenarios
from tests.topology.bed import CONCURRENCY, WORKERS, Bed, wait_for

pytestmark = [pytest.mark.topology, pytest.mark.timeout(900)]
DAG_ID = "topology_deferred"
OTHER = "topology_other_team"
TRIGGER = "krkn_airflow_provider.triggers.hold.ChaosHoldTrigger"


def _outage_started(bed: Bed, kube: Any, hold_seconds: int) -> tuple[str, dict[str, Any]]:
    """Deploy the target app, start the outage; the run and its chaos task once deferred."""
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)
    run_id = bed.trigger(DAG_ID, {"namespace": kube.namespace, "hold_seconds": hold_seconds})
    chaos = bed.wait_task(DAG_ID, run_id, "chaos", ["deferred"], timeout=180)
    assert chaos["hostname"] == WORKERS["b"]
    assert chaos["trigger"] is not None and chaos["trigger"]["classpath"] == TRIGGER, chaos
    # The hold is a trigger the triggerer took on (its job is recorded while the trigger runs).
    chaos = wait_for(
        lambda: (ti := bed.task_instances(DAG_ID, run_id)["chaos"])["triggerer_job"] and ti,
        timeout=60,
        what="the triggerer to take the hold",
    )
    assert chaos["state"] == "deferred" and chaos["triggerer_job"]["job_type"] == "TriggererJob", chaos
    assert [name.split("/")[0] for name in workloads.managed(api, kube.namespace)] == ["NetworkPolicy"]
    return run_id, chaos


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _event(bed: Bed, run_id: str, starts: str) -> datetime:
    """When the chaos task's trigger logged ``starts...`` (its log, in the triggerer's home)."""
    folder = Path(bed.homes["triggerer"]) / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=chaos"
    lines = [
        line
        for log in sorted(folder.glob("attempt=1.log.trigger.*.log"))
        for line in log.read_text().splitlines()
    ]
    found = [json.loads(line) for line in lines if starts in line]
    assert len(found) == 1 and found[0]["event"].startswith(starts), lines
    return _date(found[0]["timestamp"])


def test_a_deferred_hold_leaves_the_only_slot_of_its_worker_to_another_dag(bed: Bed, kube: Any) -> None:
    assert CONCURRENCY["b"] == 1  # otherwise the other task could use a second slot
    run_id, _ = _outage_started(bed, kube, 40)
    run_uuid = run_uuid_for(DAG_ID, run_id)

    other_run = bed.trigger(OTHER)
    assert bed.wait_run(OTHER, other_run) == "success"
    # The other DAG's task ran on B's only slot and ended while the hold went on.
    assert bed.task_instances(DAG_ID, run_id)["chaos"]["state"] == "deferred"
    other = bed.task_instances(OTHER, other_run)["busy"]
    assert (other["state"], other["hostname"]) == ("success", WORKERS["b"])

    assert bed.wait_run(DAG_ID, run_id) == "success"
    tis = bed.task_instances(DAG_ID, run_id)
    assert {task: ti["state"] for task, ti in tis.items()} == {
        "chaos": "success",
        "rollback": "skipped",
        "watcher": "success",
    }
    chaos = tis["chaos"]
    assert chaos["hostname"] in WORKERS.values()
    assert _date(other["end_date"]) < _date(chaos["end_date"])
    scenarios.all_executed(bed, kube, run_uuid, 1)

    # The triggerer ran the hold, and the other task had ended when the hold was over.
    _event(bed, run_id, f"holding run {run_uuid}:")
    ended = _event(bed, run_id, f"hold of run {run_uuid} is over")
    assert _date(other["end_date"]) < ended


def test_a_deferred_task_marked_failed_is_rolled_back(bed: Bed, kube: Any) -> None:
    run_id, _ = _outage_started(bed, kube, 600)

    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/chaos"
    bed.rest("PATCH", path, {"new_state": "failed"})

    assert bed.wait_run(DAG_ID, run_id) == "failed"
    scenarios.rolled_back_on_b(bed, kube, DAG_ID, run_id, 1)

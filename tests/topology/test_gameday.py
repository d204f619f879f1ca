"""A failing gameday on the production topology: chaos on worker A, rollback on worker B, journal on S3."""

from __future__ import annotations

from typing import Any

import pytest

from krkn_airflow_provider.rollback import run_uuid_for
from tests import workloads
from tests.topology import scenarios
from tests.topology.bed import WORKERS, Bed

pytestmark = [pytest.mark.topology, pytest.mark.timeout(900)]
DAG_ID = "topology_gameday"


def test_chaos_on_worker_a_rollback_on_worker_b_restores_the_cluster(bed: Bed, kube: Any) -> None:
    scenarios.release(kube)  # the chaos task fails right after its changes
    run_id = bed.trigger(DAG_ID, {"namespace": kube.namespace})

    assert bed.wait_run(DAG_ID, run_id) == "failed"
    tis = bed.task_instances(DAG_ID, run_id)
    assert {task: ti["state"] for task, ti in tis.items()} == {
        "chaos": "failed",
        "rollback": "success",
        "watcher": "failed",
    }
    assert tis["chaos"]["hostname"] == WORKERS["a"]
    assert tis["rollback"]["hostname"] == WORKERS["b"]
    assert workloads.managed(kube.api_client(), kube.namespace) == []
    files = scenarios.journal_files(bed, run_uuid_for(DAG_ID, run_id))
    records = {name: text for name, text in files.items() if name.endswith((".py", ".py.executed"))}
    assert len(records) == 2 and all(name.endswith(".py.executed") for name in records), sorted(files)
    assert all('DIGEST = "hmac-sha256:' in text for text in records.values())

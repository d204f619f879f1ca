"""A failing gameday on the production topology: chaos on worker A, rollback on worker B, journal on S3.

Then, on the same run: the UI page served by the api-server lists it from S3 with its
signed records readable, and the rollback cleared through the REST API (as the UI's Clear
does) runs again and changes nothing.
"""

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
    run_uuid = run_uuid_for(DAG_ID, run_id)

    assert bed.wait_run(DAG_ID, run_id) == "failed"
    tis, files = scenarios.rolled_back_on_b(bed, kube, DAG_ID, run_id, 2)
    assert tis["chaos"]["hostname"] == WORKERS["a"]
    assert all('DIGEST = "hmac-sha256:' in text for text in files.values())

    # The UI page, with the api-server's configuration (S3 connection, key Variable).
    status, runs_page = bed.get_text("/krkn/")
    assert status == 200 and run_uuid in runs_page, runs_page[-2000:]
    status, run_page = bed.get_text(f"/krkn/runs/{run_uuid}")
    assert status == 200
    assert "unreadable" not in run_page
    assert run_page.count(f"Pod {kube.namespace}/") == 2 and run_page.count(">executed<") == 2

    # Clear the rollback (and its downstream watcher) as the UI does: it re-runs, writes nothing.
    writes_before = len(kube.emulator.writes()) if kube.emulator is not None else 0
    bed.clear(DAG_ID, run_id, ["rollback"])
    rerun = bed.wait_task(DAG_ID, run_id, "rollback", ["success", "failed"], min_try=2)
    assert rerun["state"] == "success"
    assert rerun["hostname"] in WORKERS.values()
    assert bed.wait_run(DAG_ID, run_id) == "failed"  # the watcher still fails the run
    if kube.emulator is not None:
        assert kube.emulator.writes()[writes_before:] == []
    assert workloads.managed(kube.api_client(), kube.namespace) == []
    assert sorted(scenarios.records(scenarios.journal_files(bed, run_uuid))) == sorted(files)

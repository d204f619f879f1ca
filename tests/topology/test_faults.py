"""What goes wrong in production: a worker host lost mid-hold, a record edited on S3."""

from __future__ import annotations

from typing import Any

import pytest

from krkn_airflow_provider.rollback import run_uuid_for
from tests import workloads
from tests.topology import scenarios
from tests.topology.bed import BUCKET, PREFIX, WORKERS, Bed, wait_for

pytestmark = [pytest.mark.topology, pytest.mark.timeout(900)]
DAG_ID = "topology_gameday"


def test_worker_a_killed_during_the_hold_rollback_on_worker_b(bed: Bed, kube: Any) -> None:
    # Not released: the chaos task holds after its changes until its worker is killed.
    run_id = bed.trigger(DAG_ID, {"namespace": kube.namespace})
    run_uuid = run_uuid_for(DAG_ID, run_id)
    scenarios.wait_pending(bed, run_uuid, 2)
    chaos = bed.wait_task(DAG_ID, run_id, "chaos", ["running"])
    assert chaos["hostname"] == WORKERS["a"]
    assert len(workloads.managed(kube.api_client(), kube.namespace)) == 2

    try:
        before = bed.worker_processes("a")
        assert len(before) >= 3  # the worker, its pool process, the task (and its supervisor)
        bed.kill_worker("a")
        wait_for(lambda: not bed.worker_processes("a"), timeout=30, what="worker A's processes to die")

        # The scheduler fails the task after the (lowered) heartbeat timeout.
        assert bed.wait_run(DAG_ID, run_id, timeout=300) == "failed"
    finally:
        bed.restart_worker("a")
    scenarios.rolled_back_on_b(bed, kube, DAG_ID, run_id, 2)


def test_record_edited_on_s3_is_refused_by_name_and_the_others_are_undone(bed: Bed, kube: Any) -> None:
    run_id = bed.trigger(DAG_ID, {"namespace": kube.namespace})
    run_uuid = run_uuid_for(DAG_ID, run_id)
    pending = scenarios.wait_pending(bed, run_uuid, 2)
    edited, kept = sorted(pending)
    # Point the first record at another pod: its signature no longer matches.
    fs = bed.s3()
    folder = scenarios.run_folder(bed, run_uuid)
    assert folder is not None
    text = pending[edited]
    victim = text.split("'name': '", 1)[1].split("'", 1)[0]
    fs.pipe_file(f"{folder}/{edited}", text.replace(f"'name': '{victim}'", "'name': 'someone-else'").encode())
    scenarios.release(kube)

    assert bed.wait_run(DAG_ID, run_id) == "failed"
    tis = bed.task_instances(DAG_ID, run_id)
    assert (tis["chaos"]["state"], tis["rollback"]["state"]) == ("failed", "failed")
    log = bed.task_log(DAG_ID, run_id, "rollback")
    assert f"{edited}: record does not match its digest" in log, log[-3000:]
    files = scenarios.records(scenarios.journal_files(bed, run_uuid))
    assert edited in files and kept + ".executed" in files, sorted(files)
    # Nothing from the edited record was applied: its pod is still there, the other one is gone.
    assert workloads.managed(kube.api_client(), kube.namespace) == [f"Pod/{victim}"]

    # The UI page shows the edited record as refused, the other one readable.
    status, page = bed.get_text(f"/krkn/runs/{run_uuid}")
    assert status == 200
    assert page.count("unreadable") == 1 and "does not match its digest" in page
    assert f"s3://{BUCKET}/{PREFIX}/" in page

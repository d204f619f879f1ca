"""A worker killed with SIGKILL mid-hold, and rollbacks re-run: only the rest is done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.report import REPORT_HTML, build_report
from krkn_airflow_provider.rollback import Store
from tests import workloads
from tests.airflow.conftest import DAGS, TEST_KEY, run_dag, task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "k8s_conn")

RUN_IN_CHILD = """
import json, sys
from airflow import settings
from airflow.dag_processing.dagbag import DagBag
settings.configure_orm()
sys.path.insert(0, sys.argv[1])
bag = DagBag(dag_folder=sys.argv[1])
bag.get_dag(sys.argv[2]).test(run_conf=json.loads(sys.argv[3]))
"""


def wait_for(check: Any, what: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None:
            raise AssertionError(f"the child exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def start_child(conf: dict[str, Any], env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    """``dag.test()`` of ``krkn_single`` in a child process (a worker we can signal)."""
    passed = {k: v for k, v in os.environ.items() if k.startswith(("AIRFLOW_CONN_", "KRKN_"))}
    with output.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", RUN_IN_CHILD, str(DAGS), "krkn_single", json.dumps(conf)],
            env={**env, **passed},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def writes(kube: Any, since: int) -> list[tuple[str, str]]:
    return [(request.method, request.path) for request in kube.emulator.writes()[since:]]


def test_worker_killed_during_hold_then_replay_restores(
    dagbag: Any, kube: Any, journal_dir: Path, airflow_env: dict[str, str], tmp_path: Path
) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)
    config = {
        "application_outage": {"duration": 600, "namespace": kube.namespace, "pod_selector": {"app": "web"}}
    }
    conf = {"scenario_type": "application_outages_scenarios", "config": config}
    store = Store(str(journal_dir), hmac_key=TEST_KEY)
    child = start_child(conf, airflow_env, tmp_path / "child.log")
    try:
        # The hold has begun once the policy exists (its record was written before it).
        wait_for(lambda: workloads.managed(api, kube.namespace) != [], "the NetworkPolicy", child)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    (policy,) = workloads.managed(api, kube.namespace)
    assert policy.startswith("NetworkPolicy/")
    (entry,) = store.entries(state="pending")
    run_id = store.context_info(entry.context)["run_id"]

    replayed = run_dag(dagbag, "chaos_rollback_replay", {"dag_id": "krkn_single", "run_id": run_id})

    assert replayed.state == "success"
    assert workloads.managed(api, kube.namespace) == []
    assert [e.state for e in store.entries()] == ["executed"]
    assert xcom(replayed, "replay")["counts"] == {"undone": 1}
    # The replay's "Gameday report" button opens the report of the run it rolled back.
    link = xcom(replayed, "replay", "_link_GamedayReportLink")
    assert link is not None and link.endswith(f"/krkn/runs/{entry.run_uuid}/report.html")
    # The report the replay rendered shows the killed task (it wrote no result) and no 100.
    report = build_report(store, entry.run_uuid)
    assert [(task["task_id"], task["state"]) for task in report.tasks] == [("chaos", "killed")]
    score = report.score().value
    assert score is not None and score < 100 and report.score().parts["scenarios"] == (0, 1)
    assert report.verdict().word == "FAILED" and "(chaos killed)" in report.verdict().text
    page = (journal_dir / entry.context.name / REPORT_HTML).read_text()
    assert "FAILED</span>" in page and ">killed</span>" in page and "replay.1" in page

    # Re-run (as after a clear): nothing pending, nothing written, success.
    since = len(kube.emulator.writes()) if kube.emulator is not None else 0
    again = run_dag(dagbag, "chaos_rollback_replay", {"dag_id": "krkn_single", "run_id": run_id})
    assert again.state == "success"
    assert xcom(again, "replay")["counts"] == {}
    if kube.emulator is not None:
        assert writes(kube, since) == []


def test_sigterm_during_hold_undoes_and_fails_the_task(
    kube: Any, journal_dir: Path, airflow_env: dict[str, str], tmp_path: Path
) -> None:
    """SIGTERM (mark failed, clear, timeout): on_kill undoes, execute raises, the run fails."""
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)
    outage = {"duration": 600, "namespace": kube.namespace, "pod_selector": {"app": "web"}}
    conf = {"scenario_type": "application_outages_scenarios", "config": {"application_outage": outage}}
    output = tmp_path / "child.log"
    child = start_child(conf, airflow_env, output)
    try:
        wait_for(lambda: workloads.managed(api, kube.namespace) != [], "the NetworkPolicy", child)
        os.kill(child.pid, signal.SIGTERM)
        child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    text = output.read_text()
    assert "chaos task killed: stopping and undoing what it can" in text
    assert "DagRun Finished: dag_id=krkn_single" in text
    assert workloads.managed(api, kube.namespace) == []
    assert [e.state for e in Store(str(journal_dir), hmac_key=TEST_KEY).entries()] == ["executed"]


@pytest.mark.emulator_only
def test_rollback_failing_while_apiserver_is_down_then_rerun_does_the_rest(
    dagbag: Any, kube: Any, journal_dir: Path
) -> None:
    kube.require_emulator("injects faults")
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)
    pods_path = rf"^/api/v1/namespaces/{kube.namespace}/pods$"
    # Pod deletes fail (503) for the rollback's 5 attempts and the watcher's 5; policy deletes work.
    kube.emulator.inject_fault(method="DELETE", path_regex=pods_path, status=503, times=10)

    dag_run = run_dag(dagbag, "krkn_two_failures", {"namespace": kube.namespace, "nodes": 1})

    assert dag_run.state == "failed"
    assert task_states(dag_run) == {
        "failing_outage": "failed",
        "breaking_hog": "failed",
        "rollback": "failed",
        "watcher": "failed",
    }
    store = Store(str(journal_dir), hmac_key=TEST_KEY)
    assert sorted((e.name.scenario, e.state) for e in store.entries()) == [
        ("fail_after_inject_scenarios", "pending"),
        ("failing_outage_scenarios", "executed"),
    ]
    (left,) = workloads.managed(api, kube.namespace)
    assert left.startswith("Pod/krkn-cpu-hog-")

    since = len(kube.emulator.writes())
    rerun = run_dag(
        dagbag, "chaos_rollback_replay", {"dag_id": "krkn_two_failures", "run_id": dag_run.run_id}
    )

    assert rerun.state == "success"
    assert writes(kube, since) == [("DELETE", f"/api/v1/namespaces/{kube.namespace}/pods")]
    assert workloads.managed(api, kube.namespace) == []
    assert all(e.state == "executed" for e in store.entries())

"""One run driven by the real scheduler: a failing gameday ends failed, the cluster restored.

Starts its own api-server (execution API), scheduler and dag-processor on a fresh
AIRFLOW_HOME and a free port, triggers the DAG, polls with a deadline, and stops the
processes (their own process groups) at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.report import build_report
from krkn_airflow_provider.rollback import Store
from tests import workloads
from tests.airflow.conftest import AIRFLOW_BIN, ROOT, SUBPROCESS_PYTHONPATH, TEST_KEY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
DAG_ID = "krkn_fail_after_inject"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRFLOW_BIN, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def airflow_cluster(tmp_path: Path, kube: Any, journal_dir: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "home"
    home.mkdir()
    # Only the test DAGs: the weekly example DAG would start a run of its own.
    dags = tmp_path / "dags"
    shutil.copytree(ROOT / "tests" / "airflow" / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kube.kubeconfig)}}
    env = {
        **os.environ,
        "PYTHONPATH": SUBPROCESS_PYTHONPATH,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "krkn-test-secret-" + os.urandom(8).hex(),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "KRKN_TEST_API_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(conn),
        "KRKN_ROLLBACK_LOCATION": str(journal_dir),
    }
    migrated = airflow(env, "db", "migrate", timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    processes = []
    for command in (["api-server", "--port", str(port)], ["scheduler"], ["dag-processor"]):
        log = (tmp_path / f"{command[0]}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [AIRFLOW_BIN, *command], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    try:
        yield env
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def query(env: dict[str, str], sql: str, *args: str) -> list[tuple[Any, ...]]:
    """Read the metadata DB directly (a CLI call per poll would cost seconds of CPU)."""
    path = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        try:
            return list(db.execute(sql, args))
        except sqlite3.OperationalError:
            return []  # locked or not created yet: try again


def rest(env: dict[str, str], method: str, path: str, body: Any = None) -> Any:
    """Call the api-server's REST API as the UI does (all-admins simple auth in tests)."""
    base = env["KRKN_TEST_API_URL"]
    with urllib.request.urlopen(f"{base}/auth/token", timeout=30) as response:
        token = json.load(response)["access_token"]
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def poll(check: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(1)


def test_failing_gameday_under_the_scheduler(
    airflow_cluster: dict[str, str], kube: Any, journal_dir: Path, tmp_path: Path
) -> None:
    env = airflow_cluster
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)

    poll(lambda: query(env, "select 1 from dag where dag_id = ?", DAG_ID), "the DAG to be parsed", 180)
    conf = json.dumps({"namespace": kube.namespace, "nodes": 1})
    triggered = airflow(env, "dags", "trigger", DAG_ID, "-c", conf)
    assert triggered.returncode == 0, triggered.stderr[-2000:]

    def finished() -> list[tuple[Any, ...]]:
        sql = "select run_id, state from dag_run where dag_id = ? and state in ('success', 'failed')"
        return query(env, sql, DAG_ID)

    try:
        ((run_id, state),) = poll(finished, "the run to finish", 420)
    except AssertionError:
        logs = {p.name: p.read_text()[-3000:] for p in tmp_path.glob("*.log")}
        raise AssertionError(f"run did not finish; process logs: {logs}") from None

    assert state == "failed"
    assert workloads.managed(api, kube.namespace) == []
    store = Store(str(journal_dir), hmac_key=TEST_KEY)
    entries = store.entries()
    assert entries and all(entry.state == "executed" for entry in entries)
    rows = query(
        env, "select task_id, state from task_instance where dag_id = ? and run_id = ?", DAG_ID, run_id
    )
    assert dict(rows) == {
        "application_outage": "success",
        "breaking_hog": "failed",
        "rollback": "success",
        "watcher": "failed",
    }
    # The watcher asked Airflow (through the worker's supervisor) for the chaos tasks' states.
    (context,) = store.contexts(entries[0].run_uuid)
    recorded = json.loads((journal_dir / context.name / "task-states.json").read_text())
    assert recorded["states"] == {"application_outage": "success", "breaking_hog": "failed"}
    verdict = build_report(store, entries[0].run_uuid).verdict()
    assert verdict.word == "FAILED" and "(breaking_hog failed)" in verdict.text

    # Clear the rollback through the REST API, as the UI does: it runs again, finds nothing
    # pending, writes nothing, and succeeds.
    since = len(kube.emulator.writes()) if kube.emulator is not None else 0
    body = {"dry_run": False, "only_failed": False, "task_ids": ["rollback"], "dag_run_id": run_id}
    cleared = rest(env, "POST", f"/api/v2/dags/{DAG_ID}/clearTaskInstances", body)
    assert [ti["task_id"] for ti in cleared["task_instances"]] == ["rollback"]
    sql = (
        "select state from task_instance"
        " where dag_id = ? and run_id = ? and task_id = 'rollback' and try_number >= 2"
    )

    def rerun_state() -> str | None:
        rows = query(env, sql, DAG_ID, run_id)
        return rows[0][0] if rows and rows[0][0] in ("success", "failed") else None

    assert poll(rerun_state, "the cleared rollback to run again", 240) == "success"
    if kube.emulator is not None:
        assert kube.emulator.writes()[since:] == []

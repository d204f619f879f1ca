"""Deferred holds under the real scheduler and triggerer (LocalExecutor, ``parallelism=1``).

One Airflow bed for the module (api-server, scheduler, dag-processor, triggerer on a fresh
AIRFLOW_HOME and free port), each process in its own process group, stopped by pid. With
one executor slot, "another DAG's task runs meanwhile" shows the deferred hold holds no
slot; a task held back by a busy slot stands in for a dead worker when the hold ends (the
dead man's switch), and a SIGKILLed in-worker hold shows the pods' own deadline. Holds are
short (10-30 s); the module takes about 8 minutes on a busy 2-core machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.rollback import Store, run_uuid_for
from tests import workloads
from tests.airflow.conftest import AIRFLOW_BIN, ROOT, SUBPROCESS_PYTHONPATH, TEST_KEY
from tests.airflow.test_scheduler import airflow, free_port, poll, query, rest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
DAG_ID = "krkn_deferred"
OTHER = "krkn_other_team"
IN_WORKER = "krkn_in_worker"
LONG_GRACE = "krkn_deferred_long_grace"


@dataclass
class Bed:
    env: dict[str, str]
    logs: Path
    journal: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *command: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        argv = [AIRFLOW_BIN, *command]
        self.processes[name] = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def log_tail(self) -> str:
        logs = sorted(self.logs.glob("*.log"))
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in logs)

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run = rest(self.env, "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return str(run["dag_run_id"])

    def state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        sql = "select state from task_instance where dag_id = ? and run_id = ? and task_id = ?"
        rows = query(self.env, sql, dag_id, run_id, task_id)
        return rows[0][0] if rows else None

    def wait_state(self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float) -> str:
        try:
            found = poll(
                lambda: (s := self.state(dag_id, run_id, task_id)) in states and s,
                f"{dag_id}.{task_id} to be {'/'.join(sorted(states))}",
                timeout,
            )
        except AssertionError as error:
            raise AssertionError(f"{error}; process logs:\n{self.log_tail()}") from None
        return str(found)

    def run_state(self, dag_id: str, run_id: str, timeout: float) -> str:
        sql = "select state from dag_run where dag_id = ? and run_id = ? and state in ('success', 'failed')"
        try:
            ((state,),) = poll(lambda: query(self.env, sql, dag_id, run_id), f"run {run_id} to end", timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}; process logs:\n{self.log_tail()}") from None
        return str(state)

    def store(self) -> Store:
        return Store(str(self.journal), hmac_key=TEST_KEY)


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory, kube_session_emulator: Any) -> Iterator[Bed]:
    root = tmp_path_factory.mktemp("deferral-bed")
    home, dags, journal = root / "home", root / "dags", root / "rollback"
    home.mkdir()
    dags.mkdir()
    shutil.copy(ROOT / "tests" / "airflow" / "dags" / "krkn_deferral_dags.py", dags)
    if kube_session_emulator is not None:
        kubeconfig = kube_session_emulator.write_kubeconfig(root / "kubeconfig")
    else:
        kubeconfig = Path(os.environ["KRKN_TEST_KUBECONFIG"]).expanduser()
    port = free_port()
    conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig)}}
    env = {
        **os.environ,
        "PYTHONPATH": SUBPROCESS_PYTHONPATH,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # One slot: a deferred hold must leave it free for another DAG's task.
        "AIRFLOW__CORE__PARALLELISM": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "krkn-test-secret-" + os.urandom(8).hex(),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "KRKN_TEST_API_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(conn),
        "KRKN_ROLLBACK_LOCATION": str(journal),
    }
    migrated = airflow(env, "db", "migrate", timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    bed = Bed(env, root, journal)
    bed.start("api-server", "api-server", "--port", str(port))
    bed.start("scheduler", "scheduler")
    bed.start("dag-processor", "dag-processor")
    bed.start("triggerer", "triggerer")
    try:
        dag_ids = (DAG_ID, OTHER, IN_WORKER, LONG_GRACE)
        sql = f"select count(*) from dag where dag_id in ({', '.join('?' * len(dag_ids))})"
        poll(lambda: query(env, sql, *dag_ids) == [(len(dag_ids),)], "the DAGs to be parsed", 240)
        poll(lambda: api_ready(env), "the api-server to answer", 120)
        yield bed
    finally:
        for name in list(bed.processes):
            bed.stop(name)


def api_ready(env: dict[str, str]) -> bool:
    try:
        with urllib.request.urlopen(env["KRKN_TEST_API_URL"] + "/api/v2/monitor/health", timeout=5):
            return True
    except OSError:
        return False


def hog(namespace: str, hold: int) -> dict[str, Any]:
    config = {"hog-type": "cpu", "duration": hold, "namespace": namespace, "number-of-nodes": 1}
    return {"scenario_type": "hog_scenarios", "config": config, "probes": []}


def outage(namespace: str, hold: int) -> dict[str, Any]:
    settings = {"duration": hold, "namespace": namespace, "pod_selector": {"app": "web"}}
    config = {"application_outage": settings}
    return {"scenario_type": "application_outages_scenarios", "config": config, "probes": []}


def pending(bed: Bed, run_id: str, dag_id: str = DAG_ID) -> list[str]:
    return [e.id for e in bed.store().entries(run_uuid=run_uuid_for(dag_id, run_id), state="pending")]


def test_a_deferred_hold_leaves_the_only_slot_to_another_dag(bed: Bed, kube: Any) -> None:
    api = kube.api_client()
    run_id = bed.trigger(DAG_ID, hog(kube.namespace, 20))
    bed.wait_state(DAG_ID, run_id, "chaos", {"deferred"}, 180)
    assert [name.split("/")[0] for name in workloads.managed(api, kube.namespace)] == ["Pod"]

    other = bed.trigger(OTHER, {"seconds": 0})
    assert bed.wait_state(OTHER, other, "busy", {"success", "failed"}, 120) == "success"
    # The other DAG's task ran in the one slot while the hold went on in the triggerer.
    assert bed.state(DAG_ID, run_id, "chaos") == "deferred"

    assert bed.run_state(DAG_ID, run_id, 180) == "success"
    assert bed.state(DAG_ID, run_id, "chaos") == "success"
    assert workloads.managed(api, kube.namespace) == []
    assert pending(bed, run_id) == []


def test_a_triggerer_restarted_mid_hold_resumes_the_hold(bed: Bed, kube: Any) -> None:
    api = kube.api_client()
    # The defer timeout (hold + grace) must outlast the triggerer's stop and start.
    run_id = bed.trigger(LONG_GRACE, hog(kube.namespace, 20))
    bed.wait_state(LONG_GRACE, run_id, "chaos", {"deferred"}, 180)
    bed.stop("triggerer")  # SIGTERM: the trigger is cleaned up, never undone
    assert len(workloads.managed(api, kube.namespace)) == 1  # the fault stays in place
    bed.start("triggerer", "triggerer")

    assert bed.run_state(LONG_GRACE, run_id, 180) == "success"
    assert bed.state(LONG_GRACE, run_id, "chaos") == "success"
    assert workloads.managed(api, kube.namespace) == []
    assert pending(bed, run_id, LONG_GRACE) == []


def test_with_the_triggerer_killed_the_defer_timeout_leads_to_the_rollback(bed: Bed, kube: Any) -> None:
    api = kube.api_client()
    run_id = bed.trigger(DAG_ID, hog(kube.namespace, 10))
    bed.wait_state(DAG_ID, run_id, "chaos", {"deferred"}, 180)
    bed.stop("triggerer", signal.SIGKILL)
    try:
        assert bed.run_state(DAG_ID, run_id, 240) == "failed"
        assert bed.state(DAG_ID, run_id, "chaos") == "failed"  # TaskDeferralTimeout
        assert bed.state(DAG_ID, run_id, "rollback") == "success"
        assert workloads.managed(api, kube.namespace) == []
        assert pending(bed, run_id) == []
    finally:
        bed.start("triggerer", "triggerer")


def test_a_deferred_task_marked_failed_is_rolled_back(bed: Bed, kube: Any) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)
    run_id = bed.trigger(DAG_ID, outage(kube.namespace, 120))
    bed.wait_state(DAG_ID, run_id, "chaos", {"deferred"}, 180)
    assert [name.split("/")[0] for name in workloads.managed(api, kube.namespace)] == ["NetworkPolicy"]

    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/chaos"
    rest(bed.env, "PATCH", path, {"new_state": "failed"})

    assert bed.run_state(DAG_ID, run_id, 180) == "failed"
    assert bed.state(DAG_ID, run_id, "rollback") == "success"
    assert workloads.managed(api, kube.namespace) == []
    assert pending(bed, run_id) == []


def test_when_the_task_cannot_resume_the_trigger_removes_the_policy(bed: Bed, kube: Any) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)
    run_id = bed.trigger(DAG_ID, outage(kube.namespace, 15))
    bed.wait_state(DAG_ID, run_id, "chaos", {"deferred"}, 180)
    # Another DAG takes the only slot for longer than the hold + the dead man's 5 s: the
    # chaos task cannot resume when its hold ends (as with a dead worker).
    other = bed.trigger(OTHER, {"seconds": 40})
    bed.wait_state(OTHER, other, "busy", {"running"}, 120)

    poll(lambda: workloads.managed(api, kube.namespace) == [], "the trigger to remove the policy", 60)
    assert bed.state(DAG_ID, run_id, "chaos") in ("scheduled", "queued")  # not resumed yet
    assert pending(bed, run_id) == []

    # Once it resumes, its own cleanup finds nothing left to undo and the run succeeds.
    assert bed.run_state(DAG_ID, run_id, 240) == "success"


# Last in the module: the killed task keeps the only executor slot until Airflow notices.
def test_a_dead_worker_leaves_hog_pods_that_end_by_their_own_deadline(bed: Bed, kube: Any) -> None:
    import psutil

    core = kube.core()
    run_id = bed.trigger(IN_WORKER, hog(kube.namespace, 30))  # deadline: 30 s + 5 s
    bed.wait_state(IN_WORKER, run_id, "chaos", {"running"}, 180)

    def hog_running() -> Any:
        pods = core.list_namespaced_pod(kube.namespace, label_selector="krkn.io/hog").items
        return len(pods) == 1 and pods[0].status.phase == "Running" and pods[0]

    pod = poll(hog_running, "the hog pod to run", 120)
    sql = "select pid from task_instance where dag_id = ? and run_id = ? and task_id = 'chaos'"
    ((pid,),) = query(bed.env, sql, IN_WORKER, run_id)
    # The worker dies mid-hold: the task process and the executor worker supervising it.
    worker = psutil.Process(pid).ppid()
    os.kill(pid, signal.SIGKILL)
    os.kill(worker, signal.SIGKILL)

    def ended() -> Any:
        current = core.read_namespaced_pod(pod.metadata.name, kube.namespace)
        return current.status.phase in ("Succeeded", "Failed") and current

    done = poll(ended, "the hog pod to end by itself", 120)
    if kube.emulator is not None or done.status.phase == "Failed":
        assert done.status.reason == "DeadlineExceeded"
    # Airflow has not failed the task yet: that takes [scheduler] task_instance_heartbeat_timeout.
    assert bed.state(IN_WORKER, run_id, "chaos") == "running"

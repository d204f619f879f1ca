"""The production-shaped test bed: Postgres, Redis, S3, Airflow with two Celery workers.

One module for ``scripts/topology.sh up|down|status`` (``python -m tests.topology``) and for
the pytest fixture (``tests/topology/conftest.py``), so both start exactly the same thing:

* Postgres (``initdb``/``postgres`` binaries, run as user ``postgres`` when we are root)
  for the metadata DB; Redis (``redis-server``) as the Celery broker;
* moto's S3 server and an Airflow ``aws`` connection to it; the journal at
  ``s3://<bucket>/<prefix>`` through ``[krkn] rollback_location`` / ``rollback_conn_id``;
* Airflow api-server, scheduler, dag-processor, triggerer, and two Celery workers (``a``
  and ``b``), each Airflow process with its own ``AIRFLOW_HOME`` and temp dir, each worker
  with its own hostname (``[core] hostname_callable``), log server port, queue and number
  of task slots (``CONCURRENCY``: two on A, one on B);
* a Kubernetes target given by a kubeconfig (the emulator, or ``KRKN_TEST_KUBECONFIG``).

Every process runs in its own process group; its pid is kept in ``state.json`` and it is
stopped by pid. Connections and the kubeconfig are given to the api-server only: workers
fetch connections through the execution API, as on separate hosts.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.topology import services
from tests.topology.services import BUCKET
from tests.topology.waiting import free_port, wait_for

__all__ = [
    "BUCKET",
    "CONCURRENCY",
    "PREFIX",
    "WORKERS",
    "Bed",
    "free_port",
    "running",
    "start",
    "wait_dags",
    "wait_for",
]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
DAGS = Path(__file__).resolve().parent / "dags"
WORKERS = {"a": "worker-a.krkn.test", "b": "worker-b.krkn.test"}
# Task slots per worker. B has one: a deferred hold on queue ``b`` must leave it to another task.
CONCURRENCY = {"a": 2, "b": 1}
PREFIX = "gamedays"
S3_CONN_ID = "s3_journal"
HEARTBEAT_TIMEOUT = 12  # seconds; Airflow's default (300) would make the worker-kill test wait 5 min


def hostname() -> str:
    """``[core] hostname_callable`` of the bed: the worker's name, as on separate hosts."""
    return os.environ.get("KRKN_BED_HOSTNAME") or socket.getfqdn()


# -- state -----------------------------------------------------------------------------


@dataclass
class Bed:
    """A running bed: where everything is, and the pid of every process."""

    root: str
    api_url: str
    s3_url: str
    redis_url: str
    db_url: str
    kubeconfig: str
    location: str
    env: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)
    concurrency: dict[str, int] = field(default_factory=lambda: dict(CONCURRENCY))

    @property
    def state_file(self) -> Path:
        return Path(self.root) / "state.json"

    def save(self) -> None:
        self.state_file.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, root: str | Path) -> Bed:
        return cls(**json.loads((Path(root) / "state.json").read_text()))

    def log(self, name: str) -> Path:
        return Path(self.root) / "logs" / f"{name}.log"

    # -- processes ---------------------------------------------------------------------

    def spawn(
        self, name: str, argv: Sequence[str], *, env: dict[str, str], user: str | None = None
    ) -> subprocess.Popen[bytes]:
        self.log(name).parent.mkdir(parents=True, exist_ok=True)
        with self.log(name).open("ab") as out:
            process = subprocess.Popen(
                list(argv),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: stopped by pid, never by name
                user=user,
                cwd=self.root,
            )
        self.pids[name] = process.pid
        self.save()
        return process

    def alive(self, name: str) -> bool:
        pid = self.pids.get(name)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return False
        return True

    def kill_group(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the process group of ``name`` (its pid is the group id)."""
        pid = self.pids.get(name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)

    def stop(self, name: str, *, timeout: float = 15.0) -> None:
        pid = self.pids.get(name)
        if pid is None:
            return
        self.kill_group(name, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive(name) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.kill_group(name, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        self.pids.pop(name, None)
        self.save()

    def stop_all(self) -> None:
        # Airflow first (it holds DB and broker connections), then the services.
        order = ["worker-a", "worker-b", "triggerer", "scheduler", "dag-processor", "api-server"]
        for name in [*order, *[n for n in list(self.pids) if n not in order]]:
            self.stop(name)

    # -- Airflow -----------------------------------------------------------------------

    def airflow_env(self, component: str, **extra: str) -> dict[str, str]:
        home = Path(self.root) / "homes" / component
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        self.homes[component] = str(home)
        return {**self.env, "AIRFLOW_HOME": str(home), "TMPDIR": str(home / "tmp"), **extra}

    def start_worker(self, name: str) -> None:
        port = free_port()
        env = self.airflow_env(
            f"worker-{name}",
            KRKN_BED_HOSTNAME=WORKERS[name],
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(port),
        )
        argv = [
            AIRFLOW,
            "celery",
            "worker",
            "-q",
            name,
            "-c",
            str(self.concurrency[name]),
            "-H",
            WORKERS[name],
        ]
        self.spawn(f"worker-{name}", argv, env=env)

    def worker_processes(self, name: str) -> list[int]:
        """Live processes of worker ``name``: the worker and its descendants (pool, supervisors, tasks)."""
        parents: dict[int, int] = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z":  # a zombie is already dead
                    parents[int(proc.name)] = int(fields[1])
        found = {self.pids[f"worker-{name}"]} & set(parents)
        grew = True
        while grew:
            children = {pid for pid, parent in parents.items() if parent in found} - found
            found |= children
            grew = bool(children)
        return sorted(found)

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL worker ``name`` as a lost host: its process group and that of every process it started.

        Task processes may run in process groups of their own, so the group of every
        descendant is killed too. Returns the groups killed.
        """
        groups = {self.pids[f"worker-{name}"]}
        for pid in self.worker_processes(name):
            with contextlib.suppress(OSError):
                groups.add(os.getpgid(pid))
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pids[f"worker-{name}"], 0)
        return sorted(groups)

    def restart_worker(self, name: str) -> None:
        """Start worker ``name`` again (after ``kill_worker``) and wait until it is ready."""
        self.stop(f"worker-{name}")
        log = self.log(f"worker-{name}")
        if log.exists():
            log.rename(log.with_suffix(f".{time.time_ns()}.log"))
        self.start_worker(name)
        wait_for(lambda: self.worker_ready(name), timeout=120, what=f"Celery worker {name}")

    def worker_ready(self, name: str) -> bool:
        log = self.log(f"worker-{name}")
        return log.exists() and f"{WORKERS[name]} ready" in log.read_text(errors="replace")

    def rest(self, method: str, path: str, body: Any = None, *, timeout: float = 30) -> Any:
        """A call to Airflow's REST API (all users are admins on the bed)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: {error.code} {error.read().decode()[:500]}") from None
        return json.loads(text) if text else None

    def get_text(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.api_url + path, timeout=30) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self.rest("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.rest("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}")["state"])

    def wait_run(self, dag_id: str, run_id: str, *, timeout: float = 180) -> str:
        """Wait until the run is finished; its final state."""
        return wait_for(
            lambda: (s := self.run_state(dag_id, run_id)) in ("success", "failed") and s,
            timeout=timeout,
            what=f"run {run_id} of {dag_id} to finish",
            interval=0.5,
        )

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        data = self.rest("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances")
        return {ti["task_id"]: ti for ti in data["task_instances"]}

    def wait_task(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Sequence[str],
        *,
        timeout: float = 120,
        min_try: int = 1,
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            ti = self.task_instances(dag_id, run_id).get(task_id)
            if ti and ti["state"] in states and int(ti.get("try_number") or 0) >= min_try:
                return ti
            return None

        return wait_for(
            check,
            timeout=timeout,
            what=f"{task_id} of {run_id} to be {'/'.join(states)}",
            interval=0.5,
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """A task's log file, from the home of the worker that ran it.

        (The api-server would fetch it from ``<hostname>:8793``; the bed's hostnames are
        names, not addresses, and one machine has one port 8793.)
        """
        ti = self.task_instances(dag_id, run_id)[task_id]
        worker = next(name for name, host in WORKERS.items() if host == ti["hostname"])
        logs = Path(self.homes[f"worker-{worker}"]) / "logs"
        relative = f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/attempt={try_number}.log"
        return (logs / relative).read_text(errors="replace")

    def clear(self, dag_id: str, run_id: str, task_ids: Sequence[str]) -> Any:
        """Clear tasks as the UI's Clear button does (``dry_run`` defaults to true in the API)."""
        body = {
            "dag_run_id": run_id,
            "task_ids": list(task_ids),
            "dry_run": False,
            "include_downstream": True,
            "include_upstream": False,
            "only_failed": False,
            "reset_dag_runs": True,
        }
        return self.rest("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", body)

    def s3(self) -> Any:
        """An s3fs file system on the bed's S3 server (the tests' own view of the bucket)."""
        import s3fs

        return s3fs.S3FileSystem(
            key="testing",
            secret="testing",
            client_kwargs={"endpoint_url": self.s3_url, "region_name": "us-east-1"},
            skip_instance_cache=True,
            use_listings_cache=False,
        )


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _shared_env(
    bed_root: Path, *, db: str, broker: str, api_port: int, s3_url: str, kubeconfig: str
) -> dict[str, str]:
    """What every Airflow component shares (each writes random secrets into its own home)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "KRKN_"))}
    from cryptography.fernet import Fernet

    return {
        **inherited,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), str(DAGS), os.environ.get("PYTHONPATH", "")) if p
        ),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db.replace("+psycopg2", ""),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.topology.bed.hostname",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # The journal: on S3, through an Airflow connection; signed with the default key Variable.
        "AIRFLOW__KRKN__ROLLBACK_LOCATION": f"s3://{BUCKET}/{PREFIX}",
        "AIRFLOW__KRKN__ROLLBACK_CONN_ID": S3_CONN_ID,
        "KRKN_BED_ROOT": str(bed_root),
    }


def connections(s3_url: str, kubeconfig: str) -> dict[str, str]:
    """The connections, given to the api-server only (workers ask the execution API)."""
    s3 = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": s3_url, "region_name": "us-east-1"},
    }
    kube = {"conn_type": "kubernetes", "extra": {"kube_config_path": kubeconfig}}
    return {
        f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(s3),
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(kube),
    }


def start(
    root: str | Path,
    *,
    kubeconfig: str | Path,
    extra_env: dict[str, str] | None = None,
    concurrency: dict[str, int] | None = None,
) -> Bed:
    """Start the whole bed under ``root`` (a fresh folder); returns it once every part is up.

    :param extra_env: more settings for every Airflow component (e.g. ``AIRFLOW__...``).
    :param concurrency: task slots of some workers (``{"a": 4}``); the others keep ``CONCURRENCY``.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    api_port = free_port()
    bed = Bed(
        root=str(root),
        api_url=f"http://127.0.0.1:{api_port}",
        s3_url="",
        redis_url="",
        db_url="",
        kubeconfig=str(kubeconfig),
        location=f"s3://{BUCKET}/{PREFIX}",
        env={},
        concurrency={**CONCURRENCY, **(concurrency or {})},
    )
    bed.save()
    try:
        bed.db_url = services.start_postgres(bed)
        bed.redis_url = services.start_redis(bed)
        bed.s3_url = services.start_s3(bed)
        bed.env = _shared_env(
            root,
            db=bed.db_url,
            broker=bed.redis_url,
            api_port=api_port,
            s3_url=bed.s3_url,
            kubeconfig=str(kubeconfig),
        ) | (extra_env or {})
        bed.save()
        migrate = subprocess.run(
            [AIRFLOW, "db", "migrate"],
            env=bed.airflow_env("migrate"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed: {migrate.stderr[-3000:]}")
        api_env = bed.airflow_env("api-server", **connections(bed.s3_url, str(kubeconfig)))
        bed.spawn("api-server", [AIRFLOW, "api-server", "--port", str(api_port)], env=api_env)
        for component in ("scheduler", "dag-processor", "triggerer"):
            bed.spawn(component, [AIRFLOW, component], env=bed.airflow_env(component))
        for name in WORKERS:
            bed.start_worker(name)
        wait_for(lambda: bed.rest("GET", "/api/v2/version", timeout=5), timeout=120, what="the api-server")
        wait_for(
            lambda: bed.rest("GET", "/api/v2/monitor/health")["scheduler"]["status"] == "healthy",
            timeout=120,
            what="a healthy scheduler",
        )
        for name in WORKERS:
            wait_for(lambda n=name: bed.worker_ready(n), timeout=120, what=f"Celery worker {name}")  # type: ignore[misc]
        bed.save()
        return bed
    except BaseException:
        bed.stop_all()
        raise


def wait_dags(bed: Bed, dag_ids: Sequence[str], *, timeout: float = 120) -> None:
    """Wait until the dag-processor has serialized every DAG in ``dag_ids``."""
    for dag_id in dag_ids:
        wait_for(lambda d=dag_id: bed.rest("GET", f"/api/v2/dags/{d}"), timeout=timeout, what=f"DAG {dag_id}")  # type: ignore[misc]


@contextlib.contextmanager
def running(
    root: str | Path,
    *,
    kubeconfig: str | Path,
    extra_env: dict[str, str] | None = None,
    concurrency: dict[str, int] | None = None,
) -> Iterator[Bed]:
    """The bed for the duration of a ``with`` block; every process stopped by pid at the end."""
    bed = start(root, kubeconfig=kubeconfig, extra_env=extra_env, concurrency=concurrency)
    try:
        yield bed
    finally:
        bed.stop_all()

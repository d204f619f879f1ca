"""The production-shaped test bed: Postgres, Redis, S3, Airflow with two Celery workers.

One module for ``scripts/topology.sh up|down|status`` and for the pytest fixture
(``tests/topology/conftest.py``), so both start exactly the same thing:

* Postgres (``initdb``/``postgres`` binaries, run as user ``postgres`` when we are root)
  for the metadata DB; Redis (``redis-server``) as the Celery broker;
* moto's S3 server and an Airflow ``aws`` connection to it; the journal at
  ``s3://<bucket>/<prefix>`` through ``[krkn] rollback_location`` / ``rollback_conn_id``;
* Airflow api-server, scheduler, dag-processor, triggerer, and two Celery workers (``a``
  and ``b``), each Airflow process with its own ``AIRFLOW_HOME`` and temp dir, each worker
  with its own hostname (``[core] hostname_callable``), log server port and queue;
* a Kubernetes target given by a kubeconfig (the emulator, or ``KRKN_TEST_KUBECONFIG``).

Every process runs in its own process group; its pid is kept in ``state.json`` and it is
stopped by pid. Connections and the kubeconfig are given to the api-server only: workers
fetch connections through the execution API, as on separate hosts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
DAGS = Path(__file__).resolve().parent / "dags"
WORKERS = {"a": "worker-a.krkn.test", "b": "worker-b.krkn.test"}
BUCKET = "krkn-journal"
PREFIX = "gamedays"
S3_CONN_ID = "s3_journal"
HEARTBEAT_TIMEOUT = 12  # seconds; Airflow's default (300) would make the worker-kill test wait 5 min
T = TypeVar("T")


def hostname() -> str:
    """``[core] hostname_callable`` of the bed: the worker's name, as on separate hosts."""
    return os.environ.get("KRKN_BED_HOSTNAME") or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll ``predicate`` until it returns something truthy; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
        except Exception as error:  # not up yet
            last = error
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# -- binaries --------------------------------------------------------------------------


def postgres_bin(name: str) -> str:
    """``initdb``/``postgres`` from PATH, /usr/local/bin or Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in [
        Path("/usr/local/bin") / name,
        *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")),
    ]:
        if candidate.exists():
            return str(candidate)
    raise FileNotFoundError(f"{name} not found: run scripts/bootstrap.sh (installs Debian's postgresql)")


def redis_bin() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).exists():
        raise FileNotFoundError(
            "redis-server not found: run scripts/bootstrap.sh (installs Debian's redis-server)"
        )
    return found


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
        argv = [AIRFLOW, "celery", "worker", "-q", name, "-c", "2", "-H", WORKERS[name]]
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


# -- start -----------------------------------------------------------------------------


def _start_postgres(bed: Bed) -> str:
    data = Path(bed.root) / "pgdata"
    sockets = Path(bed.root) / "pgsock"
    sockets.mkdir(exist_ok=True)
    user = "postgres" if os.geteuid() == 0 else None
    if user:  # initdb refuses to run as root
        shutil.chown(bed.root, user)
        shutil.chown(sockets, user)
    subprocess.run(
        [postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        user=user,
        timeout=120,
    )
    port = free_port()
    argv = [postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets), "-h", "127.0.0.1"]
    argv += ["-c", "fsync=off", "-c", "max_connections=200"]
    bed.spawn("postgres", argv, env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}, user=user)

    import psycopg2

    def connect() -> Any:
        return psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")

    conn = wait_for(connect, timeout=30, what="postgres to accept connections")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE airflow")
    conn.close()
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/airflow"


def _start_redis(bed: Bed) -> str:
    port = free_port()
    argv = [redis_bin(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    bed.spawn("redis", [*argv, "--dir", bed.root], env={"PATH": os.environ.get("PATH", "")})

    def ping() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_for(ping, timeout=20, what="redis to answer PING")
    return f"redis://127.0.0.1:{port}/0"


def _start_s3(bed: Bed) -> str:
    port = free_port()
    bed.spawn("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: urllib.request.urlopen(url, timeout=2).status == 200, timeout=30, what="moto S3 server")
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    return url


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


def start(root: str | Path, *, kubeconfig: str | Path) -> Bed:
    """Start the whole bed under ``root`` (a fresh folder); returns it once every part is up."""
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
    )
    bed.save()
    try:
        bed.db_url = _start_postgres(bed)
        bed.redis_url = _start_redis(bed)
        bed.s3_url = _start_s3(bed)
        bed.env = _shared_env(
            root,
            db=bed.db_url,
            broker=bed.redis_url,
            api_port=api_port,
            s3_url=bed.s3_url,
            kubeconfig=str(kubeconfig),
        )
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
def running(root: str | Path, *, kubeconfig: str | Path) -> Iterator[Bed]:
    bed = start(root, kubeconfig=kubeconfig)
    try:
        yield bed
    finally:
        bed.stop_all()


# -- command line (scripts/topology.sh) ---------------------------------------------------


def _start_emulator(root: Path) -> tuple[subprocess.Popen[bytes], Path]:
    kubeconfig = root / "kubeconfig"
    port = free_port()
    log = (root / "logs").resolve()
    log.mkdir(parents=True, exist_ok=True)
    with (log / "emulator.log").open("ab") as out:
        process = subprocess.Popen(
            [str(BIN / "kube-emulator"), "--port", str(port), "--kubeconfig", str(kubeconfig)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for(kubeconfig.exists, timeout=30, what="the Kubernetes emulator's kubeconfig")
    return process, kubeconfig


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="topology.sh", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--root", default=os.environ.get("KRKN_BED_ROOT", "/tmp/krkn-topology"))
    args = parser.parse_args(argv)
    root = Path(args.root)
    if args.command == "up":
        if (root / "state.json").exists():
            print(f"a bed is already recorded in {root}: run `down` first", file=sys.stderr)
            return 1
        root.mkdir(parents=True, exist_ok=True)
        emulator = None
        kubeconfig_env = os.environ.get("KRKN_TEST_KUBECONFIG")
        if kubeconfig_env:
            kubeconfig = Path(kubeconfig_env).expanduser()
        else:
            emulator, kubeconfig = _start_emulator(root)
        bed = start(root, kubeconfig=kubeconfig)
        if emulator is not None:
            bed.pids["kube-emulator"] = emulator.pid
            bed.save()
        wait_dags(bed, ["topology_gameday"])
        print(f"up: {bed.api_url} (UI, REST; all users admin)\njournal: {bed.location} via {bed.s3_url}")
        print(f"kubeconfig: {bed.kubeconfig}\nlogs: {root / 'logs'}\nstop: scripts/topology.sh down")
        return 0
    if not (root / "state.json").exists():
        print(f"no bed recorded in {root}")
        return 0 if args.command == "down" else 1
    bed = Bed.load(root)
    if args.command == "status":
        down = [name for name in bed.pids if not bed.alive(name)]
        for name, pid in bed.pids.items():
            print(f"{name:14} pid {pid:<8} {'up' if bed.alive(name) else 'DOWN'}")
        print(f"api: {bed.api_url}  journal: {bed.location} via {bed.s3_url}")
        return 1 if down else 0
    bed.stop_all()
    shutil.rmtree(root, ignore_errors=True)
    print("down")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

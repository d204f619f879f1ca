from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.report import write_replay_outcomes, write_task_result
from krkn_airflow_provider.rollback import Journal, Origin, Store, UndoRecord, run_uuid_for

HERE = Path(__file__).parent
NOW = datetime.now(UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@dataclass
class FlipServer:
    url: str
    status_file: Path

    def answer(self, status: int) -> None:
        self.status_file.write_text(str(status))


@pytest.fixture
def flip_server(tmp_path: Path) -> Iterator[FlipServer]:
    """A separate HTTP server process whose status code the test flips."""
    port = free_port()
    status_file = tmp_path / "status"
    status_file.write_text("200")
    process = subprocess.Popen([sys.executable, str(HERE / "flip_server.py"), str(port), str(status_file)])
    try:
        wait_for_port(port)
        yield FlipServer(f"http://127.0.0.1:{port}/healthz", status_file)
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class Prometheus:
    """A Prometheus-compatible instant-query endpoint answering from ``series``."""

    url: str
    series: dict[str, list[float]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)


@pytest.fixture
def prometheus() -> Iterator[Prometheus]:
    state = Prometheus("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urllib.parse.urlparse(self.path)
            if parsed.path != "/api/v1/query":
                self.send_error(404)
                return
            query = urllib.parse.parse_qs(parsed.query).get("query", [""])[0]
            state.queries.append(query)
            if query not in state.series:
                body: dict[str, Any] = {"status": "error", "errorType": "bad_data", "error": "unknown"}
                code = 400
            else:
                samples = [
                    {"metric": {"instance": f"i{n}"}, "value": [time.time(), str(v)]}
                    for n, v in enumerate(state.series[query])
                ]
                body = {"status": "success", "data": {"resultType": "vector", "result": samples}}
                code = 200
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def journal(store: Store, run_uuid: str, task_id: str, try_number: int = 1) -> Journal:
    origin = Origin(
        run_uuid=run_uuid,
        scenario="application_outages_scenarios",
        dag_id="gameday",
        run_id="manual__1",
        task_id=task_id,
        try_number=try_number,
    )
    return Journal(store, origin)


def delete(name: str) -> UndoRecord:
    return UndoRecord(
        action="delete", api_version="networking.k8s.io/v1", kind="NetworkPolicy", namespace="shop", name=name
    )


def task_result(run_uuid: str, task_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "run_uuid": run_uuid,
        "dag_id": "gameday",
        "run_id": "manual__1",
        "task_id": task_id,
        "try_number": 1,
        "map_index": None,
        "scenario_type": "pod_disruption_scenarios",
        "status": status,
        "error": None if status == "success" else "steady state lost during the hold",
        "dry_run": False,
        "started_at": (NOW - timedelta(seconds=40)).isoformat(),
        "ended_at": (NOW - timedelta(seconds=10)).isoformat(),
        "targets": ["Pod shop/web-1"],
        "records": [],
        "recovery": [],
        "probes": [],
        **extra,
    }


@pytest.fixture
def run(tmp_path: Path) -> tuple[Store, str]:
    """A run with two chaos tasks: one recovered, one aborted by a probe; three records."""
    store = Store(str(tmp_path / "rollback"))
    run_uuid = run_uuid_for("gameday", "manual__1")
    kill = journal(store, run_uuid, "kill_web")
    done = kill.record(delete("krkn-deny-a"))
    assert done is not None
    store.mark_executed(done)
    outage = journal(store, run_uuid, "outage")
    failed = outage.record(delete("krkn-deny-b"))
    outage.record(delete("krkn-deny-c"))
    assert failed is not None
    write_replay_outcomes(
        store,
        run_uuid,
        {"records": [{"record": failed.id, "outcome": "failed", "message": "403 forbidden"}]},
        source="rollback.1",
    )
    recovery = {
        "entry": 1,
        "injected_at": (NOW - timedelta(seconds=38)).isoformat(),
        "first_replacement_seconds": 2.1,
        "all_ready_seconds": 3.4,
        "probes_passing_seconds": 4.0,
        "scenario_recovery_seconds": 3.5,
        "pod_targets": 1,
    }
    probes = [
        {"probe": "http web", "type": "http", "phase": "before", "ok": True, "message": "200", "at": "t"},
        {"probe": "http web", "type": "http", "phase": "hold", "ok": True, "message": "200", "at": "t"},
        {"probe": "http web", "type": "http", "phase": "after", "ok": True, "message": "200", "at": "t"},
    ]
    write_task_result(store, task_result(run_uuid, "kill_web", "success", recovery=[recovery], probes=probes))
    lost = [{"probe": "http web", "type": "http", "phase": "hold", "ok": False, "message": "503", "at": "t"}]
    write_task_result(
        store,
        task_result(
            run_uuid,
            "outage",
            "failed",
            started_at=(NOW - timedelta(seconds=9)).isoformat(),
            ended_at=NOW.isoformat(),
            probes=lost,
        ),
    )
    return store, run_uuid

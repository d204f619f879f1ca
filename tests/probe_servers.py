"""HTTP servers for probe tests: a separate process whose status code flips, and a
Prometheus-compatible instant-query endpoint. Import the fixtures where they are needed."""

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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

FLIP_SERVER = Path(__file__).parent / "report" / "flip_server.py"


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
    process = subprocess.Popen([sys.executable, str(FLIP_SERVER), str(port), str(status_file)])
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

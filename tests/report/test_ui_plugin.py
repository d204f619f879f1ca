"""The "Chaos gameday" page, served by a real ``airflow api-server`` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.rollback import Store
from tests.probe_servers import free_port

AIRFLOW = str(Path(sys.executable).parent / "airflow")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ApiServer:
    url: str
    token: str

    def get(self, path: str, *, auth: bool = True) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path)
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()


def _env(home: Path, journal: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "gameday:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__KRKN__ROLLBACK_LOCATION": str(journal),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
    )
    return env


@pytest.fixture
def api_server(tmp_path: Path, run: tuple[Store, str]) -> Iterator[ApiServer]:
    store, _ = run
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    env = _env(home, Path(store.location))
    (home / "passwords.json").write_text(json.dumps({"gameday": "chaos-monkey"}))
    if not any(ep.name == "krkn_chaos" for ep in entry_points(group="airflow.plugins")):
        # Installed from an older checkout: load the plugin from the plugins folder instead.
        (home / "plugins").mkdir()
        (home / "plugins" / "krkn_chaos.py").write_text(
            "from krkn_airflow_provider.plugins.krkn import KrknPlugin\n\n__all__ = ['KrknPlugin']\n"
        )
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    port = free_port()
    log = open(tmp_path / "api-server.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [AIRFLOW, "api-server", "--port", str(port), "--host", "127.0.0.1", "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        token = ""
        while time.monotonic() < deadline and process.poll() is None:
            login = urllib.request.Request(
                f"{url}/auth/token",
                data=json.dumps({"username": "gameday", "password": "chaos-monkey"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(login, timeout=5) as response:
                    token = json.loads(response.read())["access_token"]
                    break
            except (OSError, ValueError, KeyError):
                time.sleep(0.5)
        if not token:
            log.flush()
            pytest.fail("api-server did not start:\n" + (tmp_path / "api-server.log").read_text()[-3000:])
        yield ApiServer(url, token)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        log.close()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_ui_page_lists_runs_and_pending_records(api_server: ApiServer, run: tuple[Store, str]) -> None:
    store, run_uuid = run
    pending = [entry for entry in store.entries(run_uuid=run_uuid, state="pending")]

    status, body = api_server.get("/krkn/")
    assert status == 200, body
    assert run_uuid in body and "gameday" in body and "manual__1" in body
    assert f"runs/{run_uuid}/report.html" in body

    status, body = api_server.get(f"/krkn/runs/{run_uuid}")
    assert status == 200, body
    for entry in pending:
        assert entry.id in body
    assert body.count(">pending</span>") == 1 and body.count(">failed</span>") == 1
    assert body.count(">executed</span>") == 1

    status, body = api_server.get("/krkn/api/runs")
    runs: list[dict[str, Any]] = json.loads(body)
    assert [(r["run_uuid"], r["pending"], r["executed"], r["failed"]) for r in runs] == [(run_uuid, 1, 1, 1)]

    status, body = api_server.get(f"/krkn/runs/{run_uuid}/report.html")
    assert status == 200 and "Resilience score" in body
    assert api_server.get(f"/krkn/runs/{run_uuid}/report.xml")[1].startswith("<?xml")
    assert api_server.get("/krkn/runs/not-a-uuid")[0] == 404

    # Behind Airflow's authentication; read-only.
    assert api_server.get("/krkn/", auth=False)[0] == 401
    status, _ = api_server.get("/krkn/runs/" + run_uuid + "/execute")
    assert status in (404, 405)

    # The navigation entry the UI shows.
    status, body = api_server.get("/api/v2/plugins")
    plugin = next(p for p in json.loads(body)["plugins"] if p["name"] == "krkn_chaos")
    (view,) = plugin["external_views"]
    assert (view["name"], view["href"], view["url_route"]) == ("Chaos gameday", "krkn/", "krkn-gameday")

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

from .test_render_chromium import chromium  # noqa: F401 (a fixture)

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


UI_PROBE = """<script>
const wide = [...document.querySelectorAll('section')].filter(s => s.scrollWidth > s.clientWidth + 1);
const pre = document.createElement('pre');
pre.id = 'layout-probe';
pre.textContent = JSON.stringify({
  pageWider: document.documentElement.scrollWidth > window.innerWidth,
  overflowing: wide.length,
  verdicts: [...document.querySelectorAll('.verdict-pill')].map(p => [p.innerText, p.title]),
  ages: [...document.querySelectorAll('time')].map(t => [t.innerText, t.title]),
});
document.body.appendChild(pre);
</script>"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ui_page_shows_verdict_score_links_and_ages(
    api_server: ApiServer, run: tuple[Store, str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    import html
    import re
    from urllib.parse import urljoin

    from .test_render_chromium import dump_dom

    _, run_uuid = run
    browser: str = request.getfixturevalue("chromium")
    status, body = api_server.get("/krkn/")
    assert status == 200, body
    row = body[body.index("<tr class='run'>") :]
    # Verdict (its sentence on hover) and score: the fixture's run left two records not undone.
    assert ">UNSAFE</span>" in row and "title='2 undo record(s) not undone" in row and "<td>56.7</td>" in row
    # DAG and run link to Airflow's own pages, opened in the whole window, not the plugin's frame.
    dag_href = re.search(r"<a class='airflow' target='_top' href='([^']+)'>gameday</a>", row)
    run_href = re.search(r"<a class='airflow' target='_top' href='([^']+)'>manual__1</a>", row)
    assert dag_href and run_href, row
    base = api_server.url + "/krkn/"
    assert urljoin(base, dag_href[1]) == api_server.url + "/dags/gameday"
    assert urljoin(base, run_href[1]) == api_server.url + "/dags/gameday/runs/manual__1"
    assert api_server.get("/dags/gameday/runs/manual__1")[0] == 200  # the Airflow UI answers there
    # Age, exact UTC time on hover.
    assert re.search(r"<time datetime='[0-9T:+-]+' title='[0-9T:+-]+'>[0-9]+[smhd] ago</time>", row), row

    runs = json.loads(api_server.get("/krkn/api/runs")[1])
    assert [(r["verdict"]["word"], r["score"]) for r in runs] == [("UNSAFE", 56.7)]

    status, page = api_server.get(f"/krkn/runs/{run_uuid}")
    assert status == 200 and ">UNSAFE</span>" in page and "score 56.7" in page
    run_link = re.search(r"href='([^']+)'>manual__1</a>", page)
    assert run_link and urljoin(f"{api_server.url}/krkn/runs/{run_uuid}", run_link[1]) == (
        api_server.url + "/dags/gameday/runs/manual__1"
    )

    # Laid out by a browser at 1,400 px: every table stays inside its card.
    for name, text in (("runs", body), ("run", page)):
        file = tmp_path / f"{name}.html"
        file.write_text(text.replace("</body>", UI_PROBE + "</body>"))
        dom = dump_dom(browser, file, tmp_path / f"profile-{name}", width=1400)
        match = re.search(r'<pre id="layout-probe">(.*?)</pre>', dom, re.S)
        assert match, dom[-2000:]
        seen = json.loads(html.unescape(match[1]))
        assert not seen["pageWider"] and seen["overflowing"] == 0, (name, seen)
        assert seen["verdicts"][0][0] == "UNSAFE" and seen["ages"] and seen["ages"][0][0].endswith(" ago")

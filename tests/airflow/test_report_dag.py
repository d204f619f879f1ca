"""A DAG run with probes: result files, recovery numbers, the report and its link."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.report import REPORT_HTML, REPORT_XML, build_report, read_task_results
from krkn_airflow_provider.rollback import Store, run_uuid_for
from tests import workloads
from tests.airflow.conftest import TEST_KEY, run_dag, task_states, xcom
from tests.probe_servers import FlipServer, Prometheus

pytestmark = pytest.mark.usefixtures("airflow_db", "k8s_conn")


@pytest.fixture
def prom_conn(prometheus: Prometheus, monkeypatch: pytest.MonkeyPatch) -> Prometheus:
    host, port = prometheus.url.removeprefix("http://").split(":")
    conn = {"conn_type": "http", "host": host, "port": int(port), "schema": "http"}
    monkeypatch.setenv("AIRFLOW_CONN_KRKN_PROM", json.dumps(conn))
    return prometheus


@pytest.mark.timeout(300)
def test_probe_abort_fails_the_task_and_the_report_shows_it(
    dagbag: Any, kube: Any, journal_dir: Path, flip_server: FlipServer, prom_conn: Prometheus
) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=2)
    workloads.wait_ready(api, kube.namespace, "web", 2)
    prom_conn.series["up == 1"] = [1.0]
    # Break the HTTP probe as soon as the outage's NetworkPolicy exists.
    done = threading.Event()

    def flip_when_outage() -> None:
        while not done.is_set():
            if any(name.startswith("NetworkPolicy/") for name in workloads.managed(api, kube.namespace)):
                flip_server.answer(503)
                return
            done.wait(0.05)

    watcher = threading.Thread(target=flip_when_outage, daemon=True)
    watcher.start()
    try:
        conf = {"namespace": kube.namespace, "probe_url": flip_server.url, "hold_seconds": 60}
        dag_run = run_dag(dagbag, "krkn_report_gameday", conf)
    finally:
        done.set()
        watcher.join(5)

    assert task_states(dag_run) == {
        "kill_web": "success",
        "outage": "failed",
        "rollback": "success",
        "watcher": "failed",
    }
    assert workloads.managed(api, kube.namespace) == []
    summary = xcom(dag_run, "kill_web")
    (recovery,) = summary["recovery"]
    assert recovery["first_replacement_seconds"] is not None and recovery["all_ready_seconds"] is not None
    assert {probe["phase"] for probe in summary["probes"]} == {"before", "after"}
    assert all(probe["ok"] for probe in summary["probes"])
    assert prom_conn.queries and set(prom_conn.queries) == {"up == 1"}

    run_uuid = run_uuid_for(dag_run.dag_id, dag_run.run_id)
    store = Store(str(journal_dir), hmac_key=TEST_KEY)
    results = {result["task_id"]: result for result in read_task_results(store, run_uuid)}
    assert (
        results["kill_web"]["status"] == "success" and results["kill_web"]["recovery"] == summary["recovery"]
    )
    outage = results["outage"]
    assert outage["status"] == "failed" and "steady state lost during the hold" in outage["error"]
    assert outage["probes"][-1]["phase"] == "hold" and not outage["probes"][-1]["ok"]
    assert [entry.state for entry in store.entries(run_uuid=run_uuid)] == ["executed"]

    (context,) = store.contexts(run_uuid)
    folder = journal_dir / context.name
    page = (folder / REPORT_HTML).read_text()
    assert "Resilience score" in page and "steady state lost during the hold" in page
    suites = {s.get("name"): s for s in ET.parse(folder / REPORT_XML).getroot().iter("testsuite")}
    assert (suites["scenarios"].get("tests"), suites["scenarios"].get("failures")) == ("2", "1")
    assert (suites["rollback"].get("tests"), suites["rollback"].get("failures")) == ("1", "0")

    # The watcher recorded the states Airflow gave the chaos tasks; the report's verdict says why.
    states = json.loads((folder / "task-states.json").read_text())
    assert states["states"] == {"kill_web": "success", "outage": "failed"}
    assert "FAILED</span>" in page and "1 of 2 chaos task(s) did not succeed (outage failed)" in page

    for task_id in ("kill_web", "rollback", "watcher"):
        link = xcom(dag_run, task_id, "_link_GamedayReportLink")
        assert link is not None and link.endswith(f"/krkn/runs/{run_uuid}/report.html"), task_id


@pytest.mark.timeout(300)
def test_mapped_chaos_task_is_as_good_as_its_worst_instance(
    dagbag: Any, kube: Any, journal_dir: Path
) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)

    dag_run = run_dag(dagbag, "krkn_mapped", {"namespace": kube.namespace})

    assert dag_run.state == "failed"
    assert workloads.managed(api, kube.namespace) == []
    run_uuid = run_uuid_for(dag_run.dag_id, dag_run.run_id)
    store = Store(str(journal_dir), hmac_key=TEST_KEY)
    (context,) = store.contexts(run_uuid)
    states = json.loads((journal_dir / context.name / "task-states.json").read_text())["states"]
    assert states == {"outages": "failed"}  # from outages_0 success and outages_1 failed
    report = build_report(store, run_uuid)
    rows = sorted((task["map_index"], task["state"]) for task in report.tasks)
    assert rows == [(0, "success"), (1, "failed")]
    assert report.verdict().word == "FAILED"

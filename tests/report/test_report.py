"""The gameday report from a journal on a real folder: files, score, HTML, JUnit, CLI."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider import cli
from krkn_airflow_provider.errors import UnsafeName
from krkn_airflow_provider.report import (
    REPORT_HTML,
    REPORT_XML,
    build_report,
    list_runs,
    read_task_results,
    render_html,
    render_junit,
    result_file_name,
    tables,
    write_report,
    write_task_result,
)
from krkn_airflow_provider.rollback import Store, new_run_uuid

from .conftest import task_result


def test_result_files_sit_next_to_the_version_files(run: tuple[Store, str]) -> None:
    store, run_uuid = run
    (context,) = store.contexts(run_uuid)
    names = sorted(store.backend.list_files(context.name))
    assert "kill_web.1.result.json" in names and "outage.1.result.json" in names
    assert [name for name in names if name.startswith("replay.") and name.endswith(".rollback.1.json")]
    # The journal's own listings ignore them.
    assert len(store.entries(run_uuid=run_uuid)) == 3
    results = read_task_results(store, run_uuid)
    assert [r["task_id"] for r in results] == ["kill_web", "outage"]
    assert results[0]["format"] == "krkn-task-result/1"
    mode = os.stat(store.backend.display(context.name, "outage.1.result.json")).st_mode
    assert mode & 0o777 == 0o600


def test_result_file_names() -> None:
    assert result_file_name("group.kill_web", 2) == "group.kill_web.2.result.json"
    assert result_file_name("kill", 1, 3) == "kill.1.m3.result.json"
    for bad in ("a/b", "..", ""):
        with pytest.raises(UnsafeName):
            result_file_name(bad, 1)


def test_result_of_a_run_without_records_creates_its_context(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rollback"))
    run_uuid = new_run_uuid()
    write_task_result(store, task_result(run_uuid, "kill_web", "success"))
    (context,) = store.contexts(run_uuid)
    assert store.context_info(context)["dag_id"] == "gameday"
    assert build_report(store, run_uuid).tasks[0]["task_id"] == "kill_web"


def test_final_states_and_score(run: tuple[Store, str]) -> None:
    store, run_uuid = run
    report = build_report(store, run_uuid)
    assert report.dag_id == "gameday" and report.run_id == "manual__1"
    states = {record.target: record.state for record in report.records}
    assert states == {
        "NetworkPolicy shop/krkn-deny-a": "executed",
        "NetworkPolicy shop/krkn-deny-b": "failed",
        "NetworkPolicy shop/krkn-deny-c": "pending",
    }
    assert report.counts == {"pending": 1, "executed": 1, "failed": 1}
    score = report.score()
    # S = 1/2, P = 3/4, U = 1/3: 100 * (0.4*0.5 + 0.4*0.75 + 0.2/3) = 56.7
    assert score.parts == {"scenarios": (1, 2), "probes": (3, 4), "rollback": (1, 3)}
    assert score.value == 56.7
    (summary,) = list_runs(store)
    assert (summary.pending, summary.executed, summary.failed) == (1, 1, 1)


def test_score_leaves_out_parts_with_nothing_to_count(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rollback"))
    run_uuid = new_run_uuid()
    write_task_result(store, task_result(run_uuid, "kill_web", "success"))
    score = build_report(store, run_uuid).score()
    assert score.value == 100.0 and score.parts["probes"] == (0, 0)


def test_html_is_self_contained_and_shows_everything(run: tuple[Store, str]) -> None:
    store, run_uuid = run
    page = render_html(build_report(store, run_uuid))
    assert page.startswith("<!DOCTYPE html>")
    for needle in (
        "Resilience score",
        "56.7",
        "score = 100 * (0.4*S",
        "Recovery times",
        "Timeline",
        "Probe results",
        "Undo records",
        "krkn-deny-b",
        "403 forbidden",
        'id="recovery-chart"',
    ):
        assert needle in page, needle
    assert page.count('class="bar"') == 3  # the three recovery series of kill_web
    for external in ("<script", "<link", "src=", "url(", "@import", "http://", "https://"):
        assert external not in page, external


def test_junit_parses_with_one_case_per_task_and_record(run: tuple[Store, str]) -> None:
    store, run_uuid = run
    root = ET.fromstring(render_junit(build_report(store, run_uuid)))
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert set(suites) == {"scenarios", "rollback"}
    scenarios, rollback = suites["scenarios"], suites["rollback"]
    assert (scenarios.get("tests"), scenarios.get("failures")) == ("2", "1")
    assert (rollback.get("tests"), rollback.get("failures")) == ("3", "2")
    failed = [case.get("name") for case in scenarios.iter("testcase") if case.find("failure") is not None]
    assert failed == ["outage (try 1)"]
    kinds = sorted(f.get("type") or "" for f in rollback.iter("failure"))
    assert kinds == ["UndoFailed", "UndoPending"]


def test_write_report_into_the_run_folder(run: tuple[Store, str]) -> None:
    store, run_uuid = run
    files = write_report(store, run_uuid)
    (context,) = store.contexts(run_uuid)
    assert files.html == store.backend.display(context.name, REPORT_HTML)
    assert Path(files.html).read_text().startswith("<!DOCTYPE html>")
    ET.parse(files.junit)


def test_cli_report(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_uuid = run
    out = io.StringIO()
    argv = ["report", run_uuid, "--output-dir", str(tmp_path / "out"), "--location", store.location]
    code = cli.main(argv, out)
    assert code == 0, out.getvalue()
    assert (tmp_path / "out" / REPORT_HTML).exists() and (tmp_path / "out" / REPORT_XML).exists()
    assert "records: 1 executed, 1 pending, 1 failed" in out.getvalue()
    assert "UNSAFE: 2 undo record(s) not undone" in out.getvalue()
    out = io.StringIO()
    assert (
        cli.main(
            ["report", run_uuid, "-o", "json", "--dir", str(tmp_path / "out2"), "-l", store.location], out
        )
        == 0
    )
    assert json.loads(out.getvalue())["verdict"]["word"] == "UNSAFE"
    out = io.StringIO()
    assert cli.main(["--location", store.location, "report", run_uuid], out) == 0
    (context,) = store.contexts(run_uuid)
    assert (Path(store.location) / context.name / REPORT_HTML).exists()
    assert cli.main(["--location", store.location, "report", new_run_uuid()], io.StringIO()) == 2
    assert cli.main(["--location", store.location, "report", "../etc"], io.StringIO()) == 2


def test_report_json_is_serialisable(run: tuple[Store, str]) -> None:
    store, run_uuid = run
    data = json.loads(json.dumps(build_report(store, run_uuid).to_dict()))
    assert data["score"]["value"] == 56.7


def test_log_tables() -> None:
    result = {
        "entries": [
            {"entry": 1, "targets": ["Pod a/b"], "records": [], "cleanup": "", "recovery_seconds": 3.5}
        ],
        "recovery": [{"entry": 1, "first_replacement_seconds": 2.1, "all_ready_seconds": 3.4}],
        "probes": [{"ok": True}, {"ok": True}, {"ok": False}],
    }
    assert tables.scenario_table(result).splitlines() == [
        "entry  targets  records  1st pod  all ready  probes ok  recovered  cleanup",
        "-----  -------  -------  -------  ---------  ---------  ---------  -------",
        "1      1        0        2.10s    3.40s      -          3.50s      -",
        "probe checks: 2 held, 1 failed",
    ]
    summary = {
        "records": [{"record": "x_1_abcdefgh", "task_id": "t", "outcome": "undone", "description": "d"}]
    }
    assert tables.replay_table(summary).splitlines()[2] == "x_1_abcdefgh  t     undone   d"


def test_killed_task_is_shown_with_airflow_state_and_keeps_the_score_below_100(
    killed_run: tuple[Store, str],
) -> None:
    store, run_uuid = killed_run
    report = build_report(store, run_uuid)
    rows = {task["task_id"]: (task["state"], task["airflow_state"]) for task in report.tasks}
    assert rows == {
        "kill_web": ("success", "success"),
        "outage": ("killed", "failed"),
        "hog": ("upstream failed", "upstream_failed"),
    }
    score = report.score()
    # S = 1/3, no probes, U = 1/1: 100 * (0.4/3 + 0.2) / 0.6 = 55.6
    assert score.parts == {"scenarios": (1, 3), "probes": (0, 0), "rollback": (1, 1)}
    assert score.value == 55.6
    verdict = report.verdict()
    assert verdict.word == "FAILED"
    assert verdict.text == (
        "2 of 3 chaos task(s) did not succeed (outage killed, hog upstream failed); "
        "all 1 change(s) were undone"
    )
    page = render_html(report)
    assert page.index("id='verdict'") < page.index("id='score'")
    assert "S = 1/3 (scenarios)" in page and "P: no probes, left out" in page
    assert "watcher.1" in page  # the replay that undid the killed task's record


def test_killed_task_without_airflow_states_is_found_from_its_records(tmp_path: Path) -> None:
    """The CLI renders reports without Airflow: a task with records and no result was killed."""
    from .conftest import delete, journal

    store = Store(str(tmp_path / "rollback"))
    run_uuid = new_run_uuid()
    write_task_result(store, task_result(run_uuid, "kill_web", "success"))
    journal(store, run_uuid, "outage").record(delete("krkn-deny-k"))
    report = build_report(store, run_uuid)
    assert [(task["task_id"], task["state"]) for task in report.tasks] == [
        ("kill_web", "success"),
        ("outage", "killed"),
    ]
    assert report.score().value is not None and report.score().value < 100
    assert report.verdict().word == "UNSAFE"
    assert report.verdict().text.startswith("1 undo record(s) not undone")


def test_airflow_failure_of_a_task_that_reported_success_is_a_failure(tmp_path: Path) -> None:
    from krkn_airflow_provider.report import write_task_states

    store = Store(str(tmp_path / "rollback"))
    run_uuid = new_run_uuid()
    write_task_result(store, task_result(run_uuid, "kill_web", "success"))
    assert build_report(store, run_uuid).verdict().word == "PASSED"
    write_task_states(store, run_uuid, {"kill_web": "failed"}, source="watcher.1")
    report = build_report(store, run_uuid)
    assert report.tasks[0]["state"] == "failed" and report.score().value == 0.0
    assert report.verdict().word == "FAILED"


def test_cli_replay_is_recorded_in_the_report(kube: Any, tmp_path: Path) -> None:
    """``krkn-rollback execute`` leaves its outcomes in the run folder: the report's "last replay"."""
    from kubernetes import client as k8s

    from krkn_airflow_provider.rollback import Journal, Origin, UndoRecord

    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(tmp_path / "rollback"))
    origin = Origin(run_uuid=new_run_uuid(), scenario="service_hijacking_scenarios", task_id="hijack")
    journal = Journal(store, origin)
    labels = journal.object_labels()
    entry = journal.record(
        UndoRecord(
            action="delete",
            api_version="v1",
            kind="ConfigMap",
            namespace=kube.namespace,
            name="krkn-x",
            guard=labels,
        )
    )
    assert entry is not None
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "krkn-x", "labels": labels}})
    first = write_report(store, journal.run_uuid)
    assert "<td>-</td>" in Path(first.html).read_text()  # no replay yet
    out = io.StringIO()
    argv = ["execute", "-r", journal.run_uuid, "--kubeconfig", str(kube.kubeconfig), "-l", store.location]
    assert cli.main(argv, out) == 0, out.getvalue()
    assert f"gameday report: {first.html}" in out.getvalue()  # re-rendered, it existed
    (row,) = build_report(store, journal.run_uuid).records
    assert (row.state, row.outcome) == ("executed", "undone")
    page = Path(first.html).read_text()
    assert "krkn-rollback" in page and ">undone" in page  # the replays table and the record's last replay
    # -o json: the summary on stdout, progress lines elsewhere.
    out = io.StringIO()
    assert cli.main([*argv, "-o", "json"], out) == 0
    assert json.loads(out.getvalue())["counts"] == {}


def test_watcher_notes_make_the_verdict_failed(tmp_path: Path) -> None:
    from krkn_airflow_provider.report import write_task_states

    store = Store(str(tmp_path / "rollback"))
    run_uuid = new_run_uuid()
    write_task_result(store, task_result(run_uuid, "kill_web", "success"))
    note = "1 record(s) were still pending and were undone by watcher"
    write_task_states(store, run_uuid, {"kill_web": "success"}, source="watcher.1", notes=[note])
    verdict = build_report(store, run_uuid).verdict()
    assert (verdict.word, verdict.text) == ("FAILED", f"{note}; no change was recorded")


@pytest.mark.parametrize("into", ["run folder", "output folder"])
def test_report_files_are_owner_only_under_umask_000(
    run: tuple[Store, str], tmp_path: Path, into: str
) -> None:
    store, run_uuid = run
    output = tmp_path / "out"
    output.mkdir()
    # A report left earlier with a wide mode is narrowed, not kept.
    (output / REPORT_HTML).write_text("old")
    os.chmod(output / REPORT_HTML, 0o666)
    old = os.umask(0)
    try:
        files = write_report(store, run_uuid, output=str(output) if into == "output folder" else None)
    finally:
        os.umask(old)
    for path in (files.html, files.junit):
        assert os.stat(path).st_mode & 0o777 == 0o600, path

"""krkn-rollback list, show and prune, run as the installed console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from krkn_airflow_provider.rollback import Store

from .conftest import delete_record, make_journal

CLI = str(Path(sys.executable).parent / "krkn-rollback")


def cli(
    *args: str, location: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    if location is not None:
        full_env["KRKN_ROLLBACK_LOCATION"] = str(location)
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=full_env, timeout=60)


@pytest.fixture
def journal_root(tmp_path: Path) -> tuple[Path, Store, list[str]]:
    root = tmp_path / "rollback"
    store = Store(str(root))
    journal = make_journal(store)
    first = journal.record(delete_record("a"))
    second = journal.record(delete_record("b"))
    assert first is not None and second is not None
    store.mark_executed(first)
    return root, store, [journal.run_uuid, first.id, second.id]


def test_list_tree_table_and_json(journal_root: tuple[Path, Store, list[str]]) -> None:
    root, _, (run_uuid, first, second) = journal_root
    tree = cli("list", location=root)
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0] == f"{root}/"
    assert lines[1].endswith(f"-{run_uuid}/  (dag gameday, run manual__1; 1 pending, 1 executed)")
    # Each file with its age (seconds here: the journal was just written).
    assert [re.sub(r"  [0-9]+[smh]$", "  AGE", line) for line in lines[2:]] == [
        f"    {first}.py.executed  [executed]  AGE",
        f"    {second}.py  [pending]  AGE",
    ]

    table = cli("list", "--format", "table", "--state", "pending", location=root)
    head, _, row = table.stdout.splitlines()
    assert [cell.strip() for cell in head.split("  ") if cell.strip()] == [
        "DAG",
        "RUN ID",
        "RUN UUID",
        "STATE",
        "SCENARIO",
        "AGE",
        "FILE",
    ]
    assert [re.sub(r"^[0-9]+[smh]$", "AGE", cell) for cell in row.split()] == [
        "gameday",
        "manual__1",
        run_uuid,
        "pending",
        "pod_disruption_scenarios",
        "AGE",
        f"{second}.py",
    ]

    data = json.loads(cli("list", "--json", "--dag-id", "gameday", location=root).stdout)
    assert [r["id"] for r in data[0]["records"]] == [first, second]
    assert data[0]["dag_id"] == "gameday"
    assert json.loads(cli("list", "--json", "--dag-id", "other", location=root).stdout) == []
    assert cli("list", "--run-uuid", "nonsense", location=root).returncode == 2


def test_show_prints_header_and_verified_record(journal_root: tuple[Path, Store, list[str]]) -> None:
    root, store, (_, _, second) = journal_root
    path = store.path(store.entries(state="pending")[0])
    shown = cli("show", path)
    assert shown.returncode == 0, shown.stderr
    assert f"file:    {path}\n" in shown.stdout
    assert "(verified)" in shown.stdout and "Undoes:    delete ConfigMap default/victim" not in shown.stdout
    assert "Undoes:    delete ConfigMap default/b" in shown.stdout
    # The whole header, down to how to verify it and apply it by hand.
    assert f"krkn-rollback verify {Path(path).name}" in shown.stdout
    assert "Then apply it" in shown.stdout and f"python3 {Path(path).name} --kubeconfig" in shown.stdout
    assert "krkn-rollback execute --run-uuid" in shown.stdout
    by_id = json.loads(cli("show", "--json", second, location=root).stdout)
    assert by_id["record"]["name"] == "b" and by_id["state"] == "pending"
    Path(path).write_text(Path(path).read_text().replace("'name': 'b'", "'name': 'c'"))
    refused = cli("show", path)
    assert refused.returncode == 1
    assert f"{Path(path).name}: record does not match its digest" in refused.stderr


def test_bad_input_exits_2_with_a_message(tmp_path: Path) -> None:
    result = cli("show", "../../etc/passwd", location=tmp_path)
    assert result.returncode == 2
    assert "is not a version file name, record id or run uuid" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli("prune", "--older-than", "soon", location=tmp_path)
    assert result.returncode == 2
    assert "--older-than 'soon': use a number with s, m, h, d or w" in result.stderr


def test_prune(journal_root: tuple[Path, Store, list[str]]) -> None:
    root, store, _ = journal_root
    assert (
        "would remove 0 run folder(s)"
        in cli("prune", "--older-than", "0s", "--dry-run", location=root).stdout
    )
    for entry in store.entries(state="pending"):
        store.mark_executed(entry)
    dry = cli("prune", "--older-than", "0s", "--dry-run", location=root)
    assert "would remove 1 run folder(s)" in dry.stdout and store.contexts()
    assert "removed 1 run folder(s)" in cli("prune", "--older-than", "0s", location=root).stdout
    assert store.contexts() == []


def test_options_anywhere_and_krkn_spellings(journal_root: tuple[Path, Store, list[str]]) -> None:
    root, _, (run_uuid, first, second) = journal_root
    # --location after the verb (no environment variable), -o json, Krkn's --run_uuid.
    data = json.loads(cli("list", "--location", str(root), "-o", "json", "--run_uuid", run_uuid).stdout)
    assert [r["id"] for r in data[0]["records"]] == [first, second]
    before = cli("-l", str(root), "list", "-o", "json")
    assert json.loads(before.stdout) == data
    assert json.loads(
        cli("list", "-o", "json", "--scenario_type", "pod_disruption_scenarios", location=root).stdout
    )
    assert (
        json.loads(cli("list", "-o", "json", "--scenario-type", "other_scenarios", location=root).stdout)
        == []
    )
    # Airflow's run id beside the journal's run uuid.
    assert json.loads(cli("list", "--run-id", "manual__1", "-o", "json", location=root).stdout)[0][
        "run_uuid"
    ] == (run_uuid)
    assert json.loads(cli("list", "--run-id", "manual__2", "-o", "json", location=root).stdout) == []


def test_wide_output_has_task_and_undo(journal_root: tuple[Path, Store, list[str]]) -> None:
    root, store, _ = journal_root
    wide = cli("list", "-o", "wide", "--state", "pending", location=root)
    head, _, row = wide.stdout.splitlines()
    assert head.split()[-3:] == ["FILE", "TASK", "UNDO"]
    assert row.endswith("delete ConfigMap default/b") and store.path(store.entries(state="pending")[0]) in row


def test_every_printing_command_speaks_json(
    journal_root: tuple[Path, Store, list[str]], tmp_path: Path
) -> None:
    root, _, (run_uuid, first, _) = journal_root
    assert json.loads(cli("show", first, "-o", "json", location=root).stdout)["state"] == "executed"
    assert json.loads(
        cli("prune", "--older-than", "0s", "--dry-run", "-o", "json", location=root).stdout
    ) == {
        "dry_run": True,
        "removed": [],
    }
    report = cli("report", run_uuid, "-o", "json", "--output-dir", str(tmp_path / "r"), location=root)
    assert json.loads(report.stdout)["run_uuid"] == run_uuid
    for verb in ("list", "show", "execute", "prune", "sweep", "report"):
        assert "-o {tree,table,wide,json}" in cli(verb, "--help").stdout, verb


def test_show_a_run_and_empty_selections_say_what_is_there(
    journal_root: tuple[Path, Store, list[str]],
) -> None:
    root, store, (run_uuid, first, second) = journal_root
    shown = cli("show", run_uuid, location=root)
    assert shown.returncode == 0, shown.stderr
    assert (
        f"run:      {run_uuid}" in shown.stdout
        and "verdict:  UNSAFE: 1 undo record(s) not undone" in shown.stdout
    )
    assert first in shown.stdout and second in shown.stdout
    for entry in store.entries(state="pending"):
        store.mark_executed(entry)
    empty = cli("list", "--state", "pending", location=root)
    assert (
        empty.stdout
        == f"no version files match (state pending) under {root}; it holds 0 pending and 2 executed\n"
    )


def test_execute_needs_a_selection_or_all(journal_root: tuple[Path, Store, list[str]]) -> None:
    root, store, _ = journal_root
    refused = cli("execute", location=root)
    assert refused.returncode == 2
    assert "execute: give a selection (--run-uuid, --run-id, --dag-id, --task-id, --scenario, --record)" in (
        refused.stderr
    )
    assert "or --all" in refused.stderr and [e.state for e in store.entries()] == ["executed", "pending"]


def test_help_lists_every_verb_without_markup() -> None:
    import krkn_airflow_provider.cli  # noqa: F401  (importing it registers the verbs)
    from krkn_airflow_provider.cli_args import COMMANDS

    top = cli("--help").stdout
    for name in COMMANDS:
        assert f"    {name} " in top, name
        text = cli(name, "--help").stdout
        assert "``" not in text and ":param" not in text, name
    assert "``" not in top and set(COMMANDS) >= {"list", "show", "execute", "prune", "sweep", "report"}

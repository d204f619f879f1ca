"""krkn-rollback list, show and prune, run as the installed console script."""

from __future__ import annotations

import json
import os
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
    assert lines[2:] == [f"    {first}.py.executed  [executed]", f"    {second}.py  [pending]"]

    table = cli("list", "--format", "table", "--state", "pending", location=root)
    assert table.stdout.splitlines()[1].split() == [
        run_uuid,
        "pending",
        "pod_disruption_scenarios",
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
    by_id = json.loads(cli("show", "--json", second, location=root).stdout)
    assert by_id["record"]["name"] == "b" and by_id["state"] == "pending"
    Path(path).write_text(Path(path).read_text().replace("'name': 'b'", "'name': 'c'"))
    refused = cli("show", path)
    assert refused.returncode == 1
    assert f"{Path(path).name}: record does not match its digest" in refused.stderr


def test_bad_input_exits_2_with_a_message(tmp_path: Path) -> None:
    result = cli("show", "../../etc/passwd", location=tmp_path)
    assert result.returncode == 2
    assert "is not a version file name" in result.stderr
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

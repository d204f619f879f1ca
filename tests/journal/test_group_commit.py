"""Group commit: a burst of records is written with one folder sync, all or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from krkn_airflow_provider.errors import StorageError
from krkn_airflow_provider.rollback import Store

from .conftest import delete_record, make_journal


def test_a_burst_reads_back_as_written(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rb"))
    journal = make_journal(store)
    entries = journal.record_burst([delete_record(f"victim-{index}") for index in range(5)])
    assert journal.recorded == entries
    assert [store.load(entry).data["name"] for entry in entries] == [f"victim-{index}" for index in range(5)]
    assert [entry.name.ts_ns for entry in store.entries(state="pending")] == sorted(
        e.name.ts_ns for e in entries
    )
    assert not [p for p in Path(store.path(entries[0])).parent.iterdir() if p.name.startswith(".tmp-")]


def test_a_burst_that_fails_leaves_none_of_its_records(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rb"))
    journal = make_journal(store)
    first = journal.record(delete_record("before"))
    assert first is not None
    burst = [journal.prepare(delete_record(f"victim-{index}")) for index in range(3)]
    prepared = [item for item in burst if item is not None]
    # A non-empty folder where the second file goes: its rename fails, as a failing disk would.
    blocker = Path(store.path(prepared[1].entry))
    blocker.mkdir()
    (blocker / "keep").write_text("")
    with pytest.raises(StorageError, match="cannot write the rollback records"):
        journal.commit_many(prepared)
    folder = blocker.parent
    left = sorted(path.name for path in folder.iterdir() if path.name.endswith(".py"))
    # The first record of the burst had been renamed into place: removed again.
    assert left == sorted([Path(store.path(first)).name, blocker.name])
    assert not [path for path in folder.iterdir() if path.name.startswith(".tmp-")]
    assert journal.recorded == [first]


def test_a_dry_run_burst_writes_nothing(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rb"))
    journal = make_journal(store)
    journal.dry_run = True
    assert journal.record_burst([delete_record("a"), delete_record("b")]) == []
    assert [record.name for record in journal.planned] == ["a", "b"]
    assert store.entries() == []

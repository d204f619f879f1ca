"""The store on a local folder and on S3 (a local moto server): same behaviour."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from krkn_airflow_provider.errors import DigestMismatch, StorageError
from krkn_airflow_provider.rollback import Store, new_run_uuid, run_uuid_for
from krkn_airflow_provider.rollback.store import Claim

from .conftest import delete_record, make_journal


def test_records_of_a_run_share_one_context_in_timestamp_order(store: Store) -> None:
    journal = make_journal(store)
    entries = [journal.record(delete_record(f"cm-{i}")) for i in range(5)]
    listed = store.entries(run_uuid=journal.run_uuid)
    assert listed == entries
    assert len({entry.context for entry in listed}) == 1
    stamps = [entry.name.ts_ns for entry in listed]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    info = store.context_info(listed[0].context)
    assert (info["dag_id"], info["run_id"], info["run_uuid"]) == ("gameday", "manual__1", journal.run_uuid)


def test_timestamps_stay_ordered_when_the_clock_is_behind(store: Store) -> None:
    journal = make_journal(store)
    first = journal.record(delete_record("a"))
    assert first is not None
    # Another worker whose clock is an hour behind writes the next record of the run.
    real = time.time_ns
    try:
        time.time_ns = lambda: real() - 3600 * 10**9  # type: ignore[assignment]
        # A new Store, as on another worker: it lists the run to find the newest record.
        other_worker = Store(store.location, fs=getattr(store.backend, "fs", None))
        second = make_journal(other_worker, run_uuid=journal.run_uuid).record(delete_record("b"))
    finally:
        time.time_ns = real  # type: ignore[assignment]
    assert second is not None and second.name.ts_ns == first.name.ts_ns + 1


def test_state_filters_and_marking(store: Store) -> None:
    journal = make_journal(store)
    hog = make_journal(store, scenario="hog_scenarios", run_uuid=journal.run_uuid)
    a = journal.record(delete_record("a"))
    b = hog.record(delete_record("b"))
    other_run = make_journal(store).record(delete_record("c"))
    assert a is not None and b is not None and other_run is not None
    store.mark_executed(a)
    assert store.is_executed(a)
    assert [e.id for e in store.entries(run_uuid=journal.run_uuid, state="pending")] == [b.id]
    assert [e.id for e in store.entries(run_uuid=journal.run_uuid, state="executed")] == [a.id]
    assert [e.id for e in store.entries(scenario="hog_scenarios")] == [b.id]
    assert len(store.entries(state="pending")) == 2
    executed = store.entries(run_uuid=journal.run_uuid, state="executed")[0]
    assert store.load(executed).data["name"] == "a"  # still readable as an audit trail


def test_records_are_read_typed_and_unreadable_ones_carry_their_error(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rb"))  # local: the test edits a file in place
    journal = make_journal(store)
    entries = [journal.record(delete_record(f"cm-{i}")) for i in range(3)]
    assert None not in entries
    store.mark_executed(entries[0])  # type: ignore[arg-type]
    tampered = Path(store.path(entries[2]))  # type: ignore[arg-type]
    tampered.write_text(tampered.read_text().replace("cm-2", "cm-9"))
    read = list(store.records(run_uuid=journal.run_uuid))
    assert [stored.entry.id for stored in read] == [entry.id for entry in entries]  # type: ignore[union-attr]
    good = read[1]
    assert good.record is not None and good.record.name == "cm-1"
    assert good.origin is not None and good.origin.run_uuid == journal.run_uuid
    assert good.description == "delete ConfigMap default/cm-1" and good.error is None
    assert read[0].entry.state == "executed" and read[0].record is not None
    assert read[2].record is None and isinstance(read[2].error, DigestMismatch)
    with pytest.raises(DigestMismatch):
        read[2].unwrap()
    pending = list(store.records(run_uuid=journal.run_uuid, state="pending"))
    assert [stored.entry for stored in pending] == entries[1:]


def test_claims_are_exclusive_and_expire(store: Store) -> None:
    entry = make_journal(store).record(delete_record())
    assert entry is not None
    one = store.claim(entry, owner="one", ttl=60)
    assert one is not None
    assert store.claim(entry, owner="two", ttl=60) is None
    claim = store.read_claim(entry)
    assert claim is not None and claim.owner == "one"
    assert not store.release(entry, Claim("two", one.expires, "other")), "only the owner releases"
    assert store.read_claim(entry) == one
    assert store.release(entry, one)
    two = store.claim(entry, owner="two", ttl=0.01)
    assert two is not None
    time.sleep(0.05)
    assert store.claim(entry, owner="three", ttl=60, steal_expired=False) is None
    three = store.claim(entry, owner="three", ttl=60)
    assert three is not None, "an expired claim is taken over"
    claim = store.read_claim(entry)
    assert claim is not None and claim.owner == "three"
    assert store.renew(entry, two, ttl=60) is None and not store.holds(entry, two)
    assert not store.release(entry, two)
    renewed = store.renew(entry, three, ttl=120)
    assert renewed is not None and renewed.expires > three.expires and store.holds(entry, renewed)


def test_claims_taken_together_share_one_file_and_stay_exclusive(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rb"))
    journal = make_journal(store)
    a, b, c = (journal.record(delete_record(name)) for name in "abc")
    assert a is not None and b is not None and c is not None
    first, second = store.claim(a, owner="one", ttl=60), store.claim(b, owner="one", ttl=60)
    assert first is not None and first == second  # one claim for both: same expiry and token
    files = [Path(store.path(entry)).with_suffix(".claim") for entry in (a, b)]
    assert files[0].stat().st_ino == files[1].stat().st_ino and files[0].stat().st_nlink == 2
    assert store.claim(b, owner="two", ttl=60) is None
    other = store.claim(c, owner="two", ttl=60)  # another owner never shares our file
    assert other is not None and other.token != first.token
    assert Path(store.path(c)).with_suffix(".claim").stat().st_ino != files[0].stat().st_ino
    assert store.release(a, first) and not files[0].exists()
    assert store.holds(b, first) and store.claim(b, owner="two", ttl=60) is None
    renewed = store.renew(b, first, ttl=120)  # renewing rewrites b's file alone
    assert renewed is not None and store.holds(b, renewed)
    assert store.claim(a, owner="one", ttl=60) is not None  # its source gone: a file of its own
    assert store.release(b, renewed) and store.claim(b, owner="two", ttl=60) is not None


def test_prune_removes_only_old_finished_runs(store: Store) -> None:
    done = make_journal(store)
    entry = done.record(delete_record())
    assert entry is not None
    store.mark_executed(entry)
    busy = make_journal(store)
    busy.record(delete_record())
    assert store.prune(older_than_seconds=3600) == []
    time.sleep(0.01)
    removed = store.prune(older_than_seconds=0.001)
    assert [context.run_uuid for context in removed] == [done.run_uuid]
    assert store.contexts(done.run_uuid) == []
    assert len(store.contexts(busy.run_uuid)) == 1


def test_run_uuid_of_an_airflow_run_finds_its_context(store: Store) -> None:
    run_uuid = run_uuid_for("gameday", "manual__1")
    entry = make_journal(store, run_uuid=run_uuid).record(delete_record())
    assert entry is not None
    assert store.entries(run_uuid=run_uuid) == [entry]
    assert store.entries(run_uuid=new_run_uuid()) == []


def test_stray_files_are_ignored(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    journal = make_journal(store)
    entry = journal.record(delete_record())
    assert entry is not None
    folder = Path(store.path(entry)).parent
    (folder / "notes.txt").write_text("x")
    (folder / ".tmp-abc-hog_scenarios_1_abcdefgh.py").write_text("x")
    (tmp_path / "not-a-context").mkdir()
    assert store.entries() == [entry]


def _mount(args: list[str]) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here: {result.stderr.strip()}")


@pytest.fixture
def mounted(tmp_path: Path):  # type: ignore[no-untyped-def]
    points: list[Path] = []
    yield points
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_read_only_location_fails_before_any_change(tmp_path: Path, mounted: list[Path]) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    _mount(["--bind", "-o", "ro", str(target), str(target)])
    mounted.append(target)
    store = Store(str(target / "rollback"))
    with pytest.raises(
        StorageError, match=rf"cannot create the rollback folder {target}/rollback: \[EROFS\]"
    ):
        make_journal(store).record(delete_record())


def test_full_location_refuses_the_record(tmp_path: Path, mounted: list[Path]) -> None:
    target = tmp_path / "full"
    target.mkdir()
    _mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)])
    mounted.append(target)
    store = Store(str(target))
    journal = make_journal(store)
    (target / "filler").write_bytes(b"\0" * 60 * 1024)
    with pytest.raises(StorageError, match=r"\[ENOSPC\].*storage is full"):
        for index in range(50):
            journal.record(delete_record(f"cm-{index}"))
    # No temp file or half-written record is left behind.
    leftovers = [name for _, _, files in os.walk(target) for name in files if name.startswith(".tmp")]
    assert leftovers == []
    for entry in store.entries():
        store.load(entry)


def test_location_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    store = Store(str(tmp_path / "file" / "rollback"))
    with pytest.raises(
        StorageError, match=r"cannot create the rollback folder .*/file/rollback: \[ENOTDIR\]"
    ):
        store.check_writable()


def test_s3_objects_are_whole_and_marker_rules(s3_endpoint: str) -> None:
    from .conftest import s3_store

    store = s3_store(s3_endpoint, "bucket-markers")
    entry = make_journal(store).record(delete_record())
    assert entry is not None
    fs = store.backend.fs  # type: ignore[attr-defined]
    key = store.path(entry).removeprefix("s3://")
    text = fs.cat_file(key).decode()
    assert text.endswith("# krkn-airflow-provider: end of version file\n")
    # A copy-then-delete interrupted after the copy: the marker rules.
    fs.copy(key, key + ".executed")
    assert store.entries(state="pending") == []
    assert json.loads(fs.cat_file(store.backend.root + "/" + entry.context.name + "/context.json"))[
        "run_uuid"
    ]

"""The digest covers the whole file; a signed record is bound to its run, name and state."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from krkn_airflow_provider.errors import DigestMismatch
from krkn_airflow_provider.rollback import Store, versionfile

from .conftest import delete_record, make_journal
from .test_cli import cli

KEY = b"journal-key"


def _one(tmp_path: Path, key: bytes | None = None) -> tuple[Store, Path]:
    store = Store(str(tmp_path / "rb"), hmac_key=key)
    entry = make_journal(store).record(delete_record("victim"))
    assert entry is not None
    return store, Path(store.path(entry))


def _inject(path: Path, code: str) -> None:
    # Code a writer of the storage adds where it would run on import, before `_main`.
    text = path.read_text()
    path.write_text(text.replace("# ---- end of undo code ----", f"{code}\n# ---- end of undo code ----", 1))


def test_code_added_to_a_file_is_detected(tmp_path: Path) -> None:
    store, path = _one(tmp_path)
    _inject(path, "VICTIM = 1")
    with pytest.raises(DigestMismatch, match="does not match its digest"):
        store.load(store.entries()[0])


def test_running_a_changed_file_by_hand_refuses_before_anything_runs(tmp_path: Path) -> None:
    _, path = _one(tmp_path)
    mark = tmp_path / "ran"
    _inject(path, f"open({str(mark)!r}, 'w').write('appended code ran')")
    run = subprocess.run([sys.executable, str(path), "--dry-run"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "refused" in run.stdout
    assert not mark.exists(), "code added to the file ran before the digest check"


def test_header_says_to_verify_before_running_by_hand(tmp_path: Path) -> None:
    _, path = _one(tmp_path)
    header = path.read_text().split("from __future__")[0]
    verify = header.index("krkn-rollback verify")
    assert verify < header.index("python3 "), "verify comes before the command that runs it"


def test_verify_a_file_and_a_run(tmp_path: Path) -> None:
    store, path = _one(tmp_path)
    run_uuid = store.entries()[0].run_uuid
    ok = cli("verify", str(path))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok ") and path.name in ok.stdout
    second = make_journal(store, run_uuid=run_uuid).record(delete_record("other"))
    assert second is not None
    _inject(Path(store.path(second)), "X = 1")
    run = cli("verify", "--run-uuid", run_uuid, location=tmp_path / "rb")
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert (
        lines[0].startswith("ok ")
        and lines[1].startswith("refused ")
        and "does not match its digest" in lines[1]
    )
    unknown = cli("verify", "--run-uuid", "00000000-0000-4000-8000-000000000000", location=tmp_path / "rb")
    assert unknown.returncode == 2 and "no run" in unknown.stderr


def test_a_signed_record_copied_to_another_run_is_refused(tmp_path: Path) -> None:
    store, path = _one(tmp_path, KEY)
    other = make_journal(store).record(delete_record("x"))
    assert other is not None
    other_folder = Path(store.path(other)).parent
    shutil.copy(path, other_folder / path.name)
    copied = next(e for e in store.entries(run_uuid=other.run_uuid) if e.id != other.id)
    with pytest.raises(DigestMismatch, match="copied from another run"):
        store.load(copied)


def test_a_signed_record_under_another_name_is_refused(tmp_path: Path) -> None:
    store, path = _one(tmp_path, KEY)
    entry = store.entries()[0]
    renamed = path.with_name(f"{entry.name.scenario}_{entry.name.ts_ns + 1}_{entry.name.suffix}.py")
    shutil.copy(path, renamed)
    twin = next(e for e in store.entries() if e.id != entry.id)
    with pytest.raises(DigestMismatch, match="under another name"):
        store.load(twin)


def test_an_executed_record_renamed_back_to_pending_is_refused(tmp_path: Path) -> None:
    store, path = _one(tmp_path, KEY)
    entry = store.mark_executed(store.entries()[0])
    executed = Path(store.path(entry))
    assert 'STATE = "applied"' in executed.read_text()
    assert store.load(entry).state == "executed"
    executed.rename(path)
    pending = store.entries(state="pending")
    assert [e.id for e in pending] == [entry.id]
    with pytest.raises(DigestMismatch, match="signed as executed but named pending"):
        store.load(pending[0])


def test_old_keys_are_accepted_on_read_and_new_records_use_the_new_key(tmp_path: Path) -> None:
    store, path = _one(tmp_path, b"old")
    rotated = Store(store.location, hmac_key=b"new", old_keys=[b"old"])
    assert rotated.load(rotated.entries()[0]).data["name"] == "victim"
    with pytest.raises(DigestMismatch):
        Store(store.location, hmac_key=b"new").load(rotated.entries()[0])
    marked = rotated.mark_executed(rotated.entries()[0])
    assert Store(store.location, hmac_key=b"new").load(marked).state == "executed"
    text = versionfile.render(rotated.load(marked).record, file_name=path.name, key=b"new")
    assert versionfile.parse(text, source="x", keys=[b"new"]).record_id == path.name.removesuffix(".py")

"""Signing keys: rotation (old keys read, the new one signs), and the CLI's key and location."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from krkn_airflow_provider.errors import DigestMismatch
from krkn_airflow_provider.rollback import Store

from .conftest import delete_record, make_journal

CLI = str(Path(sys.executable).parent / "krkn-rollback")


def _signed(root: Path, key: bytes, name: str = "victim") -> Store:
    store = Store(str(root), hmac_key=key)
    assert make_journal(store).record(delete_record(name)) is not None
    return store


def test_rotation_reads_old_keys_and_signs_with_the_new_one(tmp_path: Path) -> None:
    root = tmp_path / "rb"
    _signed(root, b"old-key", "before")
    rotated = Store(str(root), hmac_key=b"new-key", old_keys=[b"old-key"])
    assert make_journal(rotated).record(delete_record("after")) is not None
    names = sorted(rotated.load(entry).data["name"] for entry in rotated.entries())
    assert names == ["after", "before"]
    newest = rotated.entries()[-1]
    # The new record carries the new key's signature: the old key alone refuses it.
    with pytest.raises(DigestMismatch, match=r"_\w{8}\.py: record does not match its digest"):
        Store(str(root), hmac_key=b"old-key").load(newest)
    # A key that was never configured is refused by name, rotation or not.
    with pytest.raises(DigestMismatch, match="does not match its digest"):
        Store(str(root), hmac_key=b"other", old_keys=[b"another"]).load(rotated.entries()[0])


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__KRKN", "KRKN_"))}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env={**clean, **env}, timeout=120)


def test_cli_reads_airflow_krkn_settings_and_says_which_location(tmp_path: Path) -> None:
    store = _signed(tmp_path / "from-config", b"k")
    home = tmp_path / "airflow-home"
    env = {"AIRFLOW_HOME": str(home), "AIRFLOW__KRKN__ROLLBACK_LOCATION": store.location}
    # [krkn] wins over the environment, as in tasks.
    env["KRKN_ROLLBACK_LOCATION"] = str(tmp_path / "from-env")
    listed = _cli("list", "--format", "table", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "delete" not in listed.stdout and "pending" in listed.stdout
    assert f"journal {store.location} (from [krkn] rollback_location)" in listed.stderr
    # An explicit --location wins over both, and is said too.
    other = _cli("--location", str(tmp_path / "x"), "list", env=env)
    assert f"journal {tmp_path / 'x'} (from argument)" in other.stderr
    assert f"no version files under {tmp_path / 'x'}" in other.stdout


def test_cli_key_from_file_or_environment_and_a_hint_without_it(tmp_path: Path) -> None:
    store = _signed(tmp_path / "rb", b"s3cret-key")
    entry_id = store.entries()[0].id
    env = {"AIRFLOW_HOME": str(tmp_path / "home"), "KRKN_ROLLBACK_LOCATION": store.location}
    missing = _cli("show", entry_id, env=env)
    assert missing.returncode == 1
    assert "record is signed; configure the HMAC key" in missing.stderr
    assert "KRKN_ROLLBACK_HMAC_KEY=<key> or --hmac-key-file PATH" in missing.stderr
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-key\n")
    from_file = _cli("--hmac-key-file", str(key_file), "show", entry_id, env=env)
    assert from_file.returncode == 0, from_file.stderr
    assert "(verified)" in from_file.stdout
    assert f"key from --hmac-key-file {key_file}" in from_file.stderr
    from_env = _cli("show", entry_id, env={**env, "KRKN_ROLLBACK_HMAC_KEY": "s3cret-key"})
    assert from_env.returncode == 0 and "key from $KRKN_ROLLBACK_HMAC_KEY" in from_env.stderr
    unreadable = _cli("--hmac-key-file", str(tmp_path / "nope"), "list", env=env)
    assert unreadable.returncode == 2
    assert f"--hmac-key-file {tmp_path / 'nope'}: cannot read it" in unreadable.stderr

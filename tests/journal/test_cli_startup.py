"""The CLI imports only what its verb needs: never Airflow for a local journal (seconds of
start-up), and the Kubernetes client (the biggest import left) only for verbs that talk to
a cluster."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.rollback import Store

from .conftest import delete_record, make_journal

SCRIPT = textwrap.dedent(
    """
    import sys
    from krkn_airflow_provider.cli import main

    code = main(sys.argv[2:])
    def leaked(package):
        return sorted(name for name in sys.modules if name == package or name.startswith(package + "."))
    print("airflow modules:", leaked("airflow")[:5])
    print("kubernetes modules:", leaked("kubernetes")[:5])
    sys.exit(code)
    """
)


def run_cli(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "cli", *argv], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def journal_with_a_record(tmp_path: Path) -> tuple[Store, str]:
    store = Store(str(tmp_path / "rb"))
    journal = make_journal(store)
    journal.record(delete_record(name="never-created"))
    return store, journal.run_uuid


@pytest.mark.parametrize("verb", ["list", "verify"])
def test_reading_a_local_journal_imports_neither_airflow_nor_the_client(tmp_path: Path, verb: str) -> None:
    store, run_uuid = journal_with_a_record(tmp_path)
    out = run_cli(verb, "--location", store.location, "--run-uuid", run_uuid)
    assert "airflow modules: []" in out
    assert "kubernetes modules: []" in out


def test_executing_a_local_journal_never_imports_airflow(kube: Any, tmp_path: Path) -> None:
    store, run_uuid = journal_with_a_record(tmp_path)
    out = run_cli(
        "execute", "--location", store.location, "--run-uuid", run_uuid, "--kubeconfig", str(kube.kubeconfig)
    )
    assert "airflow modules: []" in out
    assert "kubernetes modules: []" not in out  # it did talk to the cluster
    assert not store.entries(state="pending")

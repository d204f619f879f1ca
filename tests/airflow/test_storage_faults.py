"""Storage faults made real (a read-only bind mount, a full tmpfs): the change is not made.

Needs ``mount`` (root); skipped with the reason when the machine does not allow it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import StorageError
from krkn_airflow_provider.scenarios import run_scenario
from tests import workloads
from tests.airflow.conftest import run_dag, task_states
from tests.scenarios import catalogue_support as support


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({' '.join(args)}): {done.stderr.strip()}")


def umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True, timeout=30)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    source, target = tmp_path / "source", tmp_path / "ro"
    source.mkdir(mode=0o700)
    target.mkdir()
    mount("--bind", str(source), str(target))
    try:
        mount("-o", "remount,bind,ro", str(target))
        yield target
    finally:
        umount(target)


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "full"
    target.mkdir()
    mount("-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(target))
    try:
        yield target
    finally:
        umount(target)


def fill(path: Path) -> None:
    try:
        with open(path / "filler", "wb", buffering=0) as f:
            while True:
                f.write(b"x" * 4096)
    except OSError as error:
        assert error.errno == 28  # ENOSPC: the file system is full now


def outage(ns: str) -> dict[str, Any]:
    return {"application_outage": {"duration": 0, "namespace": ns, "pod_selector": {"app": "web"}}}


@pytest.mark.usefixtures("airflow_db", "k8s_conn")
def test_read_only_journal_fails_the_task_before_any_change(
    dagbag: Any, kube: Any, read_only_dir: Path
) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)
    if kube.emulator is not None:
        kube.emulator.clear_requests()
    conf = {
        "scenario_type": "application_outages_scenarios",
        "config": outage(kube.namespace),
        "location": str(read_only_dir),
    }

    dag_run = run_dag(dagbag, "krkn_single", conf)

    assert task_states(dag_run)["chaos"] == "failed"
    assert dag_run.state == "failed"
    assert workloads.managed(api, kube.namespace) == []
    if kube.emulator is not None:
        assert kube.emulator.writes() == []


def test_storage_full_while_recording_refuses_the_change(kube: Any, full_tmpfs: Path) -> None:
    support.create(kube, support.pod_manifest("web-0", {"app": "web"}))
    support.wait_for(lambda: len(support.ready_pods(kube, "app=web")) == 1, what="pod ready")
    ctx = support.context(kube, full_tmpfs / "rb", "application_outages_scenarios")
    ctx.journal.store.check_writable()  # the folder exists; then the disk fills up
    fill(full_tmpfs)
    if kube.emulator is not None:
        kube.emulator.clear_requests()

    with pytest.raises(StorageError) as raised:
        run_scenario("application_outages_scenarios", outage(kube.namespace), ctx)

    message = str(raised.value)
    assert str(full_tmpfs / "rb") in message and "ENOSPC" in message
    assert support.state(kube, [("networking.k8s.io/v1", "NetworkPolicy")], namespace=kube.namespace) == {}
    if kube.emulator is not None:
        assert kube.emulator.writes() == []

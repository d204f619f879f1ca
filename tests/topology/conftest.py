"""The ``bed`` fixture: one production-shaped topology per test session (see ``bed.py``).

Started once per session (about 20 s on an idle machine, 1-2 min on a busy one) and shared by
every test under ``tests/topology/``; each test works in the fresh namespace of its ``kube``
fixture, so runs do not see each other's objects. To build on it, add a test module here and
its DAGs to ``tests/topology/dags/`` (parsed by the bed's dag-processor and both workers);
``Bed`` has the REST helpers (trigger, wait_run, task_instances, clear, task_log), S3 access
and the worker controls (kill_worker, restart_worker).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.topology.bed import Bed, running, wait_dags

DAG_IDS = [
    "topology_gameday",
    "topology_scheduled",
    "topology_handoff",
    "topology_deferred",
    "topology_other_team",
]


@pytest.fixture(scope="session")
def bed(kube_session_emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    """The running bed; the Kubernetes target is the session's emulator or ``KRKN_TEST_KUBECONFIG``."""
    real = os.environ.get("KRKN_TEST_KUBECONFIG")
    if real:
        kubeconfig = Path(real).expanduser()
    else:
        kubeconfig = kube_session_emulator.write_kubeconfig(
            tmp_path_factory.mktemp("bed-kube") / "kubeconfig"
        )
    # Not under pytest's 0700 temp folders: Postgres runs as its own user and must reach it.
    root = tempfile.mkdtemp(prefix="krkn-bed-")
    try:
        with running(root, kubeconfig=kubeconfig) as started:
            wait_dags(started, DAG_IDS)
            yield started
    finally:
        shutil.rmtree(root, ignore_errors=True)

"""The ``bed`` fixture: one production-shaped topology per test session (see ``bed.py``).

Started once (about 20 s) and shared by every ``topology`` test; each test works in the
fresh namespace of its ``kube`` fixture, so runs do not see each other's objects.
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

DAG_IDS = ["topology_gameday", "topology_scheduled", "topology_handoff"]


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

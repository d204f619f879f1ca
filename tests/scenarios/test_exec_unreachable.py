"""Exec against a kubelet that cannot stream: a message naming pod, container and its answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback.undo import UndoFailed, apply_undo
from krkn_airflow_provider.scenarios import run_scenario
from tests.scenarios import catalogue_support as support
from tests.scenarios.test_container import TYPE, document

ANSWER = "unable to upgrade connection: empty server response"


@pytest.fixture
def silent_pods(kube: Any) -> list[str]:
    """Two ready pods whose kubelet cannot stream (as on a kwok node)."""
    emulator = kube.require_emulator("makes a kubelet unable to stream, as kwok's are")
    support.create(kube, support.replica_set("db", {"app": "db"}, replicas=2))
    support.wait_for(lambda: len(support.ready_pods(kube, "app=db")) == 2, what="2 pods ready")
    names = [pod["metadata"]["name"] for pod in support.ready_pods(kube, "app=db")]
    for name in names:
        emulator.set_streaming(pod=f"{kube.namespace}/{name}", enabled=False)
    return names


@pytest.mark.emulator_only
def test_scenario_exec_names_pod_container_and_answer(
    kube: Any, silent_pods: list[str], tmp_path: Path
) -> None:
    ctx = support.context(kube, tmp_path / "rb", TYPE)
    with pytest.raises(ScenarioError) as raised:
        run_scenario(TYPE, document(kube.namespace), ctx)
    message = str(raised.value)
    assert f"Pod {kube.namespace}/" in message and " container main " in message
    assert any(name in message for name in silent_pods)
    assert f"the kubelet answered: Internal error occurred: {ANSWER}" in message
    assert "invalid literal" not in message


@pytest.mark.emulator_only
def test_undo_exec_names_pod_container_and_answer(kube: Any, silent_pods: list[str]) -> None:
    record = {
        "action": "exec",
        "api_version": "v1",
        "kind": "Pod",
        "namespace": kube.namespace,
        "name": silent_pods[0],
        "container": "main",
        "command": ["rm", "-f", "/data/krkn-fill"],
    }
    with pytest.raises(UndoFailed) as raised:
        apply_undo(kube.dynamic(), record)
    assert str(raised.value) == (
        f"exec in Pod {kube.namespace}/{silent_pods[0]} container main failed: "
        f"the kubelet answered: Internal error occurred: {ANSWER}"
    )
    assert raised.value.status == 500

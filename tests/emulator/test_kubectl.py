"""The real ``kubectl`` works against the kubeconfig the emulator writes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kube_emulator.manifests import deployment, ready_pods
from kube_emulator.pytest_plugin import KubeTarget

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def kubectl(kube: KubeTarget, tmp_path: Path, *args: str) -> str:
    assert KUBECTL is not None
    result = subprocess.run(
        [
            KUBECTL,
            "--kubeconfig",
            str(kube.kubeconfig),
            "--cache-dir",
            str(tmp_path / "kubectl-cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kubectl_get_pods_all_namespaces_and_nodes(kube: KubeTarget, tmp_path: Path) -> None:
    core = kube.core()
    kube.apps().create_namespaced_deployment(kube.namespace, deployment("web", replicas=2))
    kube.wait_for(lambda: len(ready_pods(core, kube.namespace, "app=web")) == 2, message="pods ready")
    out = kubectl(kube, tmp_path, "get", "pods", "-A")
    lines = out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    ours = [line.split() for line in lines[1:] if line.startswith(kube.namespace + " ")]
    assert len(ours) == 2 and all(row[2:4] == ["1/1", "Running"] for row in ours)
    nodes = kubectl(kube, tmp_path, "get", "nodes")
    header, *rows = nodes.splitlines()
    assert header.split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    if not kube.is_real:
        assert [r.split()[:2] for r in rows] == [
            ["node-1", "Ready"],
            ["node-2", "Ready"],
            ["node-3", "Ready"],
        ]


def test_kubectl_json_and_delete(kube: KubeTarget, tmp_path: Path) -> None:
    kube.core().create_namespaced_config_map(
        kube.namespace, {"metadata": {"name": "by-kubectl"}, "data": {"a": "b"}}
    )
    out = kubectl(
        kube, tmp_path, "get", "configmap", "by-kubectl", "-n", kube.namespace, "-o", "jsonpath={.data.a}"
    )
    assert out == "b"
    kubectl(kube, tmp_path, "delete", "configmap", "by-kubectl", "-n", kube.namespace)
    assert "by-kubectl" not in kubectl(kube, tmp_path, "get", "configmaps", "-n", kube.namespace)

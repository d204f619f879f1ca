"""``python -m kube_emulator`` runs as a subprocess for demos."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

pytestmark = pytest.mark.emulator_only("starts its own emulator process")


def test_cli_sample_workload(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "demo.kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kube_emulator",
            "--nodes",
            "2",
            "--kubeconfig",
            str(kubeconfig),
            "--sample-workload",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("kube-emulator: serving https://127.0.0.1:")
        assert lines[1].strip() == f"kubeconfig: {kubeconfig.resolve()}"
        api = config.new_client_from_config(str(kubeconfig))
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        assert [n.metadata.name for n in core.list_node().items] == ["node-1", "node-2"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            dep = apps.read_namespaced_deployment("web", "demo")
            if dep.status.ready_replicas == 3:
                break
            time.sleep(0.05)
        assert dep.status.ready_replicas == 3
        pods = core.list_namespaced_pod("demo").items
        assert sorted(p.metadata.labels["app"] for p in pods) == ["toolbox", "web", "web", "web"]
        svc = core.read_namespaced_service("web", "demo")
        assert svc.spec.selector == {"app": "web"} and svc.spec.cluster_ip.startswith("10.96.")
        api.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "kube-emulator: stopped" in out

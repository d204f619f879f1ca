"""Test-wide setup: the `kube` fixture (emulator, or KRKN_TEST_KUBECONFIG's cluster)."""

from __future__ import annotations

pytest_plugins = ["kube_emulator.pytest_plugin"]

"""Test-wide setup: the `kube` fixture (emulator, or KRKN_TEST_KUBECONFIG's cluster), and the
HTTP servers probe tests use (``tests/probe_servers.py``)."""

from __future__ import annotations

pytest_plugins = ["kube_emulator.pytest_plugin", "tests.probe_servers"]

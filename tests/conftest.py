"""Test-wide plugins: the Kubernetes emulator's ``kube`` fixture."""

pytest_plugins = ["kube_emulator.pytest_plugin", "tests.probe_servers"]

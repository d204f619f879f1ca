"""Load the emulator's pytest plugin for these tests.

Once the top-level ``tests/conftest.py`` declares ``pytest_plugins = ["kube_emulator.pytest_plugin"]``
this hook finds the plugin registered and does nothing.
"""

from __future__ import annotations

import pytest

PLUGIN = "kube_emulator.pytest_plugin"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)

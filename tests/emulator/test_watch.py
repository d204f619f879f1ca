"""``watch=true`` streams through ``kubernetes.watch.Watch``."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client.rest import ApiException

from kube_emulator.pytest_plugin import KubeTarget


def test_watch_streams_changes(kube: KubeTarget) -> None:
    core, ns = kube.core(), kube.namespace
    core.create_namespaced_config_map(ns, {"metadata": {"name": "before", "labels": {"w": "yes"}}})
    events: list[tuple[str, str]] = []
    started = threading.Event()

    def collect() -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_config_map, ns, label_selector="w=yes", timeout_seconds=3):
            events.append((ev["type"], ev["object"].metadata.name))
            started.set()
            if ev["type"] == "DELETED" and ev["object"].metadata.name == "during":
                w.stop()

    thread = threading.Thread(target=collect)
    thread.start()
    assert started.wait(5)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "during", "labels": {"w": "yes"}}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "unlabelled"}})
    core.patch_namespaced_config_map("during", ns, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("during", ns)
    thread.join(10)
    assert events == [("ADDED", "before"), ("ADDED", "during"), ("MODIFIED", "during"), ("DELETED", "during")]


def test_watch_resumes_from_resource_version(kube: KubeTarget) -> None:
    core, ns = kube.core(), kube.namespace
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, {"metadata": {"name": "later"}})
    core.patch_namespaced_config_map("later", ns, {"metadata": {"labels": {"x": "y"}}})
    seen: list[tuple[str, Any]] = []
    for ev in watch.Watch().stream(
        core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=1
    ):
        seen.append((ev["type"], ev["object"].metadata.name))
    assert seen == [("ADDED", "later"), ("MODIFIED", "later")]


def test_watch_from_compacted_version_is_gone(kube: KubeTarget) -> None:
    core = kube.core()
    with pytest.raises(ApiException) as err:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, kube.namespace, resource_version="1", timeout_seconds=1
        ):
            pass
    assert err.value.status == 410

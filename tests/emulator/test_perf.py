"""Speed through the official client: 2,000 creates + 2,000 deletes, and pod churn.

Only completion is asserted; the timings are printed (``pytest -s``). The client and the
emulator share one process (and the GIL), so wall time is client CPU + server CPU; the
split is printed too. A Pod costs the client ~1-3 ms just to deserialize (timestamps), so
the 2,000/2,000 figure uses ConfigMaps to measure the API path itself.
"""

from __future__ import annotations

import time

import pytest

from kube_emulator.manifests import pod, ready_pods
from kube_emulator.pytest_plugin import KubeTarget

pytestmark = pytest.mark.emulator_only("a load test; keep it off shared clusters")


def _server_cpu(kube: KubeTarget) -> float:
    emu = kube.require_emulator()
    return emu.call(time.thread_time)


def test_two_thousand_creates_and_deletes(kube: KubeTarget) -> None:
    n = 2000
    core, ns = kube.core(), kube.namespace
    server0, client0, start = _server_cpu(kube), time.thread_time(), time.perf_counter()
    for i in range(n):
        core.create_namespaced_config_map(
            ns, {"metadata": {"name": f"perf-{i}", "labels": {"perf": "y"}}, "data": {"k": "v"}}
        )
    created = time.perf_counter()
    for i in range(n):
        core.delete_namespaced_config_map(f"perf-{i}", ns)
    done = time.perf_counter()
    client, server = time.thread_time() - client0, _server_cpu(kube) - server0
    print(
        f"\nPERF {n} creates + {n} deletes: {done - start:.2f}s "
        f"(creates {created - start:.2f}s, deletes {done - created:.2f}s, "
        f"{2 * n / (done - start):.0f} req/s; "
        f"cpu: client thread {client:.2f}s, emulator thread {server:.2f}s)"
    )
    assert core.list_namespaced_config_map(ns, label_selector="perf=y").items == []


def test_pod_churn_with_controllers(kube: KubeTarget) -> None:
    n = 300
    core, ns = kube.core(), kube.namespace
    server0, client0, start = _server_cpu(kube), time.thread_time(), time.perf_counter()
    for i in range(n):
        core.create_namespaced_pod(ns, pod(f"churn-{i}", labels={"churn": "y"}))
    kube.wait_for(lambda: len(ready_pods(core, ns, "churn=y")) == n, timeout=60, message="all pods Running")
    running = time.perf_counter()
    for i in range(n):
        core.delete_namespaced_pod(f"churn-{i}", ns, grace_period_seconds=0)
    done = time.perf_counter()
    client, server = time.thread_time() - client0, _server_cpu(kube) - server0
    print(
        f"\nPERF {n} pods created, scheduled and Running in {running - start:.2f}s, deleted in "
        f"{done - running:.2f}s (cpu: client thread {client:.2f}s, emulator thread {server:.2f}s)"
    )
    assert core.list_namespaced_pod(ns, label_selector="churn=y").items == []

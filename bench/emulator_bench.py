"""P7: the Kubernetes emulator's own speed: N pods created and deleted through the client.

The emulator runs with its controllers on (scheduler, kubelets), the way the test suite
uses it; the client runs in its own process (``python -m bench.emulator_bench KUBECONFIG N
KIND``) so the two do not share an interpreter lock. The baseline is the same number of
ConfigMaps created and deleted on the same emulator: the API path without pod defaulting,
admission, scheduling and kubelet work. Requests go through the official client (typed
``CoreV1Api``) over HTTPS; responses are read but not turned into model objects. Wall time
on a shared machine is mostly waiting for a core, so the CPU seconds of both sides are
reported too. With ``KRKN_TEST_KUBECONFIG`` set, the same rounds run against that cluster
instead (wall time and the client's CPU only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result

NAMESPACE = "bench-emulator"


def _pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "p6"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }


def _configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def _round(kubeconfig: Path, n: int, kind: str) -> tuple[float, float]:
    """Wall and CPU seconds for ``n`` creates then ``n`` deletes of ``kind`` in a fresh namespace."""
    from kubernetes import config
    from kubernetes.client import CoreV1Api

    api = config.new_client_from_config(config_file=str(kubeconfig))
    core = CoreV1Api(api)
    ns = f"{NAMESPACE}-{kind}-{time.monotonic_ns() % 100000}"
    core.create_namespace({"metadata": {"name": ns}})
    while not core.list_namespaced_service_account(ns, field_selector="metadata.name=default").items:
        time.sleep(0.05)
    create, delete = (
        (core.create_namespaced_pod, core.delete_namespaced_pod)
        if kind == "pod"
        else (core.create_namespaced_config_map, core.delete_namespaced_config_map)
    )
    body = _pod if kind == "pod" else _configmap
    started, cpu = time.perf_counter(), time.process_time()  # the namespace's setup is not timed
    for i in range(n):
        create(ns, body(f"b-{i}"), _preload_content=False).read()  # read, not deserialized
    for i in range(n):
        delete(f"b-{i}", ns, grace_period_seconds=0, _preload_content=False).read()
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    core.delete_namespace(ns)
    api.close()
    return elapsed, used


def _client(kubeconfig: Path, n: int, kind: str) -> dict[str, float]:
    """Run one round in a fresh client process: its wall time and CPU seconds."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.emulator_bench", str(kubeconfig), str(n), kind],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def p7_emulator_pods(n: int) -> list[Result]:
    given = os.environ.get("KRKN_TEST_KUBECONFIG")
    if given:
        return _p7_real(Path(given), n)
    from kube_emulator import Emulator

    with tempfile.TemporaryDirectory() as tmp, Emulator(nodes=3) as emu:
        kubeconfig = emu.write_kubeconfig(Path(tmp) / "kubeconfig")
        _client(kubeconfig, min(n, 200), "pod")  # warm up: first connections, lazy imports
        cpu = {}
        wall = {}
        for kind in ("configmap", "pod"):
            server0 = emu.call(time.thread_time)
            got = _client(kubeconfig, n, kind)
            wall[kind] = got["wall"]
            cpu[kind] = (got["cpu"], emu.call(time.thread_time) - server0)
    client, server = cpu["pod"]
    return [
        Result(
            f"P7 emulator: {n:,} pods created + deleted",
            wall["pod"],
            wall["configmap"],
            target="< 10 s",
            note=(
                f"baseline: {n:,} ConfigMaps on the same emulator; CPU for the pods: emulator "
                f"{server:.2f} s + client {client:.2f} s (ConfigMaps: {cpu['configmap'][1]:.2f} s + "
                f"{cpu['configmap'][0]:.2f} s)"
            ),
        )
    ]


def _p7_real(kubeconfig: Path, n: int) -> list[Result]:
    """The same rounds against KRKN_TEST_KUBECONFIG's cluster: the figure P7 is judged against."""
    wall = {kind: _client(kubeconfig, n, kind) for kind in ("configmap", "pod")}
    return [
        Result(
            f"P7 real cluster: {n:,} pods created + deleted",
            wall["pod"]["wall"],
            wall["configmap"]["wall"],
            note=f"baseline: {n:,} ConfigMaps on the same cluster; client CPU {wall['pod']['cpu']:.2f} s",
        )
    ]


def main() -> None:
    kubeconfig, n, kind = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    wall, cpu = _round(kubeconfig, n, kind)
    print(json.dumps({"wall": wall, "cpu": cpu}))


if __name__ == "__main__":
    main()

"""The emulator's own powers: snapshot, controller switch, nodes, keep-alive, discovery."""

from __future__ import annotations

import time

import pytest
import urllib3

from kube_emulator import Emulator
from kube_emulator.manifests import pod, ready_pods, replicaset
from kube_emulator.pytest_plugin import KubeTarget

pytestmark = pytest.mark.emulator_only("uses the emulator's Python API")


def test_snapshot_compares_state_before_and_after(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    core, ns = kube.core(), kube.namespace
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "cfg", "labels": {"a": "1"}}, "data": {"k": "v"}}
    )
    before = emu.snapshot()
    key = ("v1", "ConfigMap", ns, "cfg")
    assert before[key] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": ns, "labels": {"a": "1"}},
        "data": {"k": "v"},
    }
    assert ("v1", "Node", "", "node-1") in before
    assert "status" not in before[("v1", "Node", "", "node-1")]
    core.patch_namespaced_config_map("cfg", ns, {"metadata": {"labels": {"a": "chaos"}}})
    assert emu.snapshot() != before
    core.patch_namespaced_config_map("cfg", ns, {"metadata": {"labels": {"a": "1"}}})  # the undo
    assert emu.snapshot() == before  # resourceVersion moved on, the state is back


def test_controllers_switch(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    apps, core, ns = kube.apps(), kube.core(), kube.namespace
    apps.create_namespaced_replica_set(ns, replicaset("frozen", replicas=2))
    kube.wait_for(lambda: len(ready_pods(core, ns, "app=frozen")) == 2, message="pods ready")
    emu.set_controllers(False)
    victim = ready_pods(core, ns, "app=frozen")[0].metadata.name
    core.delete_namespaced_pod(victim, ns)
    core.create_namespaced_pod(ns, pod("unscheduled"))
    time.sleep(0.3)
    assert len(core.list_namespaced_pod(ns, label_selector="app=frozen").items) == 1  # nobody replaced it
    assert core.read_namespaced_pod("unscheduled", ns).spec.node_name is None  # no scheduler
    emu.set_controllers(True)
    kube.wait_for(lambda: len(ready_pods(core, ns, "app=frozen")) == 2, message="replaced after switch-on")
    kube.wait_for(lambda: ready_pods(core, ns, "app=unscheduled"), message="scheduled after switch-on")


def test_removed_node_pods_move(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    apps, core, ns = kube.apps(), kube.core(), kube.namespace
    apps.create_namespaced_replica_set(ns, replicaset("mover", replicas=3))
    kube.wait_for(lambda: len(ready_pods(core, ns, "app=mover")) == 3, message="pods ready")
    emu.remove_node("node-1")
    kube.wait_for(
        lambda: (
            len(p := ready_pods(core, ns, "app=mover")) == 3 and all(x.spec.node_name != "node-1" for x in p)
        ),
        message="pods rescheduled off the removed node",
    )


def test_keep_alive_reuses_one_connection(kube: KubeTarget) -> None:
    core = kube.core()
    for _ in range(30):
        core.list_namespaced_config_map(kube.namespace)
    pools = list(core.api_client.rest_client.pool_manager.pools._container.values())
    assert len(pools) == 1
    assert pools[0].num_connections == 1 and pools[0].num_requests == 30


def test_discovery_documents(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    http = urllib3.PoolManager(headers={"Authorization": f"Bearer {emu.token}"})
    groups = {g["name"] for g in http.request("GET", f"{emu.url}/apis").json()["groups"]}
    assert groups == {"apps", "batch", "networking.k8s.io", "policy"}
    core = http.request("GET", f"{emu.url}/api/v1").json()
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["shortNames"] == ["po"] and pods["namespaced"] is True and "deletecollection" in pods["verbs"]
    eviction = next(r for r in core["resources"] if r["name"] == "pods/eviction")
    assert (eviction["group"], eviction["version"], eviction["kind"]) == ("policy", "v1", "Eviction")
    assert http.request("GET", f"{emu.url}/version").json()["gitVersion"].startswith("v1.")
    assert http.request("GET", f"{emu.url}/openapi/v2").status == 404


def test_standalone_emulator_lifecycle(tmp_path: object) -> None:
    with Emulator(nodes=1, tls=False, pod_ready_delay=0.1) as emu:
        assert emu.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError):
            _ = emu.https_url
        emu.create(pod("seeded") | {"metadata": {"name": "seeded", "namespace": "default"}})
        emu.settle()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            seeded = emu.get("v1", "Pod", "seeded", "default")
            if seeded and seeded["status"].get("phase") == "Running":
                break
            time.sleep(0.02)
        assert seeded and seeded["spec"]["nodeName"] == "node-1" and seeded["status"]["phase"] == "Running"
        assert [n["metadata"]["name"] for n in emu.list("v1", "Node")] == ["node-1"]
    assert not emu.running

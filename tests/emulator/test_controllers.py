"""Controllers: workloads, scheduling, kubelet, garbage collection, namespaces, evictions."""

from __future__ import annotations

import json
import time

import pytest
from kubernetes.client.rest import ApiException

from kube_emulator.manifests import daemonset, deployment, job, pdb, pod, ready_pods, replicaset, statefulset
from kube_emulator.pytest_plugin import KubeTarget


def test_deployment_creates_replicaset_and_pods(kube: KubeTarget) -> None:
    apps, core, ns = kube.apps(), kube.core(), kube.namespace
    dep = apps.create_namespaced_deployment(ns, deployment("web", replicas=3))
    kube.wait_for(lambda: len(ready_pods(core, ns, "app=web")) == 3, message="3 ready pods")
    rs_list = apps.list_namespaced_replica_set(ns, label_selector="app=web").items
    assert len(rs_list) == 1
    rs = rs_list[0]
    assert rs.metadata.owner_references[0].kind == "Deployment"
    assert rs.metadata.owner_references[0].uid == dep.metadata.uid
    assert rs.metadata.owner_references[0].controller is True
    hash_label = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{hash_label}"
    for p in ready_pods(core, ns, "app=web"):
        assert p.metadata.labels["pod-template-hash"] == hash_label
        assert p.metadata.name.startswith(f"web-{hash_label}-")
        assert p.metadata.owner_references[0].uid == rs.metadata.uid
        assert p.spec.node_name and p.status.pod_ip
        assert p.status.container_statuses[0].ready is True
    status = kube.wait_for(
        lambda: (d := apps.read_namespaced_deployment("web", ns)).status.ready_replicas == 3 and d,
        message="deployment status",
    )
    assert status.status.available_replicas == 3 and status.status.updated_replicas == 3
    assert {c.type: c.status for c in status.status.conditions} == {
        "Available": "True",
        "Progressing": "True",
    }


def test_rolling_update_replaces_pods(kube: KubeTarget) -> None:
    apps, core, ns = kube.apps(), kube.core(), kube.namespace
    apps.create_namespaced_deployment(ns, deployment("roll", replicas=2))
    kube.wait_for(lambda: len(ready_pods(core, ns, "app=roll")) == 2, message="2 ready pods")
    apps.patch_namespaced_deployment(
        "roll",
        ns,
        {
            "spec": {
                "template": {
                    "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}}
                }
            }
        },
    )

    def rolled() -> bool:
        sets = apps.list_namespaced_replica_set(ns, label_selector="app=roll").items
        new = [r for r in sets if r.spec.replicas == 2 and (r.status.ready_replicas or 0) == 2]
        old = [r for r in sets if r.spec.replicas == 0]
        pods = ready_pods(core, ns, "app=roll")
        return (
            len(sets) == 2
            and len(new) == 1
            and len(old) == 1
            and len(pods) == 2
            and all(
                p.metadata.labels["pod-template-hash"] == new[0].metadata.labels["pod-template-hash"]
                for p in pods
            )
        )

    kube.wait_for(rolled, message="rollout to the new ReplicaSet")
    dep = apps.read_namespaced_deployment("roll", ns)
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "2"


@pytest.mark.emulator_only("sets the emulator's recreate and ready delays")
def test_deleted_pod_replaced_after_recreate_delay(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    emu.recreate_delay = 0.4
    emu.pod_ready_delay = 0.2
    apps, core, ns = kube.apps(), kube.core(), kube.namespace
    apps.create_namespaced_replica_set(ns, replicaset("rs", replicas=2))
    before = kube.wait_for(
        lambda: (p := ready_pods(core, ns, "app=rs")) and len(p) == 2 and p, message="2 ready"
    )
    victim = before[0].metadata.name
    start = time.monotonic()
    core.delete_namespaced_pod(victim, ns)
    seen_new_pending = False
    while time.monotonic() - start < 5:
        pods = core.list_namespaced_pod(ns, label_selector="app=rs").items
        new = [p for p in pods if p.metadata.name not in {b.metadata.name for b in before}]
        if new and time.monotonic() - start < 0.35:
            pytest.fail(f"replacement created after {time.monotonic() - start:.2f}s, before recreate_delay")
        if new and new[0].status.phase == "Pending":
            seen_new_pending = True
        ready = ready_pods(core, ns, "app=rs")
        if len(ready) == 2 and victim not in {p.metadata.name for p in ready}:
            break
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    print(f"replacement Ready after {elapsed:.3f}s (recreate_delay 0.4 + pod_ready_delay 0.2)")
    assert 0.6 <= elapsed < 1.6
    assert seen_new_pending


def test_statefulset_ordinals_and_recreation(kube: KubeTarget) -> None:
    apps, core, ns = kube.apps(), kube.core(), kube.namespace
    apps.create_namespaced_stateful_set(ns, statefulset("db", replicas=3))
    kube.wait_for(
        lambda: sorted(p.metadata.name for p in ready_pods(core, ns, "app=db")) == ["db-0", "db-1", "db-2"],
        message="db-0..2 ready",
    )
    old_uid = core.read_namespaced_pod("db-1", ns).metadata.uid
    core.delete_namespaced_pod("db-1", ns)
    kube.wait_for(
        lambda: any(
            p.metadata.name == "db-1" and p.metadata.uid != old_uid for p in ready_pods(core, ns, "app=db")
        ),
        message="db-1 recreated",
    )
    p = core.read_namespaced_pod("db-1", ns)
    assert p.metadata.labels["statefulset.kubernetes.io/pod-name"] == "db-1"
    assert p.spec.hostname == "db-1" and p.spec.subdomain == "db"
    kube.wait_for(
        lambda: apps.read_namespaced_stateful_set("db", ns).status.ready_replicas == 3, message="status"
    )


def test_daemonset_one_pod_per_eligible_node(kube: KubeTarget) -> None:
    apps, core, ns = kube.apps(), kube.core(), kube.namespace
    nodes = [
        n
        for n in core.list_node().items
        if not any(t.effect in ("NoSchedule", "NoExecute") for t in n.spec.taints or [])
    ]
    apps.create_namespaced_daemon_set(ns, daemonset("agent"))
    kube.wait_for(lambda: len(ready_pods(core, ns, "app=agent")) == len(nodes), message="one pod per node")
    placed = sorted(p.spec.node_name for p in ready_pods(core, ns, "app=agent"))
    assert placed == sorted(n.metadata.name for n in nodes)
    status = kube.wait_for(
        lambda: (d := apps.read_namespaced_daemon_set("agent", ns)).status.number_ready == len(nodes) and d,
        message="daemonset status",
    )
    assert status.status.desired_number_scheduled == len(nodes)


def test_daemonset_skips_tainted_node(kube: KubeTarget) -> None:
    emu = kube.require_emulator("adds a tainted node")
    emu.add_node("tainted", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    apps, core, ns = kube.apps(), kube.core(), kube.namespace
    apps.create_namespaced_daemon_set(ns, daemonset("agent"))
    kube.wait_for(lambda: len(ready_pods(core, ns, "app=agent")) == 3, message="3 pods")
    assert "tainted" not in {p.spec.node_name for p in ready_pods(core, ns, "app=agent")}


def test_job_completes(kube: KubeTarget) -> None:
    batch_api = __import__("kubernetes").client.BatchV1Api(kube.api_client())
    core, ns = kube.core(), kube.namespace
    batch_api.create_namespaced_job(ns, job("once", completions=2))
    done = kube.wait_for(
        lambda: (j := batch_api.read_namespaced_job("once", ns)).status.succeeded == 2 and j,
        message="job complete",
    )
    assert any(c.type == "Complete" and c.status == "True" for c in done.status.conditions)
    assert done.status.completion_time is not None
    pods = core.list_namespaced_pod(ns, label_selector="job-name=once").items
    assert len(pods) == 2 and all(p.status.phase == "Succeeded" for p in pods)


def test_unmatched_node_selector_stays_pending(kube: KubeTarget) -> None:
    core, ns = kube.core(), kube.namespace
    core.create_namespaced_pod(ns, pod("lonely", node_selector={"disktype": "nonexistent"}))

    def unschedulable() -> bool:
        p = core.read_namespaced_pod("lonely", ns)
        return any(
            c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
            for c in p.status.conditions or []
        )

    kube.wait_for(unschedulable, message="PodScheduled=False")
    p = core.read_namespaced_pod("lonely", ns)
    assert p.status.phase == "Pending" and p.spec.node_name is None
    message = next(c.message for c in p.status.conditions if c.type == "PodScheduled")
    assert "didn't match Pod's node affinity/selector" in message


def test_scheduler_honours_taints_selectors_affinity_and_cordon(kube: KubeTarget) -> None:
    emu = kube.require_emulator("adds nodes with taints and labels")
    emu.add_node(
        "gpu-1", labels={"accel": "gpu"}, taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}]
    )
    core, ns = kube.core(), kube.namespace
    for i in range(6):
        core.create_namespaced_pod(ns, pod(f"plain-{i}"))
    core.create_namespaced_pod(ns, pod("wants-gpu", node_selector={"accel": "gpu"}))
    core.create_namespaced_pod(
        ns,
        pod(
            "tolerates-gpu",
            node_selector={"accel": "gpu"},
            tolerations=[{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
        ),
    )
    core.create_namespaced_pod(
        ns,
        pod(
            "pinned",
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-2"]}
                                ]
                            }
                        ]
                    }
                }
            },
        ),
    )
    core.patch_node("node-3", {"spec": {"unschedulable": True}})
    core.create_namespaced_pod(ns, pod("preset", node_name="node-3"))
    for i in range(4):
        core.create_namespaced_pod(ns, pod(f"after-cordon-{i}"))
    kube.wait_for(lambda: len(ready_pods(core, ns, "")) == 6 + 1 + 1 + 1 + 4, message="pods running")
    placed = {p.metadata.name: p.spec.node_name for p in core.list_namespaced_pod(ns).items}
    assert all(placed[f"plain-{i}"] != "gpu-1" for i in range(6))
    assert placed["wants-gpu"] is None
    assert placed["tolerates-gpu"] == "gpu-1"
    assert placed["pinned"] == "node-2"
    assert placed["preset"] == "node-3"  # a preset nodeName bypasses the scheduler, cordon or not
    assert all(placed[f"after-cordon-{i}"] in ("node-1", "node-2") for i in range(4))
    node3 = core.read_node("node-3")
    assert [(t.key, t.effect) for t in node3.spec.taints] == [
        ("node.kubernetes.io/unschedulable", "NoSchedule")
    ]
    reasons = next(
        c.message
        for c in core.read_namespaced_pod("wants-gpu", ns).status.conditions
        if c.type == "PodScheduled"
    )
    assert (
        "untolerated taint {gpu: true}" in reasons and "didn't match Pod's node affinity/selector" in reasons
    )


def test_node_not_ready_makes_pods_unready(kube: KubeTarget) -> None:
    emu = kube.require_emulator("flips a node's Ready condition")
    core, ns = kube.core(), kube.namespace
    core.create_namespaced_pod(ns, pod("on-1", node_name="node-1"))
    kube.wait_for(lambda: ready_pods(core, ns, "app=on-1"), message="pod ready")
    emu.set_node_ready("node-1", False)
    kube.wait_for(lambda: not ready_pods(core, ns, "app=on-1"), message="pod not ready")
    taints = {(t.key, t.effect) for t in core.read_node("node-1").spec.taints}
    assert taints == {
        ("node.kubernetes.io/not-ready", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute"),
    }
    emu.set_node_ready("node-1", True)
    kube.wait_for(lambda: ready_pods(core, ns, "app=on-1"), message="pod ready again")
    assert core.read_node("node-1").spec.taints is None


def test_namespace_deletion_removes_contents(kube: KubeTarget) -> None:
    core, apps = kube.core(), kube.apps()
    name = kube.namespace + "-gone"
    core.create_namespace({"metadata": {"name": name}})
    apps.create_namespaced_deployment(name, deployment("web", replicas=2))
    core.create_namespaced_config_map(name, {"metadata": {"name": "cfg"}})
    kube.wait_for(lambda: len(ready_pods(core, name, "app=web")) == 2, message="pods up")
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            return exc.status == 404
        return False

    kube.wait_for(gone, timeout=60, message="namespace gone")
    assert core.list_namespaced_pod(name).items == []
    assert apps.list_namespaced_deployment(name).items == []
    assert core.list_namespaced_config_map(name).items == []


def test_owner_reference_garbage_collection(kube: KubeTarget) -> None:
    core, ns = kube.core(), kube.namespace
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for name in ("dep-a", "dep-b"):
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "ownerReferences": [ref]}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "kept", "ownerReferences": [ref]}})
    # orphan one dependent by hand first: only ownerReferences decide
    core.patch_namespaced_config_map(
        "kept", ns, {"metadata": {"ownerReferences": None}}, _content_type="application/merge-patch+json"
    )
    core.delete_namespaced_config_map("owner", ns, propagation_policy="Background")

    def collected() -> bool:
        names = {c.metadata.name for c in core.list_namespaced_config_map(ns).items}
        return "dep-a" not in names and "dep-b" not in names

    kube.wait_for(collected, message="dependents collected")
    assert core.read_namespaced_config_map("kept", ns).metadata.owner_references is None


def test_orphan_and_foreground_propagation(kube: KubeTarget) -> None:
    apps, core, ns = kube.apps(), kube.core(), kube.namespace
    apps.create_namespaced_replica_set(ns, replicaset("orph", replicas=2))
    kube.wait_for(lambda: len(ready_pods(core, ns, "app=orph")) == 2, message="pods up")
    apps.delete_namespaced_replica_set("orph", ns, propagation_policy="Orphan")
    kube.wait_for(
        lambda: not apps.list_namespaced_replica_set(ns, label_selector="app=orph").items, message="rs gone"
    )
    pods = core.list_namespaced_pod(ns, label_selector="app=orph").items
    assert len(pods) == 2 and all(p.metadata.owner_references is None for p in pods)

    apps.create_namespaced_deployment(ns, deployment("fg", replicas=2))
    kube.wait_for(lambda: len(ready_pods(core, ns, "app=fg")) == 2, message="pods up")
    apps.delete_namespaced_deployment("fg", ns, propagation_policy="Foreground")
    kube.wait_for(
        lambda: not apps.list_namespaced_deployment(ns, label_selector="app=fg").items,
        message="deployment gone after its dependents",
    )
    assert not apps.list_namespaced_replica_set(ns, label_selector="app=fg").items
    kube.wait_for(
        lambda: not core.list_namespaced_pod(ns, label_selector="app=fg").items, message="pods gone"
    )


def test_eviction_respects_pod_disruption_budget(kube: KubeTarget) -> None:
    apps, core, ns = kube.apps(), kube.core(), kube.namespace
    policy = __import__("kubernetes").client.PolicyV1Api(kube.api_client())
    apps.create_namespaced_deployment(ns, deployment("guarded", replicas=2))
    policy.create_namespaced_pod_disruption_budget(ns, pdb("guard", "guarded", min_available=2))
    kube.wait_for(lambda: len(ready_pods(core, ns, "app=guarded")) == 2, message="pods up")
    victim = ready_pods(core, ns, "app=guarded")[0].metadata.name
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim, "namespace": ns}}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_eviction(victim, ns, eviction)
    assert err.value.status == 429
    body = json.loads(err.value.body)
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": "The disruption budget guard needs 2 healthy pods and has 2 currently",
        }
    ]
    kube.wait_for(
        lambda: policy.read_namespaced_pod_disruption_budget("guard", ns).status.current_healthy == 2,
        message="pdb status",
    )
    policy.patch_namespaced_pod_disruption_budget("guard", ns, {"spec": {"minAvailable": 1}})
    core.create_namespaced_pod_eviction(victim, ns, eviction)

    def evicted() -> bool:
        try:
            p = core.read_namespaced_pod(victim, ns)
        except ApiException as exc:
            return exc.status == 404
        return p.metadata.deletion_timestamp is not None

    kube.wait_for(evicted, message="evicted pod deleted")


def test_active_deadline_fails_a_running_pod(kube: KubeTarget) -> None:
    core, ns = kube.core(), kube.namespace
    body = pod("bounded")
    body["spec"]["activeDeadlineSeconds"] = 3
    body["spec"]["restartPolicy"] = "Never"
    core.create_namespaced_pod(ns, body)
    running = lambda: core.read_namespaced_pod("bounded", ns).status.phase == "Running"  # noqa: E731
    kube.wait_for(running, 60, 0.2, "the pod to run")
    failed = kube.wait_for(
        lambda: (p := core.read_namespaced_pod("bounded", ns)).status.phase == "Failed" and p,
        60,
        0.2,
        "the deadline to fail the pod",
    )
    assert failed.status.reason == "DeadlineExceeded"
    assert not any(c.type == "Ready" and c.status == "True" for c in failed.status.conditions)

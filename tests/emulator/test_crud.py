"""Every kind round-trips through the official client's typed and dynamic APIs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kube_emulator.manifests import daemonset, deployment, job, pdb, pod, replicaset, statefulset
from kube_emulator.pytest_plugin import KubeTarget

# (typed API class, method suffix, manifest)
NAMESPACED: list[tuple[str, str, dict[str, Any]]] = [
    (
        "CoreV1Api",
        "config_map",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rt"}, "data": {"k": "v"}},
    ),
    (
        "CoreV1Api",
        "secret",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "rt"},
            "stringData": {"password": "s3cret"},
        },
    ),
    (
        "CoreV1Api",
        "service",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "rt"},
            "spec": {"selector": {"app": "rt"}, "ports": [{"port": 80}]},
        },
    ),
    (
        "CoreV1Api",
        "persistent_volume_claim",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "rt"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    ),
    (
        "CoreV1Api",
        "event",
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "rt"},
            "involvedObject": {"kind": "Pod", "name": "x"},
            "reason": "Test",
            "message": "hi",
            "type": "Normal",
        },
    ),
    (
        "CoreV1Api",
        "service_account",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "rt"}},
    ),
    ("CoreV1Api", "pod", pod("rt")),
    ("AppsV1Api", "deployment", deployment("rt")),
    ("AppsV1Api", "replica_set", replicaset("rt")),
    ("AppsV1Api", "stateful_set", statefulset("rt", replicas=1)),
    ("AppsV1Api", "daemon_set", daemonset("rt")),
    ("BatchV1Api", "job", job("rt")),
    (
        "NetworkingV1Api",
        "network_policy",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "rt"},
            "spec": {"podSelector": {"matchLabels": {"app": "rt"}}, "policyTypes": ["Ingress"]},
        },
    ),
    ("PolicyV1Api", "pod_disruption_budget", pdb("rt", "rt", min_available=1)),
]


@pytest.mark.parametrize(
    ("api_name", "suffix", "manifest"), NAMESPACED, ids=[n[2]["kind"] for n in NAMESPACED]
)
def test_typed_round_trip(kube: KubeTarget, api_name: str, suffix: str, manifest: dict[str, Any]) -> None:
    api = getattr(client, api_name)(kube.api_client())
    ns = kube.namespace
    body = {**manifest, "metadata": {**manifest["metadata"], "labels": {"suite": "crud", "app": "rt"}}}
    body = _in_namespace(body, ns)

    created = getattr(api, f"create_namespaced_{suffix}")(ns, body)
    assert created.metadata.name == "rt"
    assert created.metadata.namespace == ns
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp

    read = getattr(api, f"read_namespaced_{suffix}")("rt", ns)
    assert read.metadata.uid == created.metadata.uid

    listed = getattr(api, f"list_namespaced_{suffix}")(ns, label_selector="suite=crud")
    assert [i.metadata.name for i in listed.items] == ["rt"]

    # controllers write status concurrently, so a replace may meet 409 Conflict: re-read and retry
    for _ in range(20):
        read = getattr(api, f"read_namespaced_{suffix}")("rt", ns)
        read.metadata.labels["round"] = "replaced"
        try:
            replaced = getattr(api, f"replace_namespaced_{suffix}")("rt", ns, read)
            break
        except ApiException as exc:
            if exc.status != 409:
                raise
    assert replaced.metadata.labels["round"] == "replaced"
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    patched = getattr(api, f"patch_namespaced_{suffix}")(
        "rt", ns, {"metadata": {"labels": {"round": "patched"}}}
    )
    assert patched.metadata.labels == {"suite": "crud", "app": "rt", "round": "patched"}

    getattr(api, f"delete_namespaced_{suffix}")(
        "rt", ns, grace_period_seconds=0, propagation_policy="Background"
    )

    def gone() -> bool:
        try:
            getattr(api, f"read_namespaced_{suffix}")("rt", ns)
        except ApiException as exc:
            return exc.status == 404
        return False

    kube.wait_for(gone, message=f"{suffix} deleted")


def test_secret_string_data_is_encoded(kube: KubeTarget) -> None:
    core = kube.core()
    core.create_namespaced_secret(
        kube.namespace, {"metadata": {"name": "s"}, "stringData": {"user": "admin"}}
    )
    secret = core.read_namespaced_secret("s", kube.namespace)
    assert secret.type == "Opaque"
    assert base64.b64decode(secret.data["user"]) == b"admin"


def test_cluster_scoped_namespace_round_trip(kube: KubeTarget) -> None:
    core = kube.core()
    name = kube.namespace + "-extra"
    created = core.create_namespace({"metadata": {"name": name, "labels": {"team": "chaos"}}})
    assert created.status.phase == "Active"
    assert created.metadata.labels["kubernetes.io/metadata.name"] == name
    assert name in [n.metadata.name for n in core.list_namespace(label_selector="team=chaos").items]
    deleted = core.delete_namespace(name)
    assert deleted.kind == "Namespace"  # the apiserver answers with the Terminating namespace

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            return exc.status == 404
        return False

    kube.wait_for(gone, message="namespace gone")


def test_node_round_trip(kube: KubeTarget) -> None:
    kube.require_emulator("creates and deletes Node objects")
    core = kube.core()
    core.create_node({"metadata": {"name": "extra", "labels": {"kubernetes.io/hostname": "extra"}}})
    patched = core.patch_node("extra", {"spec": {"unschedulable": True}})
    assert patched.spec.unschedulable is True
    assert "extra" in [n.metadata.name for n in core.list_node().items]
    core.delete_node("extra")
    assert "extra" not in [n.metadata.name for n in core.list_node().items]


DYNAMIC = [(m["apiVersion"], m["kind"], m) for _, _, m in NAMESPACED]


def _in_namespace(manifest: dict[str, Any], ns: str) -> dict[str, Any]:
    """An Event is about an object in its own namespace; anything else is 422 (golden 034)."""
    if manifest["kind"] != "Event":
        return manifest
    return {**manifest, "involvedObject": {**manifest["involvedObject"], "namespace": ns}}


@pytest.mark.parametrize(("api_version", "kind", "manifest"), DYNAMIC, ids=[d[1] for d in DYNAMIC])
def test_dynamic_round_trip(kube: KubeTarget, api_version: str, kind: str, manifest: dict[str, Any]) -> None:
    dyn = kube.dynamic()
    res = dyn.resources.get(api_version=api_version, kind=kind)
    assert res.namespaced is True
    ns = kube.namespace
    created = res.create(body=_in_namespace(manifest, ns), namespace=ns)
    assert created.metadata.name == "rt"
    got = res.get(name="rt", namespace=ns)
    assert got.metadata.uid == created.metadata.uid
    patched = res.patch(
        name="rt",
        namespace=ns,
        body={"metadata": {"annotations": {"a": "1"}}},
        content_type="application/merge-patch+json",
    )
    assert patched.metadata.annotations["a"] == "1"
    listed = res.get(namespace=ns)
    assert "rt" in [i.metadata.name for i in listed.items]
    res.delete(name="rt", namespace=ns, body={"gracePeriodSeconds": 0, "propagationPolicy": "Background"})


def test_dynamic_discovery_finds_subresources(kube: KubeTarget) -> None:
    dyn = kube.dynamic()
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    assert {"exec", "eviction", "log", "status", "binding"} <= set(pods.subresources)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert {"scale", "status"} <= set(deployments.subresources)
    for api_version, kind in (
        ("v1", "Namespace"),
        ("v1", "Node"),
        ("policy/v1", "PodDisruptionBudget"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("batch/v1", "Job"),
    ):
        assert dyn.resources.get(api_version=api_version, kind=kind).kind == kind


def test_generate_name(kube: KubeTarget) -> None:
    core = kube.core()
    body = {"metadata": {"generateName": "gen-"}, "data": {"a": "b"}}
    first = core.create_namespaced_config_map(kube.namespace, body)
    second = core.create_namespaced_config_map(kube.namespace, body)
    assert first.metadata.name.startswith("gen-") and len(first.metadata.name) == len("gen-") + 5
    assert first.metadata.name != second.metadata.name


def test_list_items_and_pagination(kube: KubeTarget) -> None:
    core = kube.core()
    for i in range(5):
        core.create_namespaced_config_map(
            kube.namespace, {"metadata": {"name": f"cm-{i}", "labels": {"page": "y"}}}
        )
    first = core.list_namespaced_config_map(kube.namespace, label_selector="page=y", limit=2)
    assert [c.metadata.name for c in first.items] == ["cm-0", "cm-1"]
    assert first.metadata._continue
    rest = core.list_namespaced_config_map(
        kube.namespace, label_selector="page=y", limit=10, _continue=first.metadata._continue
    )
    assert [c.metadata.name for c in rest.items] == ["cm-2", "cm-3", "cm-4"]
    assert not rest.metadata._continue
    # a raw list has no kind/apiVersion on items, like a real apiserver
    data = json.loads(core.list_namespaced_config_map(kube.namespace, _preload_content=False).data)
    assert data["kind"] == "ConfigMapList" and "kind" not in data["items"][0]


def test_delete_collection(kube: KubeTarget) -> None:
    core = kube.core()
    for i in range(3):
        core.create_namespaced_config_map(
            kube.namespace, {"metadata": {"name": f"dc-{i}", "labels": {"x": str(i)}}}
        )
    core.delete_collection_namespaced_config_map(kube.namespace, label_selector="x in (0,1)")
    names = [c.metadata.name for c in core.list_namespaced_config_map(kube.namespace).items]
    assert "dc-2" in names and "dc-0" not in names and "dc-1" not in names


def test_dry_run_does_not_persist(kube: KubeTarget) -> None:
    core = kube.core()
    created = core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "dry"}}, dry_run="All")
    assert created.metadata.name == "dry"
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("dry", kube.namespace)
    assert err.value.status == 404


def test_generation_and_status_subresource(kube: KubeTarget) -> None:
    apps = kube.apps()
    created = apps.create_namespaced_deployment(kube.namespace, deployment("gen", replicas=1))
    assert created.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment("gen", kube.namespace, {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1  # metadata changes do not bump generation
    scaled = apps.patch_namespaced_deployment("gen", kube.namespace, {"spec": {"replicas": 2}})
    assert scaled.metadata.generation == 2
    scale = apps.read_namespaced_deployment_scale("gen", kube.namespace)
    assert scale.spec.replicas == 2 and scale.status.selector == "app=gen"
    apps.patch_namespaced_deployment_scale("gen", kube.namespace, {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment("gen", kube.namespace).spec.replicas == 3

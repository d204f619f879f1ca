"""API semantics: Status bodies, conflicts, patches, selectors, validation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from kube_emulator.manifests import container, deployment, pod
from kube_emulator.pytest_plugin import KubeTarget


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def test_not_found_status(kube: KubeTarget) -> None:
    with pytest.raises(ApiException) as err:
        kube.core().read_namespaced_pod("missing", kube.namespace)
    body = status_of(err.value)
    assert err.value.status == 404
    assert body["reason"] == "NotFound"
    assert body["message"] == 'pods "missing" not found'
    assert body["details"] == {"name": "missing", "kind": "pods"}


def test_not_found_status_in_a_group(kube: KubeTarget) -> None:
    with pytest.raises(ApiException) as err:
        kube.apps().read_namespaced_deployment("missing", kube.namespace)
    body = status_of(err.value)
    assert body["message"] == 'deployments.apps "missing" not found'
    assert body["details"] == {"name": "missing", "group": "apps", "kind": "deployments"}


def test_already_exists_status(kube: KubeTarget) -> None:
    core = kube.core()
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "dup"}})
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "dup"}})
    body = status_of(err.value)
    assert err.value.status == 409
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "dup" already exists'
    assert body["details"] == {"name": "dup", "kind": "configmaps"}


def test_stale_resource_version_conflicts(kube: KubeTarget) -> None:
    core = kube.core()
    cm = core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "rv"}, "data": {"a": "1"}})
    stale = cm.metadata.resource_version
    core.patch_namespaced_config_map("rv", kube.namespace, {"data": {"a": "2"}})
    cm.data = {"a": "3"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("rv", kube.namespace, cm)
    body = status_of(err.value)
    assert err.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "rv": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    # a patch carrying a stale resourceVersion is a precondition too
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map(
            "rv", kube.namespace, {"metadata": {"resourceVersion": stale}, "data": {"a": "4"}}
        )
    assert err.value.status == 409 and status_of(err.value)["reason"] == "Conflict"
    assert core.read_namespaced_config_map("rv", kube.namespace).data == {"a": "2"}


def test_missing_name_is_invalid(kube: KubeTarget) -> None:
    with pytest.raises(ApiException) as err:
        kube.core().create_namespaced_config_map(kube.namespace, {"metadata": {"labels": {"a": "b"}}})
    body = status_of(err.value)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert (
        body["message"]
        == 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    )
    assert body["details"]["kind"] == "ConfigMap"
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "field": "metadata.name",
            "message": "Required value: name or generateName is required",
        }
    ]


def test_invalid_bodies(kube: KubeTarget) -> None:
    core, apps = kube.core(), kube.apps()
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(
            kube.namespace, {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [container()]}}
        )
    assert err.value.status == 422 and "metadata.name: Invalid value" in status_of(err.value)["message"]
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(kube.namespace, {"metadata": {"name": "nocontainers"}, "spec": {}})
    assert err.value.status == 422
    assert status_of(err.value)["details"]["causes"][0]["field"] == "spec.containers"
    bad = deployment("mismatch")
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(kube.namespace, bad)
    assert err.value.status == 422
    assert "`selector` does not match template `labels`" in status_of(err.value)["message"]
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(
            kube.namespace, {"metadata": {"name": "x", "labels": {"bad": "a b"}}}
        )
    assert (
        err.value.status == 422 and status_of(err.value)["details"]["causes"][0]["field"] == "metadata.labels"
    )


def test_missing_and_terminating_namespace(kube: KubeTarget) -> None:
    core = kube.core()
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("no-such-namespace", {"metadata": {"name": "x"}})
    body = status_of(err.value)
    assert err.value.status == 404 and body["message"] == 'namespaces "no-such-namespace" not found'
    emu = kube.require_emulator("holds a namespace in Terminating with a finalizer")
    name = kube.namespace + "-term"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(
        name, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    )
    core.delete_namespace(name)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(name, {"metadata": {"name": "late"}})
    body = status_of(err.value)
    assert err.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        f'configmaps "late" is forbidden: unable to create new content in namespace {name} '
        "because it is being terminated"
    )
    assert body["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    core.patch_namespaced_config_map(
        "held", name, {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    kube.wait_for(lambda: emu.get("v1", "Namespace", name) is None, message="namespace finalized")


def test_merge_patch_null_removes_key(kube: KubeTarget) -> None:
    core = kube.core()
    core.create_namespaced_config_map(
        kube.namespace,
        {"metadata": {"name": "m", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}},
    )
    out = core.patch_namespaced_config_map(
        "m",
        kube.namespace,
        {"metadata": {"labels": {"a": None}}, "data": {"y": None}},
        _content_type="application/merge-patch+json",
    )
    assert out.metadata.labels == {"b": "2"}
    assert out.data == {"x": "1"}


def test_strategic_merge_patch_on_containers(kube: KubeTarget) -> None:
    apps = kube.apps()
    dep = deployment("smp", replicas=1)
    dep["spec"]["template"]["spec"]["containers"] = [
        container("app", env=[{"name": "A", "value": "1"}]),
        container("sidecar"),
    ]
    apps.create_namespaced_deployment(kube.namespace, dep)
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "nginx:1.27", "env": [{"name": "B", "value": "2"}]},
                        {"name": "sidecar", "$patch": "delete"},
                    ]
                }
            }
        }
    }
    out = apps.patch_namespaced_deployment("smp", kube.namespace, patch)  # strategic merge by default
    containers = out.spec.template.spec.containers
    assert [c.name for c in containers] == ["app"]
    assert containers[0].image == "nginx:1.27"
    # the patch's elements come first, then the ones it did not name (golden 039, 044)
    assert [(e.name, e.value) for e in containers[0].env] == [("B", "2"), ("A", "1")]
    # a merge patch replaces the whole list instead
    out = apps.patch_namespaced_deployment(
        "smp",
        kube.namespace,
        {"spec": {"template": {"spec": {"containers": [container("other")]}}}},
        _content_type="application/merge-patch+json",
    )
    assert [c.name for c in out.spec.template.spec.containers] == ["other"]


def test_strategic_merge_patch_replaces_tolerations(kube: KubeTarget) -> None:
    apps = kube.apps()
    dep = deployment("tol", replicas=0)
    dep["spec"]["template"]["spec"]["tolerations"] = [{"key": "a", "operator": "Exists"}]
    apps.create_namespaced_deployment(kube.namespace, dep)
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}}}
    out = apps.patch_namespaced_deployment("tol", kube.namespace, patch)
    assert [t.key for t in out.spec.template.spec.tolerations] == ["b"]  # no merge key: replaced


def test_pod_tolerations_may_only_grow(kube: KubeTarget) -> None:
    core = kube.core()
    core.create_namespaced_pod(kube.namespace, pod("tol", tolerations=[{"key": "a", "operator": "Exists"}]))
    current = core.read_namespaced_pod("tol", kube.namespace).spec.tolerations
    keys = [t.key for t in current]
    assert keys[0] == "a" and "node.kubernetes.io/not-ready" in keys  # admission adds the defaults
    grown = [core.api_client.sanitize_for_serialization(t) for t in current] + [
        {"key": "b", "operator": "Exists"}
    ]
    out = core.patch_namespaced_pod("tol", kube.namespace, {"spec": {"tolerations": grown}})
    assert [t.key for t in out.spec.tolerations][-1] == "b"
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod(
            "tol", kube.namespace, {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}
        )
    assert err.value.status == 422


def test_json_patch(kube: KubeTarget) -> None:
    core = kube.core()
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "jp", "labels": {"a": "1"}}})
    out = core.patch_namespaced_config_map(
        "jp",
        kube.namespace,
        [
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "add", "path": "/data", "value": {"k": "v"}},
        ],
    )
    assert out.metadata.labels == {"b": "2"} and out.data == {"k": "v"}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map(
            "jp", kube.namespace, [{"op": "test", "path": "/data/k", "value": "nope"}]
        )
    assert err.value.status == 422


def test_pod_spec_is_mostly_immutable(kube: KubeTarget) -> None:
    core = kube.core()
    core.create_namespaced_pod(kube.namespace, pod("imm"))
    out = core.patch_namespaced_pod(
        "imm", kube.namespace, {"spec": {"containers": [{"name": "main", "image": "nginx"}]}}
    )
    assert out.spec.containers[0].image == "nginx"  # image may change
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod(
            "imm", kube.namespace, {"spec": {"containers": [{"name": "main", "args": ["x"]}]}}
        )
    assert err.value.status == 422
    assert "pod updates may not change fields other than" in status_of(err.value)["message"]


def test_label_selectors(kube: KubeTarget) -> None:
    core = kube.core()
    for name, labels in (
        ("a", {"tier": "web", "env": "prod"}),
        ("b", {"tier": "db", "env": "prod"}),
        ("c", {"tier": "web"}),
        ("d", {}),
    ):
        core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        items = core.list_namespaced_config_map(kube.namespace, label_selector=selector).items
        return sorted(i.metadata.name for i in items if i.metadata.name in "abcd")

    assert names("tier=web") == ["a", "c"]
    assert names("tier==web") == ["a", "c"]
    assert names("tier!=web") == ["b", "d"]
    assert names("tier in (web, db),env=prod") == ["a", "b"]
    assert names("tier notin (web)") == ["b", "d"]
    assert names("env") == ["a", "b"]
    assert names("!env") == ["c", "d"]
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(kube.namespace, label_selector="tier in web")
    assert err.value.status == 400 and status_of(err.value)["reason"] == "BadRequest"


def test_field_selectors(kube: KubeTarget) -> None:
    core = kube.core()
    core.create_namespaced_pod(
        kube.namespace, pod("placed", node_name="node-1") if not kube.is_real else pod("placed")
    )
    core.create_namespaced_pod(kube.namespace, pod("other"))
    by_name = core.list_namespaced_pod(kube.namespace, field_selector="metadata.name=placed").items
    assert [p.metadata.name for p in by_name] == ["placed"]
    not_name = core.list_namespaced_pod(kube.namespace, field_selector="metadata.name!=placed").items
    assert [p.metadata.name for p in not_name] == ["other"]
    in_ns = core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={kube.namespace}").items
    assert sorted(p.metadata.name for p in in_ns) == ["other", "placed"]
    if not kube.is_real:
        on_node = core.list_namespaced_pod(kube.namespace, field_selector="spec.nodeName=node-1").items
        assert "placed" in [p.metadata.name for p in on_node]
    kube.wait_for(
        lambda: (
            len(core.list_namespaced_pod(kube.namespace, field_selector="status.phase=Running").items) == 2
        ),
        message="both pods Running",
    )
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(kube.namespace, field_selector="spec.unknown=x")
    assert err.value.status == 400 and "field label not supported" in status_of(err.value)["message"]


def test_delete_returns_object_or_status(kube: KubeTarget) -> None:
    core = kube.core()
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "del"}})
    raw = core.delete_namespaced_config_map("del", kube.namespace, _preload_content=False)
    status = json.loads(raw.data)
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "del" and status["details"]["kind"] == "configmaps"
    core.create_namespaced_pod(kube.namespace, pod("delpod"))
    raw = core.delete_namespaced_pod("delpod", kube.namespace, _preload_content=False)
    assert json.loads(raw.data)["kind"] == "Pod"


def test_resource_version_on_create_is_rejected(kube: KubeTarget) -> None:
    with pytest.raises(ApiException) as err:
        kube.core().create_namespaced_config_map(
            kube.namespace, {"metadata": {"name": "rv", "resourceVersion": "5"}}
        )
    # the storage layer refuses it: 500 and a Status without a reason (golden 004)
    assert err.value.status == 500
    assert "reason" not in status_of(err.value)
    assert status_of(err.value)["message"] == "resourceVersion should not be set on objects to be created"

"""The kinds the emulator serves, and the discovery documents that describe them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CRUD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as ``pods/exec``: its kind (and group/version when it differs)."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None
    version: str | None = None


# eq=False: one instance per resource, hashed by identity (it keys the store's hot dicts;
# a field-wise hash of the nested tuples cost more than the lookups themselves)
@dataclass(frozen=True, eq=False)
class ResourceType:
    """One served resource: where it lives, what it is called, what it supports."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    #: whether ``metadata.generation`` is maintained (bumped on spec changes)
    has_generation: bool = False
    #: whether a delete answers with the deleted object rather than a Status
    returns_deleted_object: bool = False
    verbs: tuple[str, ...] = field(default=CRUD_VERBS)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def has_status(self) -> bool:
        return any(s.name == "status" for s in self.subresources)

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path of the collection, or of one object when ``name`` is given."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            prefix += f"/namespaces/{namespace}"
        prefix += f"/{self.plural}"
        return f"{prefix}/{name}" if name else prefix


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, STATUS_VERBS)


def _scale() -> Subresource:
    return Subresource("scale", "Scale", STATUS_VERBS, group="autoscaling", version="v1")


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        False,
        ("ns",),
        subresources=(_status("Namespace"), Subresource("finalize", "Namespace", ("update",))),
        returns_deleted_object=True,
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    ),
    ResourceType(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        False,
        ("no",),
        subresources=(
            _status("Node"),
            Subresource("proxy", "NodeProxyOptions", ("create", "delete", "get", "patch", "update")),
        ),
    ),
    ResourceType(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        True,
        ("po",),
        ("all",),
        subresources=(
            Subresource("attach", "PodAttachOptions", ("create", "get")),
            Subresource("binding", "Binding", ("create",)),
            Subresource("eviction", "Eviction", ("create",), group="policy", version="v1"),
            Subresource("exec", "PodExecOptions", ("create", "get")),
            Subresource("log", "Pod", ("get",)),
            _status("Pod"),
        ),
        returns_deleted_object=True,
        has_generation=True,
    ),
    ResourceType(
        "",
        "v1",
        "Service",
        "services",
        "service",
        True,
        ("svc",),
        ("all",),
        subresources=(_status("Service"),),
        returns_deleted_object=True,
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    ),
    ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",)),
    ResourceType("", "v1", "Secret", "secrets", "secret", True),
    ResourceType(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        True,
        ("pvc",),
        subresources=(_status("PersistentVolumeClaim"),),
        returns_deleted_object=True,
    ),
    ResourceType("", "v1", "Event", "events", "event", True, ("ev",)),
    ResourceType(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        True,
        ("sa",),
        subresources=(
            Subresource("token", "TokenRequest", ("create",), group="authentication.k8s.io", version="v1"),
        ),
        returns_deleted_object=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        True,
        ("deploy",),
        ("all",),
        subresources=(_scale(), _status("Deployment")),
        has_generation=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        True,
        ("rs",),
        ("all",),
        subresources=(_scale(), _status("ReplicaSet")),
        has_generation=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        True,
        ("sts",),
        ("all",),
        subresources=(_scale(), _status("StatefulSet")),
        has_generation=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        True,
        ("ds",),
        ("all",),
        subresources=(_status("DaemonSet"),),
        has_generation=True,
    ),
    ResourceType(
        "batch",
        "v1",
        "Job",
        "jobs",
        "job",
        True,
        (),
        ("all",),
        subresources=(_status("Job"),),
        has_generation=True,
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        True,
        ("netpol",),
        has_generation=True,
    ),
    ResourceType(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        True,
        ("pdb",),
        subresources=(_status("PodDisruptionBudget"),),
        has_generation=True,
    ),
)

BY_PLURAL: dict[tuple[str, str], ResourceType] = {(r.group, r.plural): r for r in RESOURCES}
BY_KIND: dict[tuple[str, str], ResourceType] = {(r.api_version, r.kind): r for r in RESOURCES}
KIND_ONLY: dict[str, ResourceType] = {r.kind: r for r in RESOURCES}

GROUP_VERSIONS: dict[str, list[str]] = {}
for _r in RESOURCES:
    GROUP_VERSIONS.setdefault(_r.group, [])
    if _r.version not in GROUP_VERSIONS[_r.group]:
        GROUP_VERSIONS[_r.group].append(_r.version)

NAMESPACE = BY_PLURAL[("", "namespaces")]
NODE = BY_PLURAL[("", "nodes")]
POD = BY_PLURAL[("", "pods")]
SERVICE = BY_PLURAL[("", "services")]
CONFIGMAP = BY_PLURAL[("", "configmaps")]
SECRET = BY_PLURAL[("", "secrets")]
PVC = BY_PLURAL[("", "persistentvolumeclaims")]
EVENT = BY_PLURAL[("", "events")]
SERVICEACCOUNT = BY_PLURAL[("", "serviceaccounts")]
DEPLOYMENT = BY_PLURAL[("apps", "deployments")]
REPLICASET = BY_PLURAL[("apps", "replicasets")]
STATEFULSET = BY_PLURAL[("apps", "statefulsets")]
DAEMONSET = BY_PLURAL[("apps", "daemonsets")]
JOB = BY_PLURAL[("batch", "jobs")]
NETWORKPOLICY = BY_PLURAL[("networking.k8s.io", "networkpolicies")]
PDB = BY_PLURAL[("policy", "poddisruptionbudgets")]


def resolve(api_version: str, kind: str) -> ResourceType | None:
    """The resource type for an ``apiVersion``/``kind`` pair, or None."""
    return BY_KIND.get((api_version, kind))


# -- discovery documents -------------------------------------------------------------------------


def api_versions(server_address: str) -> dict[str, Any]:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_doc(group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in GROUP_VERSIONS[group]]
    return {"name": group, "versions": versions, "preferredVersion": dict(versions[0])}


def api_group_list() -> dict[str, Any]:
    """``GET /apis``."""
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_doc(g) for g in GROUP_VERSIONS if g],
    }


def api_group(group: str) -> dict[str, Any] | None:
    """``GET /apis/<group>``."""
    if not group or group not in GROUP_VERSIONS:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group)}


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``: the APIResourceList."""
    if version not in GROUP_VERSIONS.get(group, []):
        return None
    items: list[dict[str, Any]] = []
    for r in RESOURCES:
        if r.group != group or r.version != version:
            continue
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        items.append(entry)
        for sub in r.subresources:
            sub_entry: dict[str, Any] = {
                "name": f"{r.plural}/{sub.name}",
                "singularName": "",
                "namespaced": r.namespaced,
            }
            if sub.group is not None:
                sub_entry["group"] = sub.group
                sub_entry["version"] = sub.version
            sub_entry["kind"] = sub.kind
            sub_entry["verbs"] = list(sub.verbs)
            items.append(sub_entry)
    out: dict[str, Any] = {"kind": "APIResourceList"}
    if group:  # the core list has no apiVersion (as served by kube-apiserver)
        out["apiVersion"] = "v1"
    out["groupVersion"] = f"{group}/{version}" if group else version
    out["resources"] = items
    return out

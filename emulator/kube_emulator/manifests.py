"""Small manifest builders for tests (plain dicts, as chaos code sends them).

Usable against the emulator and real clusters alike::

    core.create_namespaced_pod(ns, pod("web-0", node_selector={"disk": "ssd"}))
    apps.create_namespaced_deployment(ns, deployment("web", replicas=3))

Keyword arguments for pod specs are snake_case and become camelCase keys.
"""

from __future__ import annotations

from typing import Any

IMAGE = "registry.k8s.io/pause:3.10"


def _camel(spec: dict[str, Any]) -> dict[str, Any]:
    """``node_selector=...`` keyword arguments become ``nodeSelector`` keys."""
    out = {}
    for key, value in spec.items():
        head, *rest = key.split("_")
        out[head + "".join(w.title() for w in rest)] = value
    return out


def container(name: str = "main", image: str = IMAGE, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **_camel(extra)}


def pod(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {"containers": containers or [container()], **_camel(spec)},
    }


def template(labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": labels}, "spec": {"containers": [container()], **_camel(spec)}}


def _apps(
    kind: str, name: str, lead: dict[str, Any], rest: dict[str, Any], pod_spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An apps/v1 workload whose pods carry ``app=<name>``: ``lead``, selector, template, ``rest``."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "labels": labels},
        "spec": {
            **lead,
            "selector": {"matchLabels": labels},
            "template": template(labels, **(pod_spec or {})),
            **rest,
        },
    }


def deployment(name: str, replicas: int = 2, **spec: Any) -> dict[str, Any]:
    return _apps("Deployment", name, {"replicas": replicas}, spec)


def replicaset(name: str, replicas: int = 2) -> dict[str, Any]:
    return _apps("ReplicaSet", name, {"replicas": replicas}, {})


def statefulset(name: str, replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return _apps("StatefulSet", name, {"replicas": replicas, "serviceName": name}, spec)


def daemonset(name: str, **pod_spec: Any) -> dict[str, Any]:
    return _apps("DaemonSet", name, {}, {}, pod_spec)


def job(name: str, completions: int = 1, parallelism: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container(command=["true"])]}},
        },
    }


def pdb(
    name: str, app: str, *, min_available: int | str | None = None, max_unavailable: int | str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": app}}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": spec,
    }


def ready_pods(core: Any, namespace: str, selector: str) -> list[Any]:
    """Pods matching ``selector`` that are Running, Ready and not terminating."""
    out = []
    for p in core.list_namespaced_pod(namespace, label_selector=selector).items:
        if p.metadata.deletion_timestamp or p.status.phase != "Running":
            continue
        if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []):
            out.append(p)
    return out

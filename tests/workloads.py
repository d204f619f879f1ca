"""Workloads the cluster tests create in their own namespace (real cluster or emulator)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s

PAUSE = "registry.k8s.io/pause:3.9"
MANAGED = "app.kubernetes.io/managed-by=krkn-airflow-provider"


def deploy(api: Any, namespace: str, app: str = "web", replicas: int = 2) -> None:
    labels = {"app": app}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "main", "image": PAUSE}],
                    "terminationGracePeriodSeconds": 0,
                },
            },
        },
    }
    k8s.AppsV1Api(api).create_namespaced_deployment(namespace, body)


def bare_pod(api: Any, namespace: str, name: str, app: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [{"name": "main", "image": PAUSE}], "terminationGracePeriodSeconds": 0},
    }
    k8s.CoreV1Api(api).create_namespaced_pod(namespace, body)


def ready_pods(api: Any, namespace: str, app: str) -> list[Any]:
    pods = k8s.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"app={app}").items
    return [
        pod
        for pod in pods
        if pod.metadata.deletion_timestamp is None
        and pod.status.phase == "Running"
        and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    ]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def wait_ready(api: Any, namespace: str, app: str, count: int) -> list[Any]:
    wait_for(lambda: len(ready_pods(api, namespace, app)) >= count, f"{count} ready {app} pod(s)")
    return ready_pods(api, namespace, app)


def managed(api: Any, namespace: str) -> list[str]:
    """Objects the provider created that still exist, as ``Kind/name``."""
    core = k8s.CoreV1Api(api)
    net = k8s.NetworkingV1Api(api)
    found = [
        f"Pod/{p.metadata.name}" for p in core.list_namespaced_pod(namespace, label_selector=MANAGED).items
    ]
    policies = net.list_namespaced_network_policy(namespace, label_selector=MANAGED).items
    found += [f"NetworkPolicy/{p.metadata.name}" for p in policies]
    return sorted(found)

"""The DaemonSet controller: one pod per eligible node, pinned by node affinity."""

from __future__ import annotations

from typing import Any

from .._api import pod_is_active, pod_is_ready
from .._resources import DAEMONSET, NODE, POD
from .._store import Key, Obj, deep_copy
from ._base import (
    Controller,
    node_fits,
    rank_for_deletion,
    resolve_int_or_percent,
    revision_of,
    template_hash,
)

DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def daemon_target(pod: Obj) -> str | None:
    """The node a daemon pod runs on, or is pinned to by its ``metadata.name`` affinity."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    terms = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms") or []
    for term in terms:
        for fld in term.get("matchFields") or []:
            if fld.get("key") == "metadata.name" and fld.get("values"):
                return str(fld["values"][0])
    return None


def _merge_daemon_affinity(affinity: dict[str, Any] | None, node: str) -> dict[str, Any]:
    affinity = deep_copy(affinity or {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    }
    return affinity


class DaemonSetController(Controller):
    """Keyed by (namespace, name), or ``"*"`` for every DaemonSet."""

    def reconcile(self, key: Any) -> None:
        if key == "*":
            for k in list(self.store.data[DAEMONSET]):
                self.enqueue("daemonset", k)
            return
        ds = self.store.data[DAEMONSET].get(key)
        if ds is None:
            return
        spec = ds.get("spec") or {}
        pod_spec = (spec.get("template") or {}).get("spec") or {}
        revision = template_hash(spec.get("template") or {})
        eligible = {
            n["metadata"]["name"]
            for n in self.store.iter(NODE)
            if node_fits(pod_spec, n, extra_tolerations=DAEMON_TOLERATIONS) is None
        }
        by_node = self._pods_by_node(ds)
        if not ds["metadata"].get("deletionTimestamp"):
            self._converge(ds, key, eligible, by_node, revision)
            self._rolling_update(ds, eligible, by_node, revision)
        ds = self.store.data[DAEMONSET].get(key)
        if ds is not None:
            self._status(ds, eligible, revision)

    def _pods_by_node(self, ds: Obj) -> dict[str, list[Obj]]:
        """Active pods by target node; failed pods are deleted on the way."""
        by_node: dict[str, list[Obj]] = {}
        for pod in self._owned(ds):
            if not pod_is_active(pod):
                if (pod.get("status") or {}).get("phase") == "Failed" and not pod["metadata"].get(
                    "deletionTimestamp"
                ):
                    self._delete_quietly(POD, pod)
                continue
            by_node.setdefault(daemon_target(pod) or "", []).append(pod)
        return by_node

    def _converge(
        self, ds: Obj, key: Key, eligible: set[str], by_node: dict[str, list[Obj]], revision: str
    ) -> None:
        """A pod on each eligible node that has none; none on other nodes; one per node."""
        waiting = self._recreate_wait("daemonset", key)
        for node_name in sorted(eligible):
            if by_node.get(node_name) or waiting:
                continue
            body = self._new_pod(
                ds,
                labels={
                    "controller-revision-hash": revision,
                    "pod-template-generation": str(ds["metadata"].get("generation", 1)),
                },
            )
            body["spec"]["affinity"] = _merge_daemon_affinity(body["spec"].get("affinity"), node_name)
            tolerations = body["spec"].setdefault("tolerations", [])
            for tol in DAEMON_TOLERATIONS:
                if tol not in tolerations:
                    tolerations.append(dict(tol))
            self.api.create(POD, key[0], body)
        for node_name, pods in by_node.items():
            if node_name not in eligible:
                for pod in pods:
                    self._delete_quietly(POD, pod)
            else:
                for pod in rank_for_deletion(pods)[:-1]:
                    self._delete_quietly(POD, pod)

    def _rolling_update(
        self, ds: Obj, eligible: set[str], by_node: dict[str, list[Obj]], revision: str
    ) -> None:
        """Replace outdated pods, ``maxUnavailable`` at a time."""
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        max_unavail = (
            resolve_int_or_percent(
                (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1), len(eligible), True
            )
            or 1
        )
        current = [p for n in eligible for p in by_node.get(n, [])]
        unavailable = len(eligible) - sum(1 for p in current if pod_is_ready(p))
        for pod in current:
            if unavailable >= max_unavail:
                break
            if revision_of(pod) != revision:
                self._delete_quietly(POD, pod)
                unavailable += 1

    def _status(self, ds: Obj, eligible: set[str], revision: str) -> None:
        owned = [p for p in self._owned(ds) if pod_is_active(p)]
        scheduled = {daemon_target(p) for p in owned}
        ready_nodes = {daemon_target(p) for p in owned if pod_is_ready(p)}
        updated = {daemon_target(p) for p in owned if revision_of(p) == revision}
        status: dict[str, Any] = {
            "currentNumberScheduled": len(scheduled & eligible),
            "numberMisscheduled": len(scheduled - eligible),
            "desiredNumberScheduled": len(eligible),
            "numberReady": len(ready_nodes & eligible),
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        if updated & eligible:
            status["updatedNumberScheduled"] = len(updated & eligible)
        if ready_nodes & eligible:
            status["numberAvailable"] = len(ready_nodes & eligible)
        if len(eligible) - len(ready_nodes & eligible):
            status["numberUnavailable"] = len(eligible) - len(ready_nodes & eligible)
        self._save_status(DAEMONSET, ds, status)

"""Node lifecycle: the not-ready, unreachable and unschedulable taints; pods of deleted nodes go."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from .. import _errors, _kinds
from .._api import condition
from .._resources import NODE, POD
from .._store import Obj, deep_copy
from ._base import Controller

#: seconds before a node whose kubelet never reported counts as unreachable
NODE_MONITOR_GRACE = 40.0

_SYSTEM_TAINTS = {
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
}


class NodeLifecycleController(Controller):
    """Keyed by node name, or ``"*"`` for every node."""

    def reconcile(self, name: str) -> None:
        names = list(self.store.data[NODE]) if name == "*" else [("", name)]
        for key in names:
            node = self.store.data[NODE].get(key)
            if node is None:
                for pod in self.store.pods_on(key[1]):
                    with contextlib.suppress(_errors.ApiError):
                        self.api.delete(
                            POD,
                            pod["metadata"]["namespace"],
                            pod["metadata"]["name"],
                            {"gracePeriodSeconds": 0},
                        )
                continue
            self._taints(node)

    def _wanted(self, node: Obj) -> list[tuple[str, str]]:
        """The system taints ``node`` should carry now."""
        ready = condition(node, "Ready")
        wanted: list[tuple[str, str]] = []
        if (node.get("spec") or {}).get("unschedulable"):
            wanted.append(("node.kubernetes.io/unschedulable", "NoSchedule"))
        if ready == "False":
            wanted += [
                ("node.kubernetes.io/not-ready", "NoSchedule"),
                ("node.kubernetes.io/not-ready", "NoExecute"),
            ]
        elif ready != "True":
            age = time.time() - (_kinds.parse_time(node["metadata"].get("creationTimestamp")) or 0.0)
            if ready is None and age < NODE_MONITOR_GRACE:
                # a node no kubelet has reported for yet: the controller waits its grace period
                # (admission's not-ready:NoSchedule taint stays meanwhile)
                wanted += [
                    (t.get("key"), t.get("effect"))
                    for t in (node.get("spec") or {}).get("taints") or []
                    if t.get("key") == "node.kubernetes.io/not-ready"
                ]
                with contextlib.suppress(RuntimeError):  # no loop: the next resync looks again
                    self.after(NODE_MONITOR_GRACE - age, "nodelifecycle", node["metadata"]["name"])
            else:
                wanted += [
                    ("node.kubernetes.io/unreachable", "NoSchedule"),
                    ("node.kubernetes.io/unreachable", "NoExecute"),
                ]
        return wanted

    def _taints(self, node: Obj) -> None:
        wanted = self._wanted(node)
        taints = list((node.get("spec") or {}).get("taints") or [])
        kept = [
            t
            for t in taints
            if t.get("key") not in _SYSTEM_TAINTS or (t.get("key"), t.get("effect")) in wanted
        ]
        have = {(t.get("key"), t.get("effect")) for t in kept}
        for key, effect in wanted:
            if (key, effect) not in have:
                taint: dict[str, Any] = {"key": key, "effect": effect, "timeAdded": _kinds.now()}
                kept.append(taint)
        if kept != taints:
            new = deep_copy(node)
            if kept:
                new["spec"]["taints"] = kept
            else:
                new["spec"].pop("taints", None)
            self.api.write(NODE, new)

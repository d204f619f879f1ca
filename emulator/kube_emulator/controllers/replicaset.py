"""The ReplicaSet controller: keep ``spec.replicas`` active pods and report their status."""

from __future__ import annotations

from typing import Any

from .._api import pod_is_active, pod_is_ready
from .._resources import POD, REPLICASET
from .._store import Key, Obj
from ._base import Controller, rank_for_deletion


class ReplicaSetController(Controller):
    """Keyed by (namespace, name)."""

    def reconcile(self, key: Key) -> None:
        rs = self.store.data[REPLICASET].get(key)
        if rs is None:
            return
        pods = self._owned(rs)
        active = [p for p in pods if pod_is_active(p)]
        desired = int((rs.get("spec") or {}).get("replicas", 1))
        if not rs["metadata"].get("deletionTimestamp"):
            diff = desired - len(active)
            if diff > 0 and not self._recreate_wait("replicaset", key):
                for _ in range(min(diff, 500)):
                    self.api.create(POD, key[0], self._new_pod(rs))
            elif diff < 0:
                for pod in rank_for_deletion(active)[:-diff]:
                    self._delete_quietly(POD, pod)
        rs = self.store.data[REPLICASET].get(key)
        if rs is None:
            return
        self._save_status(REPLICASET, rs, self._status(rs))

    def _status(self, rs: Obj) -> dict[str, Any]:
        active = [p for p in self._owned(rs) if pod_is_active(p)]
        template_labels = (((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "labels"
        ) or {}
        ready = sum(1 for p in active if pod_is_ready(p))
        status: dict[str, Any] = {"replicas": len(active)}
        fully = sum(
            1
            for p in active
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items())
        )
        if fully:
            status["fullyLabeledReplicas"] = fully
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        status["observedGeneration"] = rs["metadata"].get("generation", 1)
        return status

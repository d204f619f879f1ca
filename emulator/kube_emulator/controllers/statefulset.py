"""The StatefulSet controller: ordinal pods with stable names, their claims, rolling updates."""

from __future__ import annotations

import re
from typing import Any

from .._api import pod_is_active, pod_is_ready
from .._resources import POD, PVC, STATEFULSET
from .._store import Key, Obj, deep_copy
from ._base import Controller, revision_of, template_hash


def _live(pod: Obj) -> bool:
    return pod_is_ready(pod) and not pod["metadata"].get("deletionTimestamp")


class StatefulSetController(Controller):
    """Keyed by (namespace, name)."""

    def reconcile(self, key: Key) -> None:
        sts = self.store.data[STATEFULSET].get(key)
        if sts is None:
            return
        name = sts["metadata"]["name"]
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        revision = f"{name}-{template_hash(spec.get('template') or {})}"
        pods: dict[int, Obj] = {}
        for pod in self._owned(sts):
            m = re.fullmatch(re.escape(name) + r"-(\d+)", pod["metadata"]["name"])
            if m:
                pods[int(m.group(1))] = pod
        deleting = bool(sts["metadata"].get("deletionTimestamp"))
        if not deleting:
            self._converge(sts, key, pods, replicas, ordered, revision)
        self._status(key, revision)

    def _converge(
        self, sts: Obj, key: Key, pods: dict[int, Obj], replicas: int, ordered: bool, revision: str
    ) -> None:
        """Create missing ordinals, remove extra ones, then roll; ``OrderedReady`` one step a pass."""
        for ordinal in range(replicas):
            pod = pods.get(ordinal)
            if pod is not None:
                if (pod.get("status") or {}).get("phase") == "Failed" and not pod["metadata"].get(
                    "deletionTimestamp"
                ):
                    self._delete_quietly(POD, pod)
                    return
                if ordered and not _live(pod):
                    return
                continue
            if self._recreate_wait("statefulset", key):
                return
            self._create_pod(sts, ordinal, revision)
            if ordered:
                return
        extra = sorted((o for o in pods if o >= replicas), reverse=True)
        for ordinal in extra:
            pod = pods[ordinal]
            if not pod["metadata"].get("deletionTimestamp"):
                self._delete_quietly(POD, pod)
            if ordered:
                return
        self._rolling_update(sts, pods, replicas, revision)

    def _create_pod(self, sts: Obj, ordinal: int, revision: str) -> None:
        spec = sts.get("spec") or {}
        pod_name = f"{sts['metadata']['name']}-{ordinal}"
        body = self._new_pod(
            sts,
            name=pod_name,
            labels={
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": pod_name,
                "apps.kubernetes.io/pod-index": str(ordinal),
            },
        )
        body["spec"]["hostname"] = pod_name
        if spec.get("serviceName"):
            body["spec"]["subdomain"] = spec["serviceName"]
        for claim in spec.get("volumeClaimTemplates") or []:
            cname = (claim.get("metadata") or {}).get("name", "data")
            claim_name = f"{cname}-{pod_name}"
            volumes = body["spec"].setdefault("volumes", [])
            if not any(v.get("name") == cname for v in volumes):
                volumes.append({"name": cname, "persistentVolumeClaim": {"claimName": claim_name}})
            self._ensure_claim(sts, claim, claim_name)
        self.api.create(POD, sts["metadata"]["namespace"], body)

    def _ensure_claim(self, sts: Obj, claim: dict[str, Any], claim_name: str) -> None:
        """The pod's PersistentVolumeClaim from its template, bound at once."""
        namespace = sts["metadata"]["namespace"]
        if self.store.get(PVC, namespace, claim_name) is not None:
            return
        pvc = deep_copy(claim)
        pvc["metadata"] = {
            "name": claim_name,
            "namespace": namespace,
            "labels": dict(((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}),
        }
        created = self.api.create(PVC, namespace, pvc)
        bound = deep_copy(created)
        bound["status"] = {
            "phase": "Bound",
            "accessModes": created["spec"].get("accessModes", []),
            "capacity": ((created["spec"].get("resources") or {}).get("requests") or {}),
        }
        self.api.write(PVC, bound)

    def _rolling_update(self, sts: Obj, pods: dict[int, Obj], replicas: int, revision: str) -> None:
        """Replace outdated pods from the highest ordinal, one at a time, once all are ready."""
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
        live = [pods[o] for o in range(replicas) if o in pods]
        if len(live) < replicas or not all(_live(p) for p in live):
            return
        for ordinal in sorted(range(partition, replicas), reverse=True):
            pod = pods.get(ordinal)
            if pod is not None and revision_of(pod) != revision:
                self._delete_quietly(POD, pod)
                return

    def _status(self, key: Key, revision: str) -> None:
        sts = self.store.data[STATEFULSET].get(key)
        if sts is None:
            return
        active = [p for p in self._owned(sts) if pod_is_active(p)]
        ready = sum(1 for p in active if pod_is_ready(p))
        updated = sum(1 for p in active if revision_of(p) == revision)
        current_rev = (sts.get("status") or {}).get("currentRevision") or revision
        if updated == len(active) == int((sts.get("spec") or {}).get("replicas", 1)):
            current_rev = revision
        current = sum(1 for p in active if revision_of(p) == current_rev)
        status: dict[str, Any] = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(active),
        }
        if ready:
            status["readyReplicas"] = ready
        if current:
            status["currentReplicas"] = current
        if updated:
            status["updatedReplicas"] = updated
        status["currentRevision"] = current_rev
        status["updateRevision"] = revision
        status["collisionCount"] = 0
        status["availableReplicas"] = ready
        self._save_status(STATEFULSET, sts, status)

"""The Deployment controller: one ReplicaSet per pod template, rolled by the update strategy."""

from __future__ import annotations

from typing import Any

from .._api import set_condition
from .._resources import DEPLOYMENT, REPLICASET
from .._store import Key, Obj, deep_copy, key_of
from ._base import Controller, is_terminal, resolve_int_or_percent, template_hash

_REVISION = "deployment.kubernetes.io/revision"


def _revision(rs: Obj) -> int:
    return int((rs["metadata"].get("annotations") or {}).get(_REVISION, "0"))


def _replicas(rs: Obj, part: str = "spec", field: str = "replicas") -> int:
    return int((rs.get(part) or {}).get(field, 0))


def _strategy(spec: dict[str, Any], desired: int) -> tuple[bool, int, int]:
    """(rolling, maxSurge, maxUnavailable) resolved against ``desired``."""
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
    ru = strategy.get("rollingUpdate") or {}
    max_surge = resolve_int_or_percent(ru.get("maxSurge", "25%"), desired, True) if rolling else 0
    max_unavail = resolve_int_or_percent(ru.get("maxUnavailable", "25%"), desired, False) if rolling else 0
    if rolling and max_surge == 0 and max_unavail == 0:
        max_unavail = 1
    return rolling, max_surge, max_unavail


class DeploymentController(Controller):
    """Keyed by (namespace, name)."""

    def reconcile(self, key: Key) -> None:
        dep = self.store.data[DEPLOYMENT].get(key)
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            return
        spec = dep.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        hsh = template_hash(spec.get("template") or {})
        rses = self._owned(dep, REPLICASET)
        new_rs = next(
            (r for r in rses if (r["metadata"].get("labels") or {}).get("pod-template-hash") == hsh), None
        )
        olds = [r for r in rses if r is not new_rs]
        newest = max((_revision(r) for r in rses), default=0)
        rolling, max_surge, max_unavail = _strategy(spec, desired)
        paused = bool(spec.get("paused"))
        if new_rs is None and not paused:
            new_rs = self._create_set(dep, olds, hsh, newest + 1, max_surge, rolling)
        elif new_rs is not None and not paused:
            # the new set gets the newest revision again (rollback to an older template)
            if olds and _revision(new_rs) < newest:
                updated = deep_copy(new_rs)
                updated["metadata"].setdefault("annotations", {})[_REVISION] = str(newest + 1)
                new_rs = self._save(REPLICASET, new_rs, updated)
            new_rs = self._rollout(new_rs, olds, desired, max_surge, max_unavail, rolling)
        self._cleanup_old_sets(dep, olds)
        self._deployment_status(dep, new_rs, max_unavail)

    def _create_set(
        self, dep: Obj, olds: list[Obj], hsh: str, revision: int, max_surge: int, rolling: bool
    ) -> Obj:
        """The ReplicaSet for the current template, sized so the surge limit holds."""
        spec = dep.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        old_total = sum(int(r["spec"].get("replicas", 0)) for r in olds)
        if rolling:
            initial = (
                desired
                if not olds or old_total == 0
                else max(0, min(desired, desired + max_surge - old_total))
            )
        else:
            initial = 0 if old_total else desired
        tmpl = deep_copy(spec.get("template") or {})
        tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = hsh
        selector = deep_copy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = hsh
        annotations = {
            "deployment.kubernetes.io/desired-replicas": str(desired),
            "deployment.kubernetes.io/max-replicas": str(desired + max_surge),
            _REVISION: str(revision),
        }
        namespace = dep["metadata"]["namespace"]
        body: dict[str, Any] = {
            "metadata": {
                "name": f"{dep['metadata']['name']}-{hsh}",
                "namespace": namespace,
                "labels": dict(tmpl["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [self._owner_ref(dep)],
            },
            "spec": {"replicas": initial, "selector": selector, "template": tmpl},
        }
        if spec.get("minReadySeconds"):
            body["spec"]["minReadySeconds"] = spec["minReadySeconds"]
        return self.api.create(REPLICASET, namespace, body)

    def _scale_rs(self, rs: Obj, replicas: int) -> Obj:
        if int(rs["spec"].get("replicas", 0)) == replicas:
            return rs
        new = deep_copy(rs)
        new["spec"]["replicas"] = replicas
        return self._save(REPLICASET, rs, new)

    def _rollout(
        self, new_rs: Obj, olds: list[Obj], desired: int, max_surge: int, max_unavail: int, rolling: bool
    ) -> Obj:
        old_active = [r for r in olds if _replicas(r) > 0]
        if not rolling:
            for r in old_active:
                self._scale_rs(r, 0)
            old_pods = sum(len([p for p in self._owned(r) if not is_terminal(p)]) for r in olds)
            if old_pods == 0:
                new_rs = self._scale_rs(new_rs, desired)
            return new_rs
        new_replicas = _replicas(new_rs)
        total = new_replicas + sum(_replicas(r) for r in olds)
        if new_replicas < desired:
            allowed = desired + max_surge - total
            if allowed > 0:
                new_rs = self._scale_rs(new_rs, min(desired, new_replicas + allowed))
        elif new_replicas > desired:
            new_rs = self._scale_rs(new_rs, desired)
        if not old_active:
            return new_rs
        self._scale_down_olds(new_rs, olds, old_active, desired - max_unavail)
        return new_rs

    def _scale_down_olds(
        self, new_rs: Obj, olds: list[Obj], old_active: list[Obj], min_available: int
    ) -> None:
        """Old sets shrink while at least ``min_available`` pods stay available."""
        new_replicas = _replicas(new_rs)
        all_replicas = new_replicas + sum(_replicas(r) for r in olds)
        new_unavailable = new_replicas - _replicas(new_rs, "status", "availableReplicas")
        budget = all_replicas - min_available - new_unavailable
        # old sets' unhealthy replicas go first
        for r in sorted(old_active, key=lambda o: o["metadata"].get("creationTimestamp", "")):
            if budget <= 0:
                break
            spec_r = _replicas(r)
            cut = min(spec_r - _replicas(r, "status", "availableReplicas"), budget)
            if cut > 0:
                self._scale_rs(r, spec_r - cut)
                budget -= cut
        olds = [self.store.data[REPLICASET].get(key_of(r)) or r for r in olds]
        available = _replicas(new_rs, "status", "availableReplicas") + sum(
            _replicas(r, "status", "availableReplicas") for r in olds
        )
        can_remove = available - min_available
        for r in sorted(olds, key=lambda o: o["metadata"].get("creationTimestamp", "")):
            if can_remove <= 0:
                break
            spec_r = _replicas(r)
            cut = min(spec_r, can_remove)
            if cut > 0:
                self._scale_rs(r, spec_r - cut)
                can_remove -= cut

    def _cleanup_old_sets(self, dep: Obj, olds: list[Obj]) -> None:
        limit = int((dep.get("spec") or {}).get("revisionHistoryLimit", 10))
        idle = [
            r
            for r in olds
            if _replicas(r) == 0
            and _replicas(r, "status") == 0
            and not r["metadata"].get("deletionTimestamp")
        ]
        idle.sort(key=_revision)
        for r in idle[: max(0, len(idle) - limit)]:
            self._delete_quietly(REPLICASET, r)

    def _deployment_status(self, dep: Obj, new_rs: Obj | None, max_unavail: int) -> None:
        dep = self.store.data[DEPLOYMENT].get(key_of(dep)) or dep
        rses = self._owned(dep, REPLICASET)
        desired = int((dep.get("spec") or {}).get("replicas", 1))
        replicas = sum(_replicas(r, "status") for r in rses)
        available = sum(_replicas(r, "status", "availableReplicas") for r in rses)
        updated = _replicas(new_rs, "status") if new_rs else 0
        new = deep_copy(dep)
        status: dict[str, Any] = {"observedGeneration": dep["metadata"].get("generation", 1)}
        for fld, value in (
            ("replicas", replicas),
            ("updatedReplicas", updated),
            ("readyReplicas", sum(_replicas(r, "status", "readyReplicas") for r in rses)),
            ("availableReplicas", available),
            ("unavailableReplicas", max(0, replicas - available)),
        ):
            if value:
                status[fld] = value
        status["conditions"] = deep_copy((dep.get("status") or {}).get("conditions") or [])
        new["status"] = status
        if available >= desired - max_unavail:
            set_condition(
                new, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
            )
        else:
            set_condition(
                new,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        if new_rs is not None:
            self._progressing(
                new, new_rs, updated == desired and replicas == desired and available == desired
            )
        for cond in new["status"]["conditions"]:
            cond.pop("lastProbeTime", None)
            cond.setdefault("lastUpdateTime", cond.get("lastTransitionTime"))
        new["status"]["conditions"].sort(key=lambda c: 0 if c["type"] == "Available" else 1)
        self._save(DEPLOYMENT, dep, new)

    @staticmethod
    def _progressing(new: Obj, new_rs: Obj, complete: bool) -> None:
        """The Progressing condition and the revision annotation, from the current set."""
        rs_name = new_rs["metadata"]["name"]
        if complete:
            set_condition(
                new,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        else:
            set_condition(
                new, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'
            )
        rev = (new_rs["metadata"].get("annotations") or {}).get(_REVISION)
        if rev:
            new["metadata"].setdefault("annotations", {})[_REVISION] = rev

"""What every controller shares: the base class and the helpers two or more controllers use."""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import TYPE_CHECKING, Any

from .. import _errors
from .._api import condition, controller_ref, pod_is_ready
from .._resources import POD, ResourceType
from .._selectors import node_selector_terms_match, tolerates
from .._store import Key, Obj, deep_copy

if TYPE_CHECKING:
    from .loop import Controllers

_HASH_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Any) -> str:
    """A stable short hash of a pod template, in the alphabet Kubernetes uses for names."""
    digest = int(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest(), 16)
    out = []
    for _ in range(10):
        digest, rem = divmod(digest, len(_HASH_CHARS))
        out.append(_HASH_CHARS[rem])
    return "".join(out)


def resolve_int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        raw = int(value[:-1]) * total / 100
        return math.ceil(raw) if round_up else math.floor(raw)
    return int(value or 0)


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def revision_of(obj: Obj) -> str | None:
    """The ``controller-revision-hash`` label a StatefulSet or DaemonSet stamps on its pods."""
    return (obj["metadata"].get("labels") or {}).get("controller-revision-hash")


def rank_for_deletion(pods: list[Obj]) -> list[Obj]:
    """Pods a controller removes first: unscheduled, pending, not ready, newest."""

    def rank(p: Obj) -> tuple[int, int, int, str]:
        spec, status = p.get("spec") or {}, p.get("status") or {}
        return (
            0 if not spec.get("nodeName") else 1,
            0 if status.get("phase") == "Pending" else 1,
            1 if pod_is_ready(p) else 0,
            "".join(chr(255 - ord(c)) for c in p["metadata"].get("creationTimestamp", "")),
        )

    return sorted(pods, key=rank)


def node_fits(
    pod_spec: dict[str, Any],
    node: Obj,
    *,
    extra_tolerations: list[dict[str, Any]] | None = None,
    ignore_taints: bool = False,
) -> str | None:
    """Why ``node`` cannot take a pod with ``pod_spec`` (scheduler wording), or None."""
    labels = node["metadata"].get("labels") or {}
    selector = pod_spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return "node(s) didn't match Pod's node affinity/selector"
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if terms is not None and not node_selector_terms_match(terms, node):
        return "node(s) didn't match Pod's node affinity/selector"
    if ignore_taints:
        return None
    tolerations = list(pod_spec.get("tolerations") or []) + list(extra_tolerations or [])
    if (node.get("spec") or {}).get("unschedulable") and not tolerates(
        tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    ):
        return "node(s) were unschedulable"
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            if taint.get("key") == "node.kubernetes.io/unschedulable":
                return "node(s) were unschedulable"
            return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
    if condition(node, "Ready") != "True" and not tolerates(
        tolerations, {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
    ):
        return "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
    return None


class Controller:
    """One reconcile loop; the shared queue, timers and store come from :class:`Controllers`."""

    def __init__(self, loop: Controllers) -> None:
        self.loop = loop
        self.api = loop.api
        self.store = loop.store
        self.settings = loop.settings

    def reconcile(self, key: Any) -> None:
        """Bring the object(s) ``key`` names to their wanted state."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget per-object state (the store is being cleared)."""

    def enqueue(self, ctrl: str, key: Any) -> None:
        self.loop.enqueue(ctrl, key)

    def after(self, delay: float, ctrl: str, key: Any) -> None:
        self.loop.after(delay, ctrl, key)

    @property
    def timers(self) -> dict[tuple[str, Any], Any]:
        return self.loop.timers

    def _save(self, rt: ResourceType, old: Obj, new: Obj) -> Obj:
        if new == old:
            return old
        if rt.has_generation and new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        return self.api.write(rt, new)

    def _save_status(self, rt: ResourceType, obj: Obj, status: dict[str, Any]) -> None:
        new = deep_copy(obj)
        new["status"] = status
        self._save(rt, obj, new)

    def _owned(self, owner: Obj, rt: ResourceType = POD) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        out = []
        for dep_rt, dep in self.store.dependents_of(uid):
            if dep_rt is not rt:
                continue
            ref = controller_ref(dep)
            if ref and ref.get("uid") == uid:
                out.append(dep)
        return out

    def _owner_ref(self, owner: Obj) -> dict[str, Any]:
        return {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def _recreate_wait(self, ctrl: str, key: Key) -> bool:
        """True while a deleted pod of ``key`` must not be replaced yet (timer armed)."""
        due = self.loop.recreate_due.get((ctrl, key))
        if due is None:
            return False
        remaining = due - time.monotonic()
        if remaining <= 0:
            del self.loop.recreate_due[(ctrl, key)]
            return False
        if (ctrl, key) not in self.timers:
            self.after(remaining, ctrl, key)
        return True

    def _new_pod(self, owner: Obj, *, name: str | None = None, labels: dict[str, str] | None = None) -> Obj:
        template = deep_copy((owner.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        meta: dict[str, Any] = {
            "namespace": owner["metadata"]["namespace"],
            "labels": {**(tmeta.get("labels") or {}), **(labels or {})},
            "ownerReferences": [self._owner_ref(owner)],
        }
        if tmeta.get("annotations"):
            meta["annotations"] = tmeta["annotations"]
        if name:
            meta["name"] = name
        else:
            meta["generateName"] = owner["metadata"]["name"] + "-"
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}

    def _delete_quietly(self, rt: ResourceType, obj: Obj, policy: str = "Background") -> None:
        try:
            self.api.delete(
                rt, obj["metadata"].get("namespace"), obj["metadata"]["name"], {"propagationPolicy": policy}
            )
        except _errors.ApiError as err:
            if err.code != 404:
                raise

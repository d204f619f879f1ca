"""The control plane the emulator fakes: kube-controller-manager, scheduler and kubelets.

Everything runs as one asyncio task on the server's loop. Store events mark keys dirty per
controller; the task reconciles dirty keys in a fixed order and yields between batches, so
HTTP requests are served while controllers work. Delays (``pod_ready_delay``,
``recreate_delay``, ``pod_terminate_delay``) are loop timers that mark a key dirty again.

Two groups:

* always on — garbage collection (ownerReferences, foreground deletion) and the namespace
  lifecycle (default ServiceAccount and ``kube-root-ca.crt``, deleting contents, finalizing);
* switchable (``Emulator(controllers=...)``/``set_controllers``) — Deployment, ReplicaSet,
  StatefulSet, DaemonSet, Job, the scheduler, the kubelets, node lifecycle taints,
  PodDisruptionBudget status.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import _errors, _kinds
from ._api import (
    Api,
    Settings,
    condition,
    controller_ref,
    pdb_status,
    pod_is_active,
    pod_is_ready,
    set_condition,
)
from ._resources import (
    CONFIGMAP,
    DAEMONSET,
    DEPLOYMENT,
    JOB,
    NAMESPACE,
    NODE,
    PDB,
    POD,
    PVC,
    REPLICASET,
    SERVICEACCOUNT,
    STATEFULSET,
    ResourceType,
)
from ._selectors import node_selector_terms_match, parse_quantity, selector_from_spec, tolerates
from ._store import Event, Key, Obj, Store, deep_copy, key_of

log = logging.getLogger("kube_emulator.controllers")

_HASH_CHARS = "bcdfghjklmnpqrstvwxz2456789"

FAKE_CA = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrdWJlLWVtdWxhdG9yLWZha2UtY2EwHhcN\n"
    "-----END CERTIFICATE-----\n"
)

ALWAYS_ON = ("gc", "gc-owner", "gc-dangling", "namespace")
ORDER = (
    "gc",
    "gc-owner",
    "gc-dangling",
    "namespace",
    "nodelifecycle",
    "deployment",
    "replicaset",
    "statefulset",
    "daemonset",
    "job",
    "scheduler",
    "kubelet",
    "pdb",
)

DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]

SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12, "TERM": 15, "STOP": 19}


#: seconds before a node whose kubelet never reported counts as unreachable
NODE_MONITOR_GRACE = 40.0


def template_hash(template: Any) -> str:
    """A stable short hash of a pod template, in the alphabet Kubernetes uses for names."""
    digest = int(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest(), 16)
    out = []
    for _ in range(10):
        digest, rem = divmod(digest, len(_HASH_CHARS))
        out.append(_HASH_CHARS[rem])
    return "".join(out)


def _sum_requests(pod: Obj) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {"cpu": Decimal(0), "memory": Decimal(0)}
    for c in (pod.get("spec") or {}).get("containers") or []:
        requests = (c.get("resources") or {}).get("requests") or {}
        for res in ("cpu", "memory"):
            q = parse_quantity(requests.get(res)) if res in requests else None
            if q is not None:
                total[res] += q
    return total


def _resolve_int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        raw = int(value[:-1]) * total / 100
        return math.ceil(raw) if round_up else math.floor(raw)
    return int(value or 0)


class Controllers:
    """Reconcile loops over the store; see the module docstring."""

    def __init__(self, api: Api, settings: Settings) -> None:
        self.api = api
        self.store: Store = api.store
        self.settings = settings
        self.dirty: dict[str, set[Any]] = {name: set() for name in ORDER}
        self.wake = asyncio.Event()
        self.timers: dict[tuple[str, Any], asyncio.TimerHandle] = {}
        self.recreate_due: dict[tuple[str, Key], float] = {}
        #: pod uid -> (transition, due time) for the kubelet
        self.kubelet_due: dict[str, tuple[str, float]] = {}
        #: job uid -> {pod uid: "Succeeded"|"Failed"}
        self.job_finished: dict[str, dict[str, str]] = {}
        #: unscheduled pods, in the order they arrived (a dict used as an ordered set)
        self.pending: dict[Key, None] = {}
        #: node name -> [cpu, memory, pods] requested by its non-terminal pods (kept from pod events)
        self.usage: dict[str, list[Decimal]] = {}
        #: pod uid -> its summed cpu/memory requests (pod resources are immutable)
        self.requests: dict[str, tuple[Decimal, Decimal]] = {}
        self.node_ips: dict[str, int] = {}
        self.logs: dict[tuple[str, str, str], list[str]] = {}
        self.custom_logs: dict[tuple[str, str, str], str] = {}
        #: terminating namespace -> monotonic time its deletion began (finalized only after
        #: ``namespace_terminate_delay`` more seconds)
        self.namespace_hold: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_full_schedule = 0.0
        self._full_schedule_cost = 0.0
        self._capacities: dict[tuple[Any, Any, Any], tuple[Decimal | None, Decimal | None, Decimal]] = {}
        #: (node, node resourceVersion, pod placement shape) -> why the node is unfit, or None
        self._verdicts: dict[tuple[str, str, str], str | None] = {}
        self.handlers: dict[str, Callable[[Any], None]] = {
            "gc": self._gc_deleted_owner,
            "gc-owner": self._gc_foreground,
            "gc-dangling": self._gc_dangling,
            "namespace": self._namespace,
            "nodelifecycle": self._node_lifecycle,
            "deployment": self._deployment,
            "replicaset": self._replicaset,
            "statefulset": self._statefulset,
            "daemonset": self._daemonset,
            "job": self._job,
            "scheduler": self._schedule,
            "kubelet": self._kubelet,
            "pdb": self._pdb,
        }
        self.store.listeners.append(self.on_event)

    # -- loop -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kube-emulator-controllers")
        self.resync()

    async def stop(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def reset(self) -> None:
        """Forget all work and per-object state (the store is being cleared)."""
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        for keys in self.dirty.values():
            keys.clear()
        for state in (
            self.recreate_due,
            self.kubelet_due,
            self.job_finished,
            self.node_ips,
            self.logs,
            self.custom_logs,
            self.namespace_hold,
        ):
            state.clear()
        self.pending.clear()
        self.usage.clear()
        self.requests.clear()

    def resync(self) -> None:
        """Mark everything dirty (after start, or when controllers are switched back on)."""
        for ns in self.store.data[NAMESPACE]:
            self.enqueue("namespace", ns[1])
        for rt, ctrl in (
            (DEPLOYMENT, "deployment"),
            (REPLICASET, "replicaset"),
            (STATEFULSET, "statefulset"),
            (DAEMONSET, "daemonset"),
            (JOB, "job"),
        ):
            for key in self.store.data[rt]:
                self.enqueue(ctrl, key)
        self.usage.clear()
        for key, pod in self.store.data[POD].items():
            self._account(pod, +1)
            self.enqueue("kubelet", key)
            if not (pod.get("spec") or {}).get("nodeName"):
                self.pending[key] = None
        self.enqueue("scheduler", "*")
        self.enqueue("nodelifecycle", "*")
        for key in self.store.data[PDB]:
            self.enqueue("pdb", key[0])

    def enqueue(self, ctrl: str, key: Any) -> None:
        self.dirty[ctrl].add(key)
        self.wake.set()

    def after(self, delay: float, ctrl: str, key: Any) -> None:
        """Mark ``key`` dirty for ``ctrl`` after ``delay`` seconds (one timer per key)."""
        tkey = (ctrl, key)
        old = self.timers.pop(tkey, None)
        if old is not None:
            old.cancel()

        def fire() -> None:
            self.timers.pop(tkey, None)
            self.enqueue(ctrl, key)

        self.timers[tkey] = asyncio.get_running_loop().call_later(max(0.0, delay), fire)

    def _enabled(self, ctrl: str) -> bool:
        return ctrl in ALWAYS_ON or self.settings.controllers

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            for _ in range(1000):
                progressed = False
                for ctrl in ORDER:
                    keys = self.dirty[ctrl]
                    if not keys or not self._enabled(ctrl):
                        continue
                    progressed = True
                    batch = [keys.pop() for _ in range(min(len(keys), 200))]
                    handler = self.handlers[ctrl]
                    for key in batch:
                        try:
                            handler(key)
                        except _errors.ApiError as err:
                            log.debug("%s %s: %s", ctrl, key, err)
                        except Exception:
                            log.exception("controller %s failed on %s", ctrl, key)
                    await asyncio.sleep(0)
                if not progressed:
                    break

    # -- event routing --------------------------------------------------------------------------

    def on_event(self, ev: Event) -> None:
        rt, obj = ev.rt, ev.obj
        meta = obj["metadata"]
        key = key_of(obj)
        if ev.type == "DELETED" and meta.get("uid") in self.store.dependents:
            self.enqueue("gc", meta["uid"])
        if meta.get("deletionTimestamp") and "foregroundDeletion" in (meta.get("finalizers") or []):
            self.enqueue("gc-owner", (rt, key))
        if ev.type == "ADDED" and meta.get("ownerReferences"):
            self.enqueue("gc-dangling", (rt, key))
        for ref in meta.get("ownerReferences") or []:
            # a dependent went away or changed: a foreground-deleting owner may be done
            if ref.get("blockOwnerDeletion") and ev.type == "DELETED":
                owner = self.store.by_uid.get(ref.get("uid", ""))
                if owner is not None:
                    self.enqueue("gc-owner", owner)
        if rt is NAMESPACE:
            self.enqueue("namespace", meta["name"])
        elif rt.namespaced and ev.type == "DELETED":
            ns = self.store.get(NAMESPACE, None, meta.get("namespace", ""))
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self.enqueue("namespace", ns["metadata"]["name"])
        if rt is POD:
            self._on_pod(ev, key)
        elif rt is REPLICASET:
            self.enqueue("replicaset", key)
            ref = controller_ref(obj)
            if ref and ref.get("kind") == "Deployment":
                self.enqueue("deployment", (key[0], ref["name"]))
        elif rt is DEPLOYMENT:
            self.enqueue("deployment", key)
        elif rt is STATEFULSET:
            self.enqueue("statefulset", key)
        elif rt is DAEMONSET:
            self.enqueue("daemonset", key)
        elif rt is JOB:
            self.enqueue("job", key)
        elif rt is PDB:
            self.enqueue("pdb", key[0])
        elif rt is NODE:
            self.enqueue("nodelifecycle", meta["name"])
            self._schedule_all_soon()
            for ds in self.store.data[DAEMONSET]:
                self.enqueue("daemonset", ds)
            for pod in self.store.pods_on(meta["name"]):
                self.enqueue("kubelet", key_of(pod))

    def _pod_requests(self, pod: Obj) -> tuple[Decimal, Decimal]:
        uid = pod["metadata"].get("uid", "")
        cached = self.requests.get(uid)
        if cached is None:
            total = _sum_requests(pod)
            cached = self.requests[uid] = (total["cpu"], total["memory"])
        return cached

    def _account(self, pod: Obj | None, sign: int) -> None:
        if pod is None or _is_terminal(pod):
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return
        cpu, memory = self._pod_requests(pod)
        used = self.usage.setdefault(node, [Decimal(0), Decimal(0), Decimal(0)])
        used[0] += sign * cpu
        used[1] += sign * memory
        used[2] += sign

    def _on_pod(self, ev: Event, key: Key) -> None:
        pod, old = ev.obj, ev.old
        self._account(old, -1)
        if ev.type != "DELETED":
            self._account(pod, +1)
        else:
            self.requests.pop(pod["metadata"].get("uid", ""), None)
        spec = pod.get("spec") or {}
        deleting = bool(pod["metadata"].get("deletionTimestamp"))
        was_deleting = bool(old and old["metadata"].get("deletionTimestamp"))
        ref = controller_ref(pod) or (controller_ref(old) if old else None)
        if ref:
            ctrl = {
                "ReplicaSet": "replicaset",
                "StatefulSet": "statefulset",
                "DaemonSet": "daemonset",
                "Job": "job",
            }.get(str(ref.get("kind")))
            if ctrl:
                okey = (key[0], str(ref.get("name")))
                gone = (ev.type == "DELETED" or deleting) and not was_deleting
                if gone and self.settings.recreate_delay > 0:
                    due = self.recreate_due.get((ctrl, okey))
                    if due is None or due < time.monotonic():
                        self.recreate_due[(ctrl, okey)] = time.monotonic() + self.settings.recreate_delay
                self.enqueue(ctrl, okey)
        if ev.type == "DELETED":
            self.pending.pop(key, None)
            self.kubelet_due.pop(pod["metadata"].get("uid", ""), None)
            if spec.get("nodeName") and self.pending:
                self._schedule_all_soon()
        elif not spec.get("nodeName") and not deleting:
            self.pending[key] = None
            self.enqueue("scheduler", key)
        else:
            self.pending.pop(key, None)
        if spec.get("nodeName") and ev.type != "DELETED":
            self.enqueue("kubelet", key)
        if self.store.data[PDB]:
            self.enqueue("pdb", key[0])

    def _schedule_all_soon(self) -> None:
        """Re-try every pending pod, at most every 50 ms or 4x the cost of the last full pass."""
        if ("scheduler", "*") in self.timers or "*" in self.dirty["scheduler"]:
            return
        wait = self._last_full_schedule + max(0.05, 4 * self._full_schedule_cost) - time.monotonic()
        if wait <= 0:
            self.enqueue("scheduler", "*")
        else:
            self.after(wait, "scheduler", "*")

    # -- helpers --------------------------------------------------------------------------------

    def _save(self, rt: ResourceType, old: Obj, new: Obj) -> Obj:
        if new == old:
            return old
        if rt.has_generation and new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        return self.api.write(rt, new)

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
        due = self.recreate_due.get((ctrl, key))
        if due is None:
            return False
        remaining = due - time.monotonic()
        if remaining <= 0:
            del self.recreate_due[(ctrl, key)]
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

    @staticmethod
    def _rank_for_deletion(pods: list[Obj]) -> list[Obj]:
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

    def _delete_quietly(self, rt: ResourceType, obj: Obj, policy: str = "Background") -> None:
        try:
            self.api.delete(
                rt, obj["metadata"].get("namespace"), obj["metadata"]["name"], {"propagationPolicy": policy}
            )
        except _errors.ApiError as err:
            if err.code != 404:
                raise

    # -- garbage collection ---------------------------------------------------------------------

    def _gc_deleted_owner(self, uid: str) -> None:
        for rt, dep in self.store.dependents_of(uid):
            refs = dep["metadata"].get("ownerReferences") or []
            alive = [r for r in refs if r.get("uid") != uid and r.get("uid") in self.store.by_uid]
            if alive:
                new = deep_copy(dep)
                new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                self.api.write(rt, new)
            elif not dep["metadata"].get("deletionTimestamp"):
                self._delete_quietly(rt, dep)

    def _gc_foreground(self, item: tuple[ResourceType, Key]) -> None:
        rt, key = item
        owner = self.store.data[rt].get(key)
        if owner is None or "foregroundDeletion" not in (owner["metadata"].get("finalizers") or []):
            return
        blocking = 0
        for dep_rt, dep in self.store.dependents_of(owner["metadata"]["uid"]):
            ref: dict[str, Any] = next(
                (
                    r
                    for r in dep["metadata"].get("ownerReferences") or []
                    if r.get("uid") == owner["metadata"]["uid"]
                ),
                {},
            )
            if not dep["metadata"].get("deletionTimestamp"):
                self._delete_quietly(dep_rt, dep, "Foreground")
            if ref.get("blockOwnerDeletion") and self.store.data[dep_rt].get(key_of(dep)) is not None:
                blocking += 1
        if blocking:
            return
        owner = self.store.data[rt].get(key)
        if owner is None:
            return
        new = deep_copy(owner)
        new["metadata"]["finalizers"] = [
            f for f in new["metadata"]["finalizers"] if f != "foregroundDeletion"
        ]
        self.api.write(rt, new)

    def _gc_dangling(self, item: tuple[ResourceType, Key]) -> None:
        rt, key = item
        obj = self.store.data[rt].get(key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        refs = obj["metadata"].get("ownerReferences") or []
        if refs and not any(r.get("uid") in self.store.by_uid for r in refs):
            self._delete_quietly(rt, obj)

    # -- namespaces -----------------------------------------------------------------------------

    def _namespace(self, name: str) -> None:
        ns = self.store.get(NAMESPACE, None, name)
        if ns is None:
            return
        if not ns["metadata"].get("deletionTimestamp"):
            if self.store.get(SERVICEACCOUNT, name, "default") is None:
                self.api.create(SERVICEACCOUNT, name, {"metadata": {"name": "default"}})
            if self.store.get(CONFIGMAP, name, "kube-root-ca.crt") is None:
                self.api.create(
                    CONFIGMAP,
                    name,
                    {
                        "metadata": {
                            "name": "kube-root-ca.crt",
                            "annotations": {
                                "kubernetes.io/description": "Contains a CA bundle that can be used "
                                "to verify the kube-apiserver when using internal endpoints such "
                                "as the internal service IP or kubernetes.default.svc. No other "
                                "usage is guaranteed across distributions of Kubernetes clusters."
                            },
                        },
                        "data": {"ca.crt": FAKE_CA},
                    },
                )
            return
        contents = self.store.namespace_contents(name)
        if contents and name not in self.namespace_hold:
            self.namespace_hold[name] = time.monotonic()
            with contextlib.suppress(RuntimeError):  # no loop: the next resync looks again
                self.after(self.settings.namespace_terminate_delay, "namespace", name)
        for rt, obj in contents:
            if not obj["metadata"].get("deletionTimestamp"):
                self._delete_quietly(rt, obj)
        if self.store.namespace_contents(name):
            return
        if time.monotonic() < self.namespace_hold.get(name, 0.0) + self.settings.namespace_terminate_delay:
            return  # the timer comes back
        self.namespace_hold.pop(name, None)
        ns = self.store.get(NAMESPACE, None, name)
        if ns is None:
            return
        new = deep_copy(ns)
        new.setdefault("spec", {})["finalizers"] = [
            f for f in new["spec"].get("finalizers", []) if f != "kubernetes"
        ]
        if not new["spec"]["finalizers"]:
            del new["spec"]["finalizers"]
        self.api.write(NAMESPACE, new)

    # -- nodes ----------------------------------------------------------------------------------

    def _node_lifecycle(self, name: str) -> None:
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
            self._node_taints(node)

    def _node_taints(self, node: Obj) -> None:
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
        system = {
            "node.kubernetes.io/unschedulable",
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        }
        taints = list((node.get("spec") or {}).get("taints") or [])
        kept = [t for t in taints if t.get("key") not in system or (t.get("key"), t.get("effect")) in wanted]
        have = {(t.get("key"), t.get("effect")) for t in kept}
        for key, effect in wanted:
            if (key, effect) not in have:
                taint: dict[str, Any] = {"key": key, "effect": effect}
                if effect == "NoExecute" or key != "node.kubernetes.io/unschedulable":
                    taint["timeAdded"] = _kinds.now()
                else:
                    taint["timeAdded"] = _kinds.now()
                kept.append(taint)
        if kept != taints:
            new = deep_copy(node)
            if kept:
                new["spec"]["taints"] = kept
            else:
                new["spec"].pop("taints", None)
            self.api.write(NODE, new)

    # -- ReplicaSet -----------------------------------------------------------------------------

    def _replicaset(self, key: Key) -> None:
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
                for pod in self._rank_for_deletion(active)[:-diff]:
                    self._delete_quietly(POD, pod)
        rs = self.store.data[REPLICASET].get(key)
        if rs is None:
            return
        active = [p for p in self._owned(rs) if pod_is_active(p)]
        selector = selector_from_spec((rs.get("spec") or {}).get("selector"))
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
        del selector
        new = deep_copy(rs)
        new["status"] = status
        self._save(REPLICASET, rs, new)

    # -- Deployment -----------------------------------------------------------------------------

    def _deployment(self, key: Key) -> None:
        dep = self.store.data[DEPLOYMENT].get(key)
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            return
        spec = dep.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        hsh = template_hash(template)
        rses = self._owned(dep, REPLICASET)
        new_rs = next(
            (r for r in rses if (r["metadata"].get("labels") or {}).get("pod-template-hash") == hsh), None
        )
        olds = [r for r in rses if r is not new_rs]
        revisions = [
            int((r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0"))
            for r in rses
        ]
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        ru = strategy.get("rollingUpdate") or {}
        max_surge = _resolve_int_or_percent(ru.get("maxSurge", "25%"), desired, True) if rolling else 0
        max_unavail = (
            _resolve_int_or_percent(ru.get("maxUnavailable", "25%"), desired, False) if rolling else 0
        )
        if rolling and max_surge == 0 and max_unavail == 0:
            max_unavail = 1
        paused = bool(spec.get("paused"))
        if new_rs is None and not paused:
            old_total = sum(int(r["spec"].get("replicas", 0)) for r in olds)
            if rolling:
                initial = (
                    desired
                    if not olds or old_total == 0
                    else max(0, min(desired, desired + max_surge - old_total))
                )
            else:
                initial = 0 if old_total else desired
            tmpl = deep_copy(template)
            tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = hsh
            selector = deep_copy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = hsh
            annotations = {
                "deployment.kubernetes.io/desired-replicas": str(desired),
                "deployment.kubernetes.io/max-replicas": str(desired + max_surge),
                "deployment.kubernetes.io/revision": str(max(revisions, default=0) + 1),
            }
            body: dict[str, Any] = {
                "metadata": {
                    "name": f"{dep['metadata']['name']}-{hsh}",
                    "namespace": key[0],
                    "labels": dict(tmpl["metadata"]["labels"]),
                    "annotations": annotations,
                    "ownerReferences": [self._owner_ref(dep)],
                },
                "spec": {"replicas": initial, "selector": selector, "template": tmpl},
            }
            if spec.get("minReadySeconds"):
                body["spec"]["minReadySeconds"] = spec["minReadySeconds"]
            new_rs = self.api.create(REPLICASET, key[0], body)
        elif new_rs is not None and not paused:
            # the new set gets the newest revision again (rollback to an older template)
            rev = int(
                (new_rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")
            )
            if olds and rev < max(revisions, default=0):
                updated = deep_copy(new_rs)
                updated["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(
                    max(revisions) + 1
                )
                new_rs = self._save(REPLICASET, new_rs, updated)
            new_rs = self._rollout(new_rs, olds, desired, max_surge, max_unavail, rolling)
        self._cleanup_old_sets(dep, olds)
        self._deployment_status(dep, new_rs, max_unavail)

    def _scale_rs(self, rs: Obj, replicas: int) -> Obj:
        if int(rs["spec"].get("replicas", 0)) == replicas:
            return rs
        new = deep_copy(rs)
        new["spec"]["replicas"] = replicas
        return self._save(REPLICASET, rs, new)

    def _rollout(
        self, new_rs: Obj, olds: list[Obj], desired: int, max_surge: int, max_unavail: int, rolling: bool
    ) -> Obj:
        old_active = [r for r in olds if int(r["spec"].get("replicas", 0)) > 0]
        if not rolling:
            for r in old_active:
                self._scale_rs(r, 0)
            old_pods = sum(len([p for p in self._owned(r) if not _is_terminal(p)]) for r in olds)
            if old_pods == 0:
                new_rs = self._scale_rs(new_rs, desired)
            return new_rs
        new_replicas = int(new_rs["spec"].get("replicas", 0))
        total = new_replicas + sum(int(r["spec"].get("replicas", 0)) for r in olds)
        if new_replicas < desired:
            allowed = desired + max_surge - total
            if allowed > 0:
                new_rs = self._scale_rs(new_rs, min(desired, new_replicas + allowed))
        elif new_replicas > desired:
            new_rs = self._scale_rs(new_rs, desired)
        if not old_active:
            return new_rs
        new_replicas = int(new_rs["spec"].get("replicas", 0))
        all_replicas = new_replicas + sum(int(r["spec"].get("replicas", 0)) for r in olds)
        min_available = desired - max_unavail
        new_unavailable = new_replicas - int((new_rs.get("status") or {}).get("availableReplicas", 0))
        budget = all_replicas - min_available - new_unavailable
        # old sets' unhealthy replicas go first
        for r in sorted(old_active, key=lambda o: o["metadata"].get("creationTimestamp", "")):
            if budget <= 0:
                break
            spec_r = int(r["spec"].get("replicas", 0))
            unhealthy = spec_r - int((r.get("status") or {}).get("availableReplicas", 0))
            cut = min(unhealthy, budget)
            if cut > 0:
                self._scale_rs(r, spec_r - cut)
                budget -= cut
        olds = [self.store.data[REPLICASET].get(key_of(r)) or r for r in olds]
        available = int((new_rs.get("status") or {}).get("availableReplicas", 0)) + sum(
            int((r.get("status") or {}).get("availableReplicas", 0)) for r in olds
        )
        can_remove = available - min_available
        for r in sorted(olds, key=lambda o: o["metadata"].get("creationTimestamp", "")):
            if can_remove <= 0:
                break
            spec_r = int(r["spec"].get("replicas", 0))
            cut = min(spec_r, can_remove)
            if cut > 0:
                self._scale_rs(r, spec_r - cut)
                can_remove -= cut
        return new_rs

    def _cleanup_old_sets(self, dep: Obj, olds: list[Obj]) -> None:
        limit = int((dep.get("spec") or {}).get("revisionHistoryLimit", 10))
        idle = [
            r
            for r in olds
            if int((r.get("spec") or {}).get("replicas", 0)) == 0
            and int((r.get("status") or {}).get("replicas", 0)) == 0
            and not r["metadata"].get("deletionTimestamp")
        ]
        idle.sort(
            key=lambda r: int(
                (r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")
            )
        )
        for r in idle[: max(0, len(idle) - limit)]:
            self._delete_quietly(REPLICASET, r)

    def _deployment_status(self, dep: Obj, new_rs: Obj | None, max_unavail: int) -> None:
        dep = self.store.data[DEPLOYMENT].get(key_of(dep)) or dep
        rses = [r for r in self._owned(dep, REPLICASET)]
        desired = int((dep.get("spec") or {}).get("replicas", 1))
        replicas = sum(int((r.get("status") or {}).get("replicas", 0)) for r in rses)
        ready = sum(int((r.get("status") or {}).get("readyReplicas", 0)) for r in rses)
        available = sum(int((r.get("status") or {}).get("availableReplicas", 0)) for r in rses)
        updated = int(((new_rs or {}).get("status") or {}).get("replicas", 0)) if new_rs else 0
        new = deep_copy(dep)
        old_status = dep.get("status") or {}
        status: dict[str, Any] = {"observedGeneration": dep["metadata"].get("generation", 1)}
        for fld, value in (
            ("replicas", replicas),
            ("updatedReplicas", updated),
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("unavailableReplicas", max(0, replicas - available)),
        ):
            if value:
                status[fld] = value
        status["conditions"] = deep_copy(old_status.get("conditions") or [])
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
            rs_name = new_rs["metadata"]["name"]
            complete = updated == desired and replicas == desired and available == desired
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
        for cond in new["status"]["conditions"]:
            cond.pop("lastProbeTime", None)
            cond.setdefault("lastUpdateTime", cond.get("lastTransitionTime"))
        new["status"]["conditions"].sort(key=lambda c: 0 if c["type"] == "Available" else 1)
        if new_rs is not None:
            rev = (new_rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision")
            if rev:
                new["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = rev
        self._save(DEPLOYMENT, dep, new)

    # -- StatefulSet ----------------------------------------------------------------------------

    def _statefulset(self, key: Key) -> None:
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
            self._sts_converge(sts, key, pods, replicas, ordered, revision)
        self._sts_status(key, revision)

    def _sts_converge(
        self, sts: Obj, key: Key, pods: dict[int, Obj], replicas: int, ordered: bool, revision: str
    ) -> None:
        name = sts["metadata"]["name"]
        spec = sts.get("spec") or {}
        for ordinal in range(replicas):
            pod = pods.get(ordinal)
            if pod is not None:
                if (pod.get("status") or {}).get("phase") == "Failed" and not pod["metadata"].get(
                    "deletionTimestamp"
                ):
                    self._delete_quietly(POD, pod)
                    return
                if ordered and not (pod_is_ready(pod) and not pod["metadata"].get("deletionTimestamp")):
                    return
                continue
            if self._recreate_wait("statefulset", key):
                return
            pod_name = f"{name}-{ordinal}"
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
                if self.store.get(PVC, key[0], claim_name) is None:
                    pvc = deep_copy(claim)
                    pvc["metadata"] = {
                        "name": claim_name,
                        "namespace": key[0],
                        "labels": dict((spec.get("selector") or {}).get("matchLabels") or {}),
                    }
                    created = self.api.create(PVC, key[0], pvc)
                    bound = deep_copy(created)
                    bound["status"] = {
                        "phase": "Bound",
                        "accessModes": created["spec"].get("accessModes", []),
                        "capacity": ((created["spec"].get("resources") or {}).get("requests") or {}),
                    }
                    self.api.write(PVC, bound)
            self.api.create(POD, key[0], body)
            if ordered:
                return
        extra = sorted((o for o in pods if o >= replicas), reverse=True)
        for ordinal in extra:
            pod = pods[ordinal]
            if not pod["metadata"].get("deletionTimestamp"):
                self._delete_quietly(POD, pod)
            if ordered:
                return
        # rolling update: replace outdated pods from the highest ordinal, one at a time
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
        live = [pods[o] for o in range(replicas) if o in pods]
        if len(live) < replicas or not all(
            pod_is_ready(p) and not p["metadata"].get("deletionTimestamp") for p in live
        ):
            return
        for ordinal in sorted(range(partition, replicas), reverse=True):
            pod = pods.get(ordinal)
            if (
                pod is not None
                and (pod["metadata"].get("labels") or {}).get("controller-revision-hash") != revision
            ):
                self._delete_quietly(POD, pod)
                return

    def _sts_status(self, key: Key, revision: str) -> None:
        sts = self.store.data[STATEFULSET].get(key)
        if sts is None:
            return
        active = [p for p in self._owned(sts) if pod_is_active(p)]
        ready = sum(1 for p in active if pod_is_ready(p))
        updated = sum(
            1
            for p in active
            if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == revision
        )
        old_status = sts.get("status") or {}
        current_rev = old_status.get("currentRevision") or revision
        if updated == len(active) == int((sts.get("spec") or {}).get("replicas", 1)):
            current_rev = revision
        current = sum(
            1
            for p in active
            if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == current_rev
        )
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
        new = deep_copy(sts)
        new["status"] = status
        self._save(STATEFULSET, sts, new)

    # -- DaemonSet ------------------------------------------------------------------------------

    def _node_fits(
        self,
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

    def _daemonset(self, key: Any) -> None:
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
        nodes = {n["metadata"]["name"]: n for n in self.store.iter(NODE)}
        eligible = {
            name
            for name, n in nodes.items()
            if self._node_fits(pod_spec, n, extra_tolerations=DAEMON_TOLERATIONS) is None
        }
        by_node: dict[str, list[Obj]] = {}
        for pod in self._owned(ds):
            if not pod_is_active(pod):
                if (pod.get("status") or {}).get("phase") == "Failed" and not pod["metadata"].get(
                    "deletionTimestamp"
                ):
                    self._delete_quietly(POD, pod)
                continue
            target = _daemon_target(pod)
            by_node.setdefault(target or "", []).append(pod)
        if not ds["metadata"].get("deletionTimestamp"):
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
                    for pod in self._rank_for_deletion(pods)[:-1]:
                        self._delete_quietly(POD, pod)
            # rolling update: replace outdated pods, maxUnavailable at a time
            strategy = spec.get("updateStrategy") or {}
            if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                max_unavail = (
                    _resolve_int_or_percent(
                        (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1), len(eligible), True
                    )
                    or 1
                )
                current = [p for n in eligible for p in by_node.get(n, [])]
                unavailable = len(eligible) - sum(1 for p in current if pod_is_ready(p))
                for pod in current:
                    if unavailable >= max_unavail:
                        break
                    if (pod["metadata"].get("labels") or {}).get("controller-revision-hash") != revision:
                        self._delete_quietly(POD, pod)
                        unavailable += 1
        ds = self.store.data[DAEMONSET].get(key)
        if ds is None:
            return
        owned = [p for p in self._owned(ds) if pod_is_active(p)]
        scheduled = {_daemon_target(p) for p in owned}
        ready_nodes = {_daemon_target(p) for p in owned if pod_is_ready(p)}
        updated = {
            _daemon_target(p)
            for p in owned
            if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == revision
        }
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
        new = deep_copy(ds)
        new["status"] = status
        self._save(DAEMONSET, ds, new)

    # -- Job ------------------------------------------------------------------------------------

    def _job(self, key: Key) -> None:
        job = self.store.data[JOB].get(key)
        if job is None:
            return
        spec = job.get("spec") or {}
        uid = job["metadata"]["uid"]
        finished = self.job_finished.setdefault(uid, {})
        pods = self._owned(job)
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                finished[pod["metadata"]["uid"]] = phase
            elif pod["metadata"].get("deletionTimestamp"):
                finished.setdefault(pod["metadata"]["uid"], "Failed")
        old_status = job.get("status") or {}
        succeeded = sum(1 for v in finished.values() if v == "Succeeded")
        failed = sum(1 for v in finished.values() if v == "Failed")
        succeeded = max(succeeded, int(old_status.get("succeeded", 0)))
        failed = max(failed, int(old_status.get("failed", 0)))
        active = [p for p in pods if pod_is_active(p)]
        completions = spec.get("completions")
        completions = int(completions) if completions is not None else 1
        parallelism = int(spec.get("parallelism", 1))
        done = condition(job, "Complete") == "True" or condition(job, "Failed") == "True"
        new = deep_copy(job)
        status = new.setdefault("status", {})
        status.setdefault("startTime", _kinds.now())
        if not done and not job["metadata"].get("deletionTimestamp"):
            if succeeded >= completions:
                for pod in active:
                    self._delete_quietly(POD, pod)
                set_condition(
                    new,
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                )
                set_condition(
                    new, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods"
                )
                status["completionTime"] = _kinds.now()
                active = []
            elif failed > int(spec.get("backoffLimit", 6)):
                for pod in active:
                    self._delete_quietly(POD, pod)
                set_condition(
                    new,
                    "FailureTarget",
                    "True",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                )
                set_condition(
                    new,
                    "Failed",
                    "True",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                )
                active = []
            elif spec.get("suspend"):
                for pod in active:
                    self._delete_quietly(POD, pod)
                active = []
            else:
                want = min(parallelism, completions - succeeded) - len(active)
                if want > 0 and not self._recreate_wait("job", key):
                    for _ in range(want):
                        self.api.create(POD, key[0], self._new_pod(job))
                active = [p for p in self._owned(job) if pod_is_active(p)]
        for fld, value in (("active", len(active)), ("succeeded", succeeded), ("failed", failed)):
            if value:
                status[fld] = value
            else:
                status.pop(fld, None)
        status["ready"] = sum(1 for p in active if pod_is_ready(p))
        status["terminating"] = sum(1 for p in pods if p["metadata"].get("deletionTimestamp"))
        status["uncountedTerminatedPods"] = {}
        for cond in status.get("conditions") or []:
            cond["lastProbeTime"] = cond.get("lastProbeTime") or cond.get("lastTransitionTime")
        self._save(JOB, job, new)

    # -- scheduler ------------------------------------------------------------------------------

    def _schedule(self, key: Any) -> None:
        started = time.monotonic()
        full = key == "*"
        nodes = sorted(self.store.iter(NODE), key=lambda n: n["metadata"]["name"])
        capacity = {n["metadata"]["name"]: self._capacity_of(n) for n in nodes}
        if full and nodes and all(self._used(n)[2] >= c[2] for n, c in capacity.items()):
            return  # every node is full: pending pods stay as they are
        keys = list(self.pending) if full else [key]
        verdicts = self._verdicts
        if len(verdicts) > 10_000:
            verdicts.clear()
        for pod_key in keys:
            if full and all(self._used(name)[2] >= cap[2] for name, cap in capacity.items()):
                break  # every node is full: the rest stay Pending as they are
            pod = self.store.data[POD].get(pod_key)
            if pod is None:
                self.pending.pop(pod_key, None)
                continue
            spec = pod.get("spec") or {}
            if spec.get("nodeName") or pod["metadata"].get("deletionTimestamp"):
                self.pending.pop(pod_key, None)
                continue
            if spec.get("schedulerName", "default-scheduler") != "default-scheduler":
                continue
            if spec.get("schedulingGates"):
                continue
            cpu, memory = self._pod_requests(pod)
            shape = json.dumps(
                [spec.get("nodeSelector"), spec.get("affinity"), spec.get("tolerations")], sort_keys=True
            )
            reasons: Counter[str] = Counter()
            best: tuple[Decimal, str] | None = None
            for node in nodes:
                name = node["metadata"]["name"]
                vkey = (name, node["metadata"]["resourceVersion"], shape)
                if vkey not in verdicts:
                    verdicts[vkey] = self._node_fits(spec, node)
                why = verdicts[vkey]
                used = self.usage.get(name) or [Decimal(0), Decimal(0), Decimal(0)]
                if why is None:
                    why = _resources_fit(capacity[name], used, cpu, memory)
                if why is not None:
                    reasons[why] += 1
                    continue
                if best is None or (used[2], name) < best:
                    best = (used[2], name)
            if best is None:
                self._unschedulable(pod, len(nodes), reasons)
                continue
            self.api.assign(pod, best[1])
            self.pending.pop(pod_key, None)
        if full:
            self._last_full_schedule = time.monotonic()
            self._full_schedule_cost = self._last_full_schedule - started

    def _used(self, node: str) -> list[Decimal]:
        return self.usage.get(node) or [Decimal(0), Decimal(0), Decimal(0)]

    def _capacity_of(self, node: Obj) -> tuple[Decimal | None, Decimal | None, Decimal]:
        alloc = (node.get("status") or {}).get("allocatable") or {}
        key = (alloc.get("cpu"), alloc.get("memory"), alloc.get("pods"))
        cached = self._capacities.get(key)
        if cached is None:
            cached = self._capacities[key] = _capacity(node)
        return cached

    def _unschedulable(self, pod: Obj, total: int, reasons: Counter[str]) -> None:
        parts = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        if total == 0:
            message = "no nodes available to schedule pods"
        else:
            message = (
                f"0/{total} nodes are available: {parts}. preemption: 0/{total} nodes are available: "
                f"{total} Preemption is not helpful for scheduling."
            )
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if (
                cond.get("type") == "PodScheduled"
                and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"
                and cond.get("message") == message
            ):
                return
        new = deep_copy(pod)
        set_condition(new, "PodScheduled", "False", "Unschedulable", message)
        self.api.write(POD, new)

    # -- kubelet --------------------------------------------------------------------------------

    def _due(self, uid: str, transition: str, delay: float, key: Key) -> bool:
        """True when ``transition`` may happen now; otherwise arms a timer for it."""
        current = self.kubelet_due.get(uid)
        now = time.monotonic()
        if current is None or current[0] != transition:
            if delay <= 0:
                self.kubelet_due.pop(uid, None)
                return True
            self.kubelet_due[uid] = (transition, now + delay)
            self.after(delay, "kubelet", key)
            return False
        if now >= current[1]:
            del self.kubelet_due[uid]
            return True
        if ("kubelet", key) not in self.timers:
            self.after(current[1] - now, "kubelet", key)
        return False

    def _kubelet(self, key: Key) -> None:
        pod = self.store.data[POD].get(key)
        if pod is None:
            return
        spec = pod.get("spec") or {}
        node_name = spec.get("nodeName")
        if not node_name:
            return
        uid = pod["metadata"]["uid"]
        node = self.store.get(NODE, None, node_name)
        status = pod.get("status") or {}
        phase = status.get("phase", "Pending")
        if pod["metadata"].get("deletionTimestamp"):
            if node is None:
                self._finish_termination(pod)
                return
            if condition(node, "Ready") != "True":
                return
            grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
            if self._due(uid, "terminate", min(grace, self.settings.pod_terminate_delay), key):
                self._finish_termination(pod)
            return
        if node is None or condition(node, "Ready") != "True":
            if phase == "Running" and condition(pod, "Ready") == "True":
                new = deep_copy(pod)
                set_condition(new, "Ready", "False")
                self.api.write(POD, new)
            return
        if phase in ("Succeeded", "Failed"):
            return
        if self._deadline_passed(pod, key):
            return
        if phase == "Pending":
            if condition(pod, "PodScheduled") != "True" or not status.get("containerStatuses"):
                new = deep_copy(pod)
                set_condition(new, "PodScheduled", "True")
                if self.settings.pod_ready_delay > 0 and not status.get("containerStatuses"):
                    self._pending_statuses(new, node)
                if new != pod:
                    pod = self.api.write(POD, new)
            if self._due(uid, "start", self.settings.pod_ready_delay, key):
                self._start(pod, node)
            return
        # Running
        statuses = status.get("containerStatuses") or []
        if any("terminated" in (c.get("state") or {}) for c in statuses):
            if self._due(uid, "restart", self.settings.pod_ready_delay, key):
                self._restart_containers(pod)
            return
        if self._is_batch(pod):
            if self._due(uid, "complete", self.settings.pod_ready_delay, key):
                self._complete(pod)
            return
        if condition(pod, "Ready") != "True":
            new = deep_copy(pod)
            self._set_ready(new, True)
            self.api.write(POD, new)

    def _deadline_passed(self, pod: Obj, key: Key) -> bool:
        """``spec.activeDeadlineSeconds`` from ``status.startTime``: once past, the pod fails."""
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        started = _kinds.parse_time((pod.get("status") or {}).get("startTime"))
        if not isinstance(deadline, int) or started is None:
            return False
        left = started + deadline - time.time()
        if left > 0:
            if ("kubelet", key) not in self.timers:
                self.after(left, "kubelet", key)
            return False
        new = deep_copy(pod)
        finished = _kinds.now()
        status = new.setdefault("status", {})
        for c in status.get("containerStatuses") or []:
            started_at = ((c.get("state") or {}).get("running") or {}).get("startedAt", finished)
            ended = {"exitCode": 137, "reason": "Error", "startedAt": started_at, "finishedAt": finished}
            c["state"] = {"terminated": ended}
            c["ready"] = False
            c["started"] = False
        status["phase"] = "Failed"
        status["reason"] = "DeadlineExceeded"
        status["message"] = "Pod was active on the node longer than the specified deadline"
        set_condition(new, "Ready", "False", "PodFailed")
        set_condition(new, "ContainersReady", "False", "PodFailed")
        self.kubelet_due.pop(pod["metadata"]["uid"], None)
        self.api.write(POD, new)
        return True

    def _is_batch(self, pod: Obj) -> bool:
        ref = controller_ref(pod)
        return (
            bool(ref and ref.get("kind") == "Job")
            and (pod.get("spec") or {}).get("restartPolicy") != "Always"
        )

    def _pod_ip(self, node: Obj) -> str:
        name = node["metadata"]["name"]
        cidr = (node.get("spec") or {}).get("podCIDR", "10.244.0.0/24")
        base = cidr.split("/")[0].rsplit(".", 1)[0]
        n = self.node_ips.get(name, 1) % 253 + 1
        self.node_ips[name] = n
        return f"{base}.{n}"

    def _pending_statuses(self, pod: Obj, node: Obj) -> None:
        status = pod.setdefault("status", {})
        status["hostIP"] = _node_ip(node)
        status["hostIPs"] = [{"ip": status["hostIP"]}]
        status["startTime"] = status.get("startTime") or _kinds.now()
        names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        set_condition(pod, "PodReadyToStartContainers", "False")
        set_condition(pod, "Initialized", "True")
        set_condition(
            pod,
            "Ready",
            "False",
            "ContainersNotReady",
            f"containers with unready status: [{' '.join(names)}]",
        )
        set_condition(
            pod,
            "ContainersReady",
            "False",
            "ContainersNotReady",
            f"containers with unready status: [{' '.join(names)}]",
        )
        status["containerStatuses"] = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "lastState": {},
            }
            for c in (pod.get("spec") or {}).get("containers") or []
        ]

    def _start(self, pod: Obj, node: Obj) -> None:
        new = deep_copy(pod)
        spec = new.get("spec") or {}
        status = new.setdefault("status", {})
        started = _kinds.now()
        status["phase"] = "Running"
        status["hostIP"] = _node_ip(node)
        status["hostIPs"] = [{"ip": status["hostIP"]}]
        if spec.get("hostNetwork"):
            status["podIP"] = status["hostIP"]
        else:
            status["podIP"] = status.get("podIP") or self._pod_ip(node)
        status["podIPs"] = [{"ip": status["podIP"]}]
        status["startTime"] = status.get("startTime") or started
        status["containerStatuses"] = [
            self._running_status(c, started, 0) for c in spec.get("containers") or []
        ]
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": _image_id(c.get("image", "")),
                    "containerID": _container_id(pod, c["name"], -1),
                    "ready": True,
                    "restartCount": 0,
                    "started": False,
                    "lastState": {},
                    "state": {
                        "terminated": {
                            "exitCode": 0,
                            "reason": "Completed",
                            "startedAt": started,
                            "finishedAt": started,
                            "containerID": _container_id(pod, c["name"], -1),
                        }
                    },
                }
                for c in spec["initContainers"]
            ]
        set_condition(new, "PodReadyToStartContainers", "True")
        set_condition(new, "Initialized", "True")
        self._set_ready(new, True)
        set_condition(new, "PodScheduled", "True")
        new["status"]["conditions"].sort(key=lambda c: _CONDITION_ORDER.get(c["type"], 9))
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for c in spec.get("containers") or []:
            self.logs.setdefault((ns, name, c["name"]), []).append(
                f"{started} kube-emulator: container {c['name']} started (image {c.get('image', '')})"
            )
        self.api.write(POD, new)

    @staticmethod
    def _running_status(
        container: dict[str, Any], started: str, restarts: int, pod: Obj | None = None
    ) -> dict[str, Any]:
        image = container.get("image", "")
        return {
            "name": container["name"],
            "image": image,
            "imageID": _image_id(image),
            "containerID": _container_id(pod, container["name"], restarts),
            "ready": True,
            "started": True,
            "restartCount": restarts,
            "state": {"running": {"startedAt": started}},
            "lastState": {},
        }

    @staticmethod
    def _set_ready(pod: Obj, ready: bool) -> None:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        unready = [c["name"] for c in statuses if not c.get("ready")]
        if ready and not unready:
            set_condition(pod, "Ready", "True")
            set_condition(pod, "ContainersReady", "True")
        else:
            msg = f"containers with unready status: [{' '.join(unready)}]"
            set_condition(pod, "Ready", "False", "ContainersNotReady", msg)
            set_condition(pod, "ContainersReady", "False", "ContainersNotReady", msg)

    def _complete(self, pod: Obj) -> None:
        new = deep_copy(pod)
        finished = _kinds.now()
        for c in new["status"].get("containerStatuses") or []:
            started = ((c.get("state") or {}).get("running") or {}).get("startedAt", finished)
            c["state"] = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": started,
                    "finishedAt": finished,
                    "containerID": c.get("containerID", ""),
                }
            }
            c["ready"] = False
            c["started"] = False
        new["status"]["phase"] = "Succeeded"
        set_condition(new, "PodReadyToStartContainers", "False")
        set_condition(new, "Ready", "False", "PodCompleted")
        set_condition(new, "ContainersReady", "False", "PodCompleted")
        self.api.write(POD, new)

    def kill_container(self, namespace: str, name: str, container: str, exit_code: int) -> bool:
        """A process in ``container`` killed PID 1: the container dies and (per restartPolicy) restarts."""
        pod = self.store.get(POD, namespace, name)
        if pod is None or (pod.get("status") or {}).get("phase") != "Running":
            return False
        new = deep_copy(pod)
        finished = _kinds.now()
        policy = (new.get("spec") or {}).get("restartPolicy", "Always")
        for c in new["status"].get("containerStatuses") or []:
            if c["name"] != container:
                continue
            started = ((c.get("state") or {}).get("running") or {}).get("startedAt", finished)
            c["state"] = {
                "terminated": {
                    "exitCode": exit_code,
                    "reason": "Error",
                    "startedAt": started,
                    "finishedAt": finished,
                    "containerID": c.get("containerID", ""),
                }
            }
            c["ready"] = False
            c["started"] = False
        self._set_ready(new, False)
        statuses = new["status"].get("containerStatuses") or []
        if policy == "Never" and all("terminated" in (c.get("state") or {}) for c in statuses):
            new["status"]["phase"] = "Failed"
            set_condition(new, "PodReadyToStartContainers", "False")
        self.kubelet_due.pop(pod["metadata"]["uid"], None)
        self.api.write(POD, new)
        return True

    def _restart_containers(self, pod: Obj) -> None:
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        new = deep_copy(pod)
        started = _kinds.now()
        changed = False
        for c in new["status"].get("containerStatuses") or []:
            term = (c.get("state") or {}).get("terminated")
            if term is None:
                continue
            if policy == "Never" or (policy == "OnFailure" and term.get("exitCode") == 0):
                continue
            c["lastState"] = {"terminated": term}
            c["restartCount"] = int(c.get("restartCount", 0)) + 1
            c["containerID"] = _container_id(pod, c["name"], c["restartCount"])
            c["state"] = {"running": {"startedAt": started}}
            c["ready"] = True
            c["started"] = True
            changed = True
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"], c["name"])
            self.logs.setdefault(key, []).append(
                f"{started} kube-emulator: container {c['name']} restarted (restart {c['restartCount']})"
            )
        if not changed:
            return
        self._set_ready(new, True)
        self.api.write(POD, new)

    def _finish_termination(self, pod: Obj) -> None:
        new = deep_copy(pod)
        finished = _kinds.now()
        for c in (new.get("status") or {}).get("containerStatuses") or []:
            running = (c.get("state") or {}).get("running")
            if running is not None:
                c["state"] = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": running["startedAt"],
                        "finishedAt": finished,
                        "containerID": c.get("containerID", ""),
                    }
                }
                c["ready"] = False
                c["started"] = False
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        self.api.write(POD, new)

    # -- PodDisruptionBudgets -------------------------------------------------------------------

    def _pdb(self, namespace: str) -> None:
        for pdb in list(self.store.iter(PDB, namespace)):
            status = pdb_status(self.store, pdb)
            new = deep_copy(pdb)
            old_status = pdb.get("status") or {}
            new["status"] = {**status, "conditions": deep_copy(old_status.get("conditions") or [])}
            if status["disruptionsAllowed"] > 0:
                set_condition(new, "DisruptionAllowed", "True", "SufficientPods")
            else:
                set_condition(new, "DisruptionAllowed", "False", "InsufficientPods")
            for cond in new["status"]["conditions"]:
                cond.pop("lastProbeTime", None)
                cond.setdefault("message", "")
                cond["observedGeneration"] = pdb["metadata"].get("generation", 1)
            self._save(PDB, pdb, new)

    # -- logs -----------------------------------------------------------------------------------

    def pod_log(self, namespace: str, name: str, container: str) -> str:
        custom = self.custom_logs.get((namespace, name, container))
        if custom is not None:
            return custom
        lines = self.logs.get((namespace, name, container), [])
        return "".join(line + "\n" for line in lines)


_CONDITION_ORDER = {
    "PodReadyToStartContainers": 0,
    "Initialized": 1,
    "Ready": 2,
    "ContainersReady": 3,
    "PodScheduled": 4,
}


def _capacity(node: Obj) -> tuple[Decimal | None, Decimal | None, Decimal]:
    alloc = (node.get("status") or {}).get("allocatable") or {}
    cpu = parse_quantity(alloc["cpu"]) if "cpu" in alloc else None
    memory = parse_quantity(alloc["memory"]) if "memory" in alloc else None
    return cpu, memory, parse_quantity(alloc.get("pods", "110")) or Decimal(110)


def _resources_fit(
    cap: tuple[Decimal | None, Decimal | None, Decimal], used: list[Decimal], cpu: Decimal, memory: Decimal
) -> str | None:
    if used[2] + 1 > cap[2]:
        return "Too many pods"
    if cap[0] is not None and cpu and used[0] + cpu > cap[0]:
        return "Insufficient cpu"
    if cap[1] is not None and memory and used[1] + memory > cap[1]:
        return "Insufficient memory"
    return None


def _is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _node_ip(node: Obj) -> str:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return str(addr.get("address"))
    return "172.18.0.2"


def _image_id(image: str) -> str:
    base = image.split("@")[0]
    last = base.rsplit("/", 1)[-1]
    if ":" in last:
        base = base.rsplit(":", 1)[0]
    if "/" not in base:
        base = f"docker.io/library/{base}"
    return f"{base}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _container_id(pod: Obj | None, container: str, restarts: int) -> str:
    seed = f"{(pod or {}).get('metadata', {}).get('uid', '')}/{container}/{restarts}/{time.time_ns()}"
    return "containerd://" + hashlib.sha256(seed.encode()).hexdigest()


def _daemon_target(pod: Obj) -> str | None:
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

"""The controllers' loop: one asyncio task that routes store events to dirty keys and reconciles.

Store events mark keys dirty per controller; the task reconciles dirty keys in a fixed
order (:data:`ORDER`) and yields between batches, so HTTP requests are served while
controllers work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from .. import _errors
from .._api import Api, Settings, controller_ref
from .._resources import DAEMONSET, DEPLOYMENT, JOB, NAMESPACE, NODE, PDB, POD, REPLICASET, STATEFULSET
from .._store import Event, Key, Store, key_of
from ._base import Controller
from .daemonset import DaemonSetController
from .deployment import DeploymentController
from .gc import GarbageCollector
from .job import JobController
from .kubelet import Kubelet
from .namespace import NamespaceController
from .nodelifecycle import NodeLifecycleController
from .pdb import DisruptionController
from .replicaset import ReplicaSetController
from .scheduler import Scheduler
from .statefulset import StatefulSetController

log = logging.getLogger("kube_emulator.controllers")

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

#: the controller that owns a pod, by the owner's kind
_POD_OWNERS = {
    "ReplicaSet": "replicaset",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "Job": "job",
}

#: kinds whose every event marks the object itself dirty for one controller
_OWN_QUEUE = {DEPLOYMENT: "deployment", STATEFULSET: "statefulset", DAEMONSET: "daemonset", JOB: "job"}


class Controllers:
    """The controllers, their shared work queue and timers; see the module docstring."""

    def __init__(self, api: Api, settings: Settings) -> None:
        self.api = api
        self.store: Store = api.store
        self.settings = settings
        self.dirty: dict[str, set[Any]] = {name: set() for name in ORDER}
        self.wake = asyncio.Event()
        self.timers: dict[tuple[str, Any], asyncio.TimerHandle] = {}
        self.recreate_due: dict[tuple[str, Key], float] = {}
        self._task: asyncio.Task[None] | None = None
        self.gc = GarbageCollector(self)
        self.namespaces = NamespaceController(self)
        self.scheduler = Scheduler(self)
        self.kubelet = Kubelet(self)
        self.jobs = JobController(self)
        workloads: dict[str, Controller] = {
            "nodelifecycle": NodeLifecycleController(self),
            "deployment": DeploymentController(self),
            "replicaset": ReplicaSetController(self),
            "statefulset": StatefulSetController(self),
            "daemonset": DaemonSetController(self),
            "job": self.jobs,
            "scheduler": self.scheduler,
            "kubelet": self.kubelet,
            "pdb": DisruptionController(self),
        }
        self.all: list[Controller] = [self.gc, self.namespaces, *workloads.values()]
        self.handlers: dict[str, Callable[[Any], None]] = {
            "gc": self.gc.deleted_owner,
            "gc-owner": self.gc.foreground,
            "gc-dangling": self.gc.dangling,
            "namespace": self.namespaces.reconcile,
            **{name: ctrl.reconcile for name, ctrl in workloads.items()},
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
        self.recreate_due.clear()
        for ctrl in self.all:
            ctrl.reset()

    def resync(self) -> None:
        """Mark everything dirty (after start, or when controllers are switched back on)."""
        for ns in self.store.data[NAMESPACE]:
            self.enqueue("namespace", ns[1])
        for rt, ctrl in ((REPLICASET, "replicaset"), *_OWN_QUEUE.items()):
            for key in self.store.data[rt]:
                self.enqueue(ctrl, key)
        self.scheduler.usage.clear()
        for key, pod in self.store.data[POD].items():
            self.scheduler.account(pod, +1)
            self.enqueue("kubelet", key)
            if not (pod.get("spec") or {}).get("nodeName"):
                self.scheduler.pending[key] = None
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
                if not await self._pass():
                    break

    async def _pass(self) -> bool:
        """One batch per controller with dirty keys, in order; False when there was none."""
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
        return progressed

    # -- event routing --------------------------------------------------------------------------

    def on_event(self, ev: Event) -> None:
        rt, obj = ev.rt, ev.obj
        meta = obj["metadata"]
        key = key_of(obj)
        self._route_gc(ev)
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
        elif rt in _OWN_QUEUE:
            self.enqueue(_OWN_QUEUE[rt], key)
        elif rt is PDB:
            self.enqueue("pdb", key[0])
        elif rt is NODE:
            self.enqueue("nodelifecycle", meta["name"])
            self.scheduler.schedule_all_soon()
            for ds in self.store.data[DAEMONSET]:
                self.enqueue("daemonset", ds)
            for pod in self.store.pods_on(meta["name"]):
                self.enqueue("kubelet", key_of(pod))

    def _route_gc(self, ev: Event) -> None:
        meta = ev.obj["metadata"]
        if ev.type == "DELETED" and meta.get("uid") in self.store.dependents:
            self.enqueue("gc", meta["uid"])
        if meta.get("deletionTimestamp") and "foregroundDeletion" in (meta.get("finalizers") or []):
            self.enqueue("gc-owner", (ev.rt, key_of(ev.obj)))
        if ev.type == "ADDED" and meta.get("ownerReferences"):
            self.enqueue("gc-dangling", (ev.rt, key_of(ev.obj)))
        for ref in meta.get("ownerReferences") or []:
            # a dependent went away or changed: a foreground-deleting owner may be done
            if ref.get("blockOwnerDeletion") and ev.type == "DELETED":
                owner = self.store.by_uid.get(ref.get("uid", ""))
                if owner is not None:
                    self.enqueue("gc-owner", owner)

    def _on_pod(self, ev: Event, key: Key) -> None:
        pod, old = ev.obj, ev.old
        sched = self.scheduler
        sched.account(old, -1)
        if ev.type != "DELETED":
            sched.account(pod, +1)
        else:
            sched.requests.pop(pod["metadata"].get("uid", ""), None)
        spec = pod.get("spec") or {}
        deleting = bool(pod["metadata"].get("deletionTimestamp"))
        self._wake_owner(ev, key, deleting)
        if ev.type == "DELETED":
            sched.pending.pop(key, None)
            self.kubelet.due.pop(pod["metadata"].get("uid", ""), None)
            if spec.get("nodeName") and sched.pending:
                sched.schedule_all_soon()
        elif not spec.get("nodeName") and not deleting:
            sched.pending[key] = None
            self.enqueue("scheduler", key)
        else:
            sched.pending.pop(key, None)
        if spec.get("nodeName") and ev.type != "DELETED":
            self.enqueue("kubelet", key)
        if self.store.data[PDB]:
            self.enqueue("pdb", key[0])

    def _wake_owner(self, ev: Event, key: Key, deleting: bool) -> None:
        """The owning controller looks again; a pod that just went arms its recreate delay."""
        pod, old = ev.obj, ev.old
        ref = controller_ref(pod) or (controller_ref(old) if old else None)
        ctrl = _POD_OWNERS.get(str(ref.get("kind"))) if ref else None
        if not ref or not ctrl:
            return
        was_deleting = bool(old and old["metadata"].get("deletionTimestamp"))
        okey = (key[0], str(ref.get("name")))
        gone = (ev.type == "DELETED" or deleting) and not was_deleting
        if gone and self.settings.recreate_delay > 0:
            due = self.recreate_due.get((ctrl, okey))
            if due is None or due < time.monotonic():
                self.recreate_due[(ctrl, okey)] = time.monotonic() + self.settings.recreate_delay
        self.enqueue(ctrl, okey)

    # -- what the HTTP layer asks of the kubelets -----------------------------------------------

    def kill_container(self, namespace: str, name: str, container: str, exit_code: int) -> bool:
        return self.kubelet.kill_container(namespace, name, container, exit_code)

    def pod_log(self, namespace: str, name: str, container: str) -> str:
        return self.kubelet.pod_log(namespace, name, container)

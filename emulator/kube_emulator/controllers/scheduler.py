"""The scheduler: binds pending pods to the least-loaded node that fits them.

It keeps, from pod events, what each node's non-terminal pods request, so a pass costs
nothing per pod already placed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._api import set_condition
from .._resources import NODE, POD
from .._selectors import parse_quantity
from .._store import Key, Obj, deep_copy
from ._base import Controller, is_terminal, node_fits

if TYPE_CHECKING:
    from .loop import Controllers

Capacity = tuple[Decimal | None, Decimal | None, Decimal]


def _sum_requests(pod: Obj) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {"cpu": Decimal(0), "memory": Decimal(0)}
    for c in (pod.get("spec") or {}).get("containers") or []:
        requests = (c.get("resources") or {}).get("requests") or {}
        for res in ("cpu", "memory"):
            q = parse_quantity(requests.get(res)) if res in requests else None
            if q is not None:
                total[res] += q
    return total


def _capacity(node: Obj) -> Capacity:
    alloc = (node.get("status") or {}).get("allocatable") or {}
    cpu = parse_quantity(alloc["cpu"]) if "cpu" in alloc else None
    memory = parse_quantity(alloc["memory"]) if "memory" in alloc else None
    return cpu, memory, parse_quantity(alloc.get("pods", "110")) or Decimal(110)


def _resources_fit(cap: Capacity, used: list[Decimal], cpu: Decimal, memory: Decimal) -> str | None:
    if used[2] + 1 > cap[2]:
        return "Too many pods"
    if cap[0] is not None and cpu and used[0] + cpu > cap[0]:
        return "Insufficient cpu"
    if cap[1] is not None and memory and used[1] + memory > cap[1]:
        return "Insufficient memory"
    return None


class Scheduler(Controller):
    """Keyed by a pending pod's key, or ``"*"`` for a pass over every pending pod."""

    def __init__(self, loop: Controllers) -> None:
        super().__init__(loop)
        #: unscheduled pods, in the order they arrived (a dict used as an ordered set)
        self.pending: dict[Key, None] = {}
        #: node name -> [cpu, memory, pods] requested by its non-terminal pods (kept from pod events)
        self.usage: dict[str, list[Decimal]] = {}
        #: pod uid -> its summed cpu/memory requests (pod resources are immutable)
        self.requests: dict[str, tuple[Decimal, Decimal]] = {}
        self._last_full_schedule = 0.0
        self._full_schedule_cost = 0.0
        self._capacities: dict[tuple[Any, Any, Any], Capacity] = {}
        #: (node, node resourceVersion, pod placement shape) -> why the node is unfit, or None
        self._verdicts: dict[tuple[str, str, str], str | None] = {}

    def reset(self) -> None:
        self.pending.clear()
        self.usage.clear()
        self.requests.clear()

    # -- bookkeeping from pod events ------------------------------------------------------------

    def pod_requests(self, pod: Obj) -> tuple[Decimal, Decimal]:
        uid = pod["metadata"].get("uid", "")
        cached = self.requests.get(uid)
        if cached is None:
            total = _sum_requests(pod)
            cached = self.requests[uid] = (total["cpu"], total["memory"])
        return cached

    def account(self, pod: Obj | None, sign: int) -> None:
        """Add (``sign`` 1) or remove (-1) what ``pod`` requests on its node."""
        if pod is None or is_terminal(pod):
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return
        cpu, memory = self.pod_requests(pod)
        used = self.usage.setdefault(node, [Decimal(0), Decimal(0), Decimal(0)])
        used[0] += sign * cpu
        used[1] += sign * memory
        used[2] += sign

    def schedule_all_soon(self) -> None:
        """Re-try every pending pod, at most every 50 ms or 4x the cost of the last full pass."""
        if ("scheduler", "*") in self.timers or "*" in self.loop.dirty["scheduler"]:
            return
        wait = self._last_full_schedule + max(0.05, 4 * self._full_schedule_cost) - time.monotonic()
        if wait <= 0:
            self.enqueue("scheduler", "*")
        else:
            self.after(wait, "scheduler", "*")

    # -- scheduling -----------------------------------------------------------------------------

    def reconcile(self, key: Any) -> None:
        started = time.monotonic()
        full = key == "*"
        nodes = sorted(self.store.iter(NODE), key=lambda n: n["metadata"]["name"])
        capacity = {n["metadata"]["name"]: self._capacity_of(n) for n in nodes}
        if full and nodes and self._all_full(capacity):
            return  # every node is full: pending pods stay as they are
        if len(self._verdicts) > 10_000:
            self._verdicts.clear()
        for pod_key in list(self.pending) if full else [key]:
            if full and self._all_full(capacity):
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
            if self._place(pod, nodes, capacity):
                self.pending.pop(pod_key, None)
        if full:
            self._last_full_schedule = time.monotonic()
            self._full_schedule_cost = self._last_full_schedule - started

    def _place(self, pod: Obj, nodes: list[Obj], capacity: dict[str, Capacity]) -> bool:
        """Bind ``pod`` to the fitting node with the fewest pods; False when none fits."""
        spec = pod.get("spec") or {}
        cpu, memory = self.pod_requests(pod)
        shape = json.dumps(
            [spec.get("nodeSelector"), spec.get("affinity"), spec.get("tolerations")], sort_keys=True
        )
        reasons: Counter[str] = Counter()
        best: tuple[Decimal, str] | None = None
        for node in nodes:
            name = node["metadata"]["name"]
            vkey = (name, node["metadata"]["resourceVersion"], shape)
            if vkey not in self._verdicts:
                self._verdicts[vkey] = node_fits(spec, node)
            why = self._verdicts[vkey]
            used = self._used(name)
            if why is None:
                why = _resources_fit(capacity[name], used, cpu, memory)
            if why is not None:
                reasons[why] += 1
                continue
            if best is None or (used[2], name) < best:
                best = (used[2], name)
        if best is None:
            self._unschedulable(pod, len(nodes), reasons)
            return False
        self.api.assign(pod, best[1])
        return True

    def _all_full(self, capacity: dict[str, Capacity]) -> bool:
        return all(self._used(name)[2] >= cap[2] for name, cap in capacity.items())

    def _used(self, node: str) -> list[Decimal]:
        return self.usage.get(node) or [Decimal(0), Decimal(0), Decimal(0)]

    def _capacity_of(self, node: Obj) -> Capacity:
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

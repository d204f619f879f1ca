"""The kubelets: start scheduled pods, restart or complete their containers, finish deletions.

Each transition may be delayed (``pod_ready_delay``, ``pod_terminate_delay``); a delay is a
loop timer that marks the pod dirty again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .. import _kinds
from .._api import condition, controller_ref, set_condition
from .._resources import NODE, POD
from .._store import Key, Obj, deep_copy
from ._base import Controller
from ._containers import (
    CONDITION_ORDER,
    completed_init_status,
    container_id,
    node_ip,
    running_status,
    set_ready,
    terminate,
    waiting_status,
)

if TYPE_CHECKING:
    from .loop import Controllers


def _is_batch(pod: Obj) -> bool:
    ref = controller_ref(pod)
    return bool(ref and ref.get("kind") == "Job") and (pod.get("spec") or {}).get("restartPolicy") != "Always"


class Kubelet(Controller):
    """Keyed by a scheduled pod's key; also kills containers and serves their logs."""

    def __init__(self, loop: Controllers) -> None:
        super().__init__(loop)
        #: pod uid -> (transition, due time)
        self.due: dict[str, tuple[str, float]] = {}
        self.node_ips: dict[str, int] = {}
        self.logs: dict[tuple[str, str, str], list[str]] = {}
        self.custom_logs: dict[tuple[str, str, str], str] = {}

    def reset(self) -> None:
        for state in (self.due, self.node_ips, self.logs, self.custom_logs):
            state.clear()

    def _due(self, uid: str, transition: str, delay: float, key: Key) -> bool:
        """True when ``transition`` may happen now; otherwise arms a timer for it."""
        current = self.due.get(uid)
        now = time.monotonic()
        if current is None or current[0] != transition:
            if delay <= 0:
                self.due.pop(uid, None)
                return True
            self.due[uid] = (transition, now + delay)
            self.after(delay, "kubelet", key)
            return False
        if now >= current[1]:
            del self.due[uid]
            return True
        if ("kubelet", key) not in self.timers:
            self.after(current[1] - now, "kubelet", key)
        return False

    def reconcile(self, key: Key) -> None:
        pod = self.store.data[POD].get(key)
        if pod is None:
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return
        node = self.store.get(NODE, None, node_name)
        if pod["metadata"].get("deletionTimestamp"):
            self._terminating(pod, node, key)
            return
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if node is None or condition(node, "Ready") != "True":
            if phase == "Running" and condition(pod, "Ready") == "True":
                new = deep_copy(pod)
                set_condition(new, "Ready", "False")
                self.api.write(POD, new)
            return
        if phase in ("Succeeded", "Failed") or self._deadline_passed(pod, key):
            return
        if phase == "Pending":
            self._pending(pod, node, key)
        else:
            self._running(pod, key)

    def _terminating(self, pod: Obj, node: Obj | None, key: Key) -> None:
        if node is None:
            self._finish_termination(pod)
            return
        if condition(node, "Ready") != "True":
            return
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        if self._due(pod["metadata"]["uid"], "terminate", min(grace, self.settings.pod_terminate_delay), key):
            self._finish_termination(pod)

    def _pending(self, pod: Obj, node: Obj, key: Key) -> None:
        status = pod.get("status") or {}
        if condition(pod, "PodScheduled") != "True" or not status.get("containerStatuses"):
            new = deep_copy(pod)
            set_condition(new, "PodScheduled", "True")
            if self.settings.pod_ready_delay > 0 and not status.get("containerStatuses"):
                self._pending_statuses(new, node)
            if new != pod:
                pod = self.api.write(POD, new)
        if self._due(pod["metadata"]["uid"], "start", self.settings.pod_ready_delay, key):
            self._start(pod, node)

    def _running(self, pod: Obj, key: Key) -> None:
        uid = pod["metadata"]["uid"]
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if any("terminated" in (c.get("state") or {}) for c in statuses):
            if self._due(uid, "restart", self.settings.pod_ready_delay, key):
                self._restart_containers(pod)
            return
        if _is_batch(pod):
            if self._due(uid, "complete", self.settings.pod_ready_delay, key):
                self._complete(pod)
            return
        if condition(pod, "Ready") != "True":
            new = deep_copy(pod)
            set_ready(new, True)
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
        self.due.pop(pod["metadata"]["uid"], None)
        self.api.write(POD, new)
        return True

    def _pod_ip(self, node: Obj) -> str:
        name = node["metadata"]["name"]
        cidr = (node.get("spec") or {}).get("podCIDR", "10.244.0.0/24")
        base = cidr.split("/")[0].rsplit(".", 1)[0]
        n = self.node_ips.get(name, 1) % 253 + 1
        self.node_ips[name] = n
        return f"{base}.{n}"

    def _pending_statuses(self, pod: Obj, node: Obj) -> None:
        status = pod.setdefault("status", {})
        status["hostIP"] = node_ip(node)
        status["hostIPs"] = [{"ip": status["hostIP"]}]
        status["startTime"] = status.get("startTime") or _kinds.now()
        containers = (pod.get("spec") or {}).get("containers") or []
        message = f"containers with unready status: [{' '.join(c['name'] for c in containers)}]"
        set_condition(pod, "PodReadyToStartContainers", "False")
        set_condition(pod, "Initialized", "True")
        set_condition(pod, "Ready", "False", "ContainersNotReady", message)
        set_condition(pod, "ContainersReady", "False", "ContainersNotReady", message)
        status["containerStatuses"] = [waiting_status(c) for c in containers]

    def _start(self, pod: Obj, node: Obj) -> None:
        new = deep_copy(pod)
        spec = new.get("spec") or {}
        status = new.setdefault("status", {})
        started = _kinds.now()
        status["phase"] = "Running"
        status["hostIP"] = node_ip(node)
        status["hostIPs"] = [{"ip": status["hostIP"]}]
        if spec.get("hostNetwork"):
            status["podIP"] = status["hostIP"]
        else:
            status["podIP"] = status.get("podIP") or self._pod_ip(node)
        status["podIPs"] = [{"ip": status["podIP"]}]
        status["startTime"] = status.get("startTime") or started
        status["containerStatuses"] = [running_status(c, started, 0) for c in spec.get("containers") or []]
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [
                completed_init_status(pod, c, started) for c in spec["initContainers"]
            ]
        set_condition(new, "PodReadyToStartContainers", "True")
        set_condition(new, "Initialized", "True")
        set_ready(new, True)
        set_condition(new, "PodScheduled", "True")
        new["status"]["conditions"].sort(key=lambda c: CONDITION_ORDER.get(c["type"], 9))
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for c in spec.get("containers") or []:
            self.logs.setdefault((ns, name, c["name"]), []).append(
                f"{started} kube-emulator: container {c['name']} started (image {c.get('image', '')})"
            )
        self.api.write(POD, new)

    def _complete(self, pod: Obj) -> None:
        new = deep_copy(pod)
        finished = _kinds.now()
        for c in new["status"].get("containerStatuses") or []:
            terminate(c, 0, "Completed", finished)
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
            if c["name"] == container:
                terminate(c, exit_code, "Error", finished)
        set_ready(new, False)
        statuses = new["status"].get("containerStatuses") or []
        if policy == "Never" and all("terminated" in (c.get("state") or {}) for c in statuses):
            new["status"]["phase"] = "Failed"
            set_condition(new, "PodReadyToStartContainers", "False")
        self.due.pop(pod["metadata"]["uid"], None)
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
            c["containerID"] = container_id(pod, c["name"], c["restartCount"])
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
        set_ready(new, True)
        self.api.write(POD, new)

    def _finish_termination(self, pod: Obj) -> None:
        new = deep_copy(pod)
        finished = _kinds.now()
        for c in (new.get("status") or {}).get("containerStatuses") or []:
            if (c.get("state") or {}).get("running") is not None:
                terminate(c, 0, "Completed", finished)
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        self.api.write(POD, new)

    def pod_log(self, namespace: str, name: str, container: str) -> str:
        custom = self.custom_logs.get((namespace, name, container))
        if custom is not None:
            return custom
        lines = self.logs.get((namespace, name, container), [])
        return "".join(line + "\n" for line in lines)

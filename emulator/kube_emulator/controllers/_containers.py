"""Container statuses as a kubelet reports them: running, terminated, readiness conditions."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from .._api import set_condition
from .._store import Obj

#: the order a kubelet lists pod conditions in
CONDITION_ORDER = {
    "PodReadyToStartContainers": 0,
    "Initialized": 1,
    "Ready": 2,
    "ContainersReady": 3,
    "PodScheduled": 4,
}


def node_ip(node: Obj) -> str:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return str(addr.get("address"))
    return "172.18.0.2"


def image_id(image: str) -> str:
    base = image.split("@")[0]
    last = base.rsplit("/", 1)[-1]
    if ":" in last:
        base = base.rsplit(":", 1)[0]
    if "/" not in base:
        base = f"docker.io/library/{base}"
    return f"{base}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def container_id(pod: Obj | None, container: str, restarts: int) -> str:
    seed = f"{(pod or {}).get('metadata', {}).get('uid', '')}/{container}/{restarts}/{time.time_ns()}"
    return "containerd://" + hashlib.sha256(seed.encode()).hexdigest()


def running_status(
    container: dict[str, Any], started: str, restarts: int, pod: Obj | None = None
) -> dict[str, Any]:
    image = container.get("image", "")
    return {
        "name": container["name"],
        "image": image,
        "imageID": image_id(image),
        "containerID": container_id(pod, container["name"], restarts),
        "ready": True,
        "started": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": started}},
        "lastState": {},
    }


def waiting_status(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": "ContainerCreating"}},
        "lastState": {},
    }


def completed_init_status(pod: Obj, container: dict[str, Any], started: str) -> dict[str, Any]:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": image_id(container.get("image", "")),
        "containerID": container_id(pod, container["name"], -1),
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
                "containerID": container_id(pod, container["name"], -1),
            }
        },
    }


def terminate(status: dict[str, Any], exit_code: int, reason: str, finished: str) -> None:
    """Move one container status from running to terminated (in place)."""
    started = ((status.get("state") or {}).get("running") or {}).get("startedAt", finished)
    status["state"] = {
        "terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": finished,
            "containerID": status.get("containerID", ""),
        }
    }
    status["ready"] = False
    status["started"] = False


def set_ready(pod: Obj, ready: bool) -> None:
    """The Ready and ContainersReady conditions from the container statuses."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    unready = [c["name"] for c in statuses if not c.get("ready")]
    if ready and not unready:
        set_condition(pod, "Ready", "True")
        set_condition(pod, "ContainersReady", "True")
    else:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        set_condition(pod, "Ready", "False", "ContainersNotReady", msg)
        set_condition(pod, "ContainersReady", "False", "ContainersNotReady", msg)

"""``meta.k8s.io/v1`` Table responses, so ``kubectl get`` prints the usual columns."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import _kinds
from ._api import condition
from ._resources import ResourceType
from ._selectors import selector_string

Column = tuple[str, str, int]  # name, type, priority
Row = list[Any]


def human_duration(seconds: float) -> str:
    """``kubectl``'s short durations: 45s, 5m10s, 3h, 2d4h, 90d."""
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 48:
        return f"{h}h{m % 60}m" if h < 8 and m % 60 else f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d"


def _age(obj: dict[str, Any]) -> str:
    created = _kinds.parse_time(obj["metadata"].get("creationTimestamp"))
    return "<unknown>" if created is None else human_duration(time.time() - created)


def _pod_status(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for c in status.get("containerStatuses") or []:
        state = c.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            term = state["terminated"]
            reason = term.get("reason") or (
                f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            )
    if reason == "Running" and condition(pod, "Ready") != "True":
        reason = "Running"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_row(pod: dict[str, Any]) -> Row:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    restart_text = str(restarts)
    last = [
        _kinds.parse_time(((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        for c in statuses
    ]
    last_ts = max((t for t in last if t), default=None)
    if restarts and last_ts:
        restart_text = f"{restarts} ({human_duration(time.time() - last_ts)} ago)"
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        _pod_status(pod),
        restart_text,
        _age(pod),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _node_row(node: dict[str, Any]) -> Row:
    ready = condition(node, "Ready")
    state = "Ready" if ready == "True" else ("NotReady" if ready == "False" else "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    info = (node.get("status") or {}).get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in (node.get("status") or {}).get("addresses") or []}
    return [
        node["metadata"]["name"],
        state,
        ",".join(roles) or "<none>",
        _age(node),
        info.get("kubeletVersion", ""),
        addrs.get("InternalIP", "<none>"),
        addrs.get("ExternalIP", "<none>"),
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]


def _containers(obj: dict[str, Any]) -> tuple[str, str]:
    cs = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _deployment_row(d: dict[str, Any]) -> Row:
    spec, st = d.get("spec") or {}, d.get("status") or {}
    names, images = _containers(d)
    return [
        d["metadata"]["name"],
        f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        st.get("updatedReplicas", 0),
        st.get("availableReplicas", 0),
        _age(d),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


def _rs_row(r: dict[str, Any]) -> Row:
    spec, st = r.get("spec") or {}, r.get("status") or {}
    names, images = _containers(r)
    return [
        r["metadata"]["name"],
        spec.get("replicas", 1),
        st.get("replicas", 0),
        st.get("readyReplicas", 0),
        _age(r),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


def _sts_row(s: dict[str, Any]) -> Row:
    names, images = _containers(s)
    return [
        s["metadata"]["name"],
        f"{(s.get('status') or {}).get('readyReplicas', 0)}/{(s.get('spec') or {}).get('replicas', 1)}",
        _age(s),
        names,
        images,
    ]


def _ds_row(d: dict[str, Any]) -> Row:
    st = d.get("status") or {}
    sel = (((d.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    names, images = _containers(d)
    return [
        d["metadata"]["name"],
        st.get("desiredNumberScheduled", 0),
        st.get("currentNumberScheduled", 0),
        st.get("numberReady", 0),
        st.get("updatedNumberScheduled", 0),
        st.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>",
        _age(d),
        names,
        images,
        selector_string((d.get("spec") or {}).get("selector")),
    ]


def _job_row(j: dict[str, Any]) -> Row:
    st, spec = j.get("status") or {}, j.get("spec") or {}
    state = "Running"
    if condition(j, "Complete") == "True":
        state = "Complete"
    elif condition(j, "Failed") == "True":
        state = "Failed"
    elif spec.get("suspend"):
        state = "Suspended"
    start = _kinds.parse_time(st.get("startTime"))
    end = _kinds.parse_time(st.get("completionTime")) or time.time()
    names, images = _containers(j)
    return [
        j["metadata"]["name"],
        state,
        f"{st.get('succeeded', 0)}/{spec.get('completions', 1)}",
        human_duration(end - start) if start else "",
        _age(j),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


def _node_port(port: dict[str, Any]) -> str:
    return f":{port['nodePort']}" if port.get("nodePort") else ""


def _svc_row(s: dict[str, Any]) -> Row:
    spec = s.get("spec") or {}
    ports = (
        ",".join(
            f"{p.get('port')}{_node_port(p)}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []
        )
        or "<none>"
    )
    external = ",".join(spec.get("externalIPs") or []) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    )
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [
        s["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", "<none>"),
        external,
        ports,
        _age(s),
        selector,
    ]


def _pvc_row(p: dict[str, Any]) -> Row:
    spec, st = p.get("spec") or {}, p.get("status") or {}
    return [
        p["metadata"]["name"],
        st.get("phase", "Pending"),
        spec.get("volumeName", ""),
        ((st.get("capacity") or {}).get("storage") or ""),
        ",".join(
            {
                "ReadWriteOnce": "RWO",
                "ReadOnlyMany": "ROX",
                "ReadWriteMany": "RWX",
                "ReadWriteOncePod": "RWOP",
            }.get(m, m)
            for m in st.get("accessModes") or []
        ),
        spec.get("storageClassName", "<unset>"),
        "<unset>",
        _age(p),
        spec.get("volumeMode", "Filesystem"),
    ]


def _event_row(e: dict[str, Any]) -> Row:
    obj = e.get("involvedObject") or {}
    last = _kinds.parse_time(e.get("lastTimestamp") or e.get("eventTime")) or _kinds.parse_time(
        e["metadata"].get("creationTimestamp")
    )
    return [
        human_duration(time.time() - last) if last else "<unknown>",
        e.get("type", ""),
        e.get("reason", ""),
        f"{str(obj.get('kind', '')).lower()}/{obj.get('name', '')}",
        e.get("message", ""),
    ]


def _pdb_row(p: dict[str, Any]) -> Row:
    spec, st = p.get("spec") or {}, p.get("status") or {}
    return [
        p["metadata"]["name"],
        str(spec.get("minAvailable", "N/A")),
        str(spec.get("maxUnavailable", "N/A")),
        st.get("disruptionsAllowed", 0),
        _age(p),
    ]


S, INT = "string", "integer"

TABLES: dict[str, tuple[list[Column], Callable[[dict[str, Any]], Row]]] = {
    "Pod": (
        [
            ("Name", S, 0),
            ("Ready", S, 0),
            ("Status", S, 0),
            ("Restarts", S, 0),
            ("Age", S, 0),
            ("IP", S, 1),
            ("Node", S, 1),
            ("Nominated Node", S, 1),
            ("Readiness Gates", S, 1),
        ],
        _pod_row,
    ),
    "Node": (
        [
            ("Name", S, 0),
            ("Status", S, 0),
            ("Roles", S, 0),
            ("Age", S, 0),
            ("Version", S, 0),
            ("Internal-IP", S, 1),
            ("External-IP", S, 1),
            ("OS-Image", S, 1),
            ("Kernel-Version", S, 1),
            ("Container-Runtime", S, 1),
        ],
        _node_row,
    ),
    "Namespace": (
        [("Name", S, 0), ("Status", S, 0), ("Age", S, 0)],
        lambda n: [n["metadata"]["name"], (n.get("status") or {}).get("phase", "Active"), _age(n)],
    ),
    "Deployment": (
        [
            ("Name", S, 0),
            ("Ready", S, 0),
            ("Up-to-date", INT, 0),
            ("Available", INT, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
        _deployment_row,
    ),
    "ReplicaSet": (
        [
            ("Name", S, 0),
            ("Desired", INT, 0),
            ("Current", INT, 0),
            ("Ready", INT, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
        _rs_row,
    ),
    "StatefulSet": (
        [("Name", S, 0), ("Ready", S, 0), ("Age", S, 0), ("Containers", S, 1), ("Images", S, 1)],
        _sts_row,
    ),
    "DaemonSet": (
        [
            ("Name", S, 0),
            ("Desired", INT, 0),
            ("Current", INT, 0),
            ("Ready", INT, 0),
            ("Up-to-date", INT, 0),
            ("Available", INT, 0),
            ("Node Selector", S, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
        _ds_row,
    ),
    "Job": (
        [
            ("Name", S, 0),
            ("Status", S, 0),
            ("Completions", S, 0),
            ("Duration", S, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
        _job_row,
    ),
    "Service": (
        [
            ("Name", S, 0),
            ("Type", S, 0),
            ("Cluster-IP", S, 0),
            ("External-IP", S, 0),
            ("Port(s)", S, 0),
            ("Age", S, 0),
            ("Selector", S, 1),
        ],
        _svc_row,
    ),
    "ConfigMap": (
        [("Name", S, 0), ("Data", INT, 0), ("Age", S, 0)],
        lambda c: [c["metadata"]["name"], len(c.get("data") or {}) + len(c.get("binaryData") or {}), _age(c)],
    ),
    "Secret": (
        [("Name", S, 0), ("Type", S, 0), ("Data", INT, 0), ("Age", S, 0)],
        lambda s: [s["metadata"]["name"], s.get("type", "Opaque"), len(s.get("data") or {}), _age(s)],
    ),
    "PersistentVolumeClaim": (
        [
            ("Name", S, 0),
            ("Status", S, 0),
            ("Volume", S, 0),
            ("Capacity", S, 0),
            ("Access Modes", S, 0),
            ("StorageClass", S, 0),
            ("VolumeAttributesClass", S, 0),
            ("Age", S, 0),
            ("VolumeMode", S, 1),
        ],
        _pvc_row,
    ),
    "ServiceAccount": (
        [("Name", S, 0), ("Secrets", INT, 0), ("Age", S, 0)],
        lambda s: [s["metadata"]["name"], len(s.get("secrets") or []), _age(s)],
    ),
    "Event": (
        [("Last Seen", S, 0), ("Type", S, 0), ("Reason", S, 0), ("Object", S, 0), ("Message", S, 0)],
        _event_row,
    ),
    "PodDisruptionBudget": (
        [
            ("Name", S, 0),
            ("Min Available", S, 0),
            ("Max Unavailable", S, 0),
            ("Allowed Disruptions", INT, 0),
            ("Age", S, 0),
        ],
        _pdb_row,
    ),
    "NetworkPolicy": (
        [("Name", S, 0), ("Pod-Selector", S, 0), ("Age", S, 0)],
        lambda n: [
            n["metadata"]["name"],
            selector_string((n.get("spec") or {}).get("podSelector")) or "<none>",
            _age(n),
        ],
    ),
}


def to_table(
    rt: ResourceType,
    objects: list[dict[str, Any]],
    list_meta: dict[str, Any],
    include_object: str = "Metadata",
) -> dict[str, Any]:
    """Render ``objects`` as a Table; ``include_object`` is ``None``, ``Metadata`` or ``Object``."""
    columns, row_fn = TABLES.get(
        rt.kind, ([("Name", S, 0), ("Age", S, 0)], lambda o: [o["metadata"]["name"], _age(o)])
    )
    definitions = [
        {
            "name": name,
            "type": ctype,
            "format": "name" if name == "Name" else "",
            "description": name,
            "priority": priority,
        }
        for name, ctype, priority in columns
    ]
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": row_fn(obj)}
        if include_object == "Object":
            row["object"] = {
                "kind": rt.kind,
                "apiVersion": rt.api_version,
                **{k: v for k, v in obj.items() if k not in ("kind", "apiVersion")},
            }
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": definitions,
        "rows": rows,
    }

"""What a real apiserver's admission chain and decoder add to an object on its way in.

* ServiceAccount admission: a pod's ServiceAccount must exist (403 otherwise) and, unless
  automounting is off, the pod gets the projected token volume ``kube-api-access-<rand>``
  and a read-only mount of it in every container;
* DefaultTolerationSeconds: the ``not-ready``/``unreachable`` NoExecute tolerations;
* TaintNodesByCondition: a new node carries ``node.kubernetes.io/not-ready:NoSchedule``
  until its kubelet reports Ready;
* Go's ``omitempty``: plain (non-pointer) booleans that are false are not in the answer;
* validation the generic code in ``_kinds`` does not cover (Event namespaces, ConfigMap
  key clashes, node taints).
"""

from __future__ import annotations

import random
import string
from typing import Any

from . import _errors
from ._errors import FieldError
from ._resources import SERVICEACCOUNT
from ._store import Store

SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_SUFFIX = string.ascii_lowercase + string.digits
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
#: plain bools under a pod spec / container that Go drops when false
_POD_FALSE = ("hostNetwork", "hostPID", "hostIPC")
_CONTAINER_FALSE = ("stdin", "stdinOnce", "tty")


def _token_volume(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
            "defaultMode": 420,
        },
    }


def admit_pod(store: Store, pod: dict[str, Any]) -> None:
    """ServiceAccount admission for a new pod (call after defaulting, before validation)."""
    spec = pod.setdefault("spec", {})
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    sa_name = str(spec.get("serviceAccountName") or "default")
    sa = store.get(SERVICEACCOUNT, namespace, sa_name)
    # the namespace controller creates "default" a moment after the namespace (a real
    # cluster refuses pods in that window; callers that create both at once do not care)
    if sa is None and sa_name != "default":
        raise _errors.forbidden(
            "pods",
            "",
            str(meta.get("name") or ""),
            f'error looking up service account {namespace}/{sa_name}: serviceaccount "{sa_name}" not found',
        )
    automount = spec.get("automountServiceAccountToken")
    if automount is None and sa is not None:
        automount = sa.get("automountServiceAccountToken")
    if automount is False:
        return
    containers = [
        c for group in ("initContainers", "containers") for c in spec.get(group) or [] if isinstance(c, dict)
    ]
    if all(any(m.get("mountPath") == SA_MOUNT_PATH for m in c.get("volumeMounts") or []) for c in containers):
        return
    volumes = spec.setdefault("volumes", [])
    taken = {v.get("name") for v in volumes if isinstance(v, dict)}
    name = "kube-api-access-" + "".join(random.choices(_SUFFIX, k=5))
    while name in taken:
        name = "kube-api-access-" + "".join(random.choices(_SUFFIX, k=5))
    volumes.append(_token_volume(name))
    for c in containers:
        mounts = c.setdefault("volumeMounts", [])
        if not any(m.get("mountPath") == SA_MOUNT_PATH for m in mounts):
            mounts.append({"name": name, "readOnly": True, "mountPath": SA_MOUNT_PATH})


def default_tolerations(spec: dict[str, Any]) -> None:
    """DefaultTolerationSeconds: tolerate not-ready/unreachable nodes for 300 s (create and update)."""
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key and t.get("effect") in ("NoExecute", None, "") for t in tolerations):
            tolerations.append(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            )


def admit_node(node: dict[str, Any]) -> None:
    """A new node is tainted not-ready until its kubelet says Ready; its status gets Go's zero values."""
    status = node.setdefault("status", {})
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    if not ready:
        taints = node.setdefault("spec", {}).setdefault("taints", [])
        if not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints):
            taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
    status.setdefault("daemonEndpoints", {"kubeletEndpoint": {"Port": 0}})
    status.setdefault(
        "nodeInfo",
        {
            k: ""
            for k in (
                "machineID",
                "systemUUID",
                "bootID",
                "kernelVersion",
                "osImage",
                "containerRuntimeVersion",
                "kubeletVersion",
                "kubeProxyVersion",
                "operatingSystem",
                "architecture",
            )
        },
    )


def omit_false(kind: str, obj: dict[str, Any]) -> None:
    """Drop false plain booleans, as Go's ``omitempty`` does in every answer."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if kind == "Node":
        if spec.get("unschedulable") is False:
            del spec["unschedulable"]
        return
    template = spec.get("template")
    if kind != "Pod":
        if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
            return
        spec = template["spec"]
    for key in _POD_FALSE:
        if spec.get(key) is False:
            del spec[key]
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(group) or []:
            if not isinstance(c, dict):
                continue
            for key in _CONTAINER_FALSE:
                if c.get(key) is False:
                    del c[key]
            for m in c.get("volumeMounts") or []:
                if isinstance(m, dict) and m.get("readOnly") is False:
                    del m["readOnly"]


def extra_errors(kind: str, obj: dict[str, Any]) -> list[FieldError]:
    """Validation of Events, ConfigMaps and Nodes beyond the generic checks."""
    if kind == "Event":
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        involved = (obj.get("involvedObject") or {}).get("namespace") or ""
        # a core/v1 Event without eventTime must be in its object's namespace (an empty
        # involvedObject.namespace is only right in "default", for old clients)
        wrong = involved != ns if involved else ns not in ("", "default")
        if obj.get("eventTime") is None and wrong:
            return [
                FieldError.invalid("involvedObject.namespace", involved, "does not match event.namespace")
            ]
    elif kind == "ConfigMap":
        binary = obj.get("binaryData") or {}
        return [
            FieldError.invalid(f"data[{k}]", k, "duplicate of key present in binaryData")
            for k in obj.get("data") or {}
            if k in binary
        ]
    elif kind == "Node":
        return _taint_errors((obj.get("spec") or {}).get("taints") or [])
    return []


def _taint_errors(taints: list[Any]) -> list[FieldError]:
    from ._kinds import _validate_qualified_key

    errors: list[FieldError] = []
    for i, taint in enumerate(taints):
        if not isinstance(taint, dict):
            continue
        # the apiserver names these paths metadata.taints (sic)
        path = f"metadata.taints[{i}]"
        key = str(taint.get("key") or "")
        if not key:
            errors.append(FieldError.invalid(f"{path}.key", "", "name part must be non-empty"))
            errors.append(
                FieldError.invalid(
                    f"{path}.key",
                    "",
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
                    "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
                    "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                )
            )
        else:
            errors += _validate_qualified_key(key, f"{path}.key")
        effect = taint.get("effect")
        if not effect:
            errors.append(FieldError.required(f"{path}.effect"))
        elif effect not in _TAINT_EFFECTS:
            errors.append(FieldError.unsupported(f"{path}.effect", effect, list(_TAINT_EFFECTS)))
    return errors

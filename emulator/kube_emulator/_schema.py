"""Unknown fields: what the apiserver's decoder drops (and warns about, or refuses).

The emulator has no OpenAPI schema; this table knows the top-level fields of the common
kinds, ``metadata`` and node taints, which covers the mistakes client code makes (a typo at
the top level, a ``$patch`` directive inside a list that has no merge strategy). Fields of
kinds not in the table are kept as sent.
"""

from __future__ import annotations

from typing import Any

from . import _errors

_COMMON = ("apiVersion", "kind", "metadata")
_SPEC_STATUS = (*_COMMON, "spec", "status")
TOP_LEVEL: dict[str, tuple[str, ...]] = {
    "ConfigMap": (*_COMMON, "data", "binaryData", "immutable"),
    "Secret": (*_COMMON, "data", "stringData", "type", "immutable"),
    "ServiceAccount": (*_COMMON, "secrets", "imagePullSecrets", "automountServiceAccountToken"),
    "Event": (
        *_COMMON,
        "involvedObject",
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "count",
        "type",
        "eventTime",
        "series",
        "action",
        "related",
        "reportingComponent",
        "reportingInstance",
    ),
    **{
        kind: _SPEC_STATUS
        for kind in (
            "Pod",
            "Node",
            "Namespace",
            "Service",
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "PersistentVolumeClaim",
            "PodDisruptionBudget",
            "NetworkPolicy",
        )
    },
}
META = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
TAINT = frozenset({"key", "value", "effect", "timeAdded"})


def unknown_fields(kind: str, obj: dict[str, Any]) -> list[str]:
    """Remove fields the decoder does not know from ``obj``; return their paths, in order."""
    found: list[str] = []
    known = TOP_LEVEL.get(kind)
    for key in list(obj):
        if key == "metadata" and isinstance(obj[key], dict):
            for mkey in list(obj[key]):
                if mkey not in META:
                    found.append(f"metadata.{mkey}")
                    del obj[key][mkey]
        elif known is not None and key not in known:
            found.append(key)
            del obj[key]
    spec = obj.get("spec")
    if kind == "Node" and isinstance(spec, dict):
        for i, taint in enumerate(spec.get("taints") or []):
            if isinstance(taint, dict):
                for tkey in [k for k in taint if k not in TAINT]:
                    found.append(f"spec.taints[{i}].{tkey}")
                    del taint[tkey]
    return found


def check(kind: str, obj: dict[str, Any], validation: str, warnings: list[str]) -> None:
    """Apply ``fieldValidation`` (Strict: 400; Warn, the default: warnings; Ignore: silence)."""
    found = unknown_fields(kind, obj)
    if not found:
        return
    if validation == "Strict":
        listed = ", ".join(f'unknown field "{p}"' for p in found)
        raise _errors.bad_request(
            f'{kind} in version "{obj.get("apiVersion", "v1").rsplit("/", 1)[-1]}" cannot be handled as a '
            f"{kind}: strict decoding error: {listed}"
        )
    if validation != "Ignore":
        warnings.extend(f'unknown field "{p}"' for p in found)

"""Per-kind defaulting and validation, mirroring what the apiserver does on create/update.

Only the checks chaos code is likely to trip over are implemented (names, labels, required
fields, selectors vs template labels, immutable fields, pod spec updates); the defaults are
the ones a real apiserver fills in, so objects read back look like a cluster's.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
import time
from collections.abc import Callable
from typing import Any

from . import _admission, _errors
from ._errors import FieldError
from ._resources import ResourceType
from ._selectors import selector_from_spec

_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QNAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
QNAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)

STATEFULSET_SPEC_MSG = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
    "'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)

#: kinds whose names must be RFC 1123 labels (the rest are subdomains)
_LABEL_NAMED = {"Namespace"}
_DNS1035_NAMED = {"Service"}

POD_TEMPLATE_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"}


def now() -> str:
    """RFC 3339 timestamp, seconds precision, UTC — like metav1.Time."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def at(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


# -- decoding checks (the apiserver answers 400 when the JSON does not fit the Go types) ---------


def _check_string_map(values: Any, field: str, map_type: str) -> None:
    """A ``map[string]...`` field the JSON must fill with an object of strings (or nulls)."""
    if values is None:
        return
    if not isinstance(values, dict):
        raise _errors.bad_request(
            f"json: cannot unmarshal {_json_type(values)} into Go struct field {field} of type {map_type}"
        )
    for v in values.values():
        if not isinstance(v, str) and v is not None:
            raise _errors.bad_request(
                f"json: cannot unmarshal {_json_type(v)} into Go struct field {field} of type string"
            )


def check_types(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Reject bodies the apiserver could not decode (a number where a string must be...)."""
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise _errors.bad_request(
            f"json: cannot unmarshal {_json_type(meta)} into Go struct field {rt.kind}.metadata "
            "of type v1.ObjectMeta"
        )
    meta = meta or {}
    for fld in ("labels", "annotations"):
        _check_string_map(meta.get(fld), f"ObjectMeta.metadata.{fld}", "map[string]string")
    if rt.kind in ("ConfigMap", "Secret"):
        for fld in ("data", "stringData"):
            value_type = "string" if fld != "data" or rt.kind == "ConfigMap" else "[]uint8"
            _check_string_map(obj.get(fld), f"{rt.kind}.{fld}", f"map[string]{value_type}")
        if rt.kind == "Secret":
            for v in (obj.get("data") or {}).values():
                try:
                    base64.b64decode(v or "", validate=True)
                except (binascii.Error, ValueError):
                    raise _errors.bad_request("illegal base64 data at input byte 0") from None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def strip_nulls(value: Any) -> Any:
    """Drop ``null`` map values (the apiserver decodes them as absent)."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def prune_empty_meta(obj: dict[str, Any]) -> None:
    """Empty ``labels``/``annotations``/``finalizers``/``ownerReferences`` are omitted, as in Go."""
    meta = obj.get("metadata") or {}
    for fld in ("labels", "annotations", "finalizers", "ownerReferences"):
        if fld in meta and not meta[fld]:
            del meta[fld]


# -- defaults ------------------------------------------------------------------------------------


def _default_container(c: dict[str, Any]) -> None:
    image = str(c.get("image", ""))
    if "imagePullPolicy" not in c and image:
        last = image.rsplit("/", 1)[-1]
        tagged = ":" in last and not last.endswith(":latest")
        c["imagePullPolicy"] = "IfNotPresent" if (tagged or "@" in last) else "Always"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        ref = env.get("valueFrom", {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")


def default_pod_spec(spec: dict[str, Any], *, template: bool = False) -> None:
    """Pod spec defaults (also applied to pod templates)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if "serviceAccountName" in spec and "serviceAccount" not in spec:
        spec["serviceAccount"] = spec["serviceAccountName"]
    for c in spec.get("containers") or []:
        if isinstance(c, dict):
            _default_container(c)
    for c in spec.get("initContainers") or []:
        if isinstance(c, dict):
            _default_container(c)
    for v in spec.get("volumes") or []:
        if isinstance(v, dict):
            if "configMap" in v and isinstance(v["configMap"], dict):
                v["configMap"].setdefault("defaultMode", 420)
            if "secret" in v and isinstance(v["secret"], dict):
                v["secret"].setdefault("defaultMode", 420)
            if "emptyDir" in v and v["emptyDir"] is None:
                v["emptyDir"] = {}


def default_pod(pod: dict[str, Any], *, creating: bool = True) -> None:
    spec = pod.setdefault("spec", {})
    default_pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    # admission runs on updates too: a patch that replaces the tolerations gets these back
    _admission.default_tolerations(spec)
    if not creating:
        return
    status = pod.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", qos_class(spec))


def qos_class(spec: dict[str, Any]) -> str:
    requests_any = False
    guaranteed = True
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            requests_any = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and str(req[r]) != str(lim[r])):
                guaranteed = False
    if not requests_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _default_template(obj: dict[str, Any]) -> None:
    template = obj.setdefault("spec", {}).setdefault("template", {})
    template.setdefault("metadata", {})
    default_pod_spec(template.setdefault("spec", {}), template=True)


def _default_namespace(obj: dict[str, Any], creating: bool) -> None:
    meta = obj.setdefault("metadata", {})
    labels = meta.setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = meta.get("name", "")
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _default_deployment(obj: dict[str, Any], creating: bool) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    if creating:
        obj.setdefault("status", {})
    _default_template(obj)


def _default_replicaset(obj: dict[str, Any], creating: bool) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _default_template(obj)


def _default_statefulset(obj: dict[str, Any], creating: bool) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    us = spec.setdefault("updateStrategy", {})
    us.setdefault("type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        us.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    _default_template(obj)


def _default_daemonset(obj: dict[str, Any], creating: bool) -> None:
    spec = obj.setdefault("spec", {})
    us = spec.setdefault("updateStrategy", {})
    us.setdefault("type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        ru = us.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", 1)
        ru.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _default_template(obj)


def _default_job(obj: dict[str, Any], creating: bool) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _default_template(obj)


def _default_service(obj: dict[str, Any], creating: bool) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _default_secret(obj: dict[str, Any], creating: bool) -> None:
    """Default the type and fold ``stringData`` into base64 ``data``, as the apiserver does."""
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.setdefault("data", {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def _default_pvc(obj: dict[str, Any], creating: bool) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    spec.setdefault("storageClassName", "standard")


def _default_network_policy(obj: dict[str, Any], creating: bool) -> None:
    spec = obj.setdefault("spec", {})
    if "policyTypes" not in spec:
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types
    spec.setdefault("podSelector", {})


def _default_event(obj: dict[str, Any], creating: bool) -> None:
    obj.setdefault("source", {})
    for fld in ("eventTime", "firstTimestamp", "lastTimestamp"):  # Go's nil times
        obj.setdefault(fld, None)
    obj.setdefault("reportingComponent", "")
    obj.setdefault("reportingInstance", "")


def _default_pod(obj: dict[str, Any], creating: bool) -> None:
    default_pod(obj, creating=creating)


# Per-kind defaulting steps; ``creating`` is passed to all so the table has one signature.
_DEFAULTERS: dict[str, Callable[[dict[str, Any], bool], None]] = {
    "Pod": _default_pod,
    "Namespace": _default_namespace,
    "Deployment": _default_deployment,
    "ReplicaSet": _default_replicaset,
    "StatefulSet": _default_statefulset,
    "DaemonSet": _default_daemonset,
    "Job": _default_job,
    "Service": _default_service,
    "Secret": _default_secret,
    "PersistentVolumeClaim": _default_pvc,
    "NetworkPolicy": _default_network_policy,
    "Event": _default_event,
}


def apply_defaults(rt: ResourceType, obj: dict[str, Any], *, creating: bool = True) -> None:
    """Fill in the defaults the apiserver sets for ``rt`` (admission defaults only when creating)."""
    _admission.omit_false(rt.kind, obj)
    defaulter = _DEFAULTERS.get(rt.kind)
    if defaulter is not None:
        defaulter(obj, creating)


# -- validation ----------------------------------------------------------------------------------


def _validate_name(rt: ResourceType, name: str, field: str = "metadata.name") -> list[FieldError]:
    if rt.kind in _DNS1035_NAMED:
        ok, msg, limit = bool(_DNS1035_RE.match(name)), DNS1035_MSG, 63
    elif rt.kind in _LABEL_NAMED:
        ok, msg, limit = bool(_LABEL_RE.match(name)), LABEL_MSG, 63
    else:
        ok, msg, limit = bool(_SUBDOMAIN_RE.match(name)), SUBDOMAIN_MSG, 253
    errors = []
    if len(name) > limit:
        errors.append(FieldError.invalid(field, name, f"must be no more than {limit} characters"))
    if not ok:
        errors.append(FieldError.invalid(field, name, msg))
    return errors


def _validate_qualified_key(key: str, field: str) -> list[FieldError]:
    prefix, _, name = key.rpartition("/")
    errors = []
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN_RE.match(prefix)):
        errors.append(FieldError.invalid(field, key, "prefix part " + SUBDOMAIN_MSG))
    if not name or len(name) > 63 or not _QNAME_RE.match(name):
        errors.append(FieldError.invalid(field, key, QNAME_MSG if name else "name part must be non-empty"))
    return errors


def validate_labels(labels: dict[str, Any], field: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for key, value in labels.items():
        errors += _validate_qualified_key(key, field)
        value = "" if value is None else str(value)
        if len(value) > 63:
            errors.append(FieldError.invalid(field, value, "must be no more than 63 characters"))
        elif not _LABEL_VALUE_RE.match(value):
            errors.append(FieldError.invalid(field, value, LABEL_VALUE_MSG))
    return errors


def _validate_containers(spec: dict[str, Any], prefix: str) -> list[FieldError]:
    errors: list[FieldError] = []
    containers = spec.get("containers")
    if not containers:
        return [FieldError.required(f"{prefix}containers")]
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            path = f"{prefix}{group}[{i}]"
            if not isinstance(c, dict):
                errors.append(FieldError.invalid(path, c, "must be an object"))
                continue
            name = c.get("name")
            if not name:
                errors.append(FieldError.required(f"{path}.name"))
            elif not _LABEL_RE.match(str(name)):
                errors.append(FieldError.invalid(f"{path}.name", name, LABEL_MSG))
            elif name in seen:
                errors.append(FieldError.duplicate(f"{path}.name", name))
            else:
                seen.add(str(name))
            if not c.get("image"):
                errors.append(FieldError.required(f"{path}.image"))
    return errors


def _validate_pod_spec(
    spec: dict[str, Any], prefix: str, allowed_restart: tuple[str, ...]
) -> list[FieldError]:
    errors = _validate_containers(spec, prefix)
    policy = spec.get("restartPolicy", "Always")
    if policy not in allowed_restart:
        errors.append(FieldError.unsupported(f"{prefix}restartPolicy", policy, list(allowed_restart)))
    node_selector = spec.get("nodeSelector")
    if isinstance(node_selector, dict):
        errors += validate_labels(node_selector, f"{prefix}nodeSelector")
    return errors


def _go_map(labels: dict[str, Any]) -> str:
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in labels.items()) + "}"


def _validate_workload(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    selector = spec.get("selector")
    template = spec.get("template") or {}
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    if rt.kind == "Job":
        allowed: tuple[str, ...] = ("OnFailure", "Never")
    else:
        allowed = ("Always",)
    if selector is None and rt.kind != "Job":
        errors.append(FieldError.required("spec.selector"))
    elif selector is not None:
        sel = selector_from_spec(selector)
        if sel.empty and rt.kind != "Job":
            errors.append(
                FieldError.invalid(
                    "spec.selector", "v1.LabelSelector{}", f"empty selector is invalid for {rt.singular}"
                )
            )
        elif not sel.matches(template_labels):
            errors.append(
                FieldError(
                    "spec.template.metadata.labels",
                    "FieldValueInvalid",
                    f"Invalid value: {_go_map(template_labels)}: `selector` does not match template `labels`",
                )
            )
    if template_labels:
        errors += validate_labels(template_labels, "spec.template.metadata.labels")
    errors += _validate_pod_spec(template.get("spec") or {}, "spec.template.spec.", allowed)
    for fld in ("replicas", "parallelism", "completions", "backoffLimit"):
        value = spec.get(fld)
        if value is not None and (not isinstance(value, int) or value < 0):
            errors.append(FieldError.invalid(f"spec.{fld}", value, "must be greater than or equal to 0"))
    if old is not None:
        old_spec = old.get("spec") or {}
        if rt.kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet") and old_spec.get(
            "selector"
        ) != spec.get("selector"):
            errors.append(FieldError.immutable("spec.selector", json.dumps(spec.get("selector"))))
        if rt.kind == "Job":
            if old_spec.get("selector") != spec.get("selector"):
                errors.append(FieldError.immutable("spec.selector", json.dumps(spec.get("selector"))))
            if _strip_template_for_job(old_spec.get("template")) != _strip_template_for_job(
                spec.get("template")
            ):
                errors.append(FieldError.immutable("spec.template", "core.PodTemplateSpec{...}"))
            if old_spec.get("completions") != spec.get("completions"):
                errors.append(FieldError.immutable("spec.completions", spec.get("completions")))
        if rt.kind == "StatefulSet":
            for fld in ("serviceName", "volumeClaimTemplates", "podManagementPolicy"):
                if old_spec.get(fld) != spec.get(fld):
                    errors.append(FieldError.forbidden("spec", STATEFULSET_SPEC_MSG))
                    break
    return errors


def _strip_template_for_job(template: Any) -> Any:
    # labels/annotations of a Job template may change (mutable scheduling directives aside)
    if not isinstance(template, dict):
        return template
    return template.get("spec")


#: pod spec fields that an update may change
_MUTABLE_POD_FIELDS = (
    "activeDeadlineSeconds",
    "tolerations",
    "terminationGracePeriodSeconds",
    "schedulingGates",
)


def _pod_spec_for_compare(spec: dict[str, Any]) -> dict[str, Any]:
    spec = json.loads(json.dumps(spec))
    for fld in _MUTABLE_POD_FIELDS:
        spec.pop(fld, None)
    for group in ("containers", "initContainers"):
        for c in spec.get(group) or []:
            if isinstance(c, dict):
                c.pop("image", None)
    return spec


def _validate_metadata(rt: ResourceType, meta: dict[str, Any], name: str) -> list[FieldError]:
    """Name, namespace, labels, annotation keys and owner references."""
    errors: list[FieldError] = []
    if not name:
        errors.append(FieldError.required("metadata.name", "name or generateName is required"))
    else:
        errors += _validate_name(rt, name)
    if rt.namespaced and not meta.get("namespace"):
        errors.append(FieldError.required("metadata.namespace"))
    errors += validate_labels(meta.get("labels") or {}, "metadata.labels")
    for key in meta.get("annotations") or {}:
        errors += _validate_qualified_key(key, "metadata.annotations")
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        for fld in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref, dict) or not ref.get(fld):
                errors.append(
                    FieldError.required(
                        f"metadata.ownerReferences[{i}].{fld}"
                        if fld != "uid"
                        else f"metadata.ownerReferences[{i}].uid"
                    )
                )
    return errors


def _validate_finalizers(meta: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    """No finalizer may be added to an object that is being deleted."""
    if old is None or not old.get("metadata", {}).get("deletionTimestamp"):
        return []
    new_fin = set(meta.get("finalizers") or [])
    old_fin = set(old["metadata"].get("finalizers") or [])
    if new_fin - old_fin:
        return [
            FieldError.forbidden(
                "metadata.finalizers", "no new finalizers can be added if the object is being deleted"
            )
        ]
    return []


def _validate_pod(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    """The pod spec, and on update only the fields a pod update may change."""
    spec = obj.get("spec") or {}
    errors = _validate_pod_spec(spec, "spec.", ("Always", "OnFailure", "Never"))
    if old is not None:
        old_spec = old.get("spec") or {}
        new_tols = spec.get("tolerations") or []
        removed = [t for t in old_spec.get("tolerations") or [] if t not in new_tols]
        if _pod_spec_for_compare(spec) != _pod_spec_for_compare(old_spec) or removed:
            errors.append(
                FieldError.forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                    "(allow it to be set to 1 if it was previously negative)",
                )
            )
    return errors


def _validate_service(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    """Service type, ports and the immutable cluster IP."""
    errors: list[FieldError] = []
    spec = obj.get("spec") or {}
    stype = spec.get("type", "ClusterIP")
    if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        errors.append(
            FieldError.unsupported(
                "spec.type", stype, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
            )
        )
    if stype != "ExternalName" and spec.get("clusterIP") != "None" and not spec.get("ports"):
        errors.append(FieldError.required("spec.ports"))
    for i, port in enumerate(spec.get("ports") or []):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errors.append(
                FieldError.invalid(f"spec.ports[{i}].port", number, "must be between 1 and 65535, inclusive")
            )
    if old is not None:
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if old_ip and spec.get("clusterIP") and spec.get("clusterIP") != old_ip:
            errors.append(FieldError.immutable("spec.clusterIPs[0]", spec.get("clusterIP")))
    return errors


def _validate_pdb(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        return [FieldError.invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set")]
    return []


_Validator = Callable[[ResourceType, dict[str, Any], dict[str, Any] | None], list[FieldError]]
_VALIDATORS: dict[str, _Validator] = {
    "Pod": _validate_pod,
    **dict.fromkeys(POD_TEMPLATE_KINDS, _validate_workload),
    "Service": _validate_service,
    "PodDisruptionBudget": _validate_pdb,
}


def validate(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """Raise ``422 Invalid`` when ``obj`` would be rejected by the apiserver."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    errors = _validate_metadata(rt, meta, name)
    errors += _validate_finalizers(meta, old)
    kind = rt.kind
    validator = _VALIDATORS.get(kind)
    if validator is not None:
        errors += validator(rt, obj, old)
    extra = _admission.extra_errors(kind, obj)
    # the apiserver reports a node's taint errors twice on update (spec and update checks)
    errors += extra + extra if kind == "Node" and old is not None else extra
    if errors:
        raise _errors.invalid(rt.kind, rt.group, name, errors)

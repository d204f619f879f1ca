"""What the apiserver does with each verb, independent of HTTP.

The HTTP layer (``_server``), the emulator's seeding helpers and the controllers all go
through :class:`Api`, so a pod a controller creates is defaulted and validated the same
way as one a client creates.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import _admission, _errors, _kinds, _patch, _schema
from ._resources import (
    DEPLOYMENT,
    JOB,
    NAMESPACE,
    NODE,
    PDB,
    POD,
    REPLICASET,
    SERVICE,
    STATEFULSET,
    ResourceType,
)
from ._selectors import parse_field_selector, parse_label_selector, selector_from_spec, selector_string
from ._store import Obj, Store, deep_copy

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_NAME_CHARS) for _ in range(n))


def _check_preconditions(rt: ResourceType, name: str, meta: dict[str, Any], pre: dict[str, Any]) -> None:
    """409 when a delete precondition (uid, resourceVersion) does not match the stored object."""
    for fld, what in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        if pre.get(fld) and pre[fld] != meta.get(fld):
            # worded by the storage layer, which names the kind, not the resource
            raise _errors.ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {_errors.qualified(rt.kind, rt.group)} "{name}": the '
                f"{what} in the precondition ({pre[fld]}) does not match the {what} in record "
                f"({meta.get(fld)}). The object might have been "
                + ("deleted and then recreated" if fld == "uid" else "modified"),
                {"name": name, **({"group": rt.group} if rt.group else {}), "kind": rt.kind},
            )


def _propagation_policy(rt: ResourceType, options: dict[str, Any]) -> str:
    """The delete's propagation policy, from ``propagationPolicy`` or the older ``orphanDependents``."""
    policy = options.get("propagationPolicy")
    orphan = options.get("orphanDependents")
    if policy is None:
        if orphan is True:
            policy = "Orphan"
        elif orphan is False:
            policy = "Background"
        else:
            policy = "Orphan" if rt is JOB else "Background"
    if policy not in ("Orphan", "Background", "Foreground"):
        raise _errors.invalid(
            "DeleteOptions",
            "",
            "",
            [
                _errors.FieldError.unsupported(
                    "propagationPolicy", policy, ["Foreground", "Background", "Orphan"]
                )
            ],
        )
    return str(policy)


def _continue_start(token: str | None) -> tuple[str, str] | None:
    """The (namespace, name) a continued list starts after; 400 for a token we did not issue."""
    if not token:
        return None
    try:
        ns_name = json.loads(base64.b64decode(token))["start"]
        return (str(ns_name[0]), str(ns_name[1]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _errors.bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion"
        ) from None


@dataclass
class Settings:
    """Runtime knobs shared by the API layer and the controllers."""

    controllers: bool = True
    pod_ready_delay: float = 0.0
    recreate_delay: float = 0.0
    pod_terminate_delay: float = 0.0
    namespace_terminate_delay: float = 1.0


SCALABLE = {DEPLOYMENT, REPLICASET, STATEFULSET}


class Api:
    """The verbs, with Kubernetes semantics, over a :class:`Store`."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        #: the current request's ``fieldValidation`` and the warnings it collected (the
        #: server sets and reads them around each request; the loop runs one at a time)
        self.field_validation = "Warn"
        self.warnings: list[str] = []
        self.reset()

    def reset(self) -> None:
        self._service_ips = ipaddress.IPv4Network("10.96.0.0/16").hosts()
        self._used_ips: set[str] = set()
        self._node_port = 30000

    # -- helpers --------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.store.get(rt, namespace, name)
        if obj is None:
            raise _errors.not_found(rt.plural, rt.group, name)
        return obj

    def _check_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(NAMESPACE, None, namespace)
        if ns is None:
            raise _errors.not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise _errors.forbidden(
                rt.plural,
                rt.group,
                name,
                f"unable to create new content in namespace {namespace} because it is being terminated",
                [
                    {
                        "reason": "NamespaceTerminating",
                        "message": f"namespace {namespace} is being terminated",
                        "field": "metadata.namespace",
                    }
                ],
            )

    def _decode(self, rt: ResourceType, body: Any, namespace: str | None) -> Obj:
        if not isinstance(body, dict):
            raise _errors.bad_request(
                f"json: cannot unmarshal {_kinds._json_type(body)} into Go value of type struct"
                if body is not None
                else "the body of the request was empty"
            )
        api_version = body.get("apiVersion")
        if api_version and api_version != rt.api_version:
            raise _errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"
            )
        kind = body.get("kind")
        if kind and kind != rt.kind:
            raise _errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        _kinds.check_types(rt, body)
        obj: Obj = _kinds.strip_nulls(body)  # builds new containers: a deep copy
        _schema.check(rt.kind, obj, self.field_validation, self.warnings)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise _errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            if namespace:
                meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        return obj

    # -- create ---------------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        keep_status: bool = False,
    ) -> Obj:
        """Create an object; returns the stored object."""
        obj = self._decode(rt, body, namespace)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            # the apiserver lets this reach its storage layer, which answers 500 without a reason
            raise _errors.ApiError(500, "", "resourceVersion should not be set on objects to be created")
        generated = self._generate_name(rt, meta)
        name = str(meta.get("name") or "")
        if rt.namespaced and not meta.get("namespace"):
            _kinds.validate(rt, obj)  # reports the missing namespace as the apiserver does
        if rt.namespaced and meta.get("namespace"):
            self._check_namespace(rt, meta["namespace"], name)
        self._stamp_new(rt, obj, keep_status=keep_status)
        if rt is JOB:
            self._job_selector(obj)
        _kinds.apply_defaults(rt, obj)
        if rt is POD:
            _admission.admit_pod(self.store, obj)
        elif rt is NODE:
            _admission.admit_node(obj)
        _kinds.prune_empty_meta(obj)
        _kinds.validate(rt, obj)
        if self.store.get(rt, meta.get("namespace"), name) is not None:
            if generated:
                raise _errors.ApiError(
                    409,
                    "AlreadyExists",
                    f'{_errors.qualified(rt.plural, rt.group)} "{name}" already exists, the server was not '
                    "able to generate a unique name for the object",
                    {"name": name, "kind": rt.plural},
                )
            raise _errors.already_exists(rt.plural, rt.group, name)
        if rt is SERVICE:
            self._allocate_service(obj)
        if dry_run:
            return obj
        return self.store.put(rt, obj)

    def _generate_name(self, rt: ResourceType, meta: Obj) -> bool:
        """Pick a free name from ``generateName`` when no name is given; True when one was generated."""
        if meta.get("name") or not meta.get("generateName"):
            return False
        for _ in range(10):
            meta["name"] = f"{meta['generateName']}{random_suffix()}"
            if self.store.get(rt, meta.get("namespace"), meta["name"]) is None:
                break
        return True

    @staticmethod
    def _stamp_new(rt: ResourceType, obj: Obj, *, keep_status: bool) -> None:
        """Drop the fields a client may not set on create and stamp uid, creation time, generation."""
        meta = obj["metadata"]
        for fld in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"):
            meta.pop(fld, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _kinds.now()
        if rt.has_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if rt.has_status and not keep_status and rt is not NODE:  # a node's status is kept as sent
            obj.pop("status", None)

    def _job_selector(self, job: Obj) -> None:
        spec = job.setdefault("spec", {})
        if spec.get("manualSelector"):
            return
        uid = job["metadata"]["uid"]
        name = job["metadata"].get("name", "")
        template = spec.setdefault("template", {})
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
        )
        if spec.get("selector") is None:
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}

    def _allocate_service(self, svc: Obj) -> None:
        spec = svc.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        ip = spec.get("clusterIP")
        if not ip:
            if svc["metadata"].get("name") == "kubernetes" and svc["metadata"].get("namespace") == "default":
                ip = "10.96.0.1"
            else:
                for candidate in self._service_ips:
                    text = str(candidate)
                    if text not in self._used_ips and text != "10.96.0.1":
                        ip = text
                        break
            spec["clusterIP"] = ip
        if ip and ip != "None":
            self._used_ips.add(ip)
        spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                if "nodePort" not in port:
                    self._node_port += 1
                    port["nodePort"] = self._node_port

    # -- list -----------------------------------------------------------------------------------

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Obj:
        """The ``<Kind>List`` body, items without kind/apiVersion like a real apiserver's."""
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, rt.kind)
        start = _continue_start(continue_token)
        items: list[Obj] = []
        next_token = None
        remaining = 0
        for obj in self._list_candidates(
            rt, namespace, fields.value_of("spec.nodeName") if rt is POD else None
        ):
            meta = obj["metadata"]
            if start is not None and (meta.get("namespace", ""), meta["name"]) <= start:
                continue
            if not labels.empty and not labels.matches(meta.get("labels")):
                continue
            if not fields.empty and not fields.matches(obj):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(obj)
        if remaining:
            last = items[-1]["metadata"]
            next_token = base64.b64encode(
                json.dumps({"rv": self.store.rv, "start": [last.get("namespace", ""), last["name"]]}).encode()
            ).decode()
        list_meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if next_token:
            list_meta["continue"] = next_token
            list_meta["remainingItemCount"] = remaining
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": list_meta,
            "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items],
        }

    def _list_candidates(self, rt: ResourceType, namespace: str | None, node: str | None) -> Sequence[Obj]:
        """The objects a list walks, in (namespace, name) order; a pod list by node uses the node index."""
        if not node:
            return self.store.sorted(rt, namespace)
        candidates = sorted(
            self.store.pods_on(node),
            key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
        )
        if namespace:
            candidates = [o for o in candidates if o["metadata"].get("namespace") == namespace]
        return candidates

    # -- update / patch -------------------------------------------------------------------------

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Replace an object (PUT). ``subresource="status"`` changes only ``status``."""
        obj = self._decode(rt, body, namespace)
        meta = obj["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise _errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        old = self.get(rt, namespace, name)
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise _errors.conflict(rt.plural, rt.group, name)
        return self._replace(rt, old, obj, subresource=subresource, dry_run=dry_run)

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Apply a JSON/merge/strategic-merge patch."""
        old = self.get(rt, namespace, name)
        current = deep_copy(old)
        new = self._apply_patch(current, patch, content_type)
        if not isinstance(new, dict):
            raise _errors.bad_request("the patch produced an object that is not a JSON object")
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            raise _errors.bad_request("metadata must be an object")
        rv = meta.get("resourceVersion")
        if rv is not None and rv != old["metadata"]["resourceVersion"]:
            raise _errors.conflict(rt.plural, rt.group, name)
        if meta.get("name") != name:
            raise _errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        new = self._decode(rt, new, namespace)
        return self._replace(rt, old, new, subresource=subresource, dry_run=dry_run)

    @staticmethod
    def _apply_patch(current: Obj, patch: Any, content_type: str) -> Any:
        ctype = content_type.split(";")[0].strip().lower()
        if ctype == "application/json-patch+json":
            return _patch.json_patch(current, patch)
        if ctype == "application/merge-patch+json":
            if not isinstance(patch, dict):
                raise _errors.bad_request(
                    "json: cannot unmarshal array into Go value of type map[string]interface {}"
                )
            return _patch.merge_patch(current, patch)
        if ctype in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
            return _patch.strategic_merge_patch(current, patch)
        raise _errors.unsupported_media_type(content_type)

    def _replace(
        self,
        rt: ResourceType,
        old: Obj,
        obj: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        old_meta = old["metadata"]
        if subresource == "status":
            new = deep_copy(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            meta = new["metadata"]
        else:
            new = obj
            meta = new["metadata"]
            if rt.has_status:
                if "status" in old:
                    new["status"] = deep_copy(old["status"])
                else:
                    new.pop("status", None)
            for fld in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ):
                if fld in old_meta:
                    meta[fld] = old_meta[fld]
                else:
                    meta.pop(fld, None)
            if rt is NAMESPACE:
                new.setdefault("spec", {})
                if "finalizers" in (old.get("spec") or {}) and old_meta.get("deletionTimestamp") is None:
                    new["spec"].setdefault("finalizers", old["spec"]["finalizers"])
            _kinds.apply_defaults(rt, new, creating=False)
            if rt is SERVICE:
                old_spec = old.get("spec") or {}
                new.setdefault("spec", {})
                for fld in ("clusterIP", "clusterIPs"):
                    if fld in old_spec and not new["spec"].get(fld):
                        new["spec"][fld] = old_spec[fld]
        meta.pop("resourceVersion", None)
        _kinds.prune_empty_meta(new)
        _kinds.validate(rt, new, old)
        if rt.has_generation and subresource is None and new.get("spec") != old.get("spec"):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        # a write that changes nothing is not stored and keeps its resourceVersion
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if new == old:
            return old
        if dry_run:
            return new
        stored = self.store.put(rt, new)
        return self._maybe_finalize(rt, stored)

    def _maybe_finalize(self, rt: ResourceType, obj: Obj) -> Obj:
        """Remove an object being deleted once nothing holds it any more."""
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return obj
        if rt is NAMESPACE:
            if (obj.get("spec") or {}).get("finalizers"):
                return obj
        elif rt is POD and meta.get("deletionGracePeriodSeconds", 0) and self._kubelet_runs(obj):
            return obj
        return self.store.remove(rt, obj)

    def write(self, rt: ResourceType, obj: Obj) -> Obj:
        """Store an object a controller changed (no validation; status and spec as given)."""
        return self._maybe_finalize(rt, self.store.put(rt, obj))

    # -- delete ---------------------------------------------------------------------------------

    def _kubelet_runs(self, pod: Obj) -> bool:
        return self.settings.controllers and bool((pod.get("spec") or {}).get("nodeName"))

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> tuple[int, Obj]:
        """Delete; returns (HTTP code, body): the object or a Success Status, like the apiserver."""
        options = options or {}
        old = self.get(rt, namespace, name)
        meta = old["metadata"]
        _check_preconditions(rt, name, meta, options.get("preconditions") or {})
        policy = _propagation_policy(rt, options)
        accepted = 202 if options.get("orphanDependents") is False else 200
        if rt is NAMESPACE:
            return self._delete_namespace(old, accepted, dry_run=dry_run)
        if dry_run:
            return 200, old if rt.returns_deleted_object else self._success(rt, old)
        grace = options.get("gracePeriodSeconds")
        if rt is POD:
            return self._delete_pod(old, grace, policy, accepted)
        if meta.get("deletionTimestamp"):
            return accepted, old
        if policy == "Orphan":
            self._orphan_dependents(old)
        pending = list(meta.get("finalizers") or [])
        if policy == "Foreground" and self.store.dependents.get(meta.get("uid", "")):
            pending.append("foregroundDeletion")
        if pending:
            return accepted, self._mark_deleting(rt, old, pending)
        final = self.store.remove(rt, old)
        return 200, final if rt.returns_deleted_object else self._success(rt, final)

    def _delete_namespace(self, old: Obj, accepted: int, *, dry_run: bool) -> tuple[int, Obj]:
        """A namespace is only marked Terminating; its controller empties and removes it."""
        name = old["metadata"]["name"]
        if old["metadata"].get("deletionTimestamp"):
            raise _errors.conflict(
                "namespaces",
                "",
                name,
                "The system is ensuring all content is removed from this namespace.  Upon completion, "
                "this namespace will automatically be purged by the system.",
            )
        if dry_run:
            return 200, old
        new = deep_copy(old)
        new["metadata"]["deletionTimestamp"] = _kinds.now()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new.setdefault("status", {})["phase"] = "Terminating"
        return accepted, self.store.put(NAMESPACE, new)

    def _mark_deleting(self, rt: ResourceType, old: Obj, pending: Sequence[str]) -> Obj:
        """Store ``old`` with a deletion timestamp and the finalizers that hold it back."""
        new = deep_copy(old)
        nmeta = new["metadata"]
        nmeta["finalizers"] = list(dict.fromkeys(pending))
        nmeta["deletionTimestamp"] = _kinds.now()
        nmeta["deletionGracePeriodSeconds"] = 0
        if rt.has_generation:
            nmeta["generation"] = int(nmeta.get("generation", 1)) + 1
        return self.store.put(rt, new)

    def _delete_pod(self, old: Obj, grace: Any, policy: str, accepted: int) -> tuple[int, Obj]:
        meta = old["metadata"]
        spec = old.get("spec") or {}
        phase = (old.get("status") or {}).get("phase")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        try:
            grace = max(0, int(grace))
        except (TypeError, ValueError):
            raise _errors.bad_request(f"invalid gracePeriodSeconds: {grace}") from None
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed") or not self._kubelet_runs(old):
            grace = 0
        if policy == "Orphan":
            self._orphan_dependents(old)
        current = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp") and current is not None and grace >= int(current):
            return accepted, old
        if grace == 0 and not meta.get("finalizers"):
            final = self.store.remove(POD, old)
            # the answer is the pod as marked for deletion just before it went
            final = dict(final, metadata=dict(final["metadata"]))
            final["metadata"]["deletionTimestamp"] = _kinds.now()
            final["metadata"]["deletionGracePeriodSeconds"] = 0
            final["metadata"]["generation"] = int(meta.get("generation", 1)) + 1
            return 200, final
        new = deep_copy(old)
        nmeta = new["metadata"]
        nmeta["deletionTimestamp"] = _kinds.at(time.time() + grace)
        nmeta["deletionGracePeriodSeconds"] = grace
        if not meta.get("deletionTimestamp"):
            nmeta["generation"] = int(meta.get("generation", 1)) + 1
        return accepted, self._maybe_finalize(POD, self.store.put(POD, new))

    def _orphan_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"].get("uid", "")
        for rt, dep in self.store.dependents_of(uid):
            new = deep_copy(dep)
            refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            self.store.put(rt, new)

    @staticmethod
    def _success(rt: ResourceType, obj: Obj) -> Obj:
        details: dict[str, Any] = {"name": obj["metadata"]["name"]}
        if rt.group:
            details["group"] = rt.group
        details["kind"] = rt.plural
        details["uid"] = obj["metadata"].get("uid", "")
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        options: dict[str, Any] | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        listed = self.list(rt, namespace, label_selector=label_selector, field_selector=field_selector)
        deleted = []
        for item in listed["items"]:
            try:
                _, body = self.delete(
                    rt, item["metadata"].get("namespace"), item["metadata"]["name"], options, dry_run=dry_run
                )
            except _errors.ApiError as err:
                if err.code == 404:
                    continue
                raise
            if body.get("kind") == rt.kind:
                deleted.append({k: v for k, v in body.items() if k not in ("kind", "apiVersion")})
            else:
                deleted.append(item)
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(self.store.rv)},
            "items": deleted,
        }

    # -- subresources ---------------------------------------------------------------------------

    def scale_of(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            # Go omits a zero replica count
            "spec": {k: v for k, v in (obj.get("spec") or {}).items() if k == "replicas" and v},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": selector_string((obj.get("spec") or {}).get("selector")),
            },
        }

    def update_scale(
        self, rt: ResourceType, namespace: str | None, name: str, scale: Any, *, dry_run: bool = False
    ) -> Obj:
        old = self.get(rt, namespace, name)
        if not isinstance(scale, dict):
            raise _errors.bad_request("the body of the request was not a Scale object")
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise _errors.conflict(f"{rt.plural}", rt.group, name)
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or replicas < 0:
            raise _errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [_errors.FieldError.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            )
        new = deep_copy(old)
        new["spec"]["replicas"] = replicas
        stored = self._replace(rt, old, new, dry_run=dry_run)
        return self.scale_of(rt, stored)

    def patch_scale(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        *,
        dry_run: bool = False,
    ) -> Obj:
        old = self.get(rt, namespace, name)
        scale = self._apply_patch(self.scale_of(rt, old), patch, content_type)
        return self.update_scale(rt, namespace, name, scale, dry_run=dry_run)

    def bind(self, namespace: str, name: str, body: Any) -> Obj:
        """``pods/binding``: assign a pod to a node."""
        pod = self.get(POD, namespace, name)
        target = (body or {}).get("target") or {}
        node = target.get("name")
        if not node:
            raise _errors.invalid("Binding", "", name, [_errors.FieldError.required("target.name")])
        if (pod.get("spec") or {}).get("nodeName"):
            raise _errors.conflict(
                "pods", "", name, f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"'
            )
        if pod["metadata"].get("deletionTimestamp"):
            raise _errors.conflict(
                "pods", "", name, f"pod {name} is being deleted, cannot be assigned to a host"
            )
        self.assign(pod, node)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def assign(self, pod: Obj, node: str) -> Obj:
        new = deep_copy(pod)
        new["spec"]["nodeName"] = node
        set_condition(new, "PodScheduled", "True")
        return self.store.put(POD, new)

    def evict(self, namespace: str, name: str, body: Any, *, dry_run: bool = False) -> Obj:
        """``pods/eviction``: delete a pod unless a PodDisruptionBudget forbids it (429)."""
        if isinstance(body, dict) and (body.get("metadata") or {}).get("name") not in (None, name):
            raise _errors.bad_request("name in URL does not match name in Eviction object")
        # an eviction is a create: namespace lifecycle admission refuses it while terminating
        self._check_namespace(POD, namespace, name)
        pod = self.get(POD, namespace, name)
        options = (body or {}).get("deleteOptions") or {} if isinstance(body, dict) else {}
        phase = (pod.get("status") or {}).get("phase")
        ignore_pdb = phase in ("Succeeded", "Failed", "Pending") or bool(
            pod["metadata"].get("deletionTimestamp")
        )
        if not ignore_pdb:
            pdbs = [
                p
                for p in self.store.iter(PDB, namespace)
                if selector_from_spec((p.get("spec") or {}).get("selector"), empty_matches_all=False).matches(
                    pod["metadata"].get("labels")
                )
            ]
            if len(pdbs) > 1:
                raise _errors.ApiError(
                    500,
                    "InternalError",
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not "
                    "support.",
                )
            if pdbs:
                pdb = pdbs[0]
                status = pdb_status(self.store, pdb)
                healthy, desired = status["currentHealthy"], status["desiredHealthy"]
                ready = pod_is_ready(pod)
                if (
                    not (not ready and healthy >= desired and desired > 0)
                    and status["disruptionsAllowed"] <= 0
                ):
                    raise _errors.too_many_requests(
                        "Cannot evict pod as it would violate the pod's disruption budget.",
                        [
                            {
                                "reason": "DisruptionBudget",
                                "message": f"The disruption budget {pdb['metadata']['name']} needs {desired} "
                                f"healthy pods and has {healthy} currently",
                            }
                        ],
                    )
        if not dry_run:
            self.delete(POD, namespace, name, options)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


# -- pod helpers shared with the controllers ----------------------------------------------------


def set_condition(
    obj: Obj, ctype: str, status: str, reason: str | None = None, message: str | None = None
) -> bool:
    """Set a status condition; returns True when something changed."""
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    for cond in conditions:
        if cond.get("type") == ctype:
            if (
                cond.get("status") == status
                and cond.get("reason") == reason
                and cond.get("message") == message
            ):
                return False
            cond["status"] = status
            cond["lastTransitionTime"] = _kinds.now()
            _set_opt(cond, "reason", reason)
            _set_opt(cond, "message", message)
            return True
    cond = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": _kinds.now()}
    _set_opt(cond, "reason", reason)
    _set_opt(cond, "message", message)
    conditions.append(cond)
    return True


def _set_opt(d: dict[str, Any], key: str, value: str | None) -> None:
    if value is None:
        d.pop(key, None)
    else:
        d[key] = value


def condition(obj: Obj, ctype: str) -> str | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return str(cond.get("status"))
    return None


def pod_is_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and condition(pod, "Ready") == "True"


def pod_is_active(pod: Obj) -> bool:
    """Counted by controllers: not terminating and not finished."""
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in (
        "Succeeded",
        "Failed",
    )


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def _scaled_value(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        pct = int(value[:-1])
        raw = pct * total / 100
        return math.ceil(raw) if round_up else math.floor(raw)
    return int(value)


def pdb_status(store: Store, pdb: Obj) -> dict[str, Any]:
    """The PodDisruptionBudget status the disruption controller would compute now."""
    namespace = pdb["metadata"].get("namespace")
    spec = pdb.get("spec") or {}
    selector = selector_from_spec(spec.get("selector"), empty_matches_all=False)
    pods = [p for p in store.iter(POD, namespace) if selector.matches(p["metadata"].get("labels"))]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    healthy = sum(1 for p in live if pod_is_ready(p))
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    if min_available is not None and not (isinstance(min_available, str) and min_available.endswith("%")):
        expected = len(live)
        desired = int(min_available)
    else:
        expected = _expected_from_controllers(store, pods) or len(live)
        if min_available is not None:
            desired = _scaled_value(min_available, expected, True)
        elif max_unavailable is not None:
            desired = max(0, expected - _scaled_value(max_unavailable, expected, True))
        else:
            desired = expected
    allowed = max(0, healthy - desired)
    return {
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
    }


def _expected_from_controllers(store: Store, pods: list[Obj]) -> int:
    seen: set[str] = set()
    total = 0
    for pod in pods:
        ref = controller_ref(pod)
        if not ref or ref.get("uid") in seen:
            continue
        seen.add(str(ref.get("uid")))
        owner = store.by_uid_get(str(ref.get("uid")))
        if owner is None:
            continue
        if owner.get("kind") == "ReplicaSet":
            parent = controller_ref(owner)
            if parent and parent.get("kind") == "Deployment":
                dep = store.by_uid_get(str(parent.get("uid")))
                if dep is not None and parent.get("uid") not in seen:
                    seen.add(str(parent.get("uid")))
                    total += int((dep.get("spec") or {}).get("replicas", 1))
                continue
        if owner.get("kind") in ("ReplicaSet", "StatefulSet"):
            total += int((owner.get("spec") or {}).get("replicas", 1))
        else:
            total += 1
    return total

"""Secret values in manifests the journal would have to record to re-create an object.

A scenario that deletes something no controller brings back (a bare pod, a Deployment
deleted by ``service_disruption_scenarios``) records its cleaned manifest so the undo can
create it again. Such a manifest can hold credentials written into it literally: env
values, tokens in args, annotations. The journal is shared storage, so by default a
scenario refuses to delete an object whose manifest holds any of these (nothing is
changed); ``allow_secret_values=True`` on the context (``record_secret_values=True`` on the
operator) records them anyway. See docs/safety.md ("What the journal stores").

What counts, per container (``containers``, ``initContainers``, ``ephemeralContainers`` of
a pod or a pod template):

* an ``env`` entry with a literal, non-empty ``value`` (``valueFrom`` references are fine:
  the value stays in its Secret or ConfigMap);
* a ``command``/``args`` item that looks like a credential: an option named like one
  (``--password=...``, ``--token ...``), a URL with a user and password, a JWT, a private key;

and, on the object and its pod template, an annotation whose key is named like a credential
or whose value looks like one.
"""

from __future__ import annotations

import re
from typing import Any

NAMED_LIKE_SECRET = re.compile(
    r"(?i)(pass(word|wd)?|secret|token|api[-_]?key|credential|private[-_]?key|auth)"
)
_VALUE_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # a JWT
    re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),  # scheme://user:password@
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
)
_SECRET_OPTION = re.compile(
    r"(?i)^--?[\w.-]*(pass(word|wd)?|secret|token|api[-_]?key|credential)[\w.-]*(=.+)?$"
)
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _looks_secret(value: str) -> bool:
    return any(pattern.search(value) for pattern in _VALUE_PATTERNS)


def _pod_templates(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path, pod-like object with metadata and spec) of a Pod or any object with a template."""
    if manifest.get("kind") == "Pod":
        return [("", manifest)]
    spec = manifest.get("spec") or {}
    if isinstance(spec.get("jobTemplate"), dict):  # CronJob
        spec = spec["jobTemplate"].get("spec") or {}
        prefix = "spec.jobTemplate.spec.template"
    else:
        prefix = "spec.template"
    template = spec.get("template")
    return [(prefix, template)] if isinstance(template, dict) else []


def _annotations(path: str, metadata: dict[str, Any]) -> list[str]:
    found = []
    for key, value in sorted((metadata.get("annotations") or {}).items()):
        if NAMED_LIKE_SECRET.search(key) or _looks_secret(str(value)):
            found.append(f"{path}metadata.annotations[{key}]")
    return found


def _container(path: str, container: dict[str, Any]) -> list[str]:
    found = []
    for item in container.get("env") or []:
        if isinstance(item, dict) and item.get("value") not in (None, ""):
            found.append(f"{path}.env[{item.get('name')}] (a literal value)")
    for field in ("command", "args"):
        items = [str(arg) for arg in container.get(field) or []]
        for index, arg in enumerate(items):
            following = items[index + 1] if index + 1 < len(items) else ""
            option = _SECRET_OPTION.match(arg)
            if _looks_secret(arg) or (
                option and ("=" in arg or (following and not following.startswith("-")))
            ):
                found.append(f"{path}.{field}[{index}]")
    return found


def secret_fields(manifest: dict[str, Any]) -> list[str]:
    """Where ``manifest`` holds what looks like a credential (paths, never the values)."""
    found = _annotations("", manifest.get("metadata") or {})
    for prefix, pod in _pod_templates(manifest):
        dotted = f"{prefix}." if prefix else ""
        if prefix:
            found += _annotations(dotted, pod.get("metadata") or {})
        spec = pod.get("spec") or {}
        for kind in CONTAINER_LISTS:
            for container in spec.get(kind) or []:
                if isinstance(container, dict):
                    found += _container(f"{dotted}spec.{kind}[{container.get('name')}]", container)
    return found

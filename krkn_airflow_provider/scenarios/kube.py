"""Small read helpers over ``kubernetes.dynamic.DynamicClient`` shared by scenarios."""

from __future__ import annotations

import re
from typing import Any

from krkn_airflow_provider.errors import ConfigError, ScenarioError

REQUEST_TIMEOUT = 30


def as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def items(client: Any, api_version: str, kind: str, **query: Any) -> list[dict[str, Any]]:
    """List objects (``namespace=``, ``label_selector=``, ``field_selector=`` as keywords)."""
    resource = client.resources.get(api_version=api_version, kind=kind)
    try:
        listing = client.get(resource, _request_timeout=REQUEST_TIMEOUT, **query)
    except Exception as error:
        status = getattr(error, "status", None)
        raise ScenarioError(
            f"cannot list {kind}: {status or ''} {getattr(error, 'reason', error)}"
        ) from error
    return list(as_dict(listing).get("items") or [])


def get(client: Any, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
    resource = client.resources.get(api_version=api_version, kind=kind)
    try:
        return as_dict(client.get(resource, name=name, namespace=namespace, _request_timeout=REQUEST_TIMEOUT))
    except Exception as error:
        if getattr(error, "status", None) == 404:
            return None
        raise ScenarioError(f"cannot read {kind} {namespace}/{name}: {error}") from error


def label_pair(text: str, *, key: str) -> tuple[str, str]:
    """Parse Krkn's ``"key=value"`` label form (value may be empty)."""
    if "=" not in text:
        raise ConfigError(f"key {key!r}: expected 'label=value', got {text!r}")
    label, value = text.split("=", 1)
    if not label.strip():
        raise ConfigError(f"key {key!r}: expected 'label=value', got {text!r}")
    return label.strip(), value.strip()


def selector_string(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def has_label(obj: dict[str, Any], pair: tuple[str, str] | None) -> bool:
    if pair is None:
        return False
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return pair[0] in labels and labels[pair[0]] == pair[1]


def namespaces_matching(client: Any, pattern: str) -> list[str]:
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise ConfigError(f"key 'namespace_pattern': not a regular expression: {error}") from None
    names = [obj["metadata"]["name"] for obj in items(client, "v1", "Namespace")]
    return sorted(name for name in names if regex.match(name))


def pod_ready(pod: dict[str, Any]) -> bool:
    metadata = pod.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in status.get("conditions") or []
    )


def pod_key(pod: dict[str, Any]) -> str:
    metadata = pod["metadata"]
    return f"Pod {metadata.get('namespace')}/{metadata['name']}"

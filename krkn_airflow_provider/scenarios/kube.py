"""Small read helpers over ``kubernetes.dynamic.DynamicClient`` shared by scenarios.

Every API error a scenario meets goes through ``api_error`` (one message shape; on 401/403
it names the verb, resource and the RBAC rule that is missing). Reads, being idempotent,
go through ``retrying`` (bounded backoff with jitter on 429, 5xx, timeouts and lost
connections); changes are not retried here: a change is recorded once and sent once.
The plumbing under these (status codes, resource names, selectors, what is retryable)
is the undo code's (rollback/undo.py), so scenarios and rollback agree on it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from krkn_airflow_provider.errors import ConfigError, ScenarioError
from krkn_airflow_provider.rollback.undo import (
    RETRYABLE_STATUS,
    as_dict,
    backoff_delay,
    error_detail,
    plural,
    retryable,
    selector_string,
    status_of,
)

__all__ = ["RETRYABLE_STATUS", "as_dict", "plural", "retryable", "selector_string", "status_of"]

REQUEST_TIMEOUT = 30
READ_ATTEMPTS = 4
READ_BASE_DELAY = 0.2
T = TypeVar("T")


def api_error(
    verb: str,
    api_version: str,
    kind: str,
    where: str,
    error: BaseException,
    *,
    subresource: str | None = None,
) -> ScenarioError:
    """A ``ScenarioError`` for a failed request; on 401/403 it names the missing RBAC rule.

    :param verb: the Kubernetes verb (``list``, ``get``, ``create``, ``patch``, ``delete``).
    :param where: ``ns/name``, a namespace or ``""``, for the message.
    :param subresource: ``exec``, ``eviction``... for a request on a subresource.
    """
    status = status_of(error)
    reason = getattr(error, "reason", None) or type(error).__name__
    detail = error_detail(error)
    if not detail and status is None:
        detail = f": {error}"
    resource = plural(kind) + (f"/{subresource}" if subresource else "")
    group = api_version.rpartition("/")[0]
    hint = ""
    if status in (401, 403):
        hint = (
            f" (RBAC: the identity needs verb {verb!r} on {resource!r} in apiGroup {group!r}"
            "; see deploy/rbac.yaml)"
        )
    target = f"{kind}{'/' + subresource if subresource else ''} {where}".strip()
    return ScenarioError(f"cannot {verb} {target}: {status or ''} {reason}{detail}{hint}".replace("  ", " "))


def retrying(
    read: Callable[[], T], *, attempts: int = READ_ATTEMPTS, base_delay: float = READ_BASE_DELAY
) -> T:
    """Run an idempotent read, retrying 429/5xx/timeouts with exponential backoff and jitter."""
    for attempt in range(1, attempts + 1):
        try:
            return read()
        except Exception as error:
            if attempt == attempts or not retryable(error):
                raise
            time.sleep(backoff_delay(attempt, base_delay))
    raise AssertionError("unreachable")  # pragma: no cover


def items(client: Any, api_version: str, kind: str, **query: Any) -> list[dict[str, Any]]:
    """List objects (``namespace=``, ``label_selector=``, ``field_selector=`` as keywords)."""
    resource = client.resources.get(api_version=api_version, kind=kind)
    try:
        # The raw answer: the client's object model costs more than the request (1,000 pods).
        listing = retrying(
            lambda: client.get(resource, _request_timeout=REQUEST_TIMEOUT, serialize=False, **query)
        )
        found = list(json.loads(listing.data).get("items") or [])
    except Exception as error:
        raise api_error("list", api_version, kind, str(query.get("namespace") or ""), error) from error
    for item in found:  # as the client's objects have them: a list's items carry neither
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
    return found


def get(client: Any, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
    resource = client.resources.get(api_version=api_version, kind=kind)
    try:
        return as_dict(
            retrying(
                lambda: client.get(resource, name=name, namespace=namespace, _request_timeout=REQUEST_TIMEOUT)
            )
        )
    except Exception as error:
        if status_of(error) == 404:
            return None
        where = f"{namespace}/{name}" if namespace else name
        raise api_error("get", api_version, kind, where, error) from error


def label_pair(text: str, *, key: str) -> tuple[str, str]:
    """Parse Krkn's ``"key=value"`` label form (value may be empty)."""
    if "=" not in text:
        raise ConfigError(f"key {key!r}: expected 'label=value', got {text!r}")
    label, value = text.split("=", 1)
    if not label.strip():
        raise ConfigError(f"key {key!r}: expected 'label=value', got {text!r}")
    return label.strip(), value.strip()


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

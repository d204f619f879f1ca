"""Undo records: what to apply to put one change back, and where it came from.

A record is stored as a dict of JSON types (the ``ROLLBACK`` literal of a version file; the
actions and what each does: docs/journal.md, "Records"); these models validate it on
write and on read, so a record that cannot be applied is refused before any change.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from krkn_airflow_provider.errors import CorruptRecord

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "krkn-airflow-provider"
RUN_LABEL = "krkn.io/run"
NONCE_LABEL = "krkn.io/nonce"

# Keys that hold credentials in kubeconfigs, Secrets and connection extras.
CREDENTIAL_KEYS = frozenset(
    {
        "token",
        "password",
        "client-key-data",
        "client-certificate-data",
        "client_key",
        "bearer_token",
        "api_key",
        "secret_access_key",
        "aws_secret_access_key",
    }
)

# Server-set metadata dropped from a manifest before it is recorded for re-creation.
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


class Origin(BaseModel):
    """Where a record came from: the run and the task try that wrote it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_uuid: str
    scenario: str
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    try_number: int | None = None
    map_index: int | None = None


class UndoRecord(BaseModel):
    """One undo step. Build with the ``delete``, ``patch``, ``create`` and ``exec`` helpers."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["delete", "patch", "create", "exec"]
    api_version: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    namespace: str | None = None
    name: str = Field(min_length=1)
    description: str = ""
    guard: dict[str, str] = Field(default_factory=dict)
    patch: dict[str, Any] | None = None
    expect: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    container: str | None = None
    command: list[str] | None = None
    timeout_seconds: int | None = None
    origin: Origin | None = None

    @model_validator(mode="after")
    def _fields_for_action(self) -> UndoRecord:
        needed = {
            "delete": (),
            "patch": ("patch", "expect"),
            "create": ("manifest",),
            "exec": ("command", "namespace"),
        }[self.action]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.action!r} record needs {', '.join(missing)}")
        if self.action == "create" and self.kind == "Secret":
            raise ValueError("Secrets are never recorded: a record must not hold credentials")
        # Only these fields hold keys of their own (the others are scalars or a list of
        # strings): walked as they are, without dumping the whole model first.
        nested = {"guard": self.guard, "patch": self.patch, "expect": self.expect, "manifest": self.manifest}
        leaked = _credential_paths(nested)
        if leaked:
            raise ValueError(f"a record must not hold credentials; found {', '.join(leaked)}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def _credential_paths(value: Any, path: str = "") -> list[str]:
    if not path and not _holds_credential_key(value):
        return []  # the common case, without building a path for every key
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if str(key).lower() in CREDENTIAL_KEYS:
                found.append(here)
            found.extend(_credential_paths(item, here))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_credential_paths(item, f"{path}[{index}]"))
    return found


def _holds_credential_key(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in item:
                if str(key).lower() in CREDENTIAL_KEYS:
                    return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def validate_record(data: Any, *, source: str) -> UndoRecord:
    """Validate a stored record; ``source`` names the file in the error."""
    try:
        return UndoRecord.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'record'}: {item['msg']}" for item in error.errors()
        )
        raise CorruptRecord(f"{source}: invalid undo record: {problems}") from None


def _plain_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), several times cheaper than
    ``copy.deepcopy``; anything else is deep-copied as usual."""
    if type(value) is dict:
        return {key: _plain_copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_plain_copy(item) for item in value]
    if value is None or type(value) in (str, int, float, bool):
        return value
    return copy.deepcopy(value)


def clean_manifest(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` that can be created again: no status, no server-set metadata."""
    manifest: dict[str, Any] = _plain_copy(obj)
    manifest.pop("status", None)
    metadata = manifest.setdefault("metadata", {})
    for key in SERVER_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        metadata.pop("annotations", None)
    if manifest.get("kind") == "Service":
        # The cluster assigns these again; reusing them can collide.
        spec = manifest.get("spec") or {}
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
        for port in spec.get("ports") or []:
            if spec.get("type") in (None, "ClusterIP"):
                port.pop("nodePort", None)
    return manifest


def reverse_merge_patch(before: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that undoes applying ``change`` to ``before``.

    Only the keys ``change`` touches appear; a key that ``change`` adds maps to ``None``.
    """
    reverse: dict[str, Any] = {}
    for key, new in change.items():
        old = before.get(key) if isinstance(before, dict) else None
        if isinstance(new, dict) and isinstance(old, dict):
            reverse[key] = reverse_merge_patch(old, new)
        else:
            reverse[key] = copy.deepcopy(old)
    return reverse

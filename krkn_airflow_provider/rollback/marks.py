"""Marks on objects the provider patches (Nodes, Services), so a sweeper can find them.

A created object carries the provider's labels; a patched one (a cordoned Node, a hijacked
Service's selector) is someone else's, and without a mark nothing points at it once the
journal is lost. So every patch also sets one annotation, removed by the same undo::

    krkn.io/patch-<nonce>: {"run": "<uuid>", "scenario": "...", "undo": {...}, "expect": {...}, "at": <ns>}

``undo`` is the reverse merge patch and ``expect`` the values the chaos set, as in the undo
record. The sweeper (rollback/sweep.py) reports a mark whose run has no pending record for
it and reverts it with ``undo`` only while ``expect`` still holds. An annotation is cluster
input anyone with ``patch`` on the object can write, so a mark is applied only when it
touches the fields a shipped scenario patches (``REVERTIBLE``), on the marked object itself.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

PREFIX = "krkn.io/patch-"
KEY = re.compile(r"krkn\.io/patch-[a-z]{8}")
#: kind -> the spec fields a shipped scenario patches (node cordon/taint, service hijack).
REVERTIBLE: dict[str, frozenset[str]] = {
    "Node": frozenset({"unschedulable", "taints"}),
    "Service": frozenset({"selector"}),
}
MAX_VALUE = 64 * 1024


def mark(
    nonce: str, *, run_uuid: str, scenario: str, undo: dict[str, Any], expect: dict[str, Any]
) -> tuple[str, str]:
    """The annotation (key, value) for one patch record."""
    value = {"run": run_uuid, "scenario": scenario, "undo": undo, "expect": expect, "at": time.time_ns()}
    return PREFIX + nonce, json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Mark:
    """A parsed, shape-checked mark."""

    key: str
    run_uuid: str
    scenario: str
    undo: dict[str, Any]
    expect: dict[str, Any]
    at: int = 0  # time_ns of the patch: several marks on one object are reverted newest first


def _spec_only(kind: str, patch: Any) -> bool:
    allowed = REVERTIBLE.get(kind)
    if allowed is None or not isinstance(patch, dict) or set(patch) != {"spec"}:
        return False
    spec = patch["spec"]
    return isinstance(spec, dict) and bool(spec) and set(spec) <= allowed


def parse_marks(obj: dict[str, Any]) -> tuple[list[Mark], list[str]]:
    """The marks on ``obj``, newest first, and for each annotation with our prefix that is not a mark, why."""
    kind = str(obj.get("kind") or "")
    marks, bad = [], []
    for key, value in sorted(((obj.get("metadata") or {}).get("annotations") or {}).items()):
        if not key.startswith(PREFIX):
            continue
        try:
            if not KEY.fullmatch(key) or len(value) > MAX_VALUE:
                raise ValueError("not a mark this provider writes")
            data = json.loads(value)
            if not isinstance(data, dict) or not isinstance(data.get("run"), str):
                raise ValueError("no run")
            if not (_spec_only(kind, data.get("undo")) and _spec_only(kind, data.get("expect"))):
                raise ValueError(f"changes fields no scenario patches on a {kind or 'object'}")
        except (TypeError, ValueError) as error:
            bad.append(f"{key}: {error}")
            continue
        at = data["at"] if isinstance(data.get("at"), int) else 0
        marks.append(
            Mark(key, data["run"], str(data.get("scenario") or ""), data["undo"], data["expect"], at)
        )
    return sorted(marks, key=lambda m: -m.at), bad

"""Find and remove objects the provider created, and revert patches, that no pending record will undo.

Every object the provider creates carries ``managed-by``, run and nonce labels, and its
undo record's guard holds the same labels. An object whose record is executed, or that has
no record at all (a crash between create and mark, a hand-made copy), is a leftover.

Every object the provider patches (Nodes, Services) carries a mark annotation while the
change is in place (rollback/marks.py). A mark no pending record will remove is a leftover
too: "removing" it reverts the patch from the mark, only while the chaos values still hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from krkn_airflow_provider.rollback.marks import Mark, parse_marks
from krkn_airflow_provider.rollback.records import MANAGED_BY, MANAGED_BY_LABEL, NONCE_LABEL, RUN_LABEL
from krkn_airflow_provider.rollback.store import Store
from krkn_airflow_provider.rollback.undo import ALREADY_CLEAN, UndoFailed, apply_undo, matches, status_of

# The kinds the shipped scenarios patch (mark annotations).
MARKED_KINDS: tuple[tuple[str, str], ...] = (("v1", "Node"), ("v1", "Service"))

# The kinds the shipped scenarios create.
SWEPT_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "Pod"),
    ("v1", "ConfigMap"),
    ("v1", "Service"),
    ("batch/v1", "Job"),
    ("apps/v1", "DaemonSet"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)


@dataclass(frozen=True)
class Leftover:
    api_version: str
    kind: str
    namespace: str | None
    name: str
    labels: dict[str, str]
    reason: str
    mark: Mark | None = None  # a patch to revert, not an object to delete

    def describe(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        run = self.mark.run_uuid if self.mark is not None else self.labels.get(RUN_LABEL, "?")
        what = f" patched ({self.mark.key})" if self.mark is not None else ""
        return f"{self.kind} {where}{what} (run {run}): {self.reason}"


def _guards(store: Store, run_uuid: str) -> dict[str, str]:
    """Nonce -> state of every record of one run."""
    states: dict[str, str] = {}
    for stored in store.records(run_uuid=run_uuid):
        nonce = stored.record.guard.get(NONCE_LABEL) if stored.record is not None else None
        if nonce and states.get(nonce) != "pending":
            states[nonce] = stored.entry.state
    return states


def find_leftovers(
    store: Store, client: Any, *, run_uuid: str | None = None, namespace: str | None = None
) -> list[Leftover]:
    """Objects with the provider's labels that no pending record covers."""
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    if run_uuid:
        selector += f",{RUN_LABEL}={run_uuid}"
    runs: dict[str, dict[str, str]] = {}
    found: list[Leftover] = []
    for api_version, kind in SWEPT_KINDS:
        resource = client.resources.get(api_version=api_version, kind=kind)
        listing = client.get(resource, namespace=namespace, label_selector=selector)
        for item in listing.to_dict().get("items") or []:
            metadata = item["metadata"]
            labels = metadata.get("labels") or {}
            run = labels.get(RUN_LABEL, "")
            if run not in runs:
                runs[run] = _guards(store, run) if run else {}
            state = runs[run].get(labels.get(NONCE_LABEL, ""))
            if state == "pending":
                continue  # a replay will undo it
            reason = "its record was executed" if state == "executed" else "no record of it in the journal"
            found.append(
                Leftover(api_version, kind, metadata.get("namespace"), metadata["name"], labels, reason)
            )
    return found + _marked(store, client, run_uuid=run_uuid, namespace=namespace)


def _mark_states(store: Store, run_uuid: str) -> dict[str, str]:
    """Mark annotation key -> state of the patch record that sets it, for one run."""
    states: dict[str, str] = {}
    for stored in store.records(run_uuid=run_uuid):
        record = stored.record
        if record is None or record.action != "patch":
            continue
        annotations = ((record.expect or {}).get("metadata") or {}).get("annotations") or {}
        for key in annotations:
            if states.get(key) != "pending":
                states[key] = stored.entry.state
    return states


def _marked(store: Store, client: Any, *, run_uuid: str | None, namespace: str | None) -> list[Leftover]:
    """Patched objects whose mark no pending record will remove."""
    runs: dict[str, dict[str, str]] = {}
    found: list[Leftover] = []
    for api_version, kind in MARKED_KINDS:
        resource = client.resources.get(api_version=api_version, kind=kind)
        listing = client.get(resource, namespace=namespace if resource.namespaced else None)
        for item in listing.to_dict().get("items") or []:
            item = {**item, "kind": kind}
            metadata = item["metadata"]
            marks, bad = parse_marks(item)
            where = Leftover(api_version, kind, metadata.get("namespace"), metadata["name"], {}, "")
            for problem in bad:
                found.append(_with(where, f"annotation refused, left alone: {problem}", None))
            for mark in marks:
                if run_uuid and mark.run_uuid != run_uuid:
                    continue
                if mark.run_uuid not in runs:
                    runs[mark.run_uuid] = _mark_states(store, mark.run_uuid)
                state = runs[mark.run_uuid].get(mark.key)
                if state == "pending":
                    continue  # a replay will undo it
                reason = (
                    "its record was executed" if state == "executed" else "no record of it in the journal"
                )
                found.append(_with(where, reason, mark))
    return found


def _with(base: Leftover, reason: str, mark: Mark | None) -> Leftover:
    return Leftover(base.api_version, base.kind, base.namespace, base.name, base.labels, reason, mark)


def revert_mark(client: Any, leftover: Leftover) -> str:
    """Revert a marked patch from its mark, only while the chaos values are in place.

    The spec is restored (and the mark removed) in one conditional patch; a spec a person
    already put back only loses the mark; a spec changed since is ``diverged`` and kept.
    """
    mark = leftover.mark
    if mark is None:
        return "failed: no mark to revert"
    remove = {"metadata": {"annotations": {mark.key: None}}}
    base = {
        "action": "patch",
        "api_version": leftover.api_version,
        "kind": leftover.kind,
        "namespace": leftover.namespace,
        "name": leftover.name,
    }
    resource = client.resources.get(api_version=leftover.api_version, kind=leftover.kind)
    try:
        current = client.get(resource, name=leftover.name, namespace=leftover.namespace).to_dict()
    except Exception as error:
        if status_of(error) == 404:
            return ALREADY_CLEAN
        return f"failed: {error}"
    key = mark.key
    expect = {**mark.expect, "metadata": {"annotations": {key: current["metadata"]["annotations"].get(key)}}}
    if matches(current, mark.undo):
        record = {**base, "patch": remove, "expect": {"metadata": expect["metadata"]}}
    else:
        record = {**base, "patch": {**mark.undo, **remove}, "expect": expect}
    try:
        return apply_undo(client, record)
    except UndoFailed as error:
        return f"failed: {error}"


def remove_leftover(client: Any, leftover: Leftover) -> str:
    """Delete one leftover, only while it still carries the labels it was found with.

    A marked patch is reverted instead (``revert_mark``); a refused annotation is left alone.
    """
    if leftover.mark is not None:
        return revert_mark(client, leftover)
    if not leftover.labels:
        return "left alone"
    guard = {
        key: leftover.labels[key]
        for key in (MANAGED_BY_LABEL, RUN_LABEL, NONCE_LABEL)
        if key in leftover.labels
    }
    record = {
        "action": "delete",
        "api_version": leftover.api_version,
        "kind": leftover.kind,
        "namespace": leftover.namespace,
        "name": leftover.name,
        "guard": guard,
    }
    try:
        return apply_undo(client, record)
    except UndoFailed as error:
        return f"failed: {error}"

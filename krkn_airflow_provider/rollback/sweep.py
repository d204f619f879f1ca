"""Find and remove objects the provider created that no pending record will undo.

Every object the provider creates carries ``managed-by``, run and nonce labels, and its
undo record's guard holds the same labels. An object whose record is executed, or that has
no record at all (a crash between create and mark, a hand-made copy), is a leftover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from krkn_airflow_provider.errors import JournalError
from krkn_airflow_provider.rollback.records import MANAGED_BY, MANAGED_BY_LABEL, NONCE_LABEL, RUN_LABEL
from krkn_airflow_provider.rollback.store import Store
from krkn_airflow_provider.rollback.undo import UndoFailed, apply_undo

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

    def describe(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where} (run {self.labels.get(RUN_LABEL, '?')}): {self.reason}"


def _guards(store: Store, run_uuid: str) -> dict[str, str]:
    """Nonce -> state of every record of one run."""
    states: dict[str, str] = {}
    for entry in store.entries(run_uuid=run_uuid):
        try:
            guard = store.load(entry).data.get("guard") or {}
        except JournalError:
            continue
        nonce = guard.get(NONCE_LABEL)
        if nonce and states.get(nonce) != "pending":
            states[nonce] = entry.state
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
    return found


def remove_leftover(client: Any, leftover: Leftover) -> str:
    """Delete one leftover, only while it still carries the labels it was found with."""
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

"""The journal a scenario writes to: one run, one scenario, one task try."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from krkn_airflow_provider.rollback import naming
from krkn_airflow_provider.rollback.records import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NONCE_LABEL,
    RUN_LABEL,
    Origin,
    UndoRecord,
)
from krkn_airflow_provider.rollback.store import Entry, Prepared, Store
from krkn_airflow_provider.rollback.undo import DESCRIBED_FIELDS, describe


class Journal:
    """Write-ahead undo log of one scenario run.

    A scenario calls :meth:`record` *before* each change; if the record cannot be
    written the call raises and the change must not be made.

    :param store: where the version files go.
    :param origin: the run uuid, scenario type and Airflow ids stamped on every record.
    :param dry_run: log records instead of writing them.
    """

    def __init__(self, store: Store, origin: Origin, *, dry_run: bool = False) -> None:
        naming.check_run_uuid(origin.run_uuid)
        self.store = store
        self.origin = origin
        self.dry_run = dry_run
        self.recorded: list[Entry] = []
        self.planned: list[UndoRecord] = []

    @property
    def run_uuid(self) -> str:
        return self.origin.run_uuid

    def object_labels(self) -> dict[str, str]:
        """Labels for one object this run creates; use them as that object's record guard.

        The nonce makes the guard unique to one object, so an undo can never delete a
        look-alike created by someone else, or by another record.
        """
        return {
            MANAGED_BY_LABEL: MANAGED_BY,
            RUN_LABEL: self.origin.run_uuid,
            NONCE_LABEL: naming.new_suffix(),
        }

    def record(self, undo: UndoRecord) -> Entry | None:
        """Durably record ``undo``; returns the version file (``None`` on a dry run)."""
        prepared = self.prepare(undo)
        return None if prepared is None else self.commit(prepared)

    def prepare(self, undo: UndoRecord) -> Prepared | None:
        """Stamp, render and check ``undo`` (CPU work); ``None`` on a dry run, which only
        keeps it in :attr:`planned`. :meth:`commit` writes it (I/O, another thread may)."""
        update: dict[str, Any] = {"origin": self.origin}
        if not undo.description:
            # Only what describe() reads, without dumping a large manifest.
            update["description"] = describe({field: getattr(undo, field) for field in DESCRIBED_FIELDS})
        # Both fields are already valid (an Origin model, a string): no second validation
        # here, the store validates the rendered file before it writes it.
        stamped = undo.model_copy(update=update)
        if self.dry_run:
            self.planned.append(stamped)
            return None
        run_info: dict[str, Any] = {"dag_id": self.origin.dag_id, "run_id": self.origin.run_id}
        return self.store.prepare(stamped, run_info=run_info)

    def commit(self, prepared: Prepared) -> Entry:
        """Write a prepared record durably (see :meth:`record`)."""
        entry = self.store.commit(prepared)
        self.recorded.append(entry)
        return entry

    def commit_many(self, prepared: list[Prepared]) -> list[Entry]:
        """Write prepared records durably, all or none (see :meth:`record_burst`)."""
        entries = self.store.commit_many(prepared)
        self.recorded.extend(entries)
        return entries

    def adopt(self, entries: Sequence[Entry]) -> None:
        """Take on records another process wrote durably for this journal (a writer process
        forked from this one), as if :meth:`commit_many` had written them here."""
        self.store.adopt(entries)
        self.recorded.extend(entries)

    def record_burst(self, undos: Sequence[UndoRecord]) -> list[Entry]:
        """Durably record ``undos``, all before any of their changes is made (group commit).

        The records are rendered and checked, then written with one journal commit for
        their data and one folder sync for their names. When this returns every record
        survives a crash; if it raises, none is left and none of their changes may be made.
        """
        prepared = [self.prepare(undo) for undo in undos]
        return self.commit_many([item for item in prepared if item is not None])  # dry run: none

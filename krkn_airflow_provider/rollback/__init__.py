"""The rollback journal: undo records as version files, and their replay. No Airflow here."""

from __future__ import annotations

from krkn_airflow_provider.rollback.journal import Journal
from krkn_airflow_provider.rollback.naming import new_run_uuid, run_uuid_for
from krkn_airflow_provider.rollback.records import Origin, UndoRecord, clean_manifest, reverse_merge_patch
from krkn_airflow_provider.rollback.replay import RecordResult, ReplaySummary, RetryPolicy, replay
from krkn_airflow_provider.rollback.store import Entry, Store, resolve_location

__all__ = [
    "Entry",
    "Journal",
    "Origin",
    "RecordResult",
    "ReplaySummary",
    "RetryPolicy",
    "Store",
    "UndoRecord",
    "clean_manifest",
    "new_run_uuid",
    "replay",
    "resolve_location",
    "reverse_merge_patch",
    "run_uuid_for",
]

"""What every ``krkn-rollback`` verb prints with: exit codes, JSON, ages, the empty-selection line."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from krkn_airflow_provider.report.tables import age
from krkn_airflow_provider.rollback.store import Entry, Store

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def dump(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, default=str)
    out.write("\n")


def entry_age(entry: Entry, now: float) -> str:
    return age(now - entry.name.ts_ns / 1e9)


def nothing_matches(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    total = store.entries()
    where = store.backend.display()
    if not total:
        out.write(f"no version files under {where}\n")
        return EXIT_OK
    asked = [
        f"{name.replace('_', '-')} {getattr(args, name)}"
        for name in ("state", "run_uuid", "run_id", "dag_id", "task_id", "scenario")
        if getattr(args, name, None)
    ]
    states = {state: sum(1 for entry in total if entry.state == state) for state in ("pending", "executed")}
    out.write(
        f"no version files match ({', '.join(asked)}) under {where}; "
        f"it holds {states['pending']} pending and {states['executed']} executed\n"
    )
    return EXIT_OK

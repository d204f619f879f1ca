"""Plain-text tables for the end of task logs and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, limit: int | None = 60) -> str:
    """A fixed-width table; cells are cut at ``limit`` characters (``None``: never)."""
    cells = [[str(cell if cell is not None else "-")[:limit] for cell in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = ["  ".join(header.ljust(widths[i]) for i, header in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def _s(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}s"


def scenario_table(result: dict[str, Any]) -> str:
    """One row per scenario entry: targets, records, recovery times, probes."""
    recovery = {item.get("entry"): item for item in result.get("recovery") or []}
    probes = result.get("probes") or []
    held = sum(1 for probe in probes if probe.get("ok"))
    rows = []
    for entry in result.get("entries") or []:
        item = recovery.get(entry.get("entry")) or {}
        rows.append(
            [
                entry.get("entry"),
                len(entry.get("targets") or []),
                len(entry.get("records") or []),
                _s(item.get("first_replacement_seconds")),
                _s(item.get("all_ready_seconds")),
                _s(item.get("probes_passing_seconds")),
                _s(entry.get("recovery_seconds")),
                entry.get("cleanup") or "-",
            ]
        )
    headers = ["entry", "targets", "records", "1st pod", "all ready", "probes ok", "recovered", "cleanup"]
    text = table(headers, rows)
    return f"{text}\nprobe checks: {held} held, {len(probes) - held} failed"


def replay_table(summary: dict[str, Any]) -> str:
    """One row per record of a replay summary (``ReplaySummary.to_dict()``)."""
    rows = [
        [record.get("record"), record.get("task_id"), record.get("outcome"), record.get("description")]
        for record in summary.get("records") or []
    ]
    return table(["record", "task", "outcome", "undo"], rows)


def age(seconds: float) -> str:
    """A short age as kubectl prints it: ``45s``, ``12m``, ``3h``, ``5d`` (``0s`` for the future)."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= size):
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"

"""Per-task result files and replay outcome files, next to a run's version files.

Both are small JSON documents written durably through the store's backend into the
run's context folder (the journal's listings ignore them)::

    <context>/<task_id>.<try>.result.json            one chaos task try (format below)
    <context>/<task_id>.<try>.m<map>.result.json     the same for a mapped task
    <context>/replay.<ts_ns>.<source>.json           outcomes of one replay, per record
    <context>/task-states.json                       the states Airflow gave the run's chaos tasks
    <context>/gameday-report.html, gameday-report.xml  the rendered report

A task result (``"format": "krkn-task-result/1"``)::

    {"format", "run_uuid", "dag_id", "run_id", "task_id", "try_number", "map_index",
     "scenario_type", "status": "success"|"failed", "error", "dry_run",
     "started_at", "ended_at" (ISO 8601, UTC), "targets": [...], "records": [ids],
     "recovery": [{"entry", "injected_at", "first_replacement_seconds", "all_ready_seconds",
                   "probes_passing_seconds", "scenario_recovery_seconds", "pod_targets"}],
     "probes": [{"probe", "type", "phase": "before"|"hold"|"after", "ok", "message", "at",
                 "seconds"}]}
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from krkn_airflow_provider.errors import JournalError, UnsafeName
from krkn_airflow_provider.rollback import Store
from krkn_airflow_provider.rollback.naming import CONTEXT_INFO, ContextName, check_run_uuid

RESULT_FORMAT = "krkn-task-result/1"
REPLAY_FORMAT = "krkn-replay-outcomes/1"
STATES_FORMAT = "krkn-task-states/1"
TASK_STATES = "task-states.json"
RESULT_RE = re.compile(
    r"^(?P<task>[A-Za-z0-9_.-]{1,250}?)\.(?P<try>[0-9]{1,6})(?:\.m(?P<map>[0-9]{1,9}))?\.result\.json$"
)
REPLAY_RE = re.compile(r"^replay\.(?P<ts>[0-9]{1,20})\.(?P<source>[A-Za-z0-9_.-]{1,250})\.json$")
_SAFE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
REPORT_HTML = "gameday-report.html"
REPORT_XML = "gameday-report.xml"


def _safe(part: str, what: str) -> str:
    if not _SAFE_RE.match(part) or part in (".", ".."):
        raise UnsafeName(f"{what} {part!r} cannot be part of a file name")
    return part


def result_file_name(task_id: str, try_number: int, map_index: int | None = None) -> str:
    name = f"{_safe(task_id, 'task id')}.{int(try_number)}"
    if map_index is not None and map_index >= 0:
        name += f".m{int(map_index)}"
    name = f"{name}.result.json"
    if not RESULT_RE.match(name):
        raise UnsafeName(f"{name!r} is not a result file name")
    return name


def context_for(store: Store, run_uuid: str, run_info: dict[str, Any] | None = None) -> ContextName:
    """The run's context folder, created (with its ``context.json``) when no record made it yet."""
    run_uuid = check_run_uuid(run_uuid)
    contexts = store.contexts(run_uuid)
    if contexts:
        return contexts[0]
    store.check_writable()
    context = ContextName(time.time_ns(), run_uuid)
    store.backend.make_context(context.name)
    info = {"run_uuid": run_uuid, "created": datetime.now(UTC).isoformat(), **(run_info or {})}
    store.backend.create_exclusive(context.name, CONTEXT_INFO, json.dumps(info).encode())
    return context


def _dump(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, default=str) + "\n").encode()


def write_task_result(store: Store, result: dict[str, Any]) -> str:
    """Write one task try's result durably; returns where it went."""
    document = {"format": RESULT_FORMAT, **result}
    run_uuid = str(document["run_uuid"])
    name = result_file_name(
        str(document["task_id"]), int(document.get("try_number") or 0), document.get("map_index")
    )
    info = {"dag_id": document.get("dag_id"), "run_id": document.get("run_id")}
    context = context_for(store, run_uuid, info)
    store.backend.write_durable(context.name, name, _dump(document))
    return store.backend.display(context.name, name)


def write_replay_outcomes(store: Store, run_uuid: str, summary: dict[str, Any], *, source: str) -> str | None:
    """Record what a replay did to each record (``ReplaySummary.to_dict()``), for the report."""
    records = summary.get("records") or []
    if not records or summary.get("dry_run"):
        return None
    context = context_for(store, run_uuid)
    ts = time.time_ns()
    name = f"replay.{ts}.{_safe(source, 'source')}.json"
    document = {
        "format": REPLAY_FORMAT,
        "run_uuid": run_uuid,
        "source": source,
        "at": datetime.now(UTC).isoformat(),
        "records": records,
    }
    store.backend.write_durable(context.name, name, _dump(document))
    return store.backend.display(context.name, name)


def _read_json(store: Store, context: ContextName, name: str) -> dict[str, Any] | None:
    try:
        data = json.loads(store.backend.read(context.name, name))
    except (OSError, ValueError, JournalError):  # a FIFO, a symlink, a huge file: skipped
        return None
    return data if isinstance(data, dict) else None


def read_task_results(store: Store, run_uuid: str) -> list[dict[str, Any]]:
    """Every task result of the run, in start order."""
    found = []
    for context in store.contexts(check_run_uuid(run_uuid)):
        for name in store.backend.list_files(context.name):
            if RESULT_RE.match(name):
                data = _read_json(store, context, name)
                if data is not None and data.get("format") == RESULT_FORMAT:
                    found.append(data)
    found.sort(key=lambda item: (str(item.get("started_at") or ""), str(item.get("task_id"))))
    return found


def read_replay_documents(store: Store, run_uuid: str) -> list[dict[str, Any]]:
    """Every replay outcome document of the run (rollback task, watcher, CLI), oldest first."""
    documents = []
    for context in store.contexts(check_run_uuid(run_uuid)):
        for name in store.backend.list_files(context.name):
            match = REPLAY_RE.match(name)
            if match:
                data = _read_json(store, context, name)
                if data is not None and data.get("format") == REPLAY_FORMAT:
                    documents.append((int(match["ts"]), data))
    return [document for _, document in sorted(documents, key=lambda item: item[0])]


def read_replay_outcomes(store: Store, run_uuid: str) -> dict[str, dict[str, Any]]:
    """The latest replay outcome of each record id of the run."""
    latest: dict[str, dict[str, Any]] = {}
    for document in read_replay_documents(store, run_uuid):
        for record in document.get("records") or []:
            if isinstance(record, dict) and record.get("record"):
                latest[str(record["record"])] = {
                    **record,
                    "source": document.get("source"),
                    "at": document.get("at"),
                }
    return latest


def write_task_states(
    store: Store,
    run_uuid: str,
    states: dict[str, str | None],
    *,
    source: str,
    notes: list[str] | None = None,
) -> str:
    """Record the states Airflow gave the run's chaos tasks (``{task_id: state}``), for the report.

    Written by the watcher (the run's last task); a later write replaces it.

    :param notes: what the watcher found wrong besides the tasks' states (e.g. records a
        task that reported success left pending), for the report's verdict.
    """
    context = context_for(store, run_uuid)
    document = {
        "format": STATES_FORMAT,
        "run_uuid": run_uuid,
        "source": _safe(source, "source"),
        "at": datetime.now(UTC).isoformat(),
        "states": {str(task): (None if state is None else str(state)) for task, state in states.items()},
        "order": [str(task) for task in states],  # the DAG's order (the file's keys are sorted)
        "notes": [str(note) for note in notes or []],
    }
    store.backend.write_durable(context.name, TASK_STATES, _dump(document))
    return store.backend.display(context.name, TASK_STATES)


def _states_document(store: Store, run_uuid: str) -> dict[str, Any]:
    for context in store.contexts(check_run_uuid(run_uuid)):
        if TASK_STATES in store.backend.list_files(context.name):
            data = _read_json(store, context, TASK_STATES) or {}
            if data.get("format") == STATES_FORMAT:
                return data
    return {}


def read_task_states(store: Store, run_uuid: str) -> dict[str, str | None]:
    """The chaos task states last recorded for the run (empty when none were)."""
    states = _states_document(store, run_uuid).get("states")
    if not isinstance(states, dict):
        return {}
    document = _states_document(store, run_uuid)
    order = [task for task in document.get("order") or [] if task in states]
    order += [task for task in states if task not in order]
    return {str(task): (None if states[task] is None else str(states[task])) for task in order}


def read_watcher_notes(store: Store, run_uuid: str) -> list[str]:
    """What the watcher found wrong besides the tasks' states (see ``write_task_states``)."""
    notes = _states_document(store, run_uuid).get("notes")
    return [str(note) for note in notes] if isinstance(notes, list) else []

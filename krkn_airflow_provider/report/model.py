"""What a gameday report shows, gathered from the journal of one run. No Airflow here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from krkn_airflow_provider.errors import KrknError
from krkn_airflow_provider.report.results import (
    read_replay_documents,
    read_replay_outcomes,
    read_task_results,
    read_task_states,
    read_watcher_notes,
)
from krkn_airflow_provider.rollback import Store
from krkn_airflow_provider.rollback.naming import check_run_uuid

# Weights of the resilience score; a part with nothing to count is left out and the
# others are scaled up so the weights still add to 1.
WEIGHTS = {"scenarios": 0.4, "probes": 0.4, "rollback": 0.2}
SCORE_FORMULA = (
    "score = 100 * (0.4*S + 0.4*P + 0.2*U) / (sum of the weights of the parts that have items), "
    "where S = chaos task tries that succeeded / chaos task tries (a task that was killed, failed, "
    "skipped or never ran because an upstream task failed counts as not succeeded), "
    "P = probe checks that held / probe checks, "
    "U = undo records executed / undo records"
)

# Final states of a record in the report.
PENDING, EXECUTED, FAILED = "pending", "executed", "failed"
# What a chaos task's row says (``state``), from its result file and Airflow's state.
SUCCESS, KILLED, UPSTREAM_FAILED, SKIPPED, NOT_RUN = (
    "success",
    "killed",
    "upstream failed",
    "skipped",
    "not run",
)
# Run verdicts, worst first.
UNSAFE, RUN_FAILED, PASSED, NO_RESULT = "UNSAFE", "FAILED", "PASSED", "NO RESULT"


@dataclass
class RecordRow:
    """One version file and what became of it."""

    id: str
    scenario: str
    state: str
    created_at: str
    description: str = ""
    action: str = ""
    target: str = ""
    task_id: str | None = None
    try_number: int | None = None
    outcome: str = ""
    message: str = ""
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Score:
    value: float | None
    parts: dict[str, tuple[int, int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "formula": SCORE_FORMULA,
            "parts": {name: {"good": good, "total": total} for name, (good, total) in self.parts.items()},
        }


@dataclass(frozen=True)
class Verdict:
    """The run in one word and one sentence, at the top of the report."""

    word: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"word": self.word, "text": self.text}


@dataclass
class RunReport:
    run_uuid: str
    location: str
    dag_id: str | None = None
    run_id: str | None = None
    created: str | None = None
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    tasks: list[dict[str, Any]] = field(default_factory=list)
    records: list[RecordRow] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    task_states: dict[str, str | None] = field(default_factory=dict)
    watcher_notes: list[str] = field(default_factory=list)
    replays: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {PENDING: 0, EXECUTED: 0, FAILED: 0}
        for record in self.records:
            counts[record.state] = counts.get(record.state, 0) + 1
        return counts

    @property
    def probes(self) -> list[dict[str, Any]]:
        return [
            {**probe, "task_id": task.get("task_id"), "try_number": task.get("try_number")}
            for task in self.tasks
            for probe in task.get("probes") or []
        ]

    def score(self) -> Score:
        scenario_ok = sum(1 for task in self.tasks if task.get("state") == SUCCESS)
        probes = self.probes
        probe_ok = sum(1 for probe in probes if probe.get("ok"))
        undone = sum(1 for record in self.records if record.state == EXECUTED)
        parts = {
            "scenarios": (scenario_ok, len(self.tasks)),
            "probes": (probe_ok, len(probes)),
            "rollback": (undone, len(self.records)),
        }
        weight = sum(WEIGHTS[name] for name, (_, total) in parts.items() if total)
        if not weight:
            return Score(None, parts)
        value = sum(WEIGHTS[name] * good / total for name, (good, total) in parts.items() if total)
        return Score(round(100 * value / weight, 1), parts)

    def verdict(self) -> Verdict:
        """PASSED, FAILED (a task did not succeed or a probe failed), UNSAFE (undo left to do)."""
        bad = [task for task in self.tasks if task.get("state") != SUCCESS]
        lost = [probe for probe in self.probes if not probe.get("ok")]
        counts = self.counts
        left = counts[PENDING] + counts[FAILED]
        problems = []
        if bad:
            named = ", ".join(f"{task.get('task_id')} {task.get('state')}" for task in bad)
            problems.append(f"{len(bad)} of {len(self.tasks)} chaos task(s) did not succeed ({named})")
        if lost:
            problems.append(f"{len(lost)} of {len(self.probes)} probe check(s) failed")
        problems += self.watcher_notes
        if left:
            text = f"{left} undo record(s) not undone: the cluster may still carry chaos changes"
            return Verdict(UNSAFE, "; ".join([text, *problems]))
        undone = (
            f"all {len(self.records)} change(s) were undone" if self.records else "no change was recorded"
        )
        if problems:
            return Verdict(RUN_FAILED, "; ".join([*problems, undone]))
        if not self.tasks:
            return Verdict(NO_RESULT, f"no chaos task has reported yet; {undone}")
        return Verdict(
            PASSED, f"all {len(self.tasks)} chaos task(s) succeeded, every probe check held, {undone}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_uuid": self.run_uuid,
            "verdict": self.verdict().to_dict(),
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "location": self.location,
            "generated_at": self.generated_at,
            "counts": self.counts,
            "score": self.score().to_dict(),
            "tasks": self.tasks,
            "records": [record.to_dict() for record in self.records],
        }


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat()


def record_rows(store: Store, run_uuid: str) -> list[RecordRow]:
    """Every version file of the run, oldest first, with its final state."""
    outcomes = read_replay_outcomes(store, run_uuid)
    rows = []
    for stored in store.records(run_uuid=run_uuid):
        entry, record = stored.entry, stored.record
        row = RecordRow(
            id=entry.id,
            scenario=entry.name.scenario,
            state=entry.state,
            created_at=_iso(entry.name.ts_ns),
            path=store.path(entry),
        )
        if record is None:
            row.message = f"unreadable: {stored.error}"
        else:
            row.description, row.action = record.description, record.action
            where = f"{record.namespace}/{record.name}" if record.namespace else record.name
            row.target = f"{record.kind} {where}"
            if record.origin is not None:
                row.task_id, row.try_number = record.origin.task_id, record.origin.try_number
        outcome = outcomes.get(entry.id)
        if outcome is not None:
            row.outcome = str(outcome.get("outcome") or "")
            row.message = row.message or str(outcome.get("message") or "")
            if entry.state == PENDING and row.outcome == "failed":
                row.state = FAILED
        rows.append(row)
    return rows


def build_report(store: Store, run_uuid: str) -> RunReport:
    """Everything the journal knows about one run: its task results and its records."""
    run_uuid = check_run_uuid(run_uuid)
    contexts = store.contexts(run_uuid)
    if not contexts:
        raise KrknError(f"no run {run_uuid} under {store.backend.display()}")
    report = RunReport(run_uuid=run_uuid, location=store.backend.display())
    report.contexts = [store.backend.display(context.name) for context in contexts]
    for context in contexts:
        info = store.context_info(context)
        report.dag_id = report.dag_id or info.get("dag_id")
        report.run_id = report.run_id or info.get("run_id")
        report.created = report.created or info.get("created")
    report.records = record_rows(store, run_uuid)
    report.task_states = read_task_states(store, run_uuid)
    report.watcher_notes = read_watcher_notes(store, run_uuid)
    report.tasks = task_rows(read_task_results(store, run_uuid), report.task_states, report.records)
    report.replays = replay_runs(store, run_uuid)
    return report


def _state_without_result(airflow_state: str | None, wrote_records: bool) -> str:
    """A chaos task that left no result file: what became of it."""
    if airflow_state == "upstream_failed":
        return UPSTREAM_FAILED
    if airflow_state == "skipped":
        return SKIPPED
    if airflow_state in (None, "none", "scheduled", "queued", "removed") and not wrote_records:
        return NOT_RUN
    if wrote_records:
        # It changed the cluster but never reported: killed (SIGKILL, OOM, lost worker),
        # whatever Airflow says (a SIGKILLed task can even be reported success).
        return KILLED
    return SUCCESS if airflow_state == "success" else FAILED


def task_rows(
    results: list[dict[str, Any]], states: dict[str, str | None], records: list[RecordRow]
) -> list[dict[str, Any]]:
    """One row per chaos task try, plus one per chaos task that left no result file.

    ``state`` is what the report shows: ``success``/``failed`` from the result file (made
    ``failed`` when Airflow failed a task whose try had reported success), else derived
    from Airflow's state and the records the task wrote (``killed``, ``upstream failed``...).
    """
    rows: list[dict[str, Any]] = []
    # The latest try of each task, per map index (a mapped task has one per instance).
    latest: dict[str, dict[Any, dict[str, Any]]] = {}
    for result in results:
        row = {**result, "state": SUCCESS if result.get("status") == "success" else FAILED}
        row["airflow_state"] = None
        rows.append(row)
        instances = latest.setdefault(str(result.get("task_id")), {})
        last = instances.get(result.get("map_index"))
        if last is None or int(row.get("try_number") or 0) >= int(last.get("try_number") or 0):
            instances[result.get("map_index")] = row
    written: dict[str, list[str]] = {}
    for record in records:
        if record.task_id:
            written.setdefault(str(record.task_id), []).append(record.id)
    for task_id, airflow_state in states.items():
        if task_id in latest:
            for map_index, last in latest[task_id].items():
                last["airflow_state"] = airflow_state
                # A mapped task's state is its worst instance's: it says nothing of this one.
                mapped = map_index is not None and int(map_index) >= 0
                if not mapped and last["state"] == SUCCESS and airflow_state not in (None, "success"):
                    last["state"] = FAILED
            continue
        state = _state_without_result(airflow_state, bool(written.get(task_id)))
        rows.append(_missing_row(task_id, state, airflow_state, written.get(task_id) or [], records))
    for task_id, ids in written.items():
        if task_id not in latest and task_id not in states:
            rows.append(_missing_row(task_id, KILLED, None, ids, records))
    return rows


def _missing_row(
    task_id: str, state: str, airflow_state: str | None, ids: list[str], records: list[RecordRow]
) -> dict[str, Any]:
    own = [record for record in records if record.id in set(ids)]
    why = {
        KILLED: "wrote undo records but no result: killed (SIGKILL, OOM, lost worker) before it finished",
        UPSTREAM_FAILED: "never ran: an upstream task failed",
        SKIPPED: "skipped",
        NOT_RUN: "never ran",
        FAILED: "failed before it wrote a result",
        SUCCESS: "",
    }[state]
    return {
        "task_id": task_id,
        "try_number": max((record.try_number or 0 for record in own), default=None),
        "scenario_type": own[0].scenario if own else "-",
        "status": state,
        "state": state,
        "airflow_state": airflow_state,
        "error": why,
        "started_at": own[0].created_at if own else None,
        "ended_at": None,
        "targets": [record.target for record in own],
        "records": ids,
        "recovery": [],
        "probes": [],
    }


def replay_runs(store: Store, run_uuid: str) -> list[dict[str, Any]]:
    """Every replay of the run (rollback task, watcher, CLI), oldest first: who, when, outcomes."""
    return [
        {
            "source": document.get("source"),
            "at": document.get("at"),
            "records": len(document.get("records") or []),
            "outcomes": _outcome_counts(document.get("records") or []),
        }
        for document in read_replay_documents(store, run_uuid)
    ]


def _outcome_counts(records: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        if isinstance(record, dict):
            outcome = str(record.get("outcome") or "?")
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@dataclass
class RunSummary:
    """One line of the runs list (UI page, CLI)."""

    run_uuid: str
    dag_id: str | None
    run_id: str | None
    created: str | None
    pending: int
    executed: int
    failed: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_runs(store: Store) -> list[RunSummary]:
    """Every run under the store, newest first, with its record counts."""
    contexts: dict[str, list[Any]] = {}
    for context in store.contexts():
        contexts.setdefault(context.run_uuid, []).append(context)
    runs = []
    for run_uuid, items in contexts.items():
        info = store.context_info(items[0])
        outcomes = read_replay_outcomes(store, run_uuid)
        counts = {PENDING: 0, EXECUTED: 0, FAILED: 0}
        for entry in store.entries(contexts=items):
            state: str = entry.state
            if state == PENDING and (outcomes.get(entry.id) or {}).get("outcome") == "failed":
                state = FAILED
            counts[state] += 1
        runs.append(
            RunSummary(
                run_uuid,
                info.get("dag_id"),
                info.get("run_id"),
                info.get("created") or _iso(items[0].ts_ns),
                counts[PENDING],
                counts[EXECUTED],
                counts[FAILED],
            )
        )
    runs.sort(key=lambda run: str(run.created or ""), reverse=True)
    return runs

"""What a gameday report shows, gathered from the journal of one run. No Airflow here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from krkn_airflow_provider.errors import KrknError
from krkn_airflow_provider.report.results import read_replay_outcomes, read_task_results
from krkn_airflow_provider.rollback import Store
from krkn_airflow_provider.rollback.naming import check_run_uuid

# Weights of the resilience score; a part with nothing to count is left out and the
# others are scaled up so the weights still add to 1.
WEIGHTS = {"scenarios": 0.4, "probes": 0.4, "rollback": 0.2}
SCORE_FORMULA = (
    "score = 100 * (0.4*S + 0.4*P + 0.2*U) / (sum of the weights of the parts that have items), "
    "where S = scenario task tries that succeeded / scenario task tries, "
    "P = probe checks that held / probe checks, "
    "U = undo records executed / undo records"
)

# Final states of a record in the report.
PENDING, EXECUTED, FAILED = "pending", "executed", "failed"


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
        scenario_ok = sum(1 for task in self.tasks if task.get("status") == "success")
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_uuid": self.run_uuid,
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
    for entry in store.entries(run_uuid=run_uuid):
        row = RecordRow(
            id=entry.id,
            scenario=entry.name.scenario,
            state=entry.state,
            created_at=_iso(entry.name.ts_ns),
            path=store.path(entry),
        )
        try:
            data = store.load(entry).data
        except KrknError as error:
            row.message = f"unreadable: {error}"
            data = {}
        origin = data.get("origin") or {}
        row.description = str(data.get("description") or "")
        row.action = str(data.get("action") or "")
        if data:
            where = (
                f"{data.get('namespace')}/{data.get('name')}"
                if data.get("namespace")
                else str(data.get("name"))
            )
            row.target = f"{data.get('kind')} {where}"
        row.task_id = origin.get("task_id")
        row.try_number = origin.get("try_number")
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
    report.tasks = read_task_results(store, run_uuid)
    report.records = record_rows(store, run_uuid)
    return report


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

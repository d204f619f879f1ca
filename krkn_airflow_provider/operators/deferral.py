"""The deferrable side of ``ChaosScenarioOperator``: hand the hold to the triggerer, resume.

With ``deferrable=True`` each entry is injected in the worker, then the task defers to
``ChaosHoldTrigger`` for the hold and frees its worker slot. The resumed task (maybe on
another worker) rebuilds everything from the trigger's event and the journal: it undoes
the entry's records and checks recovery through the same ``finish_entry`` the in-worker
path uses, then goes on with the next entry. Nothing lives only in memory across the
deferral. A dry run and a scenario type that cannot carry its state hold in the worker.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, TaskDeferred

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback import run_uuid_for
from krkn_airflow_provider.scenarios import ScenarioSummary, load_configs, run_scenario, scenario_class
from krkn_airflow_provider.scenarios.base import (
    EntryResult,
    finish_entry,
    inject_entry,
    plan_entries,
)
from krkn_airflow_provider.triggers.hold import ChaosHoldTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from krkn_airflow_provider.operators.chaos import ChaosScenarioOperator
    from krkn_airflow_provider.scenarios import Plan, Scenario, ScenarioContext

# The defer timeout is the hold + dead_man_seconds (at least this margin): when the
# triggerer is gone, the task then fails and the rollback restores the cluster.
MIN_TIMEOUT_MARGIN = 10.0


def _entry(data: dict[str, Any]) -> EntryResult:
    return EntryResult(
        index=int(data["entry"]) - 1,
        targets=list(data.get("targets") or []),
        records=list(data.get("records") or []),
        cleanup=str(data.get("cleanup") or ""),
        recovery_seconds=data.get("recovery_seconds"),
    )


def run_entries(
    op: ChaosScenarioOperator, document: Any, ctx: ScenarioContext, *, source: str
) -> ScenarioSummary:
    if not op.deferrable or ctx.dry_run:
        return run_scenario(op.scenario_type, document, ctx, source=source)
    scenarios, first = plan_entries(op.scenario_type, document, ctx, source=source)
    summary = ScenarioSummary(op.scenario_type, ctx.journal.run_uuid, ctx.dry_run)
    return entries_from(op, scenarios, 0, first, ctx, summary, source=source)


def entries_from(
    op: ChaosScenarioOperator,
    scenarios: list[Scenario[Any]],
    start: int,
    first: Plan | None,
    ctx: ScenarioContext,
    summary: ScenarioSummary,
    *,
    source: str,
) -> ScenarioSummary:
    """Run the entries from ``start`` on; a deferrable entry's hold leaves for the triggerer."""
    for index in range(start, len(scenarios)):
        scenario = scenarios[index]
        targets = first if index == start else None
        result = inject_entry(op.scenario_type, scenarios, index, ctx, targets=targets, source=source)
        summary.entries.append(result)
        hold = scenario.hold_seconds()
        if hold > 0 and scenario.deferrable:
            defer_hold(op, ctx, scenario, summary, hold)
        if hold > 0:
            op.log.info("%s cannot defer its hold: holding in the worker", op.scenario_type)
        ctx.wait(hold, f"{op.scenario_type} entry {index + 1}")
        finish_entry(op.scenario_type, scenario, result, ctx)
    return summary


def defer_hold(
    op: ChaosScenarioOperator,
    ctx: ScenarioContext,
    scenario: Scenario[Any],
    summary: ScenarioSummary,
    hold: float,
) -> None:
    """Hand the hold of the last entry of ``summary`` to the triggerer (raises TaskDeferred)."""
    result = summary.entries[-1]
    observer = op._observer
    recoveries = observer.recovery() if observer is not None else []
    resume = {
        "entry": result.index,
        "targets": result.targets,
        "records": result.records,
        "records_so_far": op._earlier_records + [entry.id for entry in ctx.journal.recorded],
        "carried": scenario.carry(),
        "injected_at": observer.injected_at() if observer is not None else datetime.now(UTC).isoformat(),
        "entries": [entry.to_dict() for entry in summary.entries[:-1]],
        "started": op._started.isoformat(),
        "replayed_earlier_tries": op._replayed,
        "probes_before": observer.probe_results() if observer is not None else [],
        "recovery_before": recoveries[:-1],
        "deferred_holds": op._deferred_holds + 1,
    }
    trigger = ChaosHoldTrigger(
        run_uuid=ctx.journal.run_uuid,
        record_ids=result.records,
        hold_until=time.time() + hold,
        kubernetes_conn_id=op.kubernetes_conn_id,
        rollback_location=op.hook.location,
        storage_conn_id=op.storage_conn_id,
        probes=[probe.model_dump() for probe in (observer.probes if observer is not None else [])],
        probe_interval=op.probe_interval,
        dead_man_seconds=op.dead_man_seconds,
        resume=resume,
    )
    op.log.info(
        "deferring the hold of %g s to the triggerer (entry %d, %d record(s)); the worker slot is free",
        hold,
        result.index + 1,
        len(result.records),
    )
    timeout = timedelta(seconds=hold + max(op.dead_man_seconds, MIN_TIMEOUT_MARGIN))
    if observer is not None:
        observer.close()  # its pod sampler starts again on resume
    op.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)


def execute_complete(
    op: ChaosScenarioOperator, context: Context, event: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Resume after a deferred hold: undo the entry, check recovery, go on."""
    event = event or {}
    resume = event.get("resume") or {}
    try:
        started = datetime.fromisoformat(str(resume.get("started")))
    except ValueError:
        started = datetime.now(UTC)
    op._started = started
    try:
        result = resume_after_hold(op, context, event, resume)
    except TaskDeferred:
        raise  # the next entry's hold
    except BaseException as error:
        op._write_result(context, started, None, error)
        raise
    op._write_result(context, started, result, None)
    return result


def resume_after_hold(
    op: ChaosScenarioOperator, context: Context, event: dict[str, Any], resume: dict[str, Any]
) -> dict[str, Any]:
    if "entry" not in resume:
        raise AirflowException(f"resumed without the hold's state; the event was {event!r}")
    ti = context["ti"]
    document, source, observer, limits = op._inputs()
    run_uuid = run_uuid_for(ti.dag_id, ti.run_id)
    op._run_uuid = run_uuid
    store = op.hook.store
    ctx = op._scenario_context(store, op.hook.client, run_uuid, ti, observer, limits)
    op._earlier_records = list(resume.get("records_so_far") or [])
    op._replayed = list(resume.get("replayed_earlier_tries") or [])
    op._recovery_before = list(resume.get("recovery_before") or [])
    op._deferred_holds = int(resume.get("deferred_holds") or 0)
    index = int(resume["entry"])
    configs = load_configs(op.scenario_type, document, source=source)
    cls = scenario_class(op.scenario_type)
    scenarios = [cls(config, ctx) for config in configs]
    scenario = scenarios[index]
    scenario.restore(resume.get("carried") or {})
    summary = ScenarioSummary(op.scenario_type, run_uuid, ctx.dry_run)
    summary.entries = [_entry(item) for item in resume.get("entries") or []]
    result = EntryResult(index, list(resume.get("targets") or []), list(resume.get("records") or []))
    summary.entries.append(result)
    observer.resume(
        ctx,
        index,
        result.targets,
        injected_at=str(resume.get("injected_at") or ""),
        hold_results=list(resume.get("probes_before") or []) + list(event.get("probes") or []),
    )
    status, message = event.get("status"), str(event.get("message") or "")

    def run() -> ScenarioSummary:
        op.log.info("resumed after the hold (%s): %s", status, message.splitlines()[0] if message else "")
        if status == "probe_failed":
            observer.hold_failed(ctx, str(event.get("reason") or message), result.records)
        elif status != "success":
            replayed = ctx.undo(result.records, check=False)
            raise ScenarioError(f"the hold trigger failed ({replayed.line()}): {message}")
        finish_entry(op.scenario_type, scenario, result, ctx)
        return entries_from(op, scenarios, index + 1, None, ctx, summary, source=source)

    return op._drive(run, store=store, observer=observer, replayed=op._replayed)

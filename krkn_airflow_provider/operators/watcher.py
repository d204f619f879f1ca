"""The last task of a chaos experiment: leaves nothing pending, and fails the run if it went wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from krkn_airflow_provider.errors import KrknError
from krkn_airflow_provider.operators.rollback import RollbackOperator
from krkn_airflow_provider.report import write_report, write_task_states

if TYPE_CHECKING:
    from airflow.sdk import Context


class ChaosWatcherOperator(RollbackOperator):
    """Final check of a chaos experiment; runs when everything else is done.

    It replays whatever the run still has pending (records a killed task left behind
    while its siblings ran, or that a skipped rollback never saw), then fails the run
    when a chaos task did not return a summary (it failed, never ran, or was killed —
    even one Airflow reported as success) or when anything had to be undone here.
    Without it, ``one_failed`` rollbacks leave failed experiments looking green. It also
    records the states Airflow gave the chaos tasks and renders the run's gameday report,
    so a task killed before it could report shows as killed; its failure message ends
    with the report's location.

    :param chaos_task_ids: the chaos tasks whose summaries must be present.
    :param rollback_task_id: the rollback task, for the message.
    """

    template_fields: Sequence[str] = (*RollbackOperator.template_fields, "chaos_task_ids")
    ui_color = "#cd5c5c"

    def __init__(
        self, *, chaos_task_ids: Sequence[str], rollback_task_id: str | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.chaos_task_ids = list(chaos_task_ids)
        self.rollback_task_id = rollback_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        summary = self.replay(context)
        if self.sweep:
            self.sweep_leftovers(context)
        ti = context["ti"]
        undone_here = []
        if summary.results:
            undone_here.append(
                f"{len(summary.results)} record(s) were still pending and were undone by {ti.task_id}"
            )
        states = self.chaos_task_states(context)
        report = self._final_report(context, states, notes=undone_here)
        if not summary.ok:
            raise AirflowException(f"{summary.pending_message()}{report}")
        # No summary (failed, never ran, killed), or failed in Airflow's eyes (a mapped
        # task's summaries are there even when one of its instances failed).
        missing = [
            task_id
            for task_id in self.chaos_task_ids
            if ti.xcom_pull(task_ids=task_id) is None or states.get(task_id) in ("failed", "upstream_failed")
        ]
        problems = []
        if missing:
            problems.append(f"chaos task(s) did not finish: {', '.join(missing)}")
        problems += undone_here
        if problems:
            rolled = f"; see {self.rollback_task_id} for the rollback" if self.rollback_task_id else ""
            raise AirflowFailException("chaos experiment failed: " + "; ".join(problems) + rolled + report)
        self.log.info("chaos experiment finished cleanly: every chaos task reported, nothing pending")
        return summary.to_dict()

    def chaos_task_states(self, context: Context) -> dict[str, str | None]:
        """The states Airflow gave the chaos tasks of this run (``None``: not known)."""
        ti = context["ti"]
        states: dict[str, str | None] = dict.fromkeys(self.chaos_task_ids)
        try:
            found = ti.get_task_states(dag_id=ti.dag_id, task_ids=self.chaos_task_ids, run_ids=[ti.run_id])
        except Exception:
            self.log.warning("could not read the chaos tasks' states from Airflow", exc_info=True)
            return states
        mapped: dict[str, list[str | None]] = {}
        for key, state in (found.get(ti.run_id) or {}).items():
            value = None if state is None else str(getattr(state, "value", state))
            task_id, _, index = str(key).rpartition("_")
            if str(key) not in states and task_id in states and index.isdigit():
                mapped.setdefault(task_id, []).append(value)  # "<task>_<map index>"
            else:
                states[str(key)] = value
        for task_id, values in mapped.items():
            # A mapped task is as good as its worst instance.
            bad = [value for value in values if value != "success"]
            states[task_id] = bad[0] if bad else "success"
        return states

    def _final_report(self, context: Context, states: dict[str, str | None], *, notes: list[str]) -> str:
        """Record the chaos tasks' states and render the run's report; ``"; gameday report: <where>"``."""
        self.log.info("chaos task states: %s", ", ".join(f"{task} {state}" for task, state in states.items()))
        ti = context["ti"]
        try:
            store, run_uuid = self.hook.store, self.run_uuid(context)
            write_task_states(store, run_uuid, states, source=f"{ti.task_id}.{ti.try_number}", notes=notes)
            files = write_report(store, run_uuid)
        except (KrknError, OSError) as error:
            self.log.warning("could not write the gameday report: %s", error)
            return ""
        verdict = files.report.verdict()
        self.log.info("gameday report: %s (%s: %s)", files.html, verdict.word, verdict.text)
        return f"; gameday report: {files.html}"

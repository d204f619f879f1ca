"""The last task of a chaos experiment: leaves nothing pending, and fails the run if it went wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from krkn_airflow_provider.errors import KrknError
from krkn_airflow_provider.operators.rollback import RollbackOperator, _pending_message
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
        report = self._final_report(context)
        if not summary.ok:
            raise AirflowException(f"{_pending_message(summary)}{report}")
        ti = context["ti"]
        missing = [task_id for task_id in self.chaos_task_ids if ti.xcom_pull(task_ids=task_id) is None]
        problems = []
        if missing:
            problems.append(f"chaos task(s) did not finish: {', '.join(missing)}")
        if summary.results:
            problems.append(f"{len(summary.results)} record(s) were still pending and were undone here")
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
        for task_id, state in (found.get(ti.run_id) or {}).items():
            states[str(task_id)] = None if state is None else str(state)
        return states

    def _final_report(self, context: Context) -> str:
        """Record the chaos tasks' states and render the run's report; ``"; gameday report: <where>"``."""
        states = self.chaos_task_states(context)
        self.log.info("chaos task states: %s", ", ".join(f"{task} {state}" for task, state in states.items()))
        ti = context["ti"]
        try:
            store, run_uuid = self.hook.store, self.run_uuid(context)
            write_task_states(store, run_uuid, states, source=f"{ti.task_id}.{ti.try_number}")
            files = write_report(store, run_uuid)
        except (KrknError, OSError) as error:
            self.log.warning("could not write the gameday report: %s", error)
            return ""
        verdict = files.report.verdict()
        self.log.info("gameday report: %s (%s: %s)", files.html, verdict.word, verdict.text)
        return f"; gameday report: {files.html}"

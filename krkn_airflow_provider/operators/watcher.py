"""The last task of a chaos experiment: leaves nothing pending, and fails the run if it went wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from krkn_airflow_provider.operators.rollback import RollbackOperator, _pending_message

if TYPE_CHECKING:
    from airflow.sdk import Context


class ChaosWatcherOperator(RollbackOperator):
    """Final check of a chaos experiment; runs when everything else is done.

    It replays whatever the run still has pending (records a killed task left behind
    while its siblings ran, or that a skipped rollback never saw), then fails the run
    when a chaos task did not return a summary (it failed, never ran, or was killed —
    even one Airflow reported as success) or when anything had to be undone here.
    Without it, ``one_failed`` rollbacks leave failed experiments looking green.

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
        if not summary.ok:
            raise AirflowException(_pending_message(summary))
        ti = context["ti"]
        missing = [task_id for task_id in self.chaos_task_ids if ti.xcom_pull(task_ids=task_id) is None]
        problems = []
        if missing:
            problems.append(f"chaos task(s) did not finish: {', '.join(missing)}")
        if summary.results:
            problems.append(f"{len(summary.results)} record(s) were still pending and were undone here")
        if problems:
            rolled = f"; see {self.rollback_task_id} for the rollback" if self.rollback_task_id else ""
            raise AirflowFailException("chaos experiment failed: " + "; ".join(problems) + rolled)
        self.log.info("chaos experiment finished cleanly: every chaos task reported, nothing pending")
        return summary.to_dict()

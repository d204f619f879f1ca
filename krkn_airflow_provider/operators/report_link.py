"""``GamedayReportLink``: the task's "Gameday report" button, to the run's report page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

from krkn_airflow_provider.report.web import URL_PREFIX, report_path
from krkn_airflow_provider.rollback import run_uuid_for

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


def _base_url() -> str:
    from airflow.sdk import conf

    return str(conf.get("api", "base_url", fallback="") or "").rstrip("/")


class GamedayReportLink(BaseOperatorLink):
    """Opens the run's gameday report, served by the provider's UI plugin (``/krkn``)."""

    name = "Gameday report"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        # Called on the executed operator: a rollback of another run links to that run.
        run_uuid = getattr(operator, "report_run_uuid", None) or run_uuid_for(ti_key.dag_id, ti_key.run_id)
        return f"{_base_url()}{URL_PREFIX}{report_path(run_uuid)}"

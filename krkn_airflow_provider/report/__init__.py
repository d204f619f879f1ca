"""Gameday reports: per-task result files, the run report (HTML and JUnit). No Airflow here."""

from __future__ import annotations

from dataclasses import dataclass

from krkn_airflow_provider.report.html import render_html
from krkn_airflow_provider.report.junit import render_junit
from krkn_airflow_provider.report.model import (
    SCORE_FORMULA,
    RunReport,
    RunSummary,
    Verdict,
    build_report,
    list_runs,
)
from krkn_airflow_provider.report.results import (
    REPORT_HTML,
    REPORT_XML,
    context_for,
    read_task_results,
    result_file_name,
    write_replay_outcomes,
    write_task_result,
    write_task_states,
)
from krkn_airflow_provider.rollback import Store

__all__ = [
    "REPORT_HTML",
    "REPORT_XML",
    "SCORE_FORMULA",
    "ReportFiles",
    "RunReport",
    "RunSummary",
    "Verdict",
    "build_report",
    "context_for",
    "list_runs",
    "read_task_results",
    "render_html",
    "render_junit",
    "result_file_name",
    "write_replay_outcomes",
    "write_report",
    "write_task_result",
    "write_task_states",
]


@dataclass(frozen=True)
class ReportFiles:
    html: str
    junit: str
    report: RunReport


def write_report(store: Store, run_uuid: str, *, output: str | None = None) -> ReportFiles:
    """Render the run's report and write it into its context folder (or into ``output``).

    :param output: a local folder to write ``gameday-report.html``/``.xml`` into instead.
    """
    report = build_report(store, run_uuid)
    html_text, junit_text = render_html(report), render_junit(report)
    if output is not None:
        import os

        os.makedirs(output, mode=0o700, exist_ok=True)
        paths = []
        for name, text in ((REPORT_HTML, html_text), (REPORT_XML, junit_text)):
            path = os.path.join(output, name)
            # Owner-only whatever the umask: reports name targets, namespaces and errors.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            paths.append(path)
        return ReportFiles(paths[0], paths[1], report)
    context = store.contexts(report.run_uuid)[0]
    store.backend.write_durable(context.name, REPORT_HTML, html_text.encode())
    store.backend.write_durable(context.name, REPORT_XML, junit_text.encode())
    return ReportFiles(
        store.backend.display(context.name, REPORT_HTML),
        store.backend.display(context.name, REPORT_XML),
        report,
    )

"""The FastAPI app behind the "Chaos gameday" page: runs, their undo records, their reports.

Read-only: it lists and renders what the journal holds and changes nothing. Pages::

    /                          runs, newest first, with pending / executed / failed records
    /runs/{run_uuid}           one run's records with their state
    /runs/{run_uuid}/report.html, /report.xml   the run's gameday report, rendered now
    /api/runs                  the runs list as JSON
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response

from krkn_airflow_provider.errors import KrknError
from krkn_airflow_provider.report import build_report, list_runs, render_html, render_junit
from krkn_airflow_provider.report.html import CSS, STATE_COLOURS
from krkn_airflow_provider.report.model import record_rows
from krkn_airflow_provider.rollback import Store
from krkn_airflow_provider.rollback.naming import check_run_uuid


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1></header><main>{body}</main></body></html>"
    )


def _count(value: int, state: str) -> str:
    if not value:
        return "0"
    return f"<span class='pill' style='background:{STATE_COLOURS[state]}'>{value}</span>"


def make_app(store: Callable[[], Store], *, dependencies: Sequence[Any] = ()) -> FastAPI:
    """The app; ``store`` gives the journal on each request (the location may change)."""
    app = FastAPI(title="Krkn chaos gameday", dependencies=list(dependencies), docs_url=None, redoc_url=None)

    def run_uuid_or_404(run_uuid: str) -> str:
        try:
            return check_run_uuid(run_uuid)
        except KrknError:
            raise HTTPException(status_code=404, detail="not a run uuid") from None

    @app.get("/", response_class=HTMLResponse)
    def runs_page() -> HTMLResponse:
        journal = store()
        runs = list_runs(journal)
        rows = [
            f"<tr><td>{escape(str(run.dag_id or '-'))}</td><td>{escape(str(run.run_id or '-'))}</td>"
            f"<td><a href='runs/{run.run_uuid}'><code>{run.run_uuid}</code></a></td>"
            f"<td>{escape(str(run.created or ''))}</td>"
            f"<td>{_count(run.pending, 'pending')}</td><td>{_count(run.executed, 'executed')}</td>"
            f"<td>{_count(run.failed, 'failed')}</td>"
            f"<td><a href='runs/{run.run_uuid}/report.html'>report</a> · "
            f"<a href='runs/{run.run_uuid}/report.xml'>JUnit</a></td></tr>"
            for run in runs
        ]
        table = (
            "<table><tr><th>DAG</th><th>run</th><th>run uuid</th><th>created</th><th>pending</th>"
            "<th>executed</th><th>failed</th><th>report</th></tr>" + "".join(rows) + "</table>"
            if rows
            else "<p class='muted'>No runs in the journal yet.</p>"
        )
        body = (
            f"<section><h2>Runs</h2><p class='muted'>journal {escape(journal.backend.display())}; "
            "read-only: replay with the rollback task or <code>krkn-rollback execute</code>.</p>"
            f"{table}</section>"
        )
        return _page("Chaos gameday: runs and undo records", body)

    @app.get("/api/runs")
    def runs_json() -> JSONResponse:
        return JSONResponse([run.to_dict() for run in list_runs(store())])

    @app.get("/runs/{run_uuid}", response_class=HTMLResponse)
    def run_page(run_uuid: str) -> HTMLResponse:
        run_uuid = run_uuid_or_404(run_uuid)
        journal = store()
        if not journal.contexts(run_uuid):
            raise HTTPException(status_code=404, detail=f"no run {run_uuid} in the journal")
        rows = [
            f"<tr><td><code>{escape(row.id)}</code></td><td>{escape(str(row.task_id))} #{row.try_number}</td>"
            f"<td>{escape(row.description or row.target)}</td>"
            f"<td><span class='pill' style='background:{STATE_COLOURS.get(row.state, '#868e96')}'>"
            f"{escape(row.state)}</span></td><td>{escape((row.outcome + ' ' + row.message).strip())}</td>"
            f"<td><code>{escape(row.path)}</code></td></tr>"
            for row in record_rows(journal, run_uuid)
        ]
        body = (
            f"<section><h2>Run <code>{run_uuid}</code></h2>"
            f"<p><a href='{run_uuid}/report.html'>gameday report</a> · <a href='../'>all runs</a></p>"
            "<table><tr><th>record</th><th>task</th><th>undo</th><th>state</th><th>last replay</th>"
            "<th>file</th></tr>" + "".join(rows) + "</table></section>"
        )
        return _page(f"Undo records of run {run_uuid}", body)

    def _report(run_uuid: str) -> Any:
        try:
            return build_report(store(), run_uuid_or_404(run_uuid))
        except KrknError as error:
            raise HTTPException(status_code=404, detail=str(error)) from None

    @app.get("/runs/{run_uuid}/report.html", response_class=HTMLResponse)
    def report_html(run_uuid: str) -> HTMLResponse:
        return HTMLResponse(render_html(_report(run_uuid)))

    @app.get("/runs/{run_uuid}/report.xml")
    def report_xml(run_uuid: str) -> Response:
        return Response(render_junit(_report(run_uuid)), media_type="application/xml")

    return app

"""The FastAPI app behind the "Chaos gameday" page: runs, their undo records, their reports.

Read-only: it lists and renders what the journal holds and changes nothing. Pages::

    /                          runs, newest first: verdict, score, age, pending / executed / failed
                               records; DAG and run link to their Airflow pages
    /runs/{run_uuid}           one run's records with their state
    /runs/{run_uuid}/report.html, /report.xml   the run's gameday report, rendered now
    /api/runs                  the runs list as JSON
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response

from krkn_airflow_provider.errors import KrknError
from krkn_airflow_provider.report import build_report, list_runs, render_html, render_junit
from krkn_airflow_provider.report.charts import STATE_COLOURS
from krkn_airflow_provider.report.html import CSS, VERDICT_COLOURS
from krkn_airflow_provider.report.model import RunReport, RunSummary
from krkn_airflow_provider.report.tables import age
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


def ago(iso: str | None, now: datetime | None = None) -> str:
    """``<time>`` showing the age ("3h ago"), the exact UTC time on hover."""
    if not iso:
        return "-"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return escape(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    exact = moment.astimezone(UTC).isoformat(timespec="seconds")
    return f"<time datetime='{escape(exact)}' title='{escape(exact)}'>{age(seconds)} ago</time>"


def airflow_links(dag_id: str | None, run_id: str | None, *, up: str) -> tuple[str, str]:
    """The DAG and the run as links to their Airflow UI pages (``up`` leads back to the UI root)."""
    if not dag_id:
        return "-", escape(str(run_id or "-"))
    dag_url = f"{up}dags/{quote(dag_id, safe='')}"
    # target _top: the page is shown in a frame of the Airflow UI; open Airflow's own page there.
    dag = f"<a class='airflow' target='_top' href='{escape(dag_url)}'>{escape(dag_id)}</a>"
    if not run_id:
        return dag, "-"
    run_url = f"{dag_url}/runs/{quote(run_id, safe='')}"
    return dag, f"<a class='airflow' target='_top' href='{escape(run_url)}'>{escape(run_id)}</a>"


def verdict_cell(report: RunReport | None) -> tuple[str, str]:
    """The run's verdict (its sentence on hover) and its score, for a table row."""
    if report is None:
        return "<span class='muted'>unreadable</span>", "-"
    verdict, score = report.verdict(), report.score().value
    colour = VERDICT_COLOURS.get(verdict.word, "#868e96")
    return (
        f"<span class='pill verdict-pill' style='background:{colour}' title='{escape(verdict.text)}'>"
        f"{escape(verdict.word)}</span>",
        "-" if score is None else f"{score:g}",
    )


def runs_with_reports(journal: Store) -> list[tuple[RunSummary, RunReport | None]]:
    """The journal's runs, newest first, each with its report (``None``: unreadable)."""
    found = []
    for run in list_runs(journal):
        try:
            report: RunReport | None = build_report(journal, run.run_uuid)
        except KrknError:
            report = None
        found.append((run, report))
    return found


def _run_row(run: RunSummary, report: RunReport | None) -> str:
    dag, run_link = airflow_links(run.dag_id, run.run_id, up="../")
    verdict, score = verdict_cell(report)
    return (
        f"<tr class='run'><td>{dag}</td><td>{run_link}</td><td>{verdict}</td><td>{score}</td>"
        f"<td><a href='runs/{run.run_uuid}'><code>{run.run_uuid}</code></a></td>"
        f"<td>{ago(run.created)}</td>"
        f"<td>{_count(run.pending, 'pending')}</td><td>{_count(run.executed, 'executed')}</td>"
        f"<td>{_count(run.failed, 'failed')}</td>"
        f"<td><a href='runs/{run.run_uuid}/report.html'>report</a> · "
        f"<a href='runs/{run.run_uuid}/report.xml'>JUnit</a></td></tr>"
    )


def runs_body(journal: Store, runs: list[tuple[RunSummary, RunReport | None]]) -> str:
    """The runs page: one row a run, or a line saying there is none yet."""
    rows = [_run_row(run, report) for run, report in runs]
    table = (
        "<table><tr><th>DAG</th><th>run</th><th>verdict</th><th>score</th><th>run uuid</th><th>age</th>"
        "<th>pending</th><th>executed</th><th>failed</th><th>report</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p class='muted'>No runs in the journal yet.</p>"
    )
    return (
        f"<section><h2>Runs</h2><p class='muted'>journal {escape(journal.backend.display())}; "
        "read-only: replay with the rollback task or <code>krkn-rollback execute</code>.</p>"
        f"{table}</section>"
    )


def runs_json_data(runs: list[tuple[RunSummary, RunReport | None]]) -> list[dict[str, Any]]:
    """The runs list of ``/api/runs``: each run's summary with its verdict and score."""
    data = []
    for run, report in runs:
        extra = (
            {"verdict": report.verdict().to_dict(), "score": report.score().value}
            if report is not None
            else {"verdict": None, "score": None}
        )
        data.append({**run.to_dict(), **extra})
    return data


def run_body(run_uuid: str, report: RunReport) -> str:
    """One run's page: its verdict, links and a row per undo record."""
    rows = [
        f"<tr><td><code>{escape(row.id)}</code></td><td>{escape(str(row.task_id))} #{row.try_number}</td>"
        f"<td>{escape(row.description or row.target)}</td><td>{ago(row.created_at)}</td>"
        f"<td><span class='pill' style='background:{STATE_COLOURS.get(row.state, '#868e96')}'>"
        f"{escape(row.state)}</span></td>"
        f"<td>{escape(f'{row.outcome} {row.message}'.strip()) or '-'}</td>"
        f"<td><code>{escape(row.path)}</code></td></tr>"
        for row in report.records
    ]
    verdict, score = verdict_cell(report)
    dag, run_link = airflow_links(report.dag_id, report.run_id, up="../../")
    return (
        f"<section><h2>Run <code>{run_uuid}</code></h2>"
        f"<p>{verdict} {escape(report.verdict().text)}</p>"
        f"<p>score {score} · DAG {dag} · run {run_link} · started {ago(report.created)}</p>"
        f"<p><a href='{run_uuid}/report.html'>gameday report</a> · <a href='../'>all runs</a></p>"
        "<table><tr><th>record</th><th>task</th><th>undo</th><th>age</th><th>state</th>"
        "<th>last replay</th><th>file</th></tr>" + "".join(rows) + "</table></section>"
    )


def make_app(store: Callable[[], Store], *, dependencies: Sequence[Any] = ()) -> FastAPI:
    """The app; ``store`` gives the journal on each request (the location may change)."""
    app = FastAPI(title="Krkn chaos gameday", dependencies=list(dependencies), docs_url=None, redoc_url=None)

    def run_uuid_or_404(run_uuid: str) -> str:
        try:
            return check_run_uuid(run_uuid)
        except KrknError:
            raise HTTPException(status_code=404, detail="not a run uuid") from None

    def _report(run_uuid: str) -> RunReport:
        try:
            return build_report(store(), run_uuid_or_404(run_uuid))
        except KrknError as error:
            raise HTTPException(status_code=404, detail=str(error)) from None

    @app.get("/", response_class=HTMLResponse)
    def runs_page() -> HTMLResponse:
        journal = store()
        return _page("Chaos gameday: runs and undo records", runs_body(journal, runs_with_reports(journal)))

    @app.get("/api/runs")
    def runs_json() -> JSONResponse:
        return JSONResponse(runs_json_data(runs_with_reports(store())))

    @app.get("/runs/{run_uuid}", response_class=HTMLResponse)
    def run_page(run_uuid: str) -> HTMLResponse:
        run_uuid = run_uuid_or_404(run_uuid)
        if not store().contexts(run_uuid):
            raise HTTPException(status_code=404, detail=f"no run {run_uuid} in the journal")
        return _page(f"Undo records of run {run_uuid}", run_body(run_uuid, _report(run_uuid)))

    @app.get("/runs/{run_uuid}/report.html", response_class=HTMLResponse)
    def report_html(run_uuid: str) -> HTMLResponse:
        return HTMLResponse(render_html(_report(run_uuid)))

    @app.get("/runs/{run_uuid}/report.xml")
    def report_xml(run_uuid: str) -> Response:
        return Response(render_junit(_report(run_uuid)), media_type="application/xml")

    return app

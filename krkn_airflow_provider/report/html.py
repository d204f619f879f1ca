"""The gameday report as one self-contained HTML page: inline CSS, inline SVG, no scripts."""

from __future__ import annotations

from html import escape
from typing import Any

from krkn_airflow_provider.report.charts import (
    STATE_COLOURS,
    STATUS_COLOURS,
    parse_time,
    recovery_chart,
    recovery_rows,
    timeline_chart,
)
from krkn_airflow_provider.report.model import (
    NO_RESULT,
    PASSED,
    RUN_FAILED,
    SCORE_FORMULA,
    UNSAFE,
    RecordRow,
    RunReport,
)

VERDICT_COLOURS = {PASSED: "#2b8a3e", RUN_FAILED: "#c92a2a", UNSAFE: "#862e9c", NO_RESULT: "#868e96"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212529;
background:#f8f9fa}
header{background:#212529;color:#f8f9fa;padding:16px 24px}
header h1{margin:0 0 4px;font-size:20px}
header .meta{font-size:12px;color:#ced4da}
main{padding:8px 24px 32px;max-width:1100px}
section{background:#fff;border:1px solid #dee2e6;border-radius:6px;padding:12px 16px;margin:16px 0}
h2{font-size:16px;margin:0 0 8px}
section{min-width:0;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{border-bottom:1px solid #e9ecef;padding:4px 6px;text-align:left;vertical-align:top;
overflow-wrap:break-word}
td code,td.long{overflow-wrap:anywhere}
svg{max-width:100%;height:auto}
.verdict{border-left:8px solid;padding:10px 16px}
.verdict .word{font-size:26px;font-weight:700;margin-right:12px}
th{background:#f1f3f5}
code{font-size:12px}
td code{word-break:break-all}
.score{display:flex;gap:24px;align-items:center}
.score .big{font-size:42px;font-weight:700}
.formula{font-size:12px;color:#495057}
.pill{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:11px;white-space:nowrap}
.muted{color:#868e96}
"""


def _pill(text: str, colour: str) -> str:
    return f'<span class="pill" style="background:{colour}">{escape(text)}</span>'


def _clock(value: Any) -> str:
    """A time of day (UTC), the full timestamp on hover."""
    moment = parse_time(value)
    if moment is None:
        return escape(str(value or ""))
    return f"<span title='{escape(str(value))}'>{moment.strftime('%H:%M:%S')}</span>"


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f} s"


# The table sections: (id, title, what to say when empty, table header).
PROBES_TABLE = (
    "probes",
    "Probe results",
    "No probes were declared.",
    "<table><tr><th>task</th><th>phase</th><th>probe</th><th>result</th><th>message</th><th>at</th></tr>",
)
RECORDS_TABLE = (
    "records",
    "Undo records",
    "This run wrote no undo records.",
    "<table><tr><th>record</th><th>task</th><th>undo</th><th>final state</th><th>last replay</th>"
    "<th>file</th></tr>",
)
REPLAYS_TABLE = (
    "replays",
    "Replays",
    "No replay has run: nothing was left for a rollback.",
    "<table><tr><th>at</th><th>by</th><th>records</th><th>outcomes</th></tr>",
)


def render_html(report: RunReport) -> str:
    """The whole page."""
    out = _head(report)
    out += _verdict_and_score(report)
    out += _recovery_section(report)
    out += _tasks_section(report)
    out += _table_section(*PROBES_TABLE, [_probe_row(probe) for probe in report.probes])
    out += _table_section(*RECORDS_TABLE, [_record_row(record) for record in report.records])
    out += _table_section(*REPLAYS_TABLE, [_replay_row(replay_run) for replay_run in report.replays])
    out[-1] += "</main></body></html>"
    return "\n".join(out)


def _head(report: RunReport) -> list[str]:
    """The document head and the page header: title, run, journal, when generated."""
    title = f"Gameday report: {report.dag_id or 'run'} {report.run_id or report.run_uuid}"
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1><div class='meta'>run uuid <code>{escape(report.run_uuid)}</code>"
        f" · DAG {escape(str(report.dag_id or '-'))} · run {escape(str(report.run_id or '-'))}"
        f" · journal {escape(report.location)} · generated {escape(report.generated_at)}</div>"
        "</header><main>",
    ]


def _verdict_and_score(report: RunReport) -> list[str]:
    """The verdict banner and the resilience score with its inputs."""
    score = report.score()
    counts = report.counts
    verdict = report.verdict()
    colour = VERDICT_COLOURS.get(verdict.word, "#868e96")
    value = "-" if score.value is None else f"{score.value:g}"
    letters = {"scenarios": "S", "probes": "P", "rollback": "U"}
    parts_text = ", ".join(
        f"{letters[name]} = {good}/{total} ({name})" if total else f"{letters[name]}: no {name}, left out"
        for name, (good, total) in score.parts.items()
    )
    return [
        f"<section id='verdict' class='verdict' style='border-color:{colour}'>"
        f"<span class='word' style='color:{colour}'>{escape(verdict.word)}</span>"
        f"<span class='text'>{escape(verdict.text)}</span></section>",
        "<section id='score'><h2>Resilience score</h2><div class='score'>"
        f"<div class='big'>{escape(value)}</div><div><div>inputs: {escape(parts_text)}</div>"
        f"<div class='formula'>{escape(SCORE_FORMULA)}</div>"
        f"<div>undo records: {counts['executed']} executed, {counts['pending']} pending, "
        f"{counts['failed']} failed</div></div></div></section>",
    ]


def _recovery_section(report: RunReport) -> list[str]:
    """The recovery chart, and its numbers as a table when there are any."""
    out = [f"<section id='recovery'><h2>Recovery times</h2>{recovery_chart(report)}"]
    rows = recovery_rows(report)
    if rows:
        out.append(
            "<table><tr><th>scenario</th><th>injected</th><th>first replacement</th><th>all ready</th>"
            "<th>probes passing</th><th>scenario check</th></tr>"
        )
        for label, item in rows:
            out.append(
                f"<tr><td>{escape(label)}</td><td>{escape(str(item.get('injected_at') or '-'))}</td>"
                f"<td>{_seconds(item.get('first_replacement_seconds'))}</td>"
                f"<td>{_seconds(item.get('all_ready_seconds'))}</td>"
                f"<td>{_seconds(item.get('probes_passing_seconds'))}</td>"
                f"<td>{_seconds(item.get('scenario_recovery_seconds'))}</td></tr>"
            )
        out.append("</table>")
    out.append("</section>")
    return out


def _tasks_section(report: RunReport) -> list[str]:
    """The timeline chart and a row per scenario task try."""
    out = [
        f"<section id='timeline'><h2>Timeline</h2>{timeline_chart(report)}",
        "<table id='tasks'><tr><th>task</th><th>scenario</th><th>state</th><th>Airflow state</th>"
        "<th>started</th><th>ended</th><th>targets</th><th>records</th><th>error</th></tr>",
    ]
    for task in report.tasks:
        state = str(task.get("state"))
        try_number = task.get("try_number")
        out.append(
            f"<tr class='task'><td>{escape(str(task.get('task_id')))}"
            f"{'' if try_number is None else ' #' + escape(str(try_number))}</td>"
            f"<td class='long'>{escape(str(task.get('scenario_type')))}</td>"
            f"<td>{_pill(state, STATUS_COLOURS.get(state, '#868e96'))}</td>"
            f"<td>{escape(str(task.get('airflow_state') or '-'))}</td>"
            f"<td>{_clock(task.get('started_at'))}</td><td>{_clock(task.get('ended_at'))}</td>"
            f"<td class='long'>{escape(', '.join(map(str, task.get('targets') or [])))}</td>"
            f"<td>{len(task.get('records') or [])}</td><td>{escape(str(task.get('error') or ''))}</td></tr>"
        )
    out.append("</table></section>")
    return out


def _table_section(section_id: str, title: str, empty: str, header: str, rows: list[str]) -> list[str]:
    """A section holding a table (``header``, one line a row), or a muted line when it has no rows."""
    out = [f"<section id='{section_id}'><h2>{title}</h2>"]
    if not rows:
        out.append(f"<p class='muted'>{empty}</p>")
    else:
        out += [header, *rows, "</table>"]
    out.append("</section>")
    return out


def _probe_row(probe: dict[str, Any]) -> str:
    ok = bool(probe.get("ok"))
    return (
        f"<tr><td>{escape(str(probe.get('task_id')))}</td><td>{escape(str(probe.get('phase')))}</td>"
        f"<td>{escape(str(probe.get('probe')))}</td>"
        f"<td>{_pill('held' if ok else 'failed', '#2b8a3e' if ok else '#c92a2a')}</td>"
        f"<td>{escape(str(probe.get('message')))}</td><td>{escape(str(probe.get('at')))}</td></tr>"
    )


def _record_row(record: RecordRow) -> str:
    replay = f"{record.outcome} {record.message}".strip() or "-"
    return (
        f"<tr><td><code>{escape(record.id)}</code><br><span class='muted'>{escape(record.created_at)}"
        f"</span></td><td>{escape(str(record.task_id))} #{escape(str(record.try_number))}</td>"
        f"<td>{escape(record.description or record.target)}</td>"
        f"<td>{_pill(record.state, STATE_COLOURS.get(record.state, '#868e96'))}</td>"
        f"<td>{escape(replay)}</td><td><code>{escape(record.path)}</code></td></tr>"
    )


def _replay_row(replay_run: dict[str, Any]) -> str:
    outcomes = ", ".join(f"{count} {name}" for name, count in sorted(replay_run["outcomes"].items()))
    return (
        f"<tr><td>{escape(str(replay_run.get('at')))}</td><td>{escape(str(replay_run.get('source')))}"
        f"</td><td>{replay_run['records']}</td><td>{escape(outcomes)}</td></tr>"
    )

"""The gameday report as one self-contained HTML page: inline CSS, inline SVG, no scripts."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from krkn_airflow_provider.report.model import (
    KILLED,
    NO_RESULT,
    PASSED,
    RUN_FAILED,
    SCORE_FORMULA,
    SKIPPED,
    SUCCESS,
    UNSAFE,
    UPSTREAM_FAILED,
    RunReport,
)

# Series of the recovery chart: (result key, label, colour).
SERIES = (
    ("first_replacement_seconds", "first replacement pod", "#1c7ed6"),
    ("all_ready_seconds", "all pods ready", "#2b8a3e"),
    ("probes_passing_seconds", "probes passing again", "#e8590c"),
)
STATE_COLOURS = {"executed": "#2b8a3e", "pending": "#e67700", "failed": "#c92a2a"}
STATUS_COLOURS = {
    SUCCESS: "#2b8a3e",
    "failed": "#c92a2a",
    KILLED: "#862e9c",
    UPSTREAM_FAILED: "#e67700",
    SKIPPED: "#868e96",
}
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


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def recovery_rows(report: RunReport) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for task in report.tasks:
        for item in task.get("recovery") or []:
            label = f"{task.get('task_id')} #{task.get('try_number')}"
            if len(task.get("recovery") or []) > 1:
                label += f" e{item.get('entry')}"
            rows.append((label, item))
    return rows


def recovery_chart(report: RunReport, *, width: int = 760, height: int = 280) -> str:
    """Grouped bars: seconds to first replacement, all ready and probes passing, per scenario."""
    rows = recovery_rows(report)
    left, right, top, bottom = 56, 16, 28, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(item[key]) for _, item in rows for key, _, _ in SERIES if item.get(key) is not None]
    top_value = max(values, default=0.0)
    scale_max = _nice(top_value) if top_value > 0 else 1.0
    parts = [
        f'<svg id="recovery-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="recovery times">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for step in range(5):
        value = scale_max * step / 4
        y = top + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e9ecef"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#495057">'
            f"{value:g} s</text>"
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#495057"/>'
    )
    if not rows:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="13" text-anchor="middle" '
            f'fill="#868e96">no recovery measured in this run</text>'
        )
    group_w = plot_w / max(1, len(rows))
    bar_w = min(36.0, group_w / (len(SERIES) + 1))
    for index, (label, item) in enumerate(rows):
        x0 = left + group_w * index + (group_w - bar_w * len(SERIES)) / 2
        for position, (key, name, colour) in enumerate(SERIES):
            raw = item.get(key)
            x = x0 + bar_w * position
            if raw is None:
                parts.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - 4}" font-size="10" '
                    f'text-anchor="middle" fill="#adb5bd">-</text>'
                )
                continue
            value = float(raw)
            h = max(1.0, plot_h * value / scale_max)
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: {escape(name)} '
                f"{float(value):.2f} s</title></rect>"
            )
            parts.append(
                f'<text x="{x + bar_w / 2 - 1:.1f}" y="{top + plot_h - h - 3:.1f}" font-size="10" '
                f'text-anchor="middle" fill="#212529">{float(value):.1f}</text>'
            )
        parts.append(
            f'<text x="{left + group_w * index + group_w / 2:.1f}" y="{top + plot_h + 16}" font-size="11" '
            f'text-anchor="middle" fill="#212529">{escape(label[:28])}</text>'
        )
    legend_x = left
    for _, name, colour in SERIES:
        parts.append(f'<rect x="{legend_x}" y="{height - 18}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 16}" y="{height - 8}" font-size="11">{escape(name)}</text>')
        legend_x += 170
    parts.append(f'<text x="{left}" y="16" font-size="12" fill="#495057">seconds from injection</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice(value: float) -> float:
    for step in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600):
        if value <= step:
            return float(step)
    return float(int(value) + 1)


def timeline_chart(report: RunReport, *, width: int = 760) -> str:
    """One bar per scenario task try (start to end), injections marked, records as ticks."""
    tasks = [(task, _time(task.get("started_at")), _time(task.get("ended_at"))) for task in report.tasks]
    rows: list[tuple[dict[str, Any], datetime, datetime]] = [
        (task, start, end or start) for task, start, end in tasks if start is not None
    ]
    record_times = [(_time(record.created_at), record) for record in report.records]
    moments = [moment for _, start, end in rows for moment in (start, end)]
    moments += [moment for moment, _ in record_times if moment is not None]
    row_h, left, top = 26, 170, 20
    height = top + row_h * (len(rows) + 1) + 30
    parts = [
        f'<svg id="timeline-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="timeline">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    if not moments:
        parts.append('<text x="10" y="30" font-size="13" fill="#868e96">no scenario results yet</text></svg>')
        return "".join(parts)
    first, last = min(moments), max(moments)
    span = max((last - first).total_seconds(), 1.0)
    plot_w = width - left - 16

    def x_of(moment: datetime) -> float:
        return left + plot_w * (moment - first).total_seconds() / span

    for step in range(5):
        x = left + plot_w * step / 4
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 24}" stroke="#f1f3f5"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" font-size="10" '
            f'text-anchor="{"end" if step == 4 else "middle"}" fill="#495057">+{span * step / 4:.1f} s</text>'
        )
    for index, (task, start, end) in enumerate(rows):
        y = top + row_h * index
        colour = STATUS_COLOURS.get(str(task.get("state")), "#868e96")
        x1, x2 = x_of(start), x_of(end)
        label = f"{task.get('task_id')} #{task.get('try_number')}"
        parts.append(f'<text x="4" y="{y + 15}" font-size="11">{escape(label[:26])}</text>')
        parts.append(
            f'<rect x="{x1:.1f}" y="{y + 4}" width="{max(2.0, x2 - x1):.1f}" height="16" rx="3" '
            f'fill="{colour}" opacity="0.85"><title>{escape(label)} '
            f"{escape(str(task.get('scenario_type')))}: {escape(str(task.get('status')))}</title></rect>"
        )
        for item in task.get("recovery") or []:
            injected = _time(item.get("injected_at"))
            if injected is not None:
                xi = x_of(injected)
                parts.append(
                    f'<path d="M{xi:.1f},{y + 2} l5,-6 h-10 z" fill="#212529"><title>injection</title></path>'
                )
    y = top + row_h * len(rows)
    parts.append(f'<text x="4" y="{y + 15}" font-size="11">undo records</text>')
    for moment, record in record_times:
        if moment is None:
            continue
        x = x_of(moment)
        colour = STATE_COLOURS.get(record.state, "#868e96")
        parts.append(
            f'<rect x="{x - 2:.1f}" y="{y + 4}" width="4" height="16" fill="{colour}">'
            f"<title>{escape(record.id)}: {escape(record.state)}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _clock(value: Any) -> str:
    """A time of day (UTC), the full timestamp on hover."""
    moment = _time(value)
    if moment is None:
        return escape(str(value or ""))
    return f"<span title='{escape(str(value))}'>{moment.strftime('%H:%M:%S')}</span>"


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f} s"


def render_html(report: RunReport) -> str:
    """The whole page."""
    score = report.score()
    counts = report.counts
    title = f"Gameday report: {report.dag_id or 'run'} {report.run_id or report.run_uuid}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1><div class='meta'>run uuid <code>{escape(report.run_uuid)}</code>"
        f" · DAG {escape(str(report.dag_id or '-'))} · run {escape(str(report.run_id or '-'))}"
        f" · journal {escape(report.location)} · generated {escape(report.generated_at)}</div>"
        "</header><main>",
    ]
    verdict = report.verdict()
    colour = VERDICT_COLOURS.get(verdict.word, "#868e96")
    out.append(
        f"<section id='verdict' class='verdict' style='border-color:{colour}'>"
        f"<span class='word' style='color:{colour}'>{escape(verdict.word)}</span>"
        f"<span class='text'>{escape(verdict.text)}</span></section>"
    )
    value = "-" if score.value is None else f"{score.value:g}"
    letters = {"scenarios": "S", "probes": "P", "rollback": "U"}
    parts_text = ", ".join(
        f"{letters[name]} = {good}/{total} ({name})" if total else f"{letters[name]}: no {name}, left out"
        for name, (good, total) in score.parts.items()
    )
    out.append(
        "<section id='score'><h2>Resilience score</h2><div class='score'>"
        f"<div class='big'>{escape(value)}</div><div><div>inputs: {escape(parts_text)}</div>"
        f"<div class='formula'>{escape(SCORE_FORMULA)}</div>"
        f"<div>undo records: {counts['executed']} executed, {counts['pending']} pending, "
        f"{counts['failed']} failed</div></div></div></section>"
    )
    out.append(f"<section id='recovery'><h2>Recovery times</h2>{recovery_chart(report)}")
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
    out.append(f"<section id='timeline'><h2>Timeline</h2>{timeline_chart(report)}")
    out.append(
        "<table id='tasks'><tr><th>task</th><th>scenario</th><th>state</th><th>Airflow state</th>"
        "<th>started</th><th>ended</th><th>targets</th><th>records</th><th>error</th></tr>"
    )
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
    out.append("<section id='probes'><h2>Probe results</h2>")
    probes = report.probes
    if not probes:
        out.append("<p class='muted'>No probes were declared.</p>")
    else:
        out.append(
            "<table><tr><th>task</th><th>phase</th><th>probe</th><th>result</th><th>message</th><th>at</th></tr>"
        )
        for probe in probes:
            ok = bool(probe.get("ok"))
            out.append(
                f"<tr><td>{escape(str(probe.get('task_id')))}</td><td>{escape(str(probe.get('phase')))}</td>"
                f"<td>{escape(str(probe.get('probe')))}</td>"
                f"<td>{_pill('held' if ok else 'failed', '#2b8a3e' if ok else '#c92a2a')}</td>"
                f"<td>{escape(str(probe.get('message')))}</td><td>{escape(str(probe.get('at')))}</td></tr>"
            )
        out.append("</table>")
    out.append("</section>")
    out.append("<section id='records'><h2>Undo records</h2>")
    if not report.records:
        out.append("<p class='muted'>This run wrote no undo records.</p>")
    else:
        out.append(
            "<table><tr><th>record</th><th>task</th><th>undo</th><th>final state</th><th>last replay</th>"
            "<th>file</th></tr>"
        )
        for record in report.records:
            replay = f"{record.outcome} {record.message}".strip() or "-"
            out.append(
                f"<tr><td><code>{escape(record.id)}</code><br><span class='muted'>{escape(record.created_at)}"
                f"</span></td><td>{escape(str(record.task_id))} #{escape(str(record.try_number))}</td>"
                f"<td>{escape(record.description or record.target)}</td>"
                f"<td>{_pill(record.state, STATE_COLOURS.get(record.state, '#868e96'))}</td>"
                f"<td>{escape(replay)}</td><td><code>{escape(record.path)}</code></td></tr>"
            )
        out.append("</table>")
    out.append("</section>")
    out.append("<section id='replays'><h2>Replays</h2>")
    if not report.replays:
        out.append("<p class='muted'>No replay has run: nothing was left for a rollback.</p>")
    else:
        out.append("<table><tr><th>at</th><th>by</th><th>records</th><th>outcomes</th></tr>")
        for replay_run in report.replays:
            outcomes = ", ".join(f"{count} {name}" for name, count in sorted(replay_run["outcomes"].items()))
            out.append(
                f"<tr><td>{escape(str(replay_run.get('at')))}</td><td>{escape(str(replay_run.get('source')))}"
                f"</td><td>{replay_run['records']}</td><td>{escape(outcomes)}</td></tr>"
            )
        out.append("</table>")
    out.append("</section></main></body></html>")
    return "\n".join(out)

"""The gameday report's two charts as inline SVG: recovery times and the run's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from krkn_airflow_provider.report.model import KILLED, SKIPPED, SUCCESS, UPSTREAM_FAILED, RunReport

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


@dataclass(frozen=True)
class _Plot:
    """The plotting area of a chart, inside its margins."""

    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class _TimeScale:
    """Maps a moment of the run to an x coordinate: ``first`` at ``left``, ``span`` seconds wide."""

    first: datetime
    span: float
    left: int
    width: int

    def x_of(self, moment: datetime) -> float:
        return self.left + self.width * (moment - self.first).total_seconds() / self.span


def parse_time(value: Any) -> datetime | None:
    """An ISO timestamp as a ``datetime``; ``None`` when empty or not one."""
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
    plot = _Plot(left=left, top=top, width=width - left - right, height=height - top - bottom)
    values = [float(item[key]) for _, item in rows for key, _, _ in SERIES if item.get(key) is not None]
    top_value = max(values, default=0.0)
    scale_max = _nice(top_value) if top_value > 0 else 1.0
    parts = [
        f'<svg id="recovery-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="recovery times">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    parts += _seconds_axis(plot, scale_max)
    if not rows:
        parts.append(
            f'<text x="{left + plot.width / 2}" y="{top + plot.height / 2}" font-size="13" '
            'text-anchor="middle" fill="#868e96">no recovery measured in this run</text>'
        )
    parts += _recovery_bars(plot, rows, scale_max)
    legend_x = left
    for _, name, colour in SERIES:
        parts.append(f'<rect x="{legend_x}" y="{height - 18}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 16}" y="{height - 8}" font-size="11">{escape(name)}</text>')
        legend_x += 170
    parts.append(f'<text x="{left}" y="16" font-size="12" fill="#495057">seconds from injection</text>')
    parts.append("</svg>")
    return "".join(parts)


def _seconds_axis(plot: _Plot, scale_max: float) -> list[str]:
    """Five grid lines labelled in seconds, and the base line."""
    left, top, plot_w, plot_h = plot.left, plot.top, plot.width, plot.height
    parts = []
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
    return parts


def _recovery_bars(plot: _Plot, rows: list[tuple[str, dict[str, Any]]], scale_max: float) -> list[str]:
    """One group of bars per scenario entry (``-`` for a time not measured), labelled below."""
    left, top, plot_w, plot_h = plot.left, plot.top, plot.width, plot.height
    group_w = plot_w / max(1, len(rows))
    bar_w = min(36.0, group_w / (len(SERIES) + 1))
    parts = []
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
    return parts


def _nice(value: float) -> float:
    for step in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600):
        if value <= step:
            return float(step)
    return float(int(value) + 1)


def timeline_chart(report: RunReport, *, width: int = 760) -> str:
    """One bar per scenario task try (start to end), injections marked, records as ticks."""
    tasks = [
        (task, parse_time(task.get("started_at")), parse_time(task.get("ended_at"))) for task in report.tasks
    ]
    rows: list[tuple[dict[str, Any], datetime, datetime]] = [
        (task, start, end or start) for task, start, end in tasks if start is not None
    ]
    record_times = [(parse_time(record.created_at), record) for record in report.records]
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
    scale = _TimeScale(
        first=first, span=max((last - first).total_seconds(), 1.0), left=left, width=width - left - 16
    )
    parts += _time_grid(scale, top=top, height=height)
    parts += _task_bars(rows, scale, top=top, row_h=row_h)
    y = top + row_h * len(rows)
    parts.append(f'<text x="4" y="{y + 15}" font-size="11">undo records</text>')
    for moment, record in record_times:
        if moment is None:
            continue
        x = scale.x_of(moment)
        colour = STATE_COLOURS.get(record.state, "#868e96")
        parts.append(
            f'<rect x="{x - 2:.1f}" y="{y + 4}" width="4" height="16" fill="{colour}">'
            f"<title>{escape(record.id)}: {escape(record.state)}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _time_grid(scale: _TimeScale, *, top: int, height: int) -> list[str]:
    """Five vertical lines labelled in seconds since the first moment."""
    parts = []
    for step in range(5):
        x = scale.left + scale.width * step / 4
        anchor = "end" if step == 4 else "middle"
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 24}" stroke="#f1f3f5"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" font-size="10" '
            f'text-anchor="{anchor}" fill="#495057">+{scale.span * step / 4:.1f} s</text>'
        )
    return parts


def _task_bars(
    rows: list[tuple[dict[str, Any], datetime, datetime]], scale: _TimeScale, *, top: int, row_h: int
) -> list[str]:
    """A row per task try: its label, a bar from start to end, a marker at each injection."""
    parts = []
    for index, (task, start, end) in enumerate(rows):
        y = top + row_h * index
        colour = STATUS_COLOURS.get(str(task.get("state")), "#868e96")
        x1, x2 = scale.x_of(start), scale.x_of(end)
        label = f"{task.get('task_id')} #{task.get('try_number')}"
        parts.append(f'<text x="4" y="{y + 15}" font-size="11">{escape(label[:26])}</text>')
        parts.append(
            f'<rect x="{x1:.1f}" y="{y + 4}" width="{max(2.0, x2 - x1):.1f}" height="16" rx="3" '
            f'fill="{colour}" opacity="0.85"><title>{escape(label)} '
            f"{escape(str(task.get('scenario_type')))}: {escape(str(task.get('status')))}</title></rect>"
        )
        for item in task.get("recovery") or []:
            injected = parse_time(item.get("injected_at"))
            if injected is not None:
                xi = scale.x_of(injected)
                parts.append(
                    f'<path d="M{xi:.1f},{y + 2} l5,-6 h-10 z" fill="#212529"><title>injection</title></path>'
                )
    return parts

"""The gameday report as JUnit XML: one testcase per scenario task try and per undo record."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from krkn_airflow_provider.report.model import EXECUTED, FAILED, RunReport


def _duration(task: dict[str, Any]) -> float:
    try:
        start = datetime.fromisoformat(str(task["started_at"]))
        end = datetime.fromisoformat(str(task["ended_at"]))
    except (KeyError, ValueError):
        return 0.0
    return max(0.0, (end - start).total_seconds())


def render_junit(report: RunReport) -> str:
    """``<testsuites>`` with a ``scenarios`` suite and a ``rollback`` suite."""
    name = f"gameday {report.dag_id or ''} {report.run_id or report.run_uuid}".replace("  ", " ").strip()
    root = ET.Element("testsuites", name=name)
    classname = f"krkn.{report.dag_id or 'run'}"

    scenarios = ET.SubElement(root, "testsuite", name="scenarios", timestamp=report.generated_at)
    failures = 0
    total_time = 0.0
    for task in report.tasks:
        seconds = _duration(task)
        total_time += seconds
        case = ET.SubElement(
            scenarios,
            "testcase",
            classname=f"{classname}.{task.get('scenario_type')}",
            name=f"{task.get('task_id')} (try {task.get('try_number')})",
            time=f"{seconds:.3f}",
        )
        lost = [probe for probe in task.get("probes") or [] if not probe.get("ok")]
        if task.get("state") != "success":
            failures += 1
            failure = ET.SubElement(
                case, "failure", message=str(task.get("error") or task.get("state")), type="ScenarioFailed"
            )
            failure.text = "\n".join(f"{p.get('phase')}: {p.get('probe')}: {p.get('message')}" for p in lost)
        out = [f"targets: {', '.join(map(str, task.get('targets') or []))}"]
        out += [f"recovery: {item}" for item in task.get("recovery") or []]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    scenarios.set("tests", str(len(report.tasks)))
    scenarios.set("failures", str(failures))
    scenarios.set("errors", "0")
    scenarios.set("time", f"{total_time:.3f}")

    rollback = ET.SubElement(root, "testsuite", name="rollback", timestamp=report.generated_at)
    failures = 0
    for record in report.records:
        case = ET.SubElement(
            rollback,
            "testcase",
            classname=f"{classname}.rollback.{record.scenario}",
            name=f"{record.id}: {record.description or record.target}",
            time="0",
        )
        if record.state != EXECUTED:
            failures += 1
            kind = "UndoFailed" if record.state == FAILED else "UndoPending"
            ET.SubElement(
                case, "failure", message=f"{record.state}: {record.message or 'not undone'}", type=kind
            ).text = record.path
        else:
            ET.SubElement(case, "system-out").text = f"{record.outcome or 'executed'} {record.path}".strip()
    rollback.set("tests", str(len(report.records)))
    rollback.set("failures", str(failures))
    rollback.set("errors", "0")
    rollback.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

"""Result files and the report on an object store (moto's S3 server)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from krkn_airflow_provider.report import (
    REPORT_HTML,
    REPORT_XML,
    build_report,
    write_report,
    write_task_result,
)
from krkn_airflow_provider.rollback import Journal, Origin, new_run_uuid
from tests.journal.conftest import s3_endpoint, s3_store  # noqa: F401 (s3_endpoint is a fixture)

from .conftest import delete, task_result


def test_result_and_report_on_s3(request: pytest.FixtureRequest) -> None:
    store = s3_store(request.getfixturevalue("s3_endpoint"), f"report-{new_run_uuid()[:8]}")
    run_uuid = new_run_uuid()
    # A task that wrote no record still gets the run's folder.
    write_task_result(store, task_result(run_uuid, "kill_web", "success"))
    journal = Journal(
        store, Origin(run_uuid=run_uuid, scenario="application_outages_scenarios", task_id="kill_web")
    )
    entry = journal.record(delete("krkn-deny-a"))
    assert entry is not None
    store.mark_executed(entry)

    (context,) = store.contexts(run_uuid)
    files = write_report(store, run_uuid)
    assert files.html == store.backend.display(context.name, REPORT_HTML)
    assert files.html.startswith("s3://")
    names = set(store.backend.list_files(context.name))
    assert {"context.json", "kill_web.1.result.json", REPORT_HTML, REPORT_XML} <= names
    report = build_report(store, run_uuid)
    assert report.counts == {"pending": 0, "executed": 1, "failed": 0}
    assert report.score().value == 100.0
    root = ET.fromstring(store.backend.read(context.name, REPORT_XML))
    assert [s.get("tests") for s in root.iter("testsuite")] == ["1", "1"]

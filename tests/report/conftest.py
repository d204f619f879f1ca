from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.report import write_replay_outcomes, write_task_result, write_task_states
from krkn_airflow_provider.rollback import Journal, Origin, Store, UndoRecord, run_uuid_for

NOW = datetime.now(UTC)


def journal(store: Store, run_uuid: str, task_id: str, try_number: int = 1) -> Journal:
    origin = Origin(
        run_uuid=run_uuid,
        scenario="application_outages_scenarios",
        dag_id="gameday",
        run_id="manual__1",
        task_id=task_id,
        try_number=try_number,
    )
    return Journal(store, origin)


def delete(name: str) -> UndoRecord:
    return UndoRecord(
        action="delete", api_version="networking.k8s.io/v1", kind="NetworkPolicy", namespace="shop", name=name
    )


def task_result(run_uuid: str, task_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "run_uuid": run_uuid,
        "dag_id": "gameday",
        "run_id": "manual__1",
        "task_id": task_id,
        "try_number": 1,
        "map_index": None,
        "scenario_type": "pod_disruption_scenarios",
        "status": status,
        "error": None if status == "success" else "steady state lost during the hold",
        "dry_run": False,
        "started_at": (NOW - timedelta(seconds=40)).isoformat(),
        "ended_at": (NOW - timedelta(seconds=10)).isoformat(),
        "targets": ["Pod shop/web-1"],
        "records": [],
        "recovery": [],
        "probes": [],
        **extra,
    }


@pytest.fixture
def run(tmp_path: Path) -> tuple[Store, str]:
    """A run with two chaos tasks: one recovered, one aborted by a probe; three records."""
    store = Store(str(tmp_path / "rollback"))
    run_uuid = run_uuid_for("gameday", "manual__1")
    kill = journal(store, run_uuid, "kill_web")
    done = kill.record(delete("krkn-deny-a"))
    assert done is not None
    store.mark_executed(done)
    outage = journal(store, run_uuid, "outage")
    failed = outage.record(delete("krkn-deny-b"))
    outage.record(delete("krkn-deny-c"))
    assert failed is not None
    write_replay_outcomes(
        store,
        run_uuid,
        {"records": [{"record": failed.id, "outcome": "failed", "message": "403 forbidden"}]},
        source="rollback.1",
    )
    recovery = {
        "entry": 1,
        "injected_at": (NOW - timedelta(seconds=38)).isoformat(),
        "first_replacement_seconds": 2.1,
        "all_ready_seconds": 3.4,
        "probes_passing_seconds": 4.0,
        "scenario_recovery_seconds": 3.5,
        "pod_targets": 1,
    }
    probes = [
        {"probe": "http web", "type": "http", "phase": "before", "ok": True, "message": "200", "at": "t"},
        {"probe": "http web", "type": "http", "phase": "hold", "ok": True, "message": "200", "at": "t"},
        {"probe": "http web", "type": "http", "phase": "after", "ok": True, "message": "200", "at": "t"},
    ]
    write_task_result(store, task_result(run_uuid, "kill_web", "success", recovery=[recovery], probes=probes))
    lost = [{"probe": "http web", "type": "http", "phase": "hold", "ok": False, "message": "503", "at": "t"}]
    write_task_result(
        store,
        task_result(
            run_uuid,
            "outage",
            "failed",
            started_at=(NOW - timedelta(seconds=9)).isoformat(),
            ended_at=NOW.isoformat(),
            probes=lost,
        ),
    )
    return store, run_uuid


@pytest.fixture
def killed_run(tmp_path: Path) -> tuple[Store, str]:
    """A run whose second chaos task was SIGKILLed mid-hold: records, no result file.

    The first task succeeded; the third never ran (upstream failed); the watcher undid
    the killed task's record and wrote the states Airflow gave the chaos tasks.
    """
    store = Store(str(tmp_path / "rollback"))
    run_uuid = run_uuid_for("gameday", "manual__2")
    write_task_result(store, {**task_result(run_uuid, "kill_web", "success"), "run_id": "manual__2"})
    killed = journal(store, run_uuid, "outage").record(delete("krkn-deny-k"))
    assert killed is not None
    store.mark_executed(killed)
    write_replay_outcomes(
        store,
        run_uuid,
        {"records": [{"record": killed.id, "outcome": "done", "message": "deleted"}]},
        source="watcher.1",
    )
    write_task_states(
        store,
        run_uuid,
        {"kill_web": "success", "outage": "failed", "hog": "upstream_failed"},
        source="watcher.1",
    )
    return store, run_uuid

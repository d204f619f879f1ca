"""Deferrable holds under ``dag.test()``: Airflow runs the trigger in line, as the triggerer would.

The task injects, defers to ``ChaosHoldTrigger``, and resumes (from the event and the
journal only) to undo and check recovery; a probe that fails while deferred ends the hold
at once; a dry run never defers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.report.results import read_task_results
from krkn_airflow_provider.rollback import Journal, Origin, Store, UndoRecord, new_run_uuid, run_uuid_for
from tests import workloads
from tests.airflow.conftest import TEST_KEY, run_dag, task_states, xcom
from tests.probe_servers import FlipServer, Prometheus, flip_server, prometheus  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.timeout(300)]


def hog(namespace: str, hold: int) -> dict[str, Any]:
    config = {"hog-type": "cpu", "duration": hold, "namespace": namespace, "number-of-nodes": 1}
    return {"scenario_type": "hog_scenarios", "config": config, "probes": []}


def test_a_deferred_hold_resumes_undoes_and_checks_recovery(
    dagbag: Any, kube: Any, journal_dir: Path, k8s_conn: str
) -> None:
    api = kube.api_client()
    run = run_dag(dagbag, "krkn_deferred", hog(kube.namespace, 3))

    states = task_states(run)
    assert states["chaos"] == "success", states
    assert states["rollback"] == "skipped" and states["watcher"] == "success"
    result = xcom(run, "chaos")
    assert result["deferred_holds"] == 1
    (record,) = result["records"]
    assert record.startswith("hog_scenarios_")
    assert result["entries"][0]["cleanup"].endswith("1 undone")
    assert workloads.managed(api, kube.namespace) == []
    store = Store(str(journal_dir), hmac_key=TEST_KEY)
    assert [entry.state for entry in store.entries()] == ["executed"]
    (written,) = read_task_results(store, run_uuid_for(run.dag_id, run.run_id))
    assert written["status"] == "success" and written["records"] == [record]


def test_a_probe_failing_while_deferred_ends_the_hold_and_restores(
    dagbag: Any,
    kube: Any,
    journal_dir: Path,
    k8s_conn: str,
    flip_server: FlipServer,  # noqa: F811
) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)
    outage = {"duration": 120, "namespace": kube.namespace, "pod_selector": {"app": "web"}}
    conf = {
        "scenario_type": "application_outages_scenarios",
        "config": {"application_outage": outage},
        "probes": [{"type": "http", "url": flip_server.url, "name": "web health"}],
    }
    seen: list[list[str]] = []

    def break_it_once_the_policy_is_in_place() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = workloads.managed(api, kube.namespace)
            if found:
                seen.append(found)
                flip_server.answer(503)
                return
            time.sleep(0.2)

    flipper = threading.Thread(target=break_it_once_the_policy_is_in_place, daemon=True)
    flipper.start()
    started = time.monotonic()
    run = run_dag(dagbag, "krkn_deferred", conf)
    flipper.join(5)

    assert time.monotonic() - started < 90  # not the 120 s hold
    states = task_states(run)
    assert states["chaos"] == "failed", states
    ((policy,),) = seen
    assert policy.startswith("NetworkPolicy/krkn-outage-")
    assert workloads.managed(api, kube.namespace) == []
    store = Store(str(journal_dir), hmac_key=TEST_KEY)
    assert [entry.state for entry in store.entries()] == ["executed"]
    (written,) = read_task_results(store, run_uuid_for(run.dag_id, run.run_id))
    assert written["status"] == "failed"
    assert "steady state lost during the hold: web health: status 503" in written["error"]
    hold = [(probe["phase"], probe["ok"]) for probe in written["probes"] if probe["phase"] == "hold"]
    assert hold and hold[-1] == ("hold", False) and all(ok for _, ok in hold[:-1])


def test_a_dry_run_never_defers(dagbag: Any, kube: Any, journal_dir: Path, k8s_conn: str) -> None:
    since = len(kube.emulator.writes()) if kube.emulator is not None else 0
    run = run_dag(dagbag, "krkn_deferred_dry_run", hog(kube.namespace, 1))

    assert task_states(run)["chaos"] == "success"
    result = xcom(run, "chaos")
    assert result["dry_run"] is True and result["deferred_holds"] == 0
    assert result["targets"] and result["records"] == []
    if kube.emulator is not None:
        assert kube.emulator.writes()[since:] == []


def test_a_deferrable_rollback_waits_for_another_replays_claim_in_the_triggerer(
    dagbag: Any, kube: Any, journal_dir: Path, k8s_conn: str
) -> None:
    core = kube.core()
    store = Store(str(journal_dir), hmac_key=TEST_KEY)
    run_uuid = new_run_uuid()
    journal = Journal(store, Origin(run_uuid=run_uuid, scenario="hog_scenarios", task_id="chaos"))
    labels = journal.object_labels()
    guard = UndoRecord(
        action="delete",
        api_version="v1",
        kind="ConfigMap",
        namespace=kube.namespace,
        name="held",
        guard=labels,
    )
    journal.record(guard)
    body = {"metadata": {"name": "held", "labels": labels}, "data": {"chaos": "yes"}}
    core.create_namespaced_config_map(kube.namespace, body)
    (entry,) = store.entries(run_uuid=run_uuid)
    # Another replay holds the record, then dies: its claim outlives the task's start (45 s).
    assert store.claim(entry, owner="a replay that died", ttl=45)

    run = run_dag(dagbag, "krkn_deferred_rollback", {"run_uuid": run_uuid})

    assert task_states(run)["rollback"] == "success"
    assert [e.state for e in store.entries(run_uuid=run_uuid)] == ["executed"]
    assert [
        cm.metadata.name
        for cm in core.list_namespaced_config_map(kube.namespace).items
        if cm.metadata.name == "held"
    ] == []
    # It waited in the triggerer (deferred), not in its worker slot.
    assert xcom(run, "rollback")["waited_for_claims"] == [entry.id]


def test_the_triggers_serialize_what_they_were_built_with() -> None:
    from airflow.sdk._shared.module_loading import import_string

    from krkn_airflow_provider.triggers.claims import ClaimsReleasedTrigger
    from krkn_airflow_provider.triggers.hold import ChaosHoldTrigger

    hold = ChaosHoldTrigger(
        run_uuid="38345bc1-2947-513e-8515-019b74ffb22a",
        record_ids=["hog_scenarios_1_abcdefgh"],
        hold_until=1_800_000_000.5,
        kubernetes_conn_id="k8s",
        rollback_location="/srv/journal",
        storage_conn_id=None,
        probes=[{"type": "http", "url": "http://web/healthz"}],
        probe_interval=2.0,
        dead_man_seconds=30.0,
        resume={"entry": 0},
    )
    classpath, kwargs = hold.serialize()
    assert classpath == "krkn_airflow_provider.triggers.hold.ChaosHoldTrigger"
    assert kwargs == {
        "run_uuid": "38345bc1-2947-513e-8515-019b74ffb22a",
        "record_ids": ["hog_scenarios_1_abcdefgh"],
        "hold_until": 1_800_000_000.5,
        "kubernetes_conn_id": "k8s",
        "rollback_location": "/srv/journal",
        "storage_conn_id": None,
        "probes": [{"type": "http", "url": "http://web/healthz"}],
        "probe_interval": 2.0,
        "dead_man_seconds": 30.0,
        "resume": {"entry": 0},
    }
    claims = ClaimsReleasedTrigger(run_uuid="r", record_ids=["a"], rollback_location="s3://b")
    assert claims.serialize()[1] == {
        "run_uuid": "r",
        "record_ids": ["a"],
        "rollback_location": "s3://b",
        "storage_conn_id": None,
        "poll_interval": 1.0,
    }
    for trigger in (hold, claims):
        classpath, kwargs = trigger.serialize()
        assert import_string(classpath)(**kwargs).serialize() == (classpath, kwargs)


def test_pod_and_prometheus_probes_are_checked_from_the_trigger(
    dagbag: Any,
    kube: Any,
    journal_dir: Path,
    k8s_conn: str,
    prometheus: Prometheus,  # noqa: F811
) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=2)
    workloads.wait_ready(api, kube.namespace, "web", 2)
    prometheus.series["up{job='web'}"] = [1.0, 1.0]
    conf = hog(kube.namespace, 3)
    conf["probes"] = [
        {"type": "pods", "namespace": kube.namespace, "label_selector": "app=web", "min_ready": 2},
        {"type": "prometheus", "url": prometheus.url, "query": "up{job='web'}"},
    ]
    run = run_dag(dagbag, "krkn_deferred", conf)

    assert task_states(run)["chaos"] == "success"
    (written,) = read_task_results(
        Store(str(journal_dir), hmac_key=TEST_KEY), run_uuid_for(run.dag_id, run.run_id)
    )
    hold = [
        (probe["type"], probe["ok"], probe["message"])
        for probe in written["probes"]
        if probe["phase"] == "hold"
    ]
    assert {kind for kind, _, _ in hold} == {"pods", "prometheus"}
    assert all(ok for _, ok, _ in hold), hold
    assert ("pods", True, "2 ready of 2 (need 2)") in hold
    assert ("prometheus", True, "2 sample(s), all non-zero") in hold

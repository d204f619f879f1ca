"""DAG runs with ``dag.test()`` (real Airflow, SQLite) against the cluster over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.rollback import Store
from tests import workloads
from tests.airflow.conftest import TEST_KEY, run_dag, task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "k8s_conn")


@contextmanager
def watching(kube: Any) -> Iterator[set[str]]:
    """Collect every provider-made object seen while the block runs."""
    seen: set[str] = set()
    done = threading.Event()
    api = kube.api_client()

    def poll() -> None:
        while not done.is_set():
            seen.update(workloads.managed(api, kube.namespace))
            done.wait(0.1)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()


def journal_states(location: Path) -> list[tuple[str, str, int | None]]:
    """(task id, state, try number) of every record, oldest first."""
    store = Store(str(location), hmac_key=TEST_KEY)
    result = []
    for entry in store.entries():
        origin = store.load(entry).data["origin"]
        result.append((origin["task_id"], entry.state, origin["try_number"]))
    return result


def journal_records(location: Path) -> list[dict[str, Any]]:
    """Every record's data, oldest first."""
    store = Store(str(location), hmac_key=TEST_KEY)
    return [store.load(entry).data for entry in store.entries()]


def test_gameday_success_path(dagbag: Any, kube: Any, journal_dir: Path) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=2)
    workloads.wait_ready(api, kube.namespace, "web", 2)
    conf = {"namespace": kube.namespace, "hold_seconds": 2, "recovery_seconds": 60}

    with watching(kube) as seen:
        dag_run = run_dag(dagbag, "chaos_gameday", conf)

    assert dag_run.state == "success"
    assert task_states(dag_run) == {
        "pod_disruption": "success",
        "application_outage": "success",
        "cpu_hog": "success",
        "rollback": "skipped",
        "watcher": "success",
    }
    assert {name.split("/")[0] + "/" + name.split("/")[1].rsplit("-", 1)[0] for name in seen} == {
        "NetworkPolicy/krkn-outage",
        "Pod/krkn-cpu-hog",
    }
    assert workloads.managed(api, kube.namespace) == []
    assert journal_states(journal_dir) == [
        ("application_outage", "executed", 1),
        ("cpu_hog", "executed", 1),
    ]
    assert len(workloads.ready_pods(api, kube.namespace, "web")) == 2
    summary = xcom(dag_run, "cpu_hog")
    assert summary["scenario"] == "hog_scenarios" and len(summary["records"]) == 1


def test_failure_after_injection_is_rolled_back_and_the_run_fails(
    dagbag: Any, kube: Any, journal_dir: Path
) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)

    if kube.emulator is not None:
        kube.emulator.clear_requests()
    dag_run = run_dag(dagbag, "krkn_fail_after_inject", {"namespace": kube.namespace, "nodes": 1})

    assert dag_run.state == "failed"
    assert task_states(dag_run) == {
        "application_outage": "success",
        "breaking_hog": "failed",
        "rollback": "success",
        "watcher": "failed",
    }
    assert workloads.managed(api, kube.namespace) == []
    assert journal_states(journal_dir) == [
        ("application_outage", "executed", 1),
        ("breaking_hog", "executed", 1),
    ]
    # The hog pod lives for milliseconds: the durable record names it, and (on the
    # emulator) the request log shows it was created and then deleted by the undo.
    hog = [r for r in journal_records(journal_dir) if r["origin"]["task_id"] == "breaking_hog"]
    assert [(r["action"], r["kind"]) for r in hog] == [("delete", "Pod")]
    assert hog[0]["name"].startswith("krkn-cpu-hog-")
    if kube.emulator is not None:
        pods = f"/api/v1/namespaces/{kube.namespace}/pods"
        nonce = hog[0]["guard"]["krkn.io/nonce"]
        writes = [
            (r.verb, r.status)
            for r in kube.emulator.writes(pods)
            if hog[0]["name"] in str(r.body) or nonce in str(r.query)
        ]
        assert writes == [("create", 201), ("deletecollection", 200)]
    rollback = xcom(dag_run, "rollback")
    assert rollback["counts"] == {"undone": 1}


def test_teardown_wiring_rolls_back_and_fails_the_run(dagbag: Any, kube: Any, journal_dir: Path) -> None:
    dag_run = run_dag(dagbag, "krkn_teardown", {"namespace": kube.namespace, "nodes": 1})

    assert dag_run.state == "failed"
    assert task_states(dag_run) == {
        "preflight": "success",
        "breaking_hog": "failed",
        "rollback": "success",
        "watcher": "failed",
    }
    assert workloads.managed(kube.api_client(), kube.namespace) == []
    assert [state for _, state, _ in journal_states(journal_dir)] == ["executed"]


def test_retried_chaos_task_first_replays_its_earlier_try(dagbag: Any, kube: Any, journal_dir: Path) -> None:
    dag_run = run_dag(dagbag, "krkn_retry", {"namespace": kube.namespace, "nodes": 1})

    assert dag_run.state == "success"
    assert task_states(dag_run) == {"flaky_hog": "success", "rollback": "skipped", "watcher": "success"}
    records = journal_states(journal_dir)
    assert records == [("flaky_hog", "executed", 1), ("flaky_hog", "executed", 2)]
    store = Store(str(journal_dir), hmac_key=TEST_KEY)
    first_try = store.entries()[0].id
    assert xcom(dag_run, "flaky_hog")["replayed_earlier_tries"] == [first_try]
    assert workloads.managed(kube.api_client(), kube.namespace) == []


def _bad_inputs(namespace: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    hog = {"hog-type": "cpu", "duration": 1, "namespace": namespace, "number-of-nodes": 1}
    return {
        "unknown type": {"scenario_type": "pod_kill_scenarios", "config": hog},
        "wrong key": {"scenario_type": "hog_scenarios", "config": {**hog, "cpu-load": 50}},
        "selector matches nothing": {
            "scenario_type": "hog_scenarios",
            "config": {**hog, "node-selector": "krkn.io/no-such-label=1"},
        },
        "unreadable location": {
            "scenario_type": "hog_scenarios",
            "config": hog,
            "location": str(blocker / "rollback"),
        },
    }


@pytest.mark.parametrize(
    "case", ["unknown type", "wrong key", "selector matches nothing", "unreadable location"]
)
def test_bad_input_fails_before_any_change(
    dagbag: Any, kube: Any, journal_dir: Path, tmp_path: Path, case: str
) -> None:
    conf = _bad_inputs(kube.namespace, tmp_path)[case]
    before = len(kube.emulator.writes()) if kube.emulator is not None else 0

    dag_run = run_dag(dagbag, "krkn_single", conf)

    assert dag_run.state == "failed"
    states = task_states(dag_run)
    assert states["chaos"] == "failed"
    assert states["watcher"] == "failed"
    assert workloads.managed(kube.api_client(), kube.namespace) == []
    assert Store(str(journal_dir), hmac_key=TEST_KEY).entries() == []
    if kube.emulator is not None:
        assert kube.emulator.writes()[before:] == []


def test_records_signed_with_the_configured_hmac_key(
    dagbag: Any, kube: Any, journal_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from krkn_airflow_provider.errors import DigestMismatch

    monkeypatch.setenv("AIRFLOW__KRKN__HMAC_KEY_VARIABLE", "krkn_rollback_key")
    monkeypatch.setenv("AIRFLOW_VAR_KRKN_ROLLBACK_KEY", "s3cret")
    hog = {"hog-type": "cpu", "duration": 0, "namespace": kube.namespace, "number-of-nodes": 1}

    dag_run = run_dag(dagbag, "krkn_single", {"scenario_type": "hog_scenarios", "config": hog})

    assert dag_run.state == "success"
    signed = Store(str(journal_dir), hmac_key=b"s3cret")
    (entry,) = signed.entries()
    assert entry.state == "executed"
    assert "hmac-sha256:" in signed.read_text(entry)
    assert signed.load(entry).data["kind"] == "Pod"
    with pytest.raises(DigestMismatch):
        Store(str(journal_dir)).load(entry)


def test_config_refusal_is_one_clear_line_in_the_task_log(
    dagbag: Any, kube: Any, journal_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    conf = _bad_inputs(kube.namespace, tmp_path)["wrong key"]
    dag_run = run_dag(dagbag, "krkn_single", conf)
    assert task_states(dag_run)["chaos"] == "failed"
    log = capfd.readouterr()
    text = log.out + log.err
    start = text.index("hog_scenarios refused, nothing was changed:")
    chaos_log = text[start : text.index("watcher", start) if "watcher" in text[start:] else len(text)]
    line = chaos_log.splitlines()[0]
    assert "'cpu-load'" in line, line
    # The refusal once as our line, once as Airflow's failure; no chain of tracebacks.
    assert "The above exception was the direct cause" not in chaos_log
    assert "During handling of the above exception" not in chaos_log
    assert "ConfigError" not in chaos_log  # the cause's traceback is at debug level only

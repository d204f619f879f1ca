"""Replay under apiserver faults and heavy concurrency (emulator-only powers where noted)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from krkn_airflow_provider.errors import ReplayIncomplete
from krkn_airflow_provider.rollback import RetryPolicy, Store, UndoRecord, replay

from .test_replay_cluster import CLI, deleted_nonces, journal_for, record_create

FAST = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05)


def record_with_timeout(journal: Any, core: k8s.CoreV1Api, namespace: str, name: str) -> None:
    """Record, then create, a ConfigMap whose undo requests time out after 1 s."""
    labels = journal.object_labels()
    journal.record(
        UndoRecord(
            action="delete",
            api_version="v1",
            kind="ConfigMap",
            namespace=namespace,
            name=name,
            guard=labels,
            timeout_seconds=1,
        )
    )
    core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})


@pytest.mark.emulator_only
@pytest.mark.parametrize(
    "fault",
    [{"status": 429}, {"status": 500}, {"status": 503}, {"delay": 1.5}, {"drop": True}],
    ids=["429", "500", "503", "slower-than-timeout", "dropped"],
)
def test_faults_during_replay_end_undone_and_marked_only_on_success(
    kube: Any, tmp_path: Path, fault: dict[str, Any]
) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    for index in range(6):
        record_with_timeout(journal, core, kube.namespace, f"cm-{index}")
    # The first three delete requests fail, then two pass, then three more fail.
    kube.emulator.inject_fault(method="DELETE", path_regex="/configmaps", times=3, **fault)
    kube.emulator.inject_fault(method="DELETE", path_regex="/configmaps", skip=5, times=3, **fault)
    lines: list[str] = []
    summary = replay(
        store, kube.dynamic(), run_uuid=journal.run_uuid, retry=FAST, log=lines.append, batch_size=1
    )
    assert summary.ok, summary.to_dict()
    assert store.entries(state="pending") == []
    assert core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items == []
    assert len(lines) == 6
    if "status" in fault:
        # Refused requests change nothing: each record is undone by exactly one success.
        assert summary.counts == {"undone": 6}
        assert sum(result.attempts for result in summary.results) == 6 + 6
    else:
        # A timed-out or dropped request may still have been applied by the server; the
        # retry then finds the object gone. Either way nothing is left pending.
        assert set(summary.counts) <= {"undone", "already_clean"}


@pytest.mark.emulator_only
def test_a_fault_that_outlasts_the_retries_leaves_the_record_pending(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    record_create(journal, core, kube.namespace, "stubborn")
    record_create(journal, core, kube.namespace, "easy")
    kube.emulator.inject_fault(method="DELETE", path_regex="/configmaps", status=500, times=None, skip=1)
    summary = replay(store, kube.dynamic(), run_uuid=journal.run_uuid, retry=FAST, batch_size=1)
    assert [(r.outcome, r.attempts) for r in summary.results] == [("undone", 1), ("failed", 6)]
    assert "500" in summary.results[1].message
    assert [entry.id for entry in store.entries(state="pending")] == [journal.recorded[0].id]
    with pytest.raises(
        ReplayIncomplete, match=r"1 rollback record\(s\) still pending; a retry does exactly the rest"
    ):
        summary.raise_if_incomplete()
    assert summary.pending_message().splitlines()[1].startswith(f"  {journal.recorded[0].id}: ")
    kube.emulator.clear_faults()
    again = replay(store, kube.dynamic(), run_uuid=journal.run_uuid, retry=FAST)
    assert again.counts == {"undone": 1}
    assert again.pending_message() == ""


@pytest.mark.emulator_only
def test_forbidden_names_the_rbac_rule(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    record_create(journal, core, kube.namespace, "locked")
    kube.emulator.inject_fault(method="DELETE", path_regex="/configmaps", status=403, times=None)
    summary = replay(store, kube.dynamic(), run_uuid=journal.run_uuid, retry=FAST)
    [result] = summary.results
    assert (result.outcome, result.attempts) == ("failed", 1), "403 is not retried"
    assert "RBAC: allow verb 'deletecollection' on configmaps in apiGroup \"\"" in result.message


def test_eight_replays_of_200_records_apply_each_once(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    root = tmp_path / "rb"
    store = Store(str(root))
    journal = journal_for(store)
    for index in range(200):
        record_create(journal, core, kube.namespace, f"cm-{index:03d}")
    env = {**os.environ, "KRKN_ROLLBACK_LOCATION": str(root)}
    args = [CLI, "execute", "--run-uuid", journal.run_uuid, "--kubeconfig", str(kube.kubeconfig)]
    if kube.emulator is not None:
        kube.emulator.clear_requests()
    processes = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env) for _ in range(8)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * 8, outputs
    assert sum(output.count("… undone in") for output in outputs) == 200
    assert sum(output.count("… already_clean in") for output in outputs) == 0
    assert store.entries(state="pending") == []
    if kube.emulator is not None:
        nonces = deleted_nonces(kube.emulator.writes())
        assert len(nonces) == 200 and len(set(nonces)) == 200


@pytest.mark.emulator_only
def test_a_failed_batch_falls_back_to_one_by_one(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    for index in range(5):
        record_create(journal, core, kube.namespace, f"cm-{index}")
    kube.emulator.clear_requests()
    kube.emulator.inject_fault(method="DELETE", path_regex="/configmaps", status=503, times=1)
    summary = replay(store, kube.dynamic(), run_uuid=journal.run_uuid, retry=FAST)
    assert summary.counts == {"undone": 5}
    deletes = [r for r in kube.emulator.writes() if r.method == "DELETE"]
    # One batch request (refused), then one guarded delete per record.
    assert [r.status for r in deletes] == [503] + [200] * 5
    assert len(deleted_nonces(deletes[:1])) == 5
    assert store.entries(state="pending") == []

"""krkn-rollback sweep: objects with the provider's labels that no pending record covers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from krkn_airflow_provider.rollback import Store

from .test_replay_cluster import cli, config_map, journal_for, record_create


def test_sweep_finds_and_removes_only_leftovers(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    root = tmp_path / "rb"
    store = Store(str(root))
    journal = journal_for(store)
    record_create(journal, core, kube.namespace, "covered")  # pending record: a replay undoes it
    record_create(journal, core, kube.namespace, "executed-but-back")
    store.mark_executed(store.entries(state="pending")[-1])
    orphan_labels = journal.object_labels()  # created with no record, as after a lost journal
    core.create_namespaced_config_map(kube.namespace, config_map("orphan", kube.namespace, orphan_labels))
    core.create_namespaced_config_map(kube.namespace, config_map("users-own", kube.namespace, {"app": "x"}))

    args = ("sweep", "--run-uuid", journal.run_uuid, "--namespace", kube.namespace)
    listed = cli(*args, kube=kube, root=root)
    assert listed.returncode == 0, listed.stderr
    lines = sorted(line for line in listed.stdout.splitlines() if line.startswith("leftover: "))
    run = journal.run_uuid
    assert lines == [
        f"leftover: ConfigMap {kube.namespace}/executed-but-back (run {run}): its record was executed",
        f"leftover: ConfigMap {kube.namespace}/orphan (run {run}): no record of it in the journal",
    ]
    assert "2 leftover object(s) found" in listed.stdout
    assert len(core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items) == 3

    removed = cli(*args, "--delete", kube=kube, root=root)
    assert removed.returncode == 0, removed.stderr
    assert "2 leftover object(s) removed" in removed.stdout
    names = sorted(cm.metadata.name for cm in core.list_namespaced_config_map(kube.namespace).items)
    assert "covered" in names and "users-own" in names
    assert "orphan" not in names and "executed-but-back" not in names

"""``RollbackOperator(sweep=True)`` in a DAG run: leftovers are listed (dry run), then deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.airflow.conftest import TEST_KEY, run_dag, task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "k8s_conn")


def test_sweep_lists_then_deletes_only_the_runs_leftovers(dagbag: Any, kube: Any, journal_dir: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())

    dag_run = run_dag(dagbag, "krkn_sweep", {"namespace": kube.namespace})

    assert dag_run.state == "success"
    assert task_states(dag_run) == {
        "leave_leftover": "success",
        "sweep_dry_run": "success",
        "sweep": "success",
    }
    ((listed,), (deleted,)) = (xcom(dag_run, "sweep_dry_run")["swept"], xcom(dag_run, "sweep")["swept"])
    where = f"ConfigMap {kube.namespace}/orphan"
    assert listed["outcome"] == "dry_run" and listed["object"].startswith(where)
    assert "no record of it in the journal" in listed["object"]
    assert deleted["outcome"] == "undone" and deleted["object"] == listed["object"]
    names = sorted(cm.metadata.name for cm in core.list_namespaced_config_map(kube.namespace).items)
    assert "orphan" not in names and "users-own" in names


def test_pending_records_after_a_reported_success_fail_the_run_and_are_undone(
    dagbag: Any, kube: Any, journal_dir: Path
) -> None:
    from krkn_airflow_provider.rollback import Store

    core = k8s.CoreV1Api(kube.api_client())

    dag_run = run_dag(dagbag, "krkn_reported_success", {"namespace": kube.namespace})

    assert task_states(dag_run) == {"looks_fine": "success", "rollback": "skipped", "watcher": "failed"}
    assert dag_run.state == "failed"
    assert [entry.state for entry in Store(str(journal_dir), hmac_key=TEST_KEY).entries()] == ["executed"]
    names = [cm.metadata.name for cm in core.list_namespaced_config_map(kube.namespace).items]
    assert "left" not in names
    # The report does not call it a pass: the watcher had to undo what the task left.
    from krkn_airflow_provider.report import build_report
    from krkn_airflow_provider.rollback import run_uuid_for

    verdict = build_report(
        Store(str(journal_dir), hmac_key=TEST_KEY), run_uuid_for(dag_run.dag_id, dag_run.run_id)
    ).verdict()
    assert verdict.word == "FAILED"
    assert verdict.text == (
        "1 record(s) were still pending and were undone by watcher; all 1 change(s) were undone"
    )

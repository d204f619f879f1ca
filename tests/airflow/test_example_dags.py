"""The example DAGs import cleanly and never touch a connection while being parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import ROOT


def test_example_dags_parse_without_connections(monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
    from airflow.sdk import BaseHook

    def tripwire(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a connection was read while parsing a DAG")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(tripwire))
    monkeypatch.setattr(KubernetesHook, "get_connection", classmethod(tripwire))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == [
        "chaos_gameday",
        "chaos_rollback_replay",
        "chaos_undo_demo",
        "krkn_config_gameday",
    ]
    gameday = bag.get_dag("chaos_gameday")
    assert gameday.catchup is False
    # Gamedays must not overlap: every example chaos DAG runs one run at a time.
    assert bag.get_dag("chaos_gameday").max_active_runs == 1
    assert bag.get_dag("chaos_undo_demo").max_active_runs == 1
    assert {t.task_id for t in gameday.tasks} == {
        "pod_disruption",
        "application_outage",
        "cpu_hog",
        "rollback",
        "watcher",
    }
    assert gameday.get_task("rollback").trigger_rule == "one_failed"
    assert gameday.get_task("watcher").trigger_rule == "all_done"
    assert gameday.get_task("application_outage").upstream_task_ids == {"pod_disruption"}


def test_provider_info_is_discovered(airflow_db: Path) -> None:
    from airflow.providers_manager import ProvidersManager

    providers = ProvidersManager().providers
    assert "krkn-airflow-provider" in providers
    info = providers["krkn-airflow-provider"].data
    assert set(info["config"]["krkn"]["options"]) == {
        "rollback_location",
        "rollback_conn_id",
        "hmac_key_variable",
        "hmac_old_keys_variable",
    }


def test_readme_dag_example_runs_one_gameday_at_a_time() -> None:
    import ast
    import re

    readme = (ROOT / "README.md").read_text()
    (block,) = [code for code in re.findall(r"```python\n(.*?)```", readme, re.S) if "with DAG(" in code]
    calls = [node for node in ast.walk(ast.parse(block)) if isinstance(node, ast.Call)]
    dag = next(call for call in calls if getattr(call.func, "id", "") == "DAG")
    keywords = {keyword.arg: ast.literal_eval(keyword.value) for keyword in dag.keywords}
    assert keywords["max_active_runs"] == 1 and keywords["catchup"] is False

"""KrknHook: where the journal is, and the client from the cncf.kubernetes connection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.hooks.krkn import KrknHook
from krkn_airflow_provider.operators import (
    ChaosPreflightOperator,
    ChaosScenarioOperator,
    ChaosWatcherOperator,
    RollbackOperator,
)
from krkn_airflow_provider.operators.base import KrknBaseOperator
from krkn_airflow_provider.scenarios.probes import parse_probes

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_nothing_is_resolved_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", raising=False)
    hook = KrknHook(kubernetes_conn_id="no_such_connection", rollback_location="/nonexistent/x")
    chaos = ChaosScenarioOperator(
        task_id="c", scenario_type="hog_scenarios", scenario_config={"hog-type": "cpu"}
    )
    rollback = RollbackOperator(task_id="r")
    assert "kubernetes_hook" not in vars(hook) and "store" not in vars(hook)
    assert "hook" not in vars(chaos) and "hook" not in vars(rollback)
    assert (rollback.trigger_rule, rollback.retries, rollback.retry_exponential_backoff) == (
        "one_failed",
        3,
        True,
    )


def test_location_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIRFLOW__KRKN__ROLLBACK_LOCATION", raising=False)
    monkeypatch.delenv("KRKN_ROLLBACK_LOCATION", raising=False)
    assert KrknHook().location == "~/.krkn/rollback"
    monkeypatch.setenv("KRKN_ROLLBACK_LOCATION", str(tmp_path / "env"))
    assert KrknHook().location == str(tmp_path / "env")
    monkeypatch.setenv("AIRFLOW__KRKN__ROLLBACK_LOCATION", str(tmp_path / "config"))
    assert KrknHook().location == str(tmp_path / "config")
    assert KrknHook(rollback_location=str(tmp_path / "arg")).location == str(tmp_path / "arg")
    assert KrknHook(rollback_location=str(tmp_path / "arg")).store.location == str(tmp_path / "arg")


def test_object_storage_without_its_provider_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JOURNAL_STORE", json.dumps({"conn_type": "generic"}))
    hook = KrknHook(rollback_location="nosuchscheme://bucket/krkn", storage_conn_id="journal_store")
    with pytest.raises(ConfigError, match=r"nosuchscheme://bucket/krkn with connection 'journal_store'"):
        _ = hook.store


def test_client_from_kubernetes_connection(kube: Any, k8s_conn: str) -> None:
    hook = KrknHook(kubernetes_conn_id=k8s_conn)
    namespaces = hook.client.resources.get(api_version="v1", kind="Namespace")
    names = [item["metadata"]["name"] for item in hook.client.get(namespaces).to_dict()["items"]]
    assert kube.namespace in names


def test_prometheus_probes_get_their_connection_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_PROM_PLAIN", json.dumps({"conn_type": "http", "host": "prom", "port": 9090})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_PROM_TLS", json.dumps({"conn_type": "http", "host": "prom.example", "schema": "https"})
    )
    monkeypatch.setenv("AIRFLOW_CONN_PROM_FULL", json.dumps({"conn_type": "http", "host": "http://p:1/api"}))
    probes = parse_probes(
        [
            {"type": "prometheus", "http_conn_id": "prom_plain", "query": "up"},
            {"type": "prometheus", "http_conn_id": "prom_tls", "query": "up"},
            {"type": "prometheus", "http_conn_id": "prom_full", "query": "up"},
            {"type": "prometheus", "http_conn_id": "prom_plain", "url": "http://given", "query": "up"},
            {"type": "http", "url": "http://web/healthz"},
        ]
    )
    resolved = KrknHook().resolve_probes(probes)
    assert [getattr(probe, "url", None) for probe in resolved] == [
        "http://prom:9090",
        "https://prom.example",
        "http://p:1/api",
        "http://given",
        "http://web/healthz",
    ]
    assert resolved[4] is probes[4]


def test_operators_share_the_connection_arguments() -> None:
    conns = {"kubernetes_conn_id": "k", "rollback_location": "/j", "storage_conn_id": "s"}
    operators = [
        ChaosScenarioOperator(task_id="c", scenario_type="hog_scenarios", scenario_config={}, **conns),
        RollbackOperator(task_id="r", **conns),
        ChaosPreflightOperator(task_id="p", **conns),
        ChaosWatcherOperator(task_id="w", chaos_task_ids=["c"], **conns),
    ]
    for operator in operators:
        assert isinstance(operator, KrknBaseOperator)
        assert set(KrknBaseOperator.template_fields) <= set(operator.template_fields)
        hook = operator.hook
        assert (hook.kubernetes_conn_id, hook.rollback_location, hook.storage_conn_id) == ("k", "/j", "s")

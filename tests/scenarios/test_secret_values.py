"""Literal credentials of a killed object never reach the journal unless the user allows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.scenarios import run_scenario
from krkn_airflow_provider.scenarios.sensitive import secret_fields
from krkn_airflow_provider.scenarios.steps import SecretValuesRefused
from tests.scenarios import catalogue_support as support

PASSWORD = "s3cr3t-Pa55"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrcmtuIn0.c2lnbmF0dXJl"


def leaky_pod(name: str) -> dict[str, Any]:
    pod = support.pod_manifest(name, {"app": "db"})
    container = pod["spec"]["containers"][0]
    container["env"] = [
        {"name": "POSTGRES_PASSWORD", "value": PASSWORD},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
    ]
    container["args"] = ["--auth-token", TOKEN]
    pod["metadata"]["annotations"] = {"example.com/api-token": TOKEN}
    return pod


def kill(namespace: str) -> list[dict[str, Any]]:
    return [{"id": "kill-pods", "config": {"namespace_pattern": f"^{namespace}$", "name_pattern": "^db$"}}]


def test_fields_are_named_never_their_values() -> None:
    pod = {**leaky_pod("db"), "apiVersion": "v1", "kind": "Pod"}
    fields = secret_fields(pod)
    assert fields == [
        "metadata.annotations[example.com/api-token]",
        "spec.containers[main].env[POSTGRES_PASSWORD] (a literal value)",
        "spec.containers[main].args[0]",
        "spec.containers[main].args[1]",
    ]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "template": {
                "metadata": {},
                "spec": {"containers": [{"name": "c", "args": ["--db=postgres://u:pw@db/x"]}]},
            }
        },
    }
    assert secret_fields(deployment) == ["spec.template.spec.containers[c].args[0]"]
    clean = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "args": ["--port=80"],
                    "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                }
            ]
        },
    }
    assert secret_fields(clean) == []


def test_killing_a_bare_pod_with_literal_credentials_is_refused(kube: Any, tmp_path: Path) -> None:
    support.create(kube, leaky_pod("db"))
    support.wait_for(lambda: len(support.ready_pods(kube, "app=db")) == 1, what="pod ready")
    ctx = support.context(kube, tmp_path / "rb", "pod_disruption_scenarios")
    if kube.emulator is not None:
        kube.emulator.clear_requests()
    with pytest.raises(SecretValuesRefused) as refused:
        run_scenario("pod_disruption_scenarios", kill(kube.namespace), ctx)
    message = str(refused.value)
    assert f"Pod {kube.namespace}/db: " in message and "env[POSTGRES_PASSWORD]" in message
    assert "record_secret_values=True" in message
    assert PASSWORD not in message and TOKEN not in message
    assert ctx.journal.store.entries() == []
    assert len(support.ready_pods(kube, "app=db")) == 1
    if kube.emulator is not None:
        assert kube.emulator.writes() == []


def test_opting_in_records_them_and_the_pod_comes_back(kube: Any, tmp_path: Path) -> None:
    support.create(kube, leaky_pod("db"))
    support.wait_for(lambda: len(support.ready_pods(kube, "app=db")) == 1, what="pod ready")
    ctx = support.context(kube, tmp_path / "rb", "pod_disruption_scenarios")
    ctx.allow_secret_values = True
    run_scenario("pod_disruption_scenarios", kill(kube.namespace), ctx)
    (record,) = support.records(ctx)
    assert PASSWORD in json.dumps(record["manifest"])  # what the user allowed, and docs/safety.md says
    support.wait_for(lambda: len(support.ready_pods(kube, "app=db")) == 1, what="pod back")


def test_drain_refuses_before_the_cordon(kube: Any, tmp_path: Path) -> None:
    emulator = kube.require_emulator("adds a node of its own")
    node = f"krkn-secret-{kube.namespace[-6:]}"
    emulator.add_node(node)
    pod = leaky_pod("db")
    pod["spec"]["nodeName"] = node
    support.create(kube, pod)
    support.wait_for(lambda: len(support.ready_pods(kube, "app=db")) == 1, what="pod ready")
    ctx = support.context(kube, tmp_path / "rb", "node_scenarios")
    emulator.clear_requests()
    with pytest.raises(SecretValuesRefused, match="env\\[POSTGRES_PASSWORD\\]"):
        run_scenario(
            "node_scenarios", {"node_scenarios": [{"actions": ["node_drain"], "node_name": node}]}, ctx
        )
    assert emulator.writes() == []
    assert ctx.journal.store.entries() == []

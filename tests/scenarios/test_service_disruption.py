"""service_disruption_scenarios: delete a namespace's Services and workloads; recreate them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback.records import MANAGED_BY, MANAGED_BY_LABEL, SERVER_METADATA
from krkn_airflow_provider.scenarios import load_configs, run_scenario
from tests.scenarios import catalogue_support as support

TYPE = "service_disruption_scenarios"

# Krkn's sample (scenarios/openshift/ingress_namespace.yaml), and the documented other keys.
KRKN_SAMPLE = """
scenarios:
- namespace: "^.*ingress.*$"
  runs: 1
  sleep: 15
  wait_time: 300
"""
KRKN_LABEL_SAMPLE = """
scenarios:
- label_selector: "team=payments"
  delete_count: 2
  runs: 2
  sleep: 15
  wait_time: 300
"""

KINDS = (("v1", "Service"), ("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"))
NAMES = {"api", "worker"}


def document(namespace: str, sleep: int = 0) -> dict[str, Any]:
    return {"scenarios": [{"namespace": f"^{namespace}$", "runs": 1, "sleep": sleep, "wait_time": 60}]}


def current(kube: Any) -> dict[str, dict[str, Any]]:
    return support.state(kube, KINDS, namespace=kube.namespace, names=NAMES)


@pytest.fixture
def workloads(kube: Any) -> None:
    support.create(
        kube,
        support.service("api", {"app": "api"}),
        support.deployment("api", {"app": "api"}, replicas=2),
        support.replica_set("worker", {"app": "worker"}),
        # Another scenario's helper: left alone (its own records remove it).
        support.service("helper", {MANAGED_BY_LABEL: MANAGED_BY})
        | {"metadata": {"name": "helper", "labels": {MANAGED_BY_LABEL: MANAGED_BY}}},
    )
    support.wait_for(lambda: len(support.ready_pods(kube, "app in (api,worker)")) == 3, what="3 pods ready")


def test_krkn_samples_parse_unchanged() -> None:
    (config,) = load_configs(TYPE, yaml.safe_load(KRKN_SAMPLE))
    assert config.model_dump() == {
        "namespace": "^.*ingress.*$",
        "label_selector": "",
        "delete_count": 1,
        "runs": 1,
        "sleep": 15,
        "wait_time": 300,
    }
    configs = load_configs(TYPE, yaml.safe_load(KRKN_LABEL_SAMPLE))
    assert len(configs) == 2  # runs: 2 is the entry twice
    assert configs[0].model_dump()["label_selector"] == "team=payments"


def test_wrong_keys_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="unknown key 'namespaces'"):
        load_configs(TYPE, {"scenarios": [{"namespaces": "^a$", "runs": 1}]})
    with pytest.raises(ConfigError, match="unknown key 'scenario'"):
        load_configs(TYPE, {"scenario": [{"namespace": "^a$"}]})
    with pytest.raises(ConfigError, match="set 'namespace'"):
        load_configs(TYPE, {"scenarios": [{"runs": 1}]})


def test_run_deletes_top_level_objects_then_recreates_them(
    kube: Any, workloads: None, tmp_path: Path
) -> None:
    before = current(kube)
    gone: dict[str, Any] = {}

    def log(line: str) -> None:
        if "holding for" in line:
            gone.update(current(kube))

    ctx = support.context(kube, tmp_path / "rb", TYPE, log=log)
    summary = run_scenario(TYPE, document(kube.namespace), ctx).to_dict()

    ns = kube.namespace
    assert summary["targets"] == [f"Service {ns}/api", f"Deployment {ns}/api", f"ReplicaSet {ns}/worker"]
    assert gone == {}  # the Deployment's own ReplicaSet went with it
    records = support.records(ctx)
    assert [(r["action"], r["kind"], r["name"]) for r in records] == [
        ("create", "Service", "api"),
        ("create", "Deployment", "api"),
        ("create", "ReplicaSet", "worker"),
    ]
    for record in records:
        manifest = record["manifest"]
        assert "status" not in manifest
        assert not set(SERVER_METADATA) & set(manifest["metadata"])
    assert "clusterIP" not in records[0]["manifest"]["spec"]
    assert records[1]["manifest"]["spec"]["replicas"] == 2
    support.wait_for(lambda: current(kube) == before, what="state before")
    assert len(support.ready_pods(kube, "app in (api,worker)")) == 3


def test_each_undo_runs_twice_and_by_hand(kube: Any, workloads: None, tmp_path: Path) -> None:
    before = current(kube)
    ctx = support.inject_only(kube, tmp_path / "rb", TYPE, document(kube.namespace))
    support.wait_for(lambda: current(kube) == {}, what="objects deleted")
    assert support.undo_twice(ctx, kube) == ["undone", "undone", "undone"]
    support.wait_for(lambda: current(kube) == before, what="state before")


def test_sigkill_after_the_first_delete_then_rollback(kube: Any, workloads: None, tmp_path: Path) -> None:
    before = current(kube)
    done = support.sigkill_then_rollback(
        kube,
        tmp_path / "rb",
        TYPE,
        document(kube.namespace, sleep=120),
        lambda: support.get(kube, "v1", "Service", "api") is None,
    )
    assert "still pending" not in done.stdout, done.stdout
    support.wait_for(lambda: current(kube) == before, what="state before")

"""syn_flood_scenarios: attacker pods per target Service; each deleted by its record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback.records import MANAGED_BY_LABEL, NONCE_LABEL, RUN_LABEL
from krkn_airflow_provider.scenarios import load_configs, run_scenario
from krkn_airflow_provider.scenarios.syn_flood import ATTACK_LABEL
from tests.scenarios import catalogue_support as support

TYPE = "syn_flood_scenarios"

# Krkn's sample (scenarios/kube/syn_flood.yaml), comments dropped, spacing kept.
KRKN_SAMPLE = """
packet-size: 120
window-size: 64
duration: 10
namespace: default
target-service: elasticsearch
target-port: 9200
target-service-label : ""
number-of-pods: 2
image: quay.io/krkn-chaos/krkn-hub-multiarch:workload-krkn-syn-flood
attacker-nodes:
    node-role.kubernetes.io/worker:
      - ""
"""
KINDS = (("v1", "Pod"), ("v1", "Service"))


def document(namespace: str, duration: int = 1) -> dict[str, Any]:
    doc = yaml.safe_load(KRKN_SAMPLE)
    doc.update(
        {"namespace": namespace, "target-service": "search", "duration": duration, "attacker-nodes": {}}
    )
    return dict(doc)


@pytest.fixture
def search(kube: Any) -> None:
    support.create(kube, support.service("search", {"app": "search"}, target_port=9200))


def current(kube: Any) -> dict[str, Any]:
    return support.state(kube, KINDS, namespace=kube.namespace)


def test_krkn_sample_parses_unchanged() -> None:
    (config,) = load_configs(TYPE, yaml.safe_load(KRKN_SAMPLE))
    assert config.model_dump(by_alias=True) == {
        "packet-size": 120,
        "window-size": 64,
        "duration": 10,
        "namespace": "default",
        "target-service": "elasticsearch",
        "target-service-label": "",
        "target-port": 9200,
        "number-of-pods": 2,
        "image": "quay.io/krkn-chaos/krkn-hub-multiarch:workload-krkn-syn-flood",
        "attacker-nodes": {"node-role.kubernetes.io/worker": [""]},
    }
    assert config.affinity() == {  # type: ignore[attr-defined]
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "node-role.kubernetes.io/worker", "operator": "In", "values": [""]}
                        ]
                    }
                ]
            }
        }
    }


def test_wrong_keys_are_refused_by_name() -> None:
    doc = yaml.safe_load(KRKN_SAMPLE)
    doc["packet-sizes"] = doc.pop("packet-size")
    with pytest.raises(ConfigError, match="unknown key 'packet-sizes'"):
        load_configs(TYPE, doc)
    with pytest.raises(ConfigError, match="exactly one of 'target-service'"):
        load_configs(TYPE, {**yaml.safe_load(KRKN_SAMPLE), "target-service-label": "app=x"})


def test_attackers_have_exact_spec_and_are_deleted(kube: Any, search: None, tmp_path: Path) -> None:
    before = current(kube)
    seen: dict[str, Any] = {}

    def log(line: str) -> None:
        if "holding for" in line:
            seen.update({k: v for k, v in current(kube).items() if k not in before})

    ctx = support.context(kube, tmp_path / "rb", TYPE, log=log)
    run_scenario(TYPE, document(kube.namespace), ctx)
    assert len(seen) == 2
    for pod in seen.values():
        labels = pod["metadata"]["labels"]
        assert set(labels) == {MANAGED_BY_LABEL, RUN_LABEL, NONCE_LABEL, ATTACK_LABEL}
        assert pod["metadata"]["name"] == f"krkn-syn-flood-{labels[NONCE_LABEL]}"
        (container,) = pod["spec"]["containers"]
        assert container["command"] == [
            "timeout", "1", "hping3", "-S", "--flood", "-p", "9200", "-d", "120", "-w", "64",
            f"search.{kube.namespace}.svc",
        ]  # fmt: skip
        assert "affinity" not in pod["spec"]
    guards = {record["guard"][NONCE_LABEL] for record in support.records(ctx)}
    assert guards == {pod["metadata"]["labels"][NONCE_LABEL] for pod in seen.values()}
    support.wait_for(lambda: current(kube) == before, what="state before")


def test_each_undo_runs_twice_and_by_hand(kube: Any, search: None, tmp_path: Path) -> None:
    before = current(kube)
    ctx = support.inject_only(kube, tmp_path / "rb", TYPE, document(kube.namespace))
    assert support.undo_twice(ctx, kube) == ["undone", "undone"]
    support.wait_for(lambda: current(kube) == before, what="state before")


def test_sigkill_after_the_first_attacker_then_rollback(kube: Any, search: None, tmp_path: Path) -> None:
    before = current(kube)

    def attacking() -> bool:
        return len(current(kube)) > len(before)

    support.sigkill_then_rollback(kube, tmp_path / "rb", TYPE, document(kube.namespace, 120), attacking)
    support.wait_for(lambda: current(kube) == before, what="state before")

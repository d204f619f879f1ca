"""container_scenarios: a signal through pods/exec; the kubelet restarts the container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback import Journal
from krkn_airflow_provider.scenarios import load_configs, run_scenario
from tests.scenarios import catalogue_support as support

TYPE = "container_scenarios"

# Krkn's sample (scenarios/openshift/container_etcd.yml).
KRKN_SAMPLE = """
scenarios:
- name: "kill etcd container"
  namespace: "openshift-etcd"
  label_selector: "k8s-app=etcd"
  container_name: "etcd"
  action: "kill 1"
  count: 1
  expected_recovery_time: 60
"""
KINDS = (("apps/v1", "ReplicaSet"), ("v1", "Pod"))


def document(namespace: str, **extra: Any) -> dict[str, Any]:
    entry = {**yaml.safe_load(KRKN_SAMPLE)["scenarios"][0], "namespace": f"^{namespace}$"}
    entry.update(label_selector="app=db", container_name="main", **extra)
    return {"scenarios": [entry]}


def restarts(kube: Any) -> dict[str, int]:
    return {
        pod["metadata"]["name"]: pod["status"]["containerStatuses"][0].get("restartCount", 0)
        for pod in support.ready_pods(kube, "app=db")
    }


@pytest.fixture
def db(kube: Any) -> None:
    support.create(kube, support.replica_set("db", {"app": "db"}, replicas=2))
    support.wait_for(lambda: len(support.ready_pods(kube, "app=db")) == 2, what="2 pods ready")


def test_krkn_sample_parses_unchanged() -> None:
    (config,) = load_configs(TYPE, yaml.safe_load(KRKN_SAMPLE))
    assert config.model_dump() == {
        "name": "kill etcd container",
        "namespace": "openshift-etcd",
        "label_selector": "k8s-app=etcd",
        "container_name": "etcd",
        "action": "kill 1",
        "count": 1,
        "expected_recovery_time": 60,
        "exclude_label": "",
    }


def test_wrong_keys_are_refused_by_name() -> None:
    doc = yaml.safe_load(KRKN_SAMPLE)
    doc["scenarios"][0]["containers"] = "etcd"
    with pytest.raises(ConfigError, match="unknown key 'containers'"):
        load_configs(TYPE, doc)
    with pytest.raises(ConfigError, match="unknown key 'scenario'"):
        load_configs(TYPE, {"scenario": doc["scenarios"]})


def test_kill_restarts_the_container_and_changes_nothing_else(kube: Any, db: None, tmp_path: Path) -> None:
    before, counts = support.state(kube, KINDS, namespace=kube.namespace), restarts(kube)
    ctx = support.context(kube, tmp_path / "rb", TYPE)
    summary = run_scenario(TYPE, document(kube.namespace), ctx).to_dict()

    (target,) = summary["targets"]
    victim = target.rsplit("/", 1)[1]
    assert summary["records"] == []  # the kubelet restarts it: nothing to undo
    after = restarts(kube)
    assert after[victim] == counts[victim] + 1
    assert {name: n for name, n in after.items() if name != victim} == {
        name: n for name, n in counts.items() if name != victim
    }
    assert support.state(kube, KINDS, namespace=kube.namespace) == before
    if kube.emulator is not None:
        (run,) = [e for e in kube.emulator.exec_log if e.namespace == kube.namespace]
        assert (run.pod, run.container, run.command) == (victim, "main", ["/bin/sh", "-c", "kill 1"])


def test_dry_run_execs_nothing(kube: Any, db: None, tmp_path: Path) -> None:
    emulator = kube.require_emulator("reads the exec log")
    ctx = support.context(kube, tmp_path / "rb", TYPE)
    ctx.journal = Journal(ctx.journal.store, ctx.journal.origin, dry_run=True)
    lines: list[str] = []
    ctx.log = lines.append
    run_scenario(TYPE, document(kube.namespace), ctx)
    assert [e for e in emulator.exec_log if e.namespace == kube.namespace] == []
    assert any(line.startswith("dry run: would run 'kill 1' in Pod") for line in lines)

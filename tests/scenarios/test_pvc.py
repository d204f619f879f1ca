"""pvc_scenarios: fill a claim through exec; the record removes exactly that file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.scenarios import load_configs, run_scenario
from tests.scenarios import catalogue_support as support

TYPE = "pvc_scenarios"

# Krkn's sample (scenarios/openshift/pvc_scenario.yaml), comments dropped.
KRKN_SAMPLE = """
pvc_scenario:
  pvc_name: <pvc_name>
  pod_name: <pod_name>
  namespace: <namespace_name>
  fill_percentage: 50
  duration: 60
  block_size: 102400
"""
DF = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb 1000000 100000 900000 10% /data\n"
KINDS = (("v1", "Pod"), ("v1", "PersistentVolumeClaim"))


@pytest.fixture
def data(kube: Any) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    pod = support.pod_manifest(
        "db", {"app": "db"}, volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    )
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "d", "mountPath": "/data"}]
    support.create(kube, claim, pod)
    support.wait_for(lambda: support.ready_pods(kube, "app=db"), timeout=120, what="db pod ready")
    if kube.emulator is not None:
        kube.emulator.on_exec(r"df -kP /data", stdout=DF)


def document(namespace: str, duration: int = 0) -> dict[str, Any]:
    doc = yaml.safe_load(KRKN_SAMPLE)
    doc["pvc_scenario"].update(
        pvc_name="data", pod_name=None, namespace=namespace, duration=duration, fill_percentage=50
    )
    return dict(doc)


def test_krkn_sample_parses_unchanged() -> None:
    (entry,) = load_configs(TYPE, yaml.safe_load(KRKN_SAMPLE))
    assert entry.model_dump()["pvc_scenario"] == {
        "pvc_name": "<pvc_name>",
        "pod_name": "<pod_name>",
        "namespace": "<namespace_name>",
        "fill_percentage": 50,
        "duration": 60,
        "block_size": 102400,
    }


def test_wrong_keys_are_refused_by_name() -> None:
    doc = yaml.safe_load(KRKN_SAMPLE)
    doc["pvc_scenario"]["fill_percent"] = 10
    with pytest.raises(ConfigError, match=r"unknown key 'pvc_scenario\.fill_percent'"):
        load_configs(TYPE, doc)
    with pytest.raises(ConfigError, match=r"key 'pvc_scenario\.fill_percentage'"):
        load_configs(TYPE, {"pvc_scenario": {"pvc_name": "a", "namespace": "b", "fill_percentage": 100}})


def test_fill_then_remove_exactly_that_file(kube: Any, data: None, tmp_path: Path) -> None:
    before = support.state(kube, KINDS, namespace=kube.namespace)
    ctx = support.context(kube, tmp_path / "rb", TYPE)
    run_scenario(TYPE, document(kube.namespace), ctx)
    (record,) = support.records(ctx)
    command = record["command"][2]
    assert command.startswith("rm -f /data/kraken-") and command.endswith(".tmp")
    path = command.removeprefix("rm -f ")
    assert (record["action"], record["name"], record["container"]) == ("exec", "db", "main")
    assert support.state(kube, KINDS, namespace=kube.namespace) == before
    if kube.emulator is not None:
        runs = [e.command[2] for e in kube.emulator.exec_log if e.namespace == kube.namespace]
        # 1000000 KiB total, 100000 used: 400000 KiB more reach 50 %.
        assert runs == [
            "df -kP /data",
            f"fallocate -l 409600000 {path} 2>/dev/null || "
            f"dd if=/dev/zero of={path} bs=102400 count=4000 2>/dev/null",
            f"rm -f {path}",
            f"test ! -e {path}",
        ]


def test_each_undo_runs_twice_and_by_hand(kube: Any, data: None, tmp_path: Path) -> None:
    ctx = support.inject_only(kube, tmp_path / "rb", TYPE, document(kube.namespace))
    # `rm -f` of a removed file succeeds: the exec undo runs twice harmlessly.
    assert support.undo_twice(ctx, kube, second="undone") == ["undone"]


def test_sigkill_after_the_fill_then_rollback(kube: Any, data: None, tmp_path: Path) -> None:
    def filled() -> bool:
        if kube.emulator is not None:
            return any("fallocate" in " ".join(e.command) for e in kube.emulator.exec_log)
        return any((tmp_path / "rb").rglob("pvc_scenarios_*.py"))  # the record, then the fill

    support.sigkill_then_rollback(kube, tmp_path / "rb", TYPE, document(kube.namespace, 120), filled)
    if kube.emulator is not None:
        assert kube.emulator.exec_log[-1].command[2].startswith("rm -f /data/kraken-")

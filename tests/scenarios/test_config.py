"""Scenario files are accepted as Krkn writes them; wrong keys are named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.scenarios import known_types, load_configs, read_scenario_file
from krkn_airflow_provider.scenarios.application_outage import ApplicationOutageEntry
from krkn_airflow_provider.scenarios.fields import tolerations
from krkn_airflow_provider.scenarios.hog import HogConfig
from krkn_airflow_provider.scenarios.pod_disruption import PodDisruptionEntry

ROOT = Path(__file__).resolve().parents[2]

# Krkn's own sample files, verbatim.
KRKN_POD = """\
# yaml-language-server: $schema=../plugin.schema.json
- id: kill-pods
  config:
    name_pattern: ^nginx-.*$
    namespace_pattern: ^default$
    kill: 1
    krkn_pod_recovery_time: 30
"""
KRKN_CPU_HOG = """\
duration: 60
workers: '' # leave it empty '' node cpu auto-detection
hog-type: cpu
image: quay.io/krkn-chaos/krkn-hog
namespace: default
cpu-load-percentage: 90
cpu-method: all
node-selector: # leave it empty {} for random node selection
  node-role.kubernetes.io/worker: ''
"""
KRKN_IO_HOG = """\
duration: 30
workers: '' # leave it empty '' node cpu auto-detection
hog-type: io
image: quay.io/krkn-chaos/krkn-hog
namespace: default
io-block-size: 1m
io-write-bytes: 1g
io-target-pod-folder: /hog-data
io-target-pod-volume:
  name: node-volume
  hostPath:
    path: /root # a path writable by kubelet in the root filesystem of the node
node-selector: "node-role.kubernetes.io/worker="
number-of-nodes: ''
taints: [] #example ["node-role.kubernetes.io/master:NoSchedule"]
"""
KRKN_OUTAGE = """\
application_outage:
  duration: 600
  namespace: <namespace>
  pod_selector: {app: foo}
  block: [Ingress, Egress]
"""


def test_registry_has_krkn_type_names() -> None:
    assert {"pod_disruption_scenarios", "application_outages_scenarios", "hog_scenarios"} <= set(
        known_types()
    )


def test_krkn_pod_file() -> None:
    (entry,) = load_configs("pod_disruption_scenarios", yaml.safe_load(KRKN_POD))
    assert isinstance(entry, PodDisruptionEntry)
    assert entry.id == "kill-pods"
    assert entry.config.name_pattern == "^nginx-.*$"
    assert entry.config.kill == 1
    assert entry.config.krkn_pod_recovery_time == 30


def test_krkn_cpu_hog_file() -> None:
    (hog,) = load_configs("hog_scenarios", yaml.safe_load(KRKN_CPU_HOG))
    assert isinstance(hog, HogConfig)
    assert hog.hog_type == "cpu"
    assert hog.workers is None
    assert hog.selector() == "node-role.kubernetes.io/worker="
    assert hog.stress_command()[:3] == ["stress-ng", "--cpu", "0"]


def test_krkn_io_hog_file() -> None:
    (hog,) = load_configs("hog_scenarios", yaml.safe_load(KRKN_IO_HOG))
    assert isinstance(hog, HogConfig)
    assert hog.number_of_nodes is None
    assert hog.io_target_pod_volume == {"name": "node-volume", "hostPath": {"path": "/root"}}
    assert hog.memory_vm_bytes == "10%"  # Krkn's default


def test_krkn_outage_file() -> None:
    (outage,) = load_configs("application_outages_scenarios", yaml.safe_load(KRKN_OUTAGE))
    assert isinstance(outage, ApplicationOutageEntry)
    assert outage.application_outage.block == ["Ingress", "Egress"]


def test_taints_become_tolerations() -> None:
    (hog,) = load_configs(
        "hog_scenarios", {"hog-type": "memory", "taints": ["a=b:NoSchedule", "c:NoExecute"]}
    )
    assert isinstance(hog, HogConfig)
    assert tolerations(hog.taints) == [
        {"key": "a", "operator": "Equal", "value": "b", "effect": "NoSchedule"},
        {"key": "c", "operator": "Exists", "effect": "NoExecute"},
    ]


def test_unknown_key_is_named_with_the_file() -> None:
    document = yaml.safe_load(KRKN_POD)
    document[0]["config"]["kil"] = 2
    with pytest.raises(ConfigError) as raised:
        load_configs("pod_disruption_scenarios", document, source="scenarios/pod.yml")
    assert str(raised.value) == "scenarios/pod.yml: unknown key 'config.kil'"


def test_wrong_type_is_named() -> None:
    with pytest.raises(ConfigError) as raised:
        load_configs("hog_scenarios", {"hog-type": "gpu"}, source="hog.yml")
    assert str(raised.value).startswith("hog.yml: key 'hog-type': Input should be 'cpu', 'memory' or 'io'")


def test_entry_number_is_named_in_a_list() -> None:
    document = yaml.safe_load(KRKN_POD) + yaml.safe_load(KRKN_POD)
    document[1]["config"]["kill"] = "many"
    with pytest.raises(ConfigError, match=r"^pod.yml, entry 2: key 'config.kill'"):
        load_configs("pod_disruption_scenarios", document, source="pod.yml")


def test_missing_selector() -> None:
    with pytest.raises(ConfigError, match="set 'label_selector' or 'name_pattern'"):
        load_configs("pod_disruption_scenarios", [{"id": "kill-pods", "config": {"namespace_pattern": "x"}}])


def test_unknown_type_lists_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown scenario type 'pod_kill_scenarios'; known types: .*hog_scenarios"
    ):
        load_configs("pod_kill_scenarios", {})


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the scenario file is empty"):
        load_configs("hog_scenarios", None, source="empty.yml")
    with pytest.raises(ConfigError, match=r"missing.yml: cannot read the scenario file"):
        read_scenario_file(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [b\n")
    with pytest.raises(ConfigError, match=r"bad.yml: not valid YAML"):
        read_scenario_file(bad)


def test_example_dag_scenario_files_are_krkn_shaped() -> None:
    import jinja2

    params = {"namespace": "shop", "app": "web", "hold_seconds": 5, "recovery_seconds": 60}
    files = {
        "pod_disruption.yaml": "pod_disruption_scenarios",
        "application_outage.yaml": "application_outages_scenarios",
        "cpu_hog.yaml": "hog_scenarios",
    }
    for name, type_name in files.items():
        text = (ROOT / "dags" / "scenarios" / name).read_text()
        rendered = jinja2.Template(text).render(params=params)
        assert load_configs(type_name, yaml.safe_load(rendered), source=name)

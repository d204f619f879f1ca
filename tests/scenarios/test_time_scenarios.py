"""time_scenarios: skew a pod's clock through exec, or a node's through a helper pod; reset."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback.records import NONCE_LABEL
from krkn_airflow_provider.rollback.undo import apply_undo
from krkn_airflow_provider.scenarios import load_configs, run_scenario
from krkn_airflow_provider.scenarios.time_scenarios import HELPER_LABEL, RESET
from tests.scenarios import catalogue_support as support

TYPE = "time_scenarios"

# Krkn's sample (scenarios/openshift/time_scenarios_example.yml).
KRKN_SAMPLE = """
time_scenarios:
  - action: skew_time
    object_type: pod
    object_name:
      - apiserver-868595fcbb-6qnsc
      - apiserver-868595fcbb-mb9j5
    namespace: openshift-apiserver
    container_name: openshift-apiserver
  - action: skew_date
    object_type: node
    label_selector: node-role.kubernetes.io/worker
"""
KINDS = (("v1", "Pod"), ("batch/v1", "Job"))


def current(kube: Any) -> dict[str, Any]:
    return support.state(kube, KINDS, namespace=kube.namespace)


@pytest.fixture
def clock_pod(kube: Any) -> None:
    pod = support.pod_manifest("clock", {"app": "clock"})
    pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}  # CAP_SYS_TIME, /dev/rtc
    support.create(kube, pod)
    support.wait_for(lambda: support.ready_pods(kube, "app=clock"), what="clock pod ready")


@pytest.fixture
def node(kube: Any) -> str:
    if kube.emulator is not None:
        name = f"krkn-time-{secrets.token_hex(3)}"
        kube.emulator.add_node(name)
        return name
    client = kube.dynamic()
    nodes = client.get(client.resources.get(api_version="v1", kind="Node")).to_dict()["items"]
    return str(next(n["metadata"]["name"] for n in nodes if not (n.get("spec") or {}).get("unschedulable")))


def pod_doc(namespace: str, duration: int = 0) -> dict[str, Any]:
    return {
        "time_scenarios": [
            {
                "action": "skew_time",
                "object_type": "pod",
                "object_name": ["clock"],
                "namespace": namespace,
                "container_name": "main",
                "duration": duration,
            }
        ]
    }


def node_doc(namespace: str, node: str, duration: int = 0) -> dict[str, Any]:
    return {
        "time_scenarios": [
            {
                "action": "skew_date",
                "object_type": "node",
                "object_name": [node],
                "namespace": namespace,
                "duration": duration,
            }
        ]
    }


def test_krkn_sample_parses_unchanged() -> None:
    pod, node = load_configs(TYPE, yaml.safe_load(KRKN_SAMPLE))
    assert pod.model_dump()["object_name"] == ["apiserver-868595fcbb-6qnsc", "apiserver-868595fcbb-mb9j5"]
    assert (node.model_dump()["object_type"], node.model_dump()["label_selector"]) == (
        "node",
        "node-role.kubernetes.io/worker",
    )


def test_wrong_keys_are_refused_by_name() -> None:
    doc = yaml.safe_load(KRKN_SAMPLE)
    doc["time_scenarios"][1]["object_typ"] = "node"
    with pytest.raises(ConfigError) as caught:
        load_configs(TYPE, doc, source="time.yml")
    assert "time.yml, entry 2: unknown key 'object_typ'" in str(caught.value)
    with pytest.raises(ConfigError, match="key 'action'"):
        load_configs(
            TYPE,
            {
                "time_scenarios": [
                    {"action": "skew", "object_type": "pod", "namespace": "a", "label_selector": "a=b"}
                ]
            },
        )


def test_pod_clock_is_skewed_then_reset_through_exec(kube: Any, clock_pod: None, tmp_path: Path) -> None:
    before = current(kube)
    ctx = support.context(kube, tmp_path / "rb", TYPE)
    run_scenario(TYPE, pod_doc(kube.namespace), ctx)
    (record,) = support.records(ctx)
    assert {k: record[k] for k in ("action", "name", "container", "command")} == {
        "action": "exec",
        "name": "clock",
        "container": "main",
        "command": ["/bin/sh", "-c", RESET],
    }
    assert current(kube) == before
    if kube.emulator is not None:
        commands = [
            (e.pod, e.container, e.command[2])
            for e in kube.emulator.exec_log
            if e.namespace == kube.namespace
        ]
        assert commands == [("clock", "main", "date -s 01:01:01"), ("clock", "main", RESET)]


def test_node_helper_pod_and_reset_job_then_restores(kube: Any, node: str, tmp_path: Path) -> None:
    before = current(kube)
    seen: dict[str, Any] = {}

    def log(line: str) -> None:
        if "holding for" in line:
            seen.update(current(kube))

    ctx = support.context(kube, tmp_path / "rb", TYPE, log=log)
    run_scenario(TYPE, node_doc(kube.namespace, node, duration=1), ctx)
    (helper,) = seen.values()
    assert helper["metadata"]["labels"][HELPER_LABEL] == "skew_date"
    spec = helper["spec"]
    assert (spec["nodeName"], spec["containers"][0]["securityContext"]) == (node, {"privileged": True})
    script = spec["containers"][0]["command"][2]
    assert (
        'date -s "2001-01-01 $(date +%H:%M:%S)" || exit 1' in script
        and "trap 'reset; exit 0' TERM INT" in script
    )
    job_record, pod_record = support.records(ctx)
    assert pod_record["guard"][NONCE_LABEL] == helper["metadata"]["labels"][NONCE_LABEL]
    job_spec = job_record["manifest"]["spec"]["template"]["spec"]
    assert (job_spec["nodeName"], job_spec["containers"][0]["command"]) == (node, ["/bin/sh", "-c", RESET])
    support.wait_for(lambda: current(kube) == before, what="state before")


def test_each_undo_runs_twice_and_by_hand(kube: Any, clock_pod: None, tmp_path: Path) -> None:
    ctx = support.inject_only(kube, tmp_path / "rb", TYPE, pod_doc(kube.namespace))
    # An exec undo cannot tell "already reset": both runs reset the clock, harmlessly.
    store = ctx.journal.store
    (entry,) = ctx.journal.recorded
    done = subprocess.run(
        [sys.executable, store.path(entry), "--kubeconfig", str(kube.kubeconfig)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout.startswith("undone: "), done.stdout + done.stderr
    assert apply_undo(ctx.client, store.load(entry).data) == "undone"
    if kube.emulator is not None:
        resets = [
            e for e in kube.emulator.exec_log if e.namespace == kube.namespace and e.command[2] == RESET
        ]
        assert len(resets) == 2


def test_sigkill_after_the_helper_pod_then_rollback(kube: Any, node: str, tmp_path: Path) -> None:
    def helper() -> bool:
        return any(HELPER_LABEL in pod["metadata"].get("labels", {}) for pod in current(kube).values())

    support.sigkill_then_rollback(kube, tmp_path / "rb", TYPE, node_doc(kube.namespace, node, 120), helper)
    support.wait_for(lambda: not helper(), what="helper gone")
    (job,) = [value for key, value in current(kube).items() if key.startswith("Job ")]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["/bin/sh", "-c", RESET]

"""Every recorded kube-apiserver case, replayed over HTTP: the emulator must answer alike.

One test per case file in ``golden/cases`` (see ``golden/README.md``). With
``KRKN_TEST_KUBECONFIG`` set the same tests run against that cluster, which is how a case is
checked against a new Kubernetes release.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest

from kube_emulator.pytest_plugin import KubeTarget
from tests.conformance.golden import Sender, differences, load_cases, run_case

CASES = load_cases()
#: node of the recording cluster that runs pods but cannot stream exec/logs (a kwok node)
NO_STREAM_NODE = os.environ.get("GOLDEN_KWOK_NODE", "kwok-node-2")


def _uses_no_stream_node(case: dict[str, Any]) -> bool:
    return any(NO_STREAM_NODE in str(step.get("body")) for step in case.get("setup", []))


@pytest.fixture
def sender(kube: KubeTarget) -> Sender:
    return Sender(kube.api_client())


def _prepare(kube: KubeTarget, case: dict[str, Any]) -> None:
    """A fresh namespace holds what a real cluster puts there; the no-stream node exists."""
    core = kube.core()
    ns = kube.namespace
    kube.wait_for(
        lambda: (
            core.list_namespaced_service_account(ns, field_selector="metadata.name=default").items
            and core.list_namespaced_config_map(ns, field_selector="metadata.name=kube-root-ca.crt").items
        ),
        timeout=30,
        message="the namespace's default ServiceAccount and kube-root-ca.crt",
    )
    if not _uses_no_stream_node(case):
        return
    if kube.emulator is not None:
        if NO_STREAM_NODE not in {n.metadata.name for n in core.list_node().items}:
            kube.emulator.add_node(NO_STREAM_NODE, streaming=False)
    elif not core.list_node(field_selector=f"metadata.name={NO_STREAM_NODE}").items:
        pytest.skip(f"needs a node {NO_STREAM_NODE} that cannot stream (set GOLDEN_KWOK_NODE)")


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_golden_case(kube: KubeTarget, sender: Sender, case: dict[str, Any]) -> None:
    _prepare(kube, case)
    node = kube.namespace + "-node"
    try:
        got = run_case(sender, case, kube.namespace, node)
    finally:
        # pods bound to a node that never runs them would keep the namespace busy
        with contextlib.suppress(Exception):
            sender.send(
                {
                    "method": "DELETE",
                    "path": f"/api/v1/namespaces/{kube.namespace}/pods",
                    "query": {"gracePeriodSeconds": "0"},
                },
                {},
                [],
            )
        with contextlib.suppress(Exception):
            sender.send({"method": "DELETE", "path": f"/api/v1/nodes/{node}"}, {}, [])
    diffs = differences(case, got)
    assert not diffs, f"{case['file']} ({case['why']}):\n" + "\n".join(diffs)


INFORMATIONAL = [c for c in CASES if _uses_no_stream_node(c)]


@pytest.mark.emulator_only("replays the whole answer of a recording cluster's node that cannot stream")
@pytest.mark.parametrize("case", INFORMATIONAL, ids=[c["file"] for c in INFORMATIONAL])
def test_node_that_cannot_stream_answers_as_recorded(
    kube: KubeTarget, sender: Sender, case: dict[str, Any]
) -> None:
    """The informational cases in full: what code sees from a node whose kubelet cannot stream."""
    _prepare(kube, case)
    got = run_case(sender, case, kube.namespace, kube.namespace + "-node")
    assert (got["status"], got["body"]) == (case["response"]["status"], case["response"]["body"])


@pytest.mark.emulator_only("switches one pod's kubelet streaming off")
def test_streaming_switch_per_pod(kube: KubeTarget, sender: Sender) -> None:
    emu = kube.require_emulator()
    core = kube.core()
    for name in ("a", "b"):
        core.create_namespaced_pod(
            kube.namespace,
            {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        )
    emu.set_pod_log(kube.namespace, "a", "hello\n")
    emu.set_pod_log(kube.namespace, "b", "hello\n")
    kube.wait_for(
        lambda: all(core.read_namespaced_pod(n, kube.namespace).status.phase == "Running" for n in "ab"),
        message="pods running",
    )
    emu.set_streaming(pod=f"{kube.namespace}/a", enabled=False)
    log = {"method": "GET", "path": f"/api/v1/namespaces/{kube.namespace}/pods/{{}}/log"}
    answers = [sender.send({**log, "path": log["path"].format(n)}, {}, []) for n in "ab"]
    assert [a["status"] for a in answers] == [404, 200]
    assert answers[0]["body"]["details"] == {"name": "a", "kind": "pods/log"}
    assert answers[1]["body"] == "hello\n"
    emu.set_streaming(pod=f"{kube.namespace}/a", enabled=True)
    again = sender.send({**log, "path": log["path"].format("a")}, {}, [])
    assert (again["status"], again["body"]) == (200, "hello\n")

"""Emulator switches that reproduce what a real cluster does slowly or only on some nodes.

The golden cases (``tests/conformance``) pin the answers; these tests pin the switches that
make the emulator give them on demand: nodes whose kubelet cannot stream, and namespaces
that stay Terminating for a while.
"""

from __future__ import annotations

import json

import pytest
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from kube_emulator.manifests import pod
from kube_emulator.pytest_plugin import KubeTarget


@pytest.mark.emulator_only("adds a node whose kubelet cannot stream")
def test_exec_on_a_node_that_cannot_stream_fails_after_the_upgrade(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    emu.add_node("mute-1", streaming=False)
    core = kube.core()
    core.create_namespaced_pod(kube.namespace, pod("mute", node_name="mute-1"))
    core.create_namespaced_pod(kube.namespace, pod("talks", node_name="node-1"))
    kube.wait_for(
        lambda: all(
            core.read_namespaced_pod(n, kube.namespace).status.phase == "Running" for n in ("mute", "talks")
        ),
        message="both pods running",
    )
    emu.on_exec("^hostname$", stdout="x\n")

    def run(name: str) -> object:
        resp = stream(
            core.connect_get_namespaced_pod_exec,
            name,
            kube.namespace,
            command=["hostname"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        resp.run_forever(timeout=10)
        return resp.read_channel(3)

    error = json.loads(str(run("mute")))
    assert (error["status"], error["reason"]) == ("Failure", "InternalError")
    assert error["message"] == "Internal error occurred: unable to upgrade connection: empty server response"
    assert json.loads(str(run("talks")))["status"] == "Success"
    # the upgrade itself succeeded; only the streaming pod's command ran
    assert [r.status for r in emu.writes("/exec")] == [101, 101]
    assert [r.pod for r in emu.exec_log] == ["talks"]
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("mute", kube.namespace)
    assert err.value.status == 404


@pytest.mark.emulator_only("sets how long a deleted namespace stays Terminating")
def test_a_deleted_namespace_stays_terminating_and_refuses_new_content(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    emu.namespace_terminate_delay = 60.0  # longer than the test: no race with the controller
    core = kube.core()
    core.create_namespaced_pod(kube.namespace, pod("p", node_name="node-1"))
    core.delete_namespace(kube.namespace)
    assert core.read_namespace(kube.namespace).status.phase == "Terminating"
    kube.wait_for(lambda: not core.list_namespaced_pod(kube.namespace).items, message="pods deleted")
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "late"}})
    assert err.value.status == 403
    assert json.loads(err.value.body)["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    assert core.read_namespace(kube.namespace).status.phase == "Terminating"
    emu.namespace_terminate_delay = 0.0

    def gone() -> bool:
        try:
            core.read_namespace(kube.namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    kube.wait_for(gone, message="namespace finalized")

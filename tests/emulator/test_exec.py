"""``pods/exec`` over the websocket channel protocol, through ``kubernetes.stream.stream``."""

from __future__ import annotations

import pytest
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from kube_emulator.manifests import pod, ready_pods
from kube_emulator.pytest_plugin import KubeTarget

pytestmark = pytest.mark.emulator_only("registers exec replies and reads the exec log")


def _running_pod(kube: KubeTarget, name: str = "target", **spec: object) -> None:
    core = kube.core()
    core.create_namespaced_pod(kube.namespace, pod(name, **spec))
    kube.wait_for(lambda: ready_pods(core, kube.namespace, f"app={name}"), message="pod ready")


def test_exec_preloaded_output_and_log(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    emu.on_exec(r"^cat /etc/hostname$", stdout="target\n")
    _running_pod(kube)
    core = kube.core()
    out = stream(
        core.connect_get_namespaced_pod_exec,
        "target",
        kube.namespace,
        command=["cat", "/etc/hostname"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert out == "target\n"
    unknown = stream(
        core.connect_get_namespaced_pod_exec,
        "target",
        kube.namespace,
        command=["true"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert unknown == ""
    assert [(r.namespace, r.pod, r.container, r.command) for r in emu.exec_log] == [
        (kube.namespace, "target", "main", ["cat", "/etc/hostname"]),
        (kube.namespace, "target", "main", ["true"]),
    ]
    exec_requests = [r for r in emu.writes("/exec")]
    assert len(exec_requests) == 2 and exec_requests[0].status == 101 and exec_requests[0].verb == "create"
    assert exec_requests[0].query["command"] == ["cat", "/etc/hostname"]


def test_exec_streaming_returncode_and_stderr(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    emu.on_exec("failing", stdout="partial\n", stderr="boom\n", exit_code=3)
    _running_pod(kube)
    resp = stream(
        kube.core().connect_get_namespaced_pod_exec,
        "target",
        kube.namespace,
        command=["sh", "-c", "failing"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    resp.run_forever(timeout=5)
    assert resp.read_stdout() == "partial\n"
    assert resp.read_stderr() == "boom\n"
    assert resp.returncode == 3
    ok = stream(
        kube.core().connect_get_namespaced_pod_exec,
        "target",
        kube.namespace,
        command=["ls"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    ok.run_forever(timeout=5)
    assert ok.returncode == 0


def test_exec_stdin_is_recorded(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    _running_pod(kube)
    resp = stream(
        kube.core().connect_get_namespaced_pod_exec,
        "target",
        kube.namespace,
        command=["sh"],
        stderr=True,
        stdin=True,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    resp.write_stdin("echo hello\n")
    resp.close_channel(0)  # v5: end of stdin
    resp.run_forever(timeout=5)
    assert resp.returncode == 0
    assert emu.exec_log[-1].stdin == "echo hello\n"


@pytest.mark.parametrize(
    "command",
    [
        ["kill", "-9", "1"],
        ["kill", "-s", "SIGKILL", "1"],
        ["sh", "-c", "kill 1"],
        ["/bin/sh", "-c", "sleep 1; kill -KILL 1"],
    ],
    ids=["kill-9", "kill-s-SIGKILL", "sh-c-kill", "sh-c-sequence"],
)
def test_exec_kill_restarts_container(kube: KubeTarget, command: list[str]) -> None:
    emu = kube.require_emulator()
    emu.pod_ready_delay = 0.3
    _running_pod(kube)
    core = kube.core()
    out = stream(
        core.connect_get_namespaced_pod_exec,
        "target",
        kube.namespace,
        command=command,
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    out.run_forever(timeout=5)
    assert out.returncode == 0
    status = core.read_namespaced_pod("target", kube.namespace)
    container = status.status.container_statuses[0]
    assert container.ready is False and container.state.terminated is not None
    assert any(c.type == "Ready" and c.status == "False" for c in status.status.conditions)
    kube.wait_for(lambda: ready_pods(core, kube.namespace, "app=target"), message="ready again")
    container = core.read_namespaced_pod("target", kube.namespace).status.container_statuses[0]
    assert container.restart_count == 1
    assert container.last_state.terminated.exit_code in (137, 143)
    assert container.state.running is not None


def test_kill_zero_is_a_probe(kube: KubeTarget) -> None:
    kube.require_emulator()
    _running_pod(kube)
    core = kube.core()
    stream(
        core.connect_get_namespaced_pod_exec,
        "target",
        kube.namespace,
        command=["kill", "-0", "1"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert core.read_namespaced_pod("target", kube.namespace).status.container_statuses[0].restart_count == 0


def _handshake_error(exc: BaseException) -> str:
    # kubernetes 36 turns a refused websocket handshake into ApiException(status=0), then trips
    # over its missing body (AttributeError); the ApiException is the context either way.
    while exc is not None and not isinstance(exc, ApiException):
        exc = exc.__context__  # type: ignore[assignment]
    assert isinstance(exc, ApiException)
    return str(exc.reason)


def test_exec_errors(kube: KubeTarget) -> None:
    kube.require_emulator()
    core = kube.core()
    with pytest.raises((ApiException, AttributeError)) as err:
        stream(
            core.connect_get_namespaced_pod_exec,
            "missing",
            kube.namespace,
            command=["true"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
    assert "Handshake status 404" in _handshake_error(err.value)
    assert 'pods \\"missing\\" not found' in _handshake_error(err.value)
    core.create_namespaced_pod(kube.namespace, pod("pending", node_selector={"nowhere": "x"}))
    with pytest.raises((ApiException, AttributeError)) as err:
        stream(
            core.connect_get_namespaced_pod_exec,
            "pending",
            kube.namespace,
            command=["true"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
    assert "Handshake status 400" in _handshake_error(err.value)
    assert "does not have a host assigned" in _handshake_error(err.value)


def test_pod_log(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    _running_pod(kube)
    core = kube.core()

    def log(**kwargs: object) -> str:
        # kubernetes 36 str()s the bytes of a preloaded text response ("b'...'"), on any cluster
        resp = core.read_namespaced_pod_log("target", kube.namespace, _preload_content=False, **kwargs)
        return resp.data.decode()

    assert "container main started" in log()
    emu.set_pod_log(kube.namespace, "target", "line 1\nline 2\nline 3\n")
    assert log(tail_lines=2) == "line 2\nline 3\n"
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("target", kube.namespace, previous=True)
    assert err.value.status == 400

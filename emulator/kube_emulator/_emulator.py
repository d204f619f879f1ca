"""The public :class:`Emulator`: an in-memory Kubernetes API server on a background loop."""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from . import _kinds, _tls
from ._api import Api, Settings
from ._resources import NAMESPACE, NODE, POD, SERVICE, ResourceType, resolve
from ._server import Server
from ._store import Store, deep_copy
from ._types import ExecRecord, ExecReply, Fault, RequestRecord
from .controllers import Controllers

T = TypeVar("T")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
KUBECONFIG_CONTEXT = "kube-emulator"

#: status and server-set metadata left out of :meth:`Emulator.snapshot`
_SERVER_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink")

_UNSET: Any = object()


class Emulator:
    """An in-memory Kubernetes API server with controllers, served over real HTTP.

    :param nodes: how many Ready worker nodes to create (``node-1``, ``node-2``...).
    :param controllers: run the workload controllers, scheduler and kubelets.
    :param pod_ready_delay: seconds a scheduled pod waits before it is Running and Ready
        (also: a killed container's restart, a Job pod's run time).
    :param recreate_delay: seconds before a ReplicaSet/StatefulSet/DaemonSet/Job replaces a
        pod that was deleted.
    :param pod_terminate_delay: seconds a gracefully deleted pod stays Terminating (capped
        by its grace period).
    :param namespace_terminate_delay: seconds a deleted namespace stays Terminating at least
        (every namespace holds its ``default`` ServiceAccount and ``kube-root-ca.crt``), as the
        namespace controller takes a while on a real cluster.
    :param token: bearer token clients must send (random by default).
    :param host: address to bind.
    :param port: plain-HTTP port (0 picks a free one): :attr:`url`.
    :param tls: also serve HTTPS (bundled test certificate) on ``tls_port``: :attr:`https_url`.
        kubectl only sends a kubeconfig's token over TLS, so kubeconfigs point there.
    :param tls_port: HTTPS port (0 picks a free one).
    :param switch_interval: while running, set ``sys.setswitchinterval`` to this (restored on
        stop). Clients in the same process hand the GIL to the server thread on every request;
        the default 5 ms interval makes each hand-off slow. None leaves the interpreter alone.
    """

    def __init__(
        self,
        *,
        nodes: int = 3,
        controllers: bool = True,
        pod_ready_delay: float = 0.0,
        recreate_delay: float = 0.0,
        pod_terminate_delay: float = 0.0,
        namespace_terminate_delay: float = 1.0,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        tls_port: int = 0,
        switch_interval: float | None = 0.0005,
    ) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.host = host
        self.port = port
        self.tls = tls
        self.tls_port = tls_port
        self.switch_interval = switch_interval
        self._saved_switch_interval: float | None = None
        settings = (
            controllers,
            pod_ready_delay,
            recreate_delay,
            pod_terminate_delay,
            namespace_terminate_delay,
        )
        self._settings = Settings(*settings)
        self._store = Store()
        self._api = Api(self._store, self._settings)
        self._controllers = Controllers(self._api, self._settings)
        self._server = Server(self._api, self._controllers, self.token)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._node_count = 0
        self._initial = (nodes, Settings(*settings))
        self._bootstrap(nodes)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Start serving on a background thread; returns self."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        if self.switch_interval is not None:
            self._saved_switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self.switch_interval, self._saved_switch_interval))
        self._loop = loop
        self._thread = threading.Thread(target=run, name="kube-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._loop = None
            loop.close()
            self._restore_switch_interval()
            raise failure[0]
        return self

    async def _astart(self) -> None:
        self._runner = web.AppRunner(
            self._server.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, backlog=512).start()
        self._server.address = f"{self.host}:{self.port}"
        if self.tls:
            tls_sock = _bind(self.host, self.tls_port)
            self.tls_port = tls_sock.getsockname()[1]
            await web.SockSite(self._runner, tls_sock, backlog=512, ssl_context=_tls.server_context()).start()
            self._server.address = f"{self.host}:{self.tls_port}"
        self._controllers.start()

    def stop(self) -> None:
        """Stop serving and join the thread (the state is kept; ``start`` serves it again)."""
        if self._thread is None or self._loop is None:
            return
        loop = self._loop
        future = asyncio.run_coroutine_threadsafe(self._astop(), loop)
        with contextlib.suppress(Exception):
            future.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        loop.close()
        self._thread = None
        self._loop = None
        self._restore_switch_interval()

    def _restore_switch_interval(self) -> None:
        if self._saved_switch_interval is not None:
            sys.setswitchinterval(self._saved_switch_interval)
            self._saved_switch_interval = None

    async def _astop(self) -> None:
        await self._server.shutdown()
        await self._controllers.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._server.closing = False
        self._controllers = _restartable(self._controllers)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def https_url(self) -> str:
        """``https://127.0.0.1:TLS_PORT`` (certificate: :data:`kube_emulator.CA_PEM`)."""
        if not self.tls:
            raise RuntimeError("this emulator was started with tls=False")
        return f"https://{self.host}:{self.tls_port}"

    @property
    def running(self) -> bool:
        return self._thread is not None

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the server loop (where the store lives) and return its result."""
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            return fn(*args, **kwargs)

        async def wrapper() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(timeout=30)

    def reset(self) -> None:
        """Back to a fresh cluster: bootstrap objects only (system namespaces, the initial
        nodes, ``default/kubernetes``), constructor settings, no faults, empty request and
        exec logs, no exec replies, open watches ended. The port and token stay."""
        nodes, initial = self._initial

        def run() -> None:
            self._server.end_watches()
            self._controllers.reset()
            self._store.clear()
            self._api.reset()
            for fld in (
                "controllers",
                "pod_ready_delay",
                "recreate_delay",
                "pod_terminate_delay",
                "namespace_terminate_delay",
            ):
                setattr(self._settings, fld, getattr(initial, fld))
            self._node_count = 0
            self._bootstrap(nodes)
            if self.running:
                self._controllers.resync()

        self.call(run)
        with self._server.lock:
            self._server.faults.clear()
            self._server.requests.clear()
            self._server.exec_log.clear()
            self._server.exec_replies.clear()
            self._server.no_stream.clear()

    # -- kubeconfig -----------------------------------------------------------------------------

    def kubeconfig(self, namespace: str = "default", *, tls: bool | None = None) -> str:
        """The kubeconfig text (token auth, context ``kube-emulator``).

        :param tls: point at :attr:`https_url` (with the CA inline) — the default when the
            TLS listener runs; False points at the plain :attr:`url`, which kubectl cannot
            authenticate to (client-go drops credentials on plain HTTP).
        """
        use_tls = self.tls if tls is None else tls
        if use_tls and not self.tls:
            raise RuntimeError("this emulator was started with tls=False")
        if use_tls:
            ca = base64.b64encode(_tls.CA_PEM.encode()).decode()
            cluster = f"    server: {self.https_url}\n    certificate-authority-data: {ca}\n"
        else:
            cluster = f"    server: {self.url}\n"
        return (
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            f"- name: {KUBECONFIG_CONTEXT}\n"
            "  cluster:\n"
            f"{cluster}"
            "users:\n"
            f"- name: {KUBECONFIG_CONTEXT}\n"
            "  user:\n"
            f"    token: {json.dumps(self.token)}\n"
            "contexts:\n"
            f"- name: {KUBECONFIG_CONTEXT}\n"
            "  context:\n"
            f"    cluster: {KUBECONFIG_CONTEXT}\n"
            f"    user: {KUBECONFIG_CONTEXT}\n"
            f"    namespace: {namespace}\n"
            f"current-context: {KUBECONFIG_CONTEXT}\n"
            "preferences: {}\n"
        )

    def write_kubeconfig(
        self, path: str | os.PathLike[str], namespace: str = "default", *, tls: bool | None = None
    ) -> Path:
        """Write a kubeconfig for this emulator (mode 0600) and return its path (see :meth:`kubeconfig`)."""
        if not self.running:
            raise RuntimeError("start the emulator before writing a kubeconfig (the port is chosen at start)")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.kubeconfig(namespace, tls=tls))
        return target

    # -- request log and faults -----------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered since the last :meth:`clear_requests`, oldest first."""
        with self._server.lock:
            return list(self._server.requests)

    def writes(self, path_contains: str | None = None) -> list[RequestRecord]:
        """Requests that change state (any verb but get/list/watch), optionally filtered by path."""
        return [r for r in self.requests if r.is_write and (path_contains is None or path_contains in r.path)]

    def clear_requests(self) -> None:
        with self._server.lock:
            self._server.requests.clear()

    def inject_fault(
        self,
        *,
        method: str | None = None,
        path_regex: str = ".*",
        status: int | None = _UNSET,
        delay: float = 0.0,
        drop: bool = False,
        times: int | None = 1,
        skip: int = 0,
        after: bool = False,
        message: str | None = None,
    ) -> Fault:
        """Make matching requests fail.

        :param method: HTTP method (``"PATCH"``) or Kubernetes verb (``"list"``); None = any.
        :param path_regex: ``re.search`` against the URL path.
        :param status: answer with this code and a proper Status body. Defaults to 500, or to
            None (serve normally) when ``delay`` or ``drop`` is given.
        :param delay: sleep this long first (then serve normally, or fail with ``status``).
        :param drop: close the connection without a reply.
        :param times: how many matching requests get the fault (None: forever).
        :param skip: let this many matching requests pass first.
        :param after: apply the fault *after* the request took effect (a lost reply).
        :param message: Status message instead of the apiserver's wording.
        """
        if status is _UNSET:
            status = None if (delay or drop) else 500
        fault = Fault(method, path_regex, status, delay, drop, times, skip, after, message)
        with self._server.lock:
            self._server.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._server.lock:
            self._server.faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._server.lock:
            return list(self._server.faults)

    # -- exec -----------------------------------------------------------------------------------

    def on_exec(self, command_regex: str, *, stdout: str = "", stderr: str = "", exit_code: int = 0) -> None:
        """Reply to ``pods/exec`` commands matching ``command_regex`` (later registrations win).

        The regex is searched in the command joined with spaces (and in its shell-quoted form).
        """
        with self._server.lock:
            self._server.exec_replies.append(ExecReply(re.compile(command_regex), stdout, stderr, exit_code))

    def clear_exec(self) -> None:
        """Forget registered exec replies and the exec log."""
        with self._server.lock:
            self._server.exec_replies.clear()
            self._server.exec_log.clear()

    @property
    def exec_log(self) -> list[ExecRecord]:
        with self._server.lock:
            return list(self._server.exec_log)

    def set_pod_log(self, namespace: str, pod: str, text: str, container: str | None = None) -> None:
        """What ``pods/log`` returns for a container (default: the pod's only/first container)."""

        def run() -> None:
            name = container
            if name is None:
                obj = self._api.get(POD, namespace, pod)
                name = ((obj.get("spec") or {}).get("containers") or [{}])[0].get("name", "")
            self._controllers.kubelet.custom_logs[(namespace, pod, str(name))] = text

        self.call(run)

    # -- controllers and timing -----------------------------------------------------------------

    def set_controllers(self, enabled: bool) -> None:
        """Switch the workload controllers, scheduler and kubelets on or off."""

        def run() -> None:
            was = self._settings.controllers
            self._settings.controllers = enabled
            if enabled and not was:
                self._controllers.resync()

        self.call(run)

    @property
    def controllers_enabled(self) -> bool:
        return self._settings.controllers

    @property
    def pod_ready_delay(self) -> float:
        return self._settings.pod_ready_delay

    @pod_ready_delay.setter
    def pod_ready_delay(self, value: float) -> None:
        self._settings.pod_ready_delay = float(value)

    @property
    def recreate_delay(self) -> float:
        return self._settings.recreate_delay

    @recreate_delay.setter
    def recreate_delay(self, value: float) -> None:
        self._settings.recreate_delay = float(value)

    @property
    def pod_terminate_delay(self) -> float:
        return self._settings.pod_terminate_delay

    @pod_terminate_delay.setter
    def pod_terminate_delay(self, value: float) -> None:
        self._settings.pod_terminate_delay = float(value)

    @property
    def namespace_terminate_delay(self) -> float:
        return self._settings.namespace_terminate_delay

    @namespace_terminate_delay.setter
    def namespace_terminate_delay(self, value: float) -> None:
        self._settings.namespace_terminate_delay = float(value)

        def recheck() -> None:  # terminating namespaces may be due now
            for name in list(self._controllers.namespaces.hold):
                self._controllers.enqueue("namespace", name)

        self.call(recheck)

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until the controllers have nothing queued (timers aside); True if they got there."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = self.call(
                lambda: any(
                    self._controllers.dirty[c]
                    for c in self._controllers.dirty
                    if self._controllers._enabled(c)
                )
            )
            if not busy:
                return True
            time.sleep(0.005)
        return False

    # -- objects --------------------------------------------------------------------------------

    def _rt(self, api_version: str, kind: str) -> ResourceType:
        rt = resolve(api_version, kind)
        if rt is None:
            raise ValueError(f"kube-emulator does not serve {api_version}/{kind}")
        return rt

    def create(self, obj: dict[str, Any], *, keep_status: bool = True) -> dict[str, Any]:
        """Create an object directly (defaulted and validated like an API create).

        ``keep_status`` keeps a given ``status`` (an API create would drop it), so a test can
        seed e.g. a Failed pod. Returns a copy of the stored object.
        """
        rt = self._rt(obj.get("apiVersion", ""), obj.get("kind", ""))
        namespace = (obj.get("metadata") or {}).get("namespace") or ("default" if rt.namespaced else None)
        return deep_copy(self.call(self._api.create, rt, namespace, obj, keep_status=keep_status))

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """A copy of the stored object, or None."""
        rt = self._rt(api_version, kind)
        obj = self.call(self._store.get, rt, namespace, name)
        return deep_copy(obj) if obj is not None else None

    def list(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Copies of the stored objects of a kind, in key order."""
        rt = self._rt(api_version, kind)
        return deep_copy(self.call(self._store.sorted, rt, namespace))

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
    ) -> None:
        """Delete an object as an API delete would (404 raises :class:`ApiError`)."""
        rt = self._rt(api_version, kind)
        options: dict[str, Any] = {}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        self.call(self._api.delete, rt, namespace, name, options)

    def snapshot(self) -> dict[tuple[str, str, str, str], dict[str, Any]]:
        """All objects keyed by ``(apiVersion, kind, namespace, name)`` (namespace ``""`` when
        cluster-scoped), without ``status`` and server-set metadata — compare before/after."""

        def run() -> dict[tuple[str, str, str, str], dict[str, Any]]:
            out: dict[tuple[str, str, str, str], dict[str, Any]] = {}
            for rt, objects in self._store.data.items():
                for (ns, name), obj in objects.items():
                    copy = deep_copy(obj)
                    copy.pop("status", None)
                    for fld in _SERVER_META:
                        copy["metadata"].pop(fld, None)
                    out[(rt.api_version, rt.kind, ns, name)] = copy
            return dict(sorted(out.items()))

        return self.call(run)

    # -- nodes ----------------------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        *,
        labels: dict[str, str] | None = None,
        taints: builtins.list[dict[str, Any]] | None = None,
        ready: bool = True,
        unschedulable: bool = False,
        cpu: str = "4",
        memory: str = "16Gi",
        pods: str = "110",
        streaming: bool = True,
    ) -> dict[str, Any]:
        """Add a node (``kubernetes.io/hostname`` label, Ready condition, capacity) and return it.

        ``streaming=False`` makes it a node whose kubelet cannot stream (exec and logs fail as
        on a kwok node); see :meth:`set_streaming`.
        """
        self.set_streaming(node=name, enabled=streaming)
        self._node_count += 1
        index = self._node_count
        node_labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            **(labels or {}),
        }
        capacity = {
            "cpu": cpu,
            "ephemeral-storage": "100Gi",
            "hugepages-2Mi": "0",
            "memory": memory,
            "pods": pods,
        }
        spec: dict[str, Any] = {
            "podCIDR": f"10.244.{index}.0/24",
            "podCIDRs": [f"10.244.{index}.0/24"],
            "providerID": f"kube-emulator://{name}",
        }
        if taints:
            spec["taints"] = [dict(t) for t in taints]
        if unschedulable:
            spec["unschedulable"] = True
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": node_labels,
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": spec,
            "status": _node_status(name, index, capacity, ready),
        }
        return deep_copy(self.call(self._api.create, NODE, None, node, keep_status=True))

    def set_streaming(self, *, node: str | None = None, pod: str | None = None, enabled: bool) -> None:
        """Let a node's (or one pod's, ``namespace/name``) kubelet stream exec and logs, or not.

        A node that cannot stream answers like a kwok node: exec upgrades the websocket and
        then reports ``unable to upgrade connection`` on the error channel; logs are a 500.
        """
        names = self._server.no_stream
        for key in (f"node/{node}" if node else None, f"pod/{pod}" if pod else None):
            if key is not None:
                with self._server.lock:
                    if enabled:
                        names.discard(key)
                    else:
                        names.add(key)

    def set_node_ready(self, name: str, ready: bool) -> None:
        """Flip a node's Ready condition (its pods go NotReady; taints follow)."""

        def run() -> None:
            node = self._api.get(NODE, None, name)
            new = deep_copy(node)
            conditions = [c for c in new["status"].get("conditions", []) if c.get("type") != "Ready"]
            conditions.append(_ready_condition(ready, _kinds.now()))
            new["status"]["conditions"] = conditions
            self._api.write(NODE, new)

        self.call(run)

    def remove_node(self, name: str) -> None:
        """Delete a node; its pods are deleted (pod GC) and controllers replace them elsewhere."""
        self.call(self._api.delete, NODE, None, name, {})

    # -- bootstrap ------------------------------------------------------------------------------

    def _bootstrap(self, nodes: int) -> None:
        for ns in SYSTEM_NAMESPACES:
            self._api.create(NAMESPACE, None, {"metadata": {"name": ns}})
        self._api.create(
            SERVICE,
            "default",
            {
                "metadata": {
                    "name": "kubernetes",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                    "clusterIP": "10.96.0.1",
                },
            },
        )
        for i in range(1, nodes + 1):
            self.add_node(f"node-{i}")

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Emulator {self.url} {state}>"


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _node_conditions(ready: bool) -> list[dict[str, Any]]:
    """A healthy kubelet's pressure conditions (all False) and the Ready condition."""
    now = _kinds.now()
    conditions = [
        {
            "type": t,
            "status": "False",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": r,
            "message": m,
        }
        for t, r, m in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        )
    ]
    conditions.append(_ready_condition(ready, now))
    return conditions


def _node_status(name: str, index: int, capacity: dict[str, str], ready: bool) -> dict[str, Any]:
    """The status a kubelet reports for the ``index``-th node: capacity, conditions, addresses, info."""
    return {
        "capacity": capacity,
        "allocatable": dict(capacity),
        "conditions": _node_conditions(ready),
        "addresses": [
            {"type": "InternalIP", "address": f"172.18.0.{index + 1}"},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": f"{index:032x}",
            "systemUUID": f"{index:032x}",
            "bootID": f"{index:032x}",
            "kernelVersion": "6.1.0-emulated",
            "osImage": "Debian GNU/Linux 12 (bookworm)",
            "containerRuntimeVersion": "containerd://1.7.24",
            "kubeletVersion": "v1.36.2",
            "kubeProxyVersion": "v1.36.2",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def _ready_condition(ready: bool, now: str) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True" if ready else "False",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
        "reason": "KubeletReady" if ready else "KubeletNotReady",
        "message": "kubelet is posting ready status" if ready else "container runtime is down",
    }


def _restartable(controllers: Controllers) -> Controllers:
    """After a stop, a fresh controller task (same state) is needed for the next start."""
    controllers._task = None
    controllers.wake = asyncio.Event()
    return controllers


__all__ = ["Emulator"]

"""Pytest plugin: the ``kube`` fixture, on the emulator or on a real cluster.

Load it with ``pytest_plugins = ["kube_emulator.pytest_plugin"]`` in the top-level
``conftest.py`` (or ``-p kube_emulator.pytest_plugin``).

* ``kube`` (function scope) yields a :class:`KubeTarget` with a fresh namespace. By default
  it is backed by one emulator per session, reset before every test (objects, faults,
  request log, exec replies, delays, controllers on). With ``KRKN_TEST_KUBECONFIG`` set,
  the same fixture targets that cluster instead (fresh namespace per test, deleted after).
* ``@pytest.mark.emulator_only("why")`` skips a test on a real cluster.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from ._emulator import Emulator

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api
    from kubernetes.dynamic import DynamicClient

ENV_KUBECONFIG = "KRKN_TEST_KUBECONFIG"
MARKER = "emulator_only"
T = TypeVar("T")


@dataclass
class KubeTarget:
    """Where a test's Kubernetes calls go.

    :param kubeconfig: kubeconfig file for the target (token auth on the emulator).
    :param namespace: a namespace created for this test and deleted after it.
    :param emulator: the :class:`Emulator`, or None on a real cluster.
    """

    kubeconfig: Path
    namespace: str
    emulator: Emulator | None
    _clients: list[Any] = field(default_factory=list, repr=False)
    _cache_dir: Path | None = field(default=None, repr=False)

    @property
    def is_real(self) -> bool:
        return self.emulator is None

    def require_emulator(self, reason: str = "needs the Kubernetes emulator") -> Emulator:
        """Skip the test on a real cluster; return the emulator otherwise."""
        if self.emulator is None:
            pytest.skip(reason)
        return self.emulator

    def api_client(self) -> ApiClient:
        """A fresh ``kubernetes.client.ApiClient`` from :attr:`kubeconfig` (closed after the test)."""
        from kubernetes import config

        client = config.new_client_from_config(str(self.kubeconfig))
        self._clients.append(client)
        return client

    def core(self) -> CoreV1Api:
        from kubernetes.client import CoreV1Api

        return CoreV1Api(self.api_client())

    def apps(self) -> AppsV1Api:
        from kubernetes.client import AppsV1Api

        return AppsV1Api(self.api_client())

    def dynamic(self) -> DynamicClient:
        """A ``kubernetes.dynamic.DynamicClient`` (discovery cached per test, not in /tmp)."""
        from kubernetes.dynamic import DynamicClient

        cache = None
        if self._cache_dir is not None:
            cache = str(self._cache_dir / f"discovery-{secrets.token_hex(4)}.json")
        return DynamicClient(self.api_client(), cache_file=cache)

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 10.0,
        interval: float = 0.02,
        message: str = "condition",
    ) -> T:
        """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                last = predicate()
            except Exception as exc:  # an API error while things settle counts as "not yet"
                last = exc
            else:
                if last:
                    return last  # type: ignore[no-any-return]
            if time.monotonic() >= deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {message} (last: {last!r})")
            time.sleep(interval)

    def close(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(reason): needs powers only the Kubernetes emulator has; skipped on a real cluster",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker(MARKER)
    if marker is not None and os.environ.get(ENV_KUBECONFIG):
        reason = (
            marker.args[0] if marker.args else marker.kwargs.get("reason", "needs the Kubernetes emulator")
        )
        pytest.skip(f"emulator only: {reason}")


@pytest.fixture(scope="session")
def kube_session_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator | None]:
    """The session's emulator (None when ``KRKN_TEST_KUBECONFIG`` selects a real cluster)."""
    if os.environ.get(ENV_KUBECONFIG):
        yield None
        return
    emu = Emulator(nodes=3).start()
    emu.write_kubeconfig(tmp_path_factory.mktemp("kube-emulator") / "kubeconfig")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def kube(
    kube_session_emulator: Emulator | None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[KubeTarget]:
    """A :class:`KubeTarget` with a fresh namespace (see the module docstring)."""
    namespace = "t-" + _slug(request.node.name)[:40].strip("-") + "-" + secrets.token_hex(3)
    if kube_session_emulator is None:
        yield from _real_target(Path(os.environ[ENV_KUBECONFIG]).expanduser(), namespace, tmp_path)
        return
    emu = kube_session_emulator
    emu.reset()
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    emu.settle()
    emu.clear_requests()
    kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig", namespace)
    target = KubeTarget(kubeconfig, namespace, emu, _cache_dir=tmp_path)
    try:
        yield target
    finally:
        target.close()
        emu.clear_faults()
        with contextlib.suppress(Exception):
            emu.delete("v1", "Namespace", namespace)


def _real_target(kubeconfig: Path, namespace: str, tmp_path: Path) -> Iterator[KubeTarget]:
    from kubernetes import client, config

    api = config.new_client_from_config(str(kubeconfig))
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": namespace, "labels": {"krkn-test": "true"}}})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # pods need the namespace's default ServiceAccount
        if core.list_namespaced_service_account(namespace, field_selector="metadata.name=default").items:
            break
        time.sleep(0.2)
    target = KubeTarget(kubeconfig, namespace, None, _cache_dir=tmp_path)
    try:
        yield target
    finally:
        target.close()
        with contextlib.suppress(Exception):
            core.delete_namespace(namespace, propagation_policy="Background")
        api.close()


def _slug(text: str) -> str:
    out = []
    for ch in text.lower():
        out.append(ch if ch.isalnum() else "-")
    slug = "".join(out)
    while "--" in slug:
        slug = slug.replace("--", "-")
    return slug or "test"

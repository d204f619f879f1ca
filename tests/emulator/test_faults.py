"""Fault injection and the request log."""

from __future__ import annotations

import json
import time

import pytest
import urllib3
from kubernetes.client.rest import ApiException

from kube_emulator.pytest_plugin import KubeTarget

pytestmark = pytest.mark.emulator_only("injects faults and reads the request log")


def test_request_log_records_method_path_body(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    core, ns = kube.core(), kube.namespace
    core.create_namespaced_config_map(ns, {"metadata": {"name": "logged"}, "data": {"a": "1"}})
    core.patch_namespaced_config_map(
        "logged", ns, {"data": {"a": None}}, _content_type="application/merge-patch+json"
    )
    core.read_namespaced_config_map("logged", ns)
    core.delete_namespaced_config_map("logged", ns, grace_period_seconds=0)
    writes = emu.writes(f"/namespaces/{ns}/configmaps")
    assert [(w.method, w.verb, w.path, w.status) for w in writes] == [
        ("POST", "create", f"/api/v1/namespaces/{ns}/configmaps", 201),
        ("PATCH", "patch", f"/api/v1/namespaces/{ns}/configmaps/logged", 200),
        ("DELETE", "delete", f"/api/v1/namespaces/{ns}/configmaps/logged", 200),
    ]
    assert writes[0].body == {"metadata": {"name": "logged"}, "data": {"a": "1"}}
    assert writes[1].body == {"data": {"a": None}}
    assert writes[1].content_type == "application/merge-patch+json"
    assert writes[2].query == {"gracePeriodSeconds": "0"}
    reads = [r for r in emu.requests if r.method == "GET" and r.path.endswith("/configmaps/logged")]
    assert len(reads) == 1 and reads[0].verb == "get" and reads[0].body is None
    emu.clear_requests()
    assert emu.requests == []


def test_status_fault_with_proper_status_body(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    core, ns = kube.core(), kube.namespace
    core.create_namespaced_config_map(ns, {"metadata": {"name": "f"}})
    fault = emu.inject_fault(method="PATCH", path_regex=r"/configmaps/f$", status=503)
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("f", ns, {"data": {"x": "1"}})
    body = json.loads(err.value.body)
    assert err.value.status == 503 and body["reason"] == "ServiceUnavailable" and body["code"] == 503
    assert fault.hits == 1 and fault.exhausted
    core.patch_namespaced_config_map("f", ns, {"data": {"x": "1"}})  # times=1: the next one passes
    assert core.read_namespaced_config_map("f", ns).data == {"x": "1"}
    assert [w.status for w in emu.writes("/configmaps/f")] == [503, 200]


def test_conflict_and_not_found_faults_name_the_object(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    core, ns = kube.core(), kube.namespace
    core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    emu.inject_fault(method="update", path_regex="/configmaps/c$", status=409)
    cm = core.read_namespaced_config_map("c", ns)
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", ns, cm)
    body = json.loads(err.value.body)
    assert body["reason"] == "Conflict" and body["details"] == {"name": "c", "kind": "configmaps"}


def test_skip_and_times(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    core, ns = kube.core(), kube.namespace
    fault = emu.inject_fault(method="POST", path_regex="/configmaps$", status=500, skip=1, times=2)
    outcomes = []
    for i in range(5):
        try:
            core.create_namespaced_config_map(ns, {"metadata": {"name": f"st-{i}"}})
            outcomes.append("ok")
        except ApiException as exc:
            outcomes.append(exc.status)
    assert outcomes == ["ok", 500, 500, "ok", "ok"]
    assert (fault.seen, fault.hits) == (3, 2)
    assert [w.status for w in emu.writes("/configmaps")] == [201, 500, 500, 201, 201]
    forever = emu.inject_fault(method="list", path_regex="/configmaps$", status=500, times=None)
    for _ in range(3):
        with pytest.raises(ApiException):
            core.list_namespaced_config_map(ns)
    assert forever.hits == 3
    emu.clear_faults()
    core.list_namespaced_config_map(ns)


def test_delay_fault(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    core, ns = kube.core(), kube.namespace
    emu.inject_fault(method="GET", path_regex="/configmaps/kube-root-ca.crt$", delay=0.4)
    start = time.monotonic()
    core.read_namespaced_config_map("kube-root-ca.crt", ns)
    slow = time.monotonic() - start
    start = time.monotonic()
    core.read_namespaced_config_map("kube-root-ca.crt", ns)
    fast = time.monotonic() - start
    assert slow >= 0.4 and fast < 0.3
    emu.inject_fault(method="GET", path_regex="/configmaps/kube-root-ca.crt$", delay=0.2, status=504)
    start = time.monotonic()
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("kube-root-ca.crt", ns)
    assert err.value.status == 504 and time.monotonic() - start >= 0.2
    # a client timeout shorter than the delay: urllib3 retries the GET (3 times), then gives up
    slow_forever = emu.inject_fault(
        method="GET", path_regex="/configmaps/kube-root-ca.crt$", delay=0.5, times=None
    )
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.read_namespaced_config_map("kube-root-ca.crt", ns, _request_timeout=0.1)
    assert slow_forever.hits == 4


def test_drop_fault_closes_connection(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    core, ns = kube.core(), kube.namespace
    fault = emu.inject_fault(method="POST", path_regex="/configmaps$", drop=True)
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.create_namespaced_config_map(ns, {"metadata": {"name": "dropped"}})
    assert fault.hits == 1
    assert emu.writes("/configmaps")[0].status == 0
    # the dropped request never took effect; the next one goes through on a new connection
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dropped"}})
    # urllib3 retries idempotent methods on a dropped connection: a GET fault seen once is invisible
    get_fault = emu.inject_fault(method="GET", path_regex="/configmaps/dropped$", drop=True)
    assert core.read_namespaced_config_map("dropped", ns).metadata.name == "dropped"
    assert get_fault.hits == 1


def test_fault_after_the_change_took_effect(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    core, ns = kube.core(), kube.namespace
    emu.inject_fault(method="POST", path_regex="/configmaps$", status=500, after=True)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "lost-reply"}})
    assert err.value.status == 500
    assert core.read_namespaced_config_map("lost-reply", ns).metadata.name == "lost-reply"


def test_unauthorized_without_token(kube: KubeTarget) -> None:
    emu = kube.require_emulator()
    http = urllib3.PoolManager()
    resp = http.request("GET", f"{emu.url}/api/v1/namespaces")
    assert resp.status == 401
    assert json.loads(resp.data) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    resp = http.request("GET", f"{emu.url}/api/v1/namespaces", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    resp = http.request(
        "GET", f"{emu.url}/api/v1/namespaces", headers={"Authorization": f"Bearer {emu.token}"}
    )
    assert resp.status == 200
    assert http.request("GET", f"{emu.url}/healthz").data == b"ok"

"""Scenario-side API errors: reads retried on 429/5xx; 401/403 name the verb, resource and RBAC rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.scenarios import run_scenario
from krkn_airflow_provider.scenarios.kube import api_error, plural
from tests.scenarios import catalogue_support as support

pytestmark = pytest.mark.emulator_only("injects faults into the API server")


@pytest.fixture
def web(kube: Any) -> None:
    support.create(kube, *(support.pod_manifest(f"web-{i}", {"app": "web"}) for i in range(2)))
    support.wait_for(lambda: len(support.ready_pods(kube, "app=web")) == 2, what="pods ready")


def outage(ns: str) -> dict[str, Any]:
    return {"application_outage": {"duration": 0, "namespace": ns, "pod_selector": {"app": "web"}}}


def pod_lists(kube: Any) -> int:
    return sum(1 for r in kube.emulator.requests if r.verb == "list" and r.path.endswith("/pods"))


def test_reads_are_retried_on_429_and_5xx(kube: Any, tmp_path: Path, web: None) -> None:
    ctx = support.context(kube, tmp_path / "rb", "application_outages_scenarios")
    kube.emulator.clear_requests()
    kube.emulator.inject_fault(method="list", path_regex=r"/pods$", status=503, times=1)
    kube.emulator.inject_fault(method="list", path_regex=r"/pods$", status=429, times=1)
    summary = run_scenario("application_outages_scenarios", outage(kube.namespace), ctx)
    assert len(summary.entries[0].targets) == 2
    first = next(
        i for i, r in enumerate(kube.emulator.requests) if r.verb == "list" and r.path.endswith("/pods")
    )
    assert [r.status for r in kube.emulator.requests[first : first + 3]] == [503, 429, 200]


def test_forbidden_read_names_the_rbac_rule_and_writes_nothing(kube: Any, tmp_path: Path, web: None) -> None:
    ctx = support.context(kube, tmp_path / "rb", "application_outages_scenarios")
    kube.emulator.clear_requests()
    kube.emulator.inject_fault(method="list", path_regex=r"/pods$", status=403, times=None)
    with pytest.raises(ScenarioError) as raised:
        run_scenario("application_outages_scenarios", outage(kube.namespace), ctx)
    message = str(raised.value)
    assert f"cannot list Pod {kube.namespace}: 403" in message
    assert "RBAC: the identity needs verb 'list' on 'pods' in apiGroup ''" in message
    assert pod_lists(kube) == 1  # a 403 is not retried
    assert kube.emulator.writes() == []


def test_forbidden_change_names_the_rbac_rule(kube: Any, tmp_path: Path, web: None) -> None:
    ctx = support.context(kube, tmp_path / "rb", "application_outages_scenarios")
    kube.emulator.inject_fault(method="create", path_regex=r"/networkpolicies$", status=403, times=None)
    with pytest.raises(ScenarioError) as raised:
        run_scenario("application_outages_scenarios", outage(kube.namespace), ctx)
    message = str(raised.value)
    assert "cannot create NetworkPolicy" in message
    assert "verb 'create' on 'networkpolicies' in apiGroup 'networking.k8s.io'" in message


def test_api_error_shapes() -> None:
    class Denied(Exception):
        status = 401
        reason = "Unauthorized"
        body = '{"message": "token expired"}'

    error = api_error("create", "v1", "Pod", "ns/p", Denied(), subresource="exec")
    assert str(error) == (
        "cannot create Pod/exec ns/p: 401 Unauthorized: token expired "
        "(RBAC: the identity needs verb 'create' on 'pods/exec' in apiGroup ''; see deploy/rbac.yaml)"
    )
    assert [plural(k) for k in ("NetworkPolicy", "Pod", "Ingress")] == [
        "networkpolicies",
        "pods",
        "ingresses",
    ]

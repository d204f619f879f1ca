"""Blast radius: caps, protected namespaces and empty selections are refused before any write.

Protected namespaces are exercised with the test's own namespace declared protected (as the
namespace Airflow runs in would be), so these tests run unchanged on a real cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import ConfigError, ScenarioError
from krkn_airflow_provider.rollback import Journal
from krkn_airflow_provider.scenarios import BlastRadius, BlastRadiusExceeded, ScenarioContext, run_scenario
from krkn_airflow_provider.scenarios.safety import SYSTEM_NAMESPACES, airflow_namespace, default_protected
from tests.scenarios import catalogue_support as support


def writes(kube: Any) -> list[tuple[str, str]]:
    if kube.emulator is None:
        return []
    return [(r.method, r.path) for r in kube.emulator.writes()]


def fresh(kube: Any, tmp_path: Path, type_name: str, limits: BlastRadius) -> ScenarioContext:
    ctx = support.context(kube, tmp_path / "rb", type_name)
    ctx.limits = limits
    if kube.emulator is not None:
        kube.emulator.clear_requests()
    return ctx


@pytest.fixture
def four_pods(kube: Any) -> None:
    support.create(kube, *(support.pod_manifest(f"web-{i}", {"app": "web"}) for i in range(4)))
    support.wait_for(lambda: len(support.ready_pods(kube, "app=web")) == 4, what="pods ready")


def kill(ns: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": "kill-pods",
            "config": {"namespace_pattern": f"^{ns}$", "label_selector": "app=web", "kill": count},
        }
    ]


def test_max_targets_refused_before_any_write(kube: Any, tmp_path: Path, four_pods: None) -> None:
    ctx = fresh(kube, tmp_path, "pod_disruption_scenarios", BlastRadius(max_targets=1))
    with pytest.raises(
        BlastRadiusExceeded, match=r"2 targets but max_targets=1: select fewer .* or raise max_targets"
    ):
        run_scenario("pod_disruption_scenarios", kill(kube.namespace, 2), ctx)
    assert writes(kube) == []
    assert ctx.journal.store.entries() == []
    assert len(support.ready_pods(kube, "app=web")) == 4


def test_max_percent_refused_before_any_write(kube: Any, tmp_path: Path, four_pods: None) -> None:
    ctx = fresh(kube, tmp_path, "pod_disruption_scenarios", BlastRadius(max_percent=25))
    with pytest.raises(BlastRadiusExceeded, match=r"hits 2 of the 4 .* \(50 %\) but max_percent=25"):
        run_scenario("pod_disruption_scenarios", kill(kube.namespace, 2), ctx)
    assert writes(kube) == []
    assert ctx.journal.store.entries() == []


def test_within_the_caps_runs(kube: Any, tmp_path: Path, four_pods: None) -> None:
    ctx = fresh(kube, tmp_path, "pod_disruption_scenarios", BlastRadius(max_targets=2, max_percent=50))
    summary = run_scenario("pod_disruption_scenarios", kill(kube.namespace, 2), ctx)
    assert len(summary.entries[0].targets) == 2


def test_second_entry_is_checked_before_its_own_changes(kube: Any, tmp_path: Path, four_pods: None) -> None:
    ctx = fresh(kube, tmp_path, "pod_disruption_scenarios", BlastRadius(max_targets=1))
    with pytest.raises(BlastRadiusExceeded, match="entry 2"):
        run_scenario("pod_disruption_scenarios", kill(kube.namespace, 1) + kill(kube.namespace, 2), ctx)
    assert writes(kube) == []  # every entry is planned and checked before the first change


def test_protected_target_namespace_refused(
    kube: Any, tmp_path: Path, four_pods: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRKN_AIRFLOW_NAMESPACE", kube.namespace)  # "Airflow runs here"
    ctx = fresh(kube, tmp_path, "pod_disruption_scenarios", BlastRadius())
    with pytest.raises(BlastRadiusExceeded) as raised:
        run_scenario("pod_disruption_scenarios", kill(kube.namespace, 1), ctx)
    message = str(raised.value)
    assert f"in protected namespace {kube.namespace!r}" in message
    assert "allow_protected_namespaces=True" in message
    assert writes(kube) == []
    assert ctx.journal.store.entries() == []


def test_protected_namespace_allowed_explicitly(kube: Any, tmp_path: Path, four_pods: None) -> None:
    limits = BlastRadius(protected_namespaces=frozenset({kube.namespace}), allow_protected_namespaces=True)
    ctx = fresh(kube, tmp_path, "pod_disruption_scenarios", limits)
    ctx.journal = Journal(ctx.journal.store, ctx.journal.origin, dry_run=True)
    summary = run_scenario("pod_disruption_scenarios", kill(kube.namespace, 1), ctx)
    assert len(summary.entries[0].targets) == 1


def test_scenario_namespace_field_protected(kube: Any, tmp_path: Path) -> None:
    """A hog targets nodes, but creates its pods in ``namespace``: that one counts too."""
    ctx = fresh(
        kube, tmp_path, "hog_scenarios", BlastRadius(protected_namespaces=frozenset({kube.namespace}))
    )
    document = {"hog-type": "cpu", "duration": 1, "namespace": kube.namespace, "number-of-nodes": 1}
    with pytest.raises(BlastRadiusExceeded, match="the scenario's namespace is in protected namespace"):
        run_scenario("hog_scenarios", document, ctx)
    assert writes(kube) == []


def test_change_backstop_refuses_a_protected_record(kube: Any, tmp_path: Path) -> None:
    from krkn_airflow_provider.rollback import UndoRecord

    ctx = fresh(kube, tmp_path, "hog_scenarios", BlastRadius())
    undo = UndoRecord(
        action="delete", api_version="v1", kind="Pod", namespace="kube-system", name="x", guard={"a": "b"}
    )
    called = []
    with pytest.raises(BlastRadiusExceeded, match="'kube-system'"):
        ctx.change(undo, "create Pod kube-system/x", lambda: called.append(1))
    assert called == [] and ctx.journal.store.entries() == []


def test_defaults_and_airflow_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRKN_AIRFLOW_NAMESPACE", raising=False)
    token_ns = tmp_path / "namespace"
    token_ns.write_text("airflow\n")
    assert airflow_namespace(str(token_ns)) == "airflow"
    assert airflow_namespace(str(tmp_path / "missing")) is None
    monkeypatch.setenv("KRKN_AIRFLOW_NAMESPACE", "data-platform")
    assert airflow_namespace(str(token_ns)) == "data-platform"
    assert default_protected() == frozenset((*SYSTEM_NAMESPACES, "data-platform"))
    with pytest.raises(ConfigError, match="max_percent"):
        BlastRadius(max_percent=0)
    with pytest.raises(ConfigError, match="max_targets"):
        BlastRadius(max_targets=0)


# A selection that matches nothing fails in plan(), for the types test_scenarios_cluster.py
# does not cover already (pod disruption, application outage, hog).
NOTHING = {
    "container_scenarios": {"scenarios": [{"namespace": "^{ns}$", "label_selector": "app=nothing"}]},
    "network_chaos_ng_scenarios": [
        {
            "id": "node_network_filter",
            "namespace": "{ns}",
            "label_selector": "krkn.io/none=1",
            "egress": True,
            "ports": [80],
        }
    ],
    "node_scenarios": {"node_scenarios": [{"actions": ["node_cordon"], "label_selector": "krkn.io/none=1"}]},
    "service_hijacking_scenarios": {
        "service_name": "nothing",
        "service_namespace": "{ns}",
        "service_target_port": "http",
        "plan": [{"resource": "/", "steps": {"GET": [{"status": 500}]}}],
    },
    "service_disruption_scenarios": {"scenarios": [{"namespace": "^krkn-no-such-namespace$"}]},
    "pvc_scenarios": {"pvc_scenario": {"pod_name": "nothing", "namespace": "{ns}", "fill_percentage": 50}},
    "time_scenarios": {
        "time_scenarios": [
            {
                "action": "skew_time",
                "object_type": "pod",
                "label_selector": "app=nothing",
                "namespace": "{ns}",
            }
        ]
    },
    "syn_flood_scenarios": {"namespace": "{ns}", "target-service": "nothing", "target-port": 80},
}


@pytest.mark.parametrize("type_name", sorted(NOTHING))
def test_selection_matching_nothing_fails_before_any_write(kube: Any, tmp_path: Path, type_name: str) -> None:
    document = json.loads(json.dumps(NOTHING[type_name]).replace("{ns}", kube.namespace))
    ctx = fresh(kube, tmp_path, type_name, BlastRadius(protected_namespaces=frozenset()))
    with pytest.raises(ScenarioError) as raised:
        run_scenario(type_name, document, ctx)
    assert not isinstance(raised.value, BlastRadiusExceeded)
    assert writes(kube) == []
    assert ctx.journal.store.entries() == []


def test_a_selection_reaching_a_protected_namespace_is_refused_whatever_the_pick(
    kube: Any, tmp_path: Path, four_pods: None
) -> None:
    # Four pods in the test's namespace (declared protected) and four in an unprotected
    # one; kill: 1. Every attempt is refused, not only those whose random pick lands in the
    # protected namespace (with a pick-based check, five attempts would all be refused
    # only once in 32 runs).
    core = kube.core()
    other = f"{kube.namespace}-free"
    core.create_namespace({"metadata": {"name": other}})
    try:
        for i in range(4):
            core.create_namespaced_pod(other, support.pod_manifest(f"web-{i}", {"app": "web"}))
        pattern = f"^({kube.namespace}|{other})$"
        document = [
            {
                "id": "kill-pods",
                "config": {"namespace_pattern": pattern, "label_selector": "app=web", "kill": 1},
            }
        ]
        for _ in range(5):
            limits = BlastRadius(protected_namespaces=(kube.namespace,))
            ctx = fresh(kube, tmp_path, "pod_disruption_scenarios", limits)
            with pytest.raises(BlastRadiusExceeded, match=r"matches a pod that is in protected namespace"):
                run_scenario("pod_disruption_scenarios", document, ctx)
            assert writes(kube) == []
        assert len(core.list_namespaced_pod(other).items) == 4
    finally:
        core.delete_namespace(other)

"""pod_disruption_scenarios, the catalogue's additions: node selection, force, parallel kills."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.scenarios import run_scenario
from tests.scenarios import catalogue_support as support

TYPE = "pod_disruption_scenarios"


def document(namespace: str, **config: Any) -> list[dict[str, Any]]:
    base = {"namespace_pattern": f"^{namespace}$", "label_selector": "app=bare", "krkn_pod_recovery_time": 60}
    return [{"id": "kill-pods", "config": {**base, **config}}]


def current(kube: Any) -> dict[str, Any]:
    return support.state(kube, (("v1", "Pod"),), namespace=kube.namespace)


@pytest.fixture
def bare_pods(kube: Any) -> str:
    """Two bare pods on one node (a fresh node on the emulator), one elsewhere; returns that node."""
    if kube.emulator is not None:
        node = f"krkn-pd-{secrets.token_hex(3)}"
        kube.emulator.add_node(node)
    else:
        client = kube.dynamic()
        nodes = client.get(client.resources.get(api_version="v1", kind="Node")).to_dict()["items"]
        node = next(n["metadata"]["name"] for n in nodes if not (n.get("spec") or {}).get("unschedulable"))
    support.create(
        kube,
        support.pod_manifest("bare-a", {"app": "bare"}, nodeName=node),
        support.pod_manifest("bare-b", {"app": "bare"}, nodeName=node),
    )
    support.wait_for(lambda: len(support.ready_pods(kube, "app=bare")) == 2, what="2 bare pods ready")
    return str(node)


def test_parallel_force_kill_of_the_pods_on_named_nodes(kube: Any, bare_pods: str, tmp_path: Path) -> None:
    before = current(kube)
    ctx = support.context(kube, tmp_path / "rb", TYPE)
    doc = document(kube.namespace, kill=2, node_names=[bare_pods], force=True, execution="parallel")
    summary = run_scenario(TYPE, doc, ctx).to_dict()
    assert sorted(summary["targets"]) == [f"Pod {kube.namespace}/bare-a", f"Pod {kube.namespace}/bare-b"]
    assert [(r["action"], r["name"]) for r in support.records(ctx)] in (
        [("create", "bare-a"), ("create", "bare-b")],
        [("create", "bare-b"), ("create", "bare-a")],
    )
    support.wait_for(lambda: current(kube) == before, what="bare pods back")
    if kube.emulator is not None:
        deletes = [r for r in kube.emulator.requests if r.method == "DELETE" and "/pods/bare-" in r.path]
        assert [r.query.get("gracePeriodSeconds") for r in deletes] == ["0", "0"]
        # Forced deletes remove the pods at once and the answers say so: no GET waits for them.
        pods = ("/pods/bare-a", "/pods/bare-b")
        assert not [r for r in kube.emulator.requests if r.method == "GET" and r.path.endswith(pods)]


def test_node_label_selector_that_matches_no_pod_changes_nothing(
    kube: Any, bare_pods: str, tmp_path: Path
) -> None:
    before = current(kube)
    ctx = support.context(kube, tmp_path / "rb", TYPE)
    with pytest.raises(ScenarioError, match="no pod matches"):
        run_scenario(TYPE, document(kube.namespace, node_label_selector="krkn-test=nowhere"), ctx)
    assert ctx.journal.recorded == [] and current(kube) == before


def test_sigkill_while_a_bare_pod_terminates_then_rollback(kube: Any, tmp_path: Path) -> None:
    slow = support.pod_manifest("slow", {"app": "slow"}, terminationGracePeriodSeconds=30)
    slow["spec"]["containers"][0]["command"] = ["sleep", "3600"]  # PID 1 ignores SIGTERM: it lingers
    support.create(kube, slow)
    support.wait_for(lambda: support.ready_pods(kube, "app=slow"), what="slow pod ready")
    before = current(kube)
    if kube.emulator is not None:
        kube.emulator.pod_terminate_delay = 15.0

    def terminating() -> bool:
        pod = support.get(kube, "v1", "Pod", "slow")
        return pod is None or bool(pod["metadata"].get("deletionTimestamp"))

    doc = document(kube.namespace, label_selector="app=slow", kill=1)
    support.sigkill_then_rollback(kube, tmp_path / "rb", TYPE, doc, terminating)
    support.wait_for(lambda: not terminating(), timeout=45, what="the old pod gone or replaced")
    assert current(kube) == before

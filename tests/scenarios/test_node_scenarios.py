"""node_scenarios (Kubernetes level): cordon, taint, drain through the Eviction API; all undone."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from krkn_airflow_provider.errors import ConfigError, ScenarioError
from krkn_airflow_provider.rollback import Store, marks, replay
from krkn_airflow_provider.rollback.sweep import find_leftovers, remove_leftover
from krkn_airflow_provider.scenarios import load_configs, run_scenario
from tests.scenarios import catalogue_support as support

TYPE = "node_scenarios"

# Krkn's AWS sample (scenarios/openshift/aws_node_scenarios.yml), comments dropped.
KRKN_AWS_SAMPLE = """
node_scenarios:
  - actions:
    - node_stop_start_scenario
    node_name:
    label_selector: node-role.kubernetes.io/worker
    instance_count: 2
    runs: 1
    timeout: 360
    duration: 20
    cloud_type: aws
    parallel: true
  - actions:
    - node_reboot_scenario
    node_name:
    label_selector: node-role.kubernetes.io/infra
    instance_count: 1
    timeout: 120
    cloud_type: aws
"""
# The same shape with the Kubernetes-level actions this provider runs.
KUBE_SAMPLE = """
node_scenarios:
  - actions:
    - node_cordon_scenario
    - node_taint_scenario
    node_name:
    label_selector: node-role.kubernetes.io/worker
    instance_count: 1
    runs: 1
    timeout: 120
    duration: 20
    cloud_type: aws
    parallel: false
    taints: ["dedicated=chaos:NoExecute"]
  - actions:
    - node_drain
    node_name: worker-1,worker-2
    timeout: 60
"""

TEST_TAINT = {"key": "team", "value": "data", "effect": "PreferNoSchedule"}


@pytest.fixture
def node(kube: Any) -> Iterator[str]:
    """A node for this test: a fresh one on the emulator, a schedulable one on a real cluster.

    Whatever the test did, teardown puts the node's cordon, taints and annotations back.
    """
    if kube.emulator is not None:
        name = f"krkn-node-{secrets.token_hex(3)}"
        kube.emulator.add_node(name, labels={"krkn-test-node": name}, taints=[TEST_TAINT])
    else:
        client = kube.dynamic()
        nodes = client.get(client.resources.get(api_version="v1", kind="Node")).to_dict()["items"]
        name = str(
            next(n["metadata"]["name"] for n in nodes if not (n.get("spec") or {}).get("unschedulable"))
        )
    before = support.get(kube, "v1", "Node", name, namespaced=False) or {}
    try:
        yield name
    finally:
        restore_node(kube, name, before)


def restore_node(kube: Any, name: str, before: dict[str, Any]) -> None:
    """Put back ``spec.unschedulable``, ``spec.taints`` and drop annotations added since ``before``."""
    current = support.get(kube, "v1", "Node", name, namespaced=False)
    if current is None:
        return
    spec, old_spec = current.get("spec") or {}, before.get("spec") or {}
    old_annotations = (before.get("metadata") or {}).get("annotations") or {}
    added = [key for key in (current["metadata"].get("annotations") or {}) if key not in old_annotations]
    taints = [t for t in old_spec.get("taints") or [] if t.get("key") != "node.kubernetes.io/unschedulable"]
    if (
        bool(spec.get("unschedulable")) == bool(old_spec.get("unschedulable"))
        and not added
        and (spec.get("taints") or []) == (old_spec.get("taints") or [])
    ):
        return
    body = {
        "spec": {"unschedulable": old_spec.get("unschedulable"), "taints": taints or None},
        "metadata": {"annotations": dict.fromkeys(added) or None},
    }
    if not added:
        del body["metadata"]
    kube.core().patch_node(name, body)


def node_marks(kube: Any, name: str) -> dict[str, Any]:
    """The provider's mark annotations on a node, parsed."""
    node = support.get(kube, "v1", "Node", name, namespaced=False) or {}
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    return {key: json.loads(value) for key, value in annotations.items() if key.startswith(marks.PREFIX)}


def node_spec(kube: Any, name: str) -> dict[str, Any]:
    return dict((support.get(kube, "v1", "Node", name, namespaced=False) or {}).get("spec") or {})


def pods_on(node: str) -> dict[str, Any]:
    return {"nodeSelector": {"kubernetes.io/hostname": node}}


@pytest.fixture
def workloads(kube: Any, node: str) -> None:
    support.create(
        kube,
        support.replica_set("owned", {"app": "owned"}, **pods_on(node)),
        support.pod_manifest("bare", {"app": "bare"}, nodeName=node),
    )
    support.wait_for(lambda: len(support.ready_pods(kube, "app in (owned,bare)")) == 2, what="2 pods ready")


def workload_state(kube: Any) -> dict[str, Any]:
    return support.state(
        kube, (("apps/v1", "ReplicaSet"), ("v1", "Pod")), namespace=kube.namespace, names={"owned", "bare"}
    )


def document(node: str, *actions: str, **extra: Any) -> dict[str, Any]:
    return {
        "node_scenarios": [
            {"actions": list(actions), "node_name": node, "timeout": 30, "duration": 0, **extra}
        ]
    }


def test_kube_sample_parses_and_cloud_actions_are_refused_by_name() -> None:
    configs = load_configs(TYPE, yaml.safe_load(KUBE_SAMPLE))
    assert [c.model_dump()["actions"] for c in configs] == [
        ["node_cordon_scenario", "node_taint_scenario"],
        ["node_drain"],
    ]
    assert configs[1].node_names() == ["worker-1", "worker-2"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as caught:
        load_configs(TYPE, yaml.safe_load(KRKN_AWS_SAMPLE), source="aws.yml")
    message = str(caught.value)
    assert "'node_stop_start_scenario' is not supported by this provider" in message
    assert "node_cordon, node_drain, node_taint" in message


def test_wrong_keys_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="unknown key 'lable_selector'"):
        load_configs(TYPE, {"node_scenarios": [{"actions": ["node_cordon"], "lable_selector": "a=b"}]})
    with pytest.raises(ConfigError, match="taint 'oops'"):
        load_configs(TYPE, {"node_scenarios": [{"actions": ["node_taint"], "taints": ["oops"]}]})


def test_cordon_and_taint_patch_exactly_then_restore(kube: Any, node: str, tmp_path: Path) -> None:
    before = node_spec(kube, node)
    seen: dict[str, Any] = {}

    def log(line: str) -> None:
        if "holding for" in line:
            seen["during"] = node_spec(kube, node)
            seen["marks"] = node_marks(kube, node)

    ctx = support.context(kube, tmp_path / "rb", TYPE, log=log)
    doc = document(node, "node_cordon_scenario", "node_taint", taints=["krkn=chaos:NoSchedule"], duration=1)
    run_scenario(TYPE, doc, ctx)

    old_taints = before.get("taints") or []
    assert seen["during"]["unschedulable"] is True
    during = [{k: v for k, v in t.items() if k != "timeAdded"} for t in seen["during"]["taints"]]
    assert during == [
        *old_taints,
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},  # the node controller's
        {"key": "krkn", "value": "chaos", "effect": "NoSchedule"},
    ]
    cordon, taint = support.records(ctx)
    # Each patch also set a mark annotation naming the run, which its undo removes.
    (cordon_mark,) = cordon["expect"]["metadata"]["annotations"]
    (taint_mark,) = taint["expect"]["metadata"]["annotations"]
    assert (cordon["action"], cordon["patch"], cordon["expect"]["spec"]) == (
        "patch",
        {
            "spec": {"unschedulable": before.get("unschedulable")},
            "metadata": {"annotations": {cordon_mark: None}},
        },
        {"unschedulable": True},
    )
    assert taint["patch"]["spec"] == {"taints": seen["during"]["taints"][:-1]}  # the whole old list
    assert {key: (value["run"], value["expect"]) for key, value in seen["marks"].items()} == {
        cordon_mark: (ctx.journal.run_uuid, {"spec": {"unschedulable": True}}),
        taint_mark: (
            ctx.journal.run_uuid,
            {"spec": {"taints": seen["marks"][taint_mark]["expect"]["spec"]["taints"]}},
        ),
    }
    assert node_spec(kube, node) == before
    assert node_marks(kube, node) == {}


def test_drain_evicts_recreates_bare_pods_and_uncordons(
    kube: Any, node: str, workloads: None, tmp_path: Path
) -> None:
    before, pods_before = node_spec(kube, node), workload_state(kube)
    ctx = support.context(kube, tmp_path / "rb", TYPE)
    run_scenario(TYPE, document(node, "node_drain"), ctx)

    records = support.records(ctx)
    assert [(r["action"], r["kind"], r["name"]) for r in records] == [
        ("patch", "Node", node),
        ("create", "Pod", "bare"),
    ]
    assert records[1]["manifest"]["spec"]["nodeName"] == node
    assert node_spec(kube, node) == before
    support.wait_for(lambda: workload_state(kube) == pods_before, what="bare pod back")
    support.wait_for(lambda: len(support.ready_pods(kube, "app in (owned,bare)")) == 2, what="2 pods ready")
    if kube.emulator is not None:
        evictions = [r for r in kube.emulator.writes("/eviction")]
        assert len(evictions) == 2


def test_drain_respects_a_pod_disruption_budget(
    kube: Any, node: str, workloads: None, tmp_path: Path
) -> None:
    before = node_spec(kube, node)
    support.create(
        kube,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "owned"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "owned"}}},
        },
    )
    support.wait_for(
        lambda: (
            ((support.get(kube, "policy/v1", "PodDisruptionBudget", "owned") or {}).get("status") or {}).get(
                "currentHealthy"
            )
            == 1
        ),
        what="the budget counts the pod",
    )
    ctx = support.context(kube, tmp_path / "rb", TYPE)
    with pytest.raises(ScenarioError, match="PodDisruptionBudget"):
        run_scenario(TYPE, document(node, "node_drain", timeout=2), ctx)
    assert len(support.ready_pods(kube, "app=owned")) == 1  # never evicted
    assert replay(ctx.journal.store, ctx.client, run_uuid=ctx.journal.run_uuid).ok
    assert node_spec(kube, node) == before


def test_each_undo_runs_twice_and_by_hand(kube: Any, node: str, workloads: None, tmp_path: Path) -> None:
    before, pods_before = node_spec(kube, node), workload_state(kube)
    ctx = support.inject_only(kube, tmp_path / "rb", TYPE, document(node, "node_taint", "node_drain"))
    assert support.undo_twice(ctx, kube) == ["undone", "undone", "undone"]
    assert node_spec(kube, node) == before
    support.wait_for(lambda: workload_state(kube) == pods_before, what="bare pod back")


def test_sigkill_after_the_cordon_then_rollback(kube: Any, node: str, tmp_path: Path) -> None:
    before = node_spec(kube, node)
    support.sigkill_then_rollback(
        kube,
        tmp_path / "rb",
        TYPE,
        document(node, "node_cordon", duration=120),
        lambda: bool(node_spec(kube, node).get("unschedulable")),
    )
    assert node_spec(kube, node) == before


def test_drain_lets_pods_of_a_terminating_namespace_leave_with_it(
    kube: Any, node: str, tmp_path: Path
) -> None:
    """A server answers 403 NamespaceTerminating to their eviction: not an error, as for kubectl drain.

    The namespace is deleted once the drain has listed the node's pods, the moment it starts
    evicting (the window a real cluster has); a finalizer of ours holds it in Terminating.
    """
    core = kube.core()
    ending = f"{kube.namespace}-end"
    core.create_namespace({"metadata": {"name": ending, "finalizers": ["krkn.io/test-hold"]}})
    try:
        client = kube.dynamic()
        rs = support.replica_set("owned", {"app": "owned"}, **pods_on(node))
        bare = support.pod_manifest("bare", {"app": "bare"}, nodeName=node)
        for body in (rs, bare):
            resource = client.resources.get(api_version=body["apiVersion"], kind=body["kind"])
            client.create(resource, body=body, namespace=ending)
        support.wait_for(
            lambda: (
                len([p for p in core.list_namespaced_pod(ending).items if p.status.phase == "Running"]) == 2
            ),
            what="2 pods running",
        )
        before = node_spec(kube, node)
        lines: list[str] = []

        def log(line: str) -> None:
            if line.startswith("evict ") and not any(seen.startswith("evict ") for seen in lines):
                core.delete_namespace(ending)
            lines.append(line)

        ctx = support.context(kube, tmp_path / "rb", TYPE, log=log)
        if kube.emulator is not None:
            kube.emulator.clear_requests()
        run_scenario(TYPE, document(node, "node_drain"), ctx)

        assert sum(1 for line in lines if f"namespace {ending} is being deleted" in line) == 2
        assert [(r["action"], r["kind"], r["name"]) for r in support.records(ctx)] == [
            ("patch", "Node", node),
            ("create", "Pod", "bare"),
        ]
        assert [entry.state for entry in ctx.journal.store.entries(run_uuid=ctx.journal.run_uuid)] == [
            "executed",
            "executed",
        ]
        assert node_spec(kube, node) == before
        if kube.emulator is not None:
            assert [r.status for r in kube.emulator.writes("/eviction")] == [403, 403]
    finally:
        core.patch_namespace(ending, {"metadata": {"finalizers": None}})
        with contextlib.suppress(Exception):  # already deleted by the test
            core.delete_namespace(ending)


class Crash(Exception):
    """Stands for a worker that died while the fault was in place."""


def crash_while_holding(line: str) -> None:
    if "holding for" in line:
        raise Crash(line)


def test_sweeper_reverts_marked_patches_when_the_journal_is_lost(
    kube: Any, node: str, tmp_path: Path
) -> None:
    before = node_spec(kube, node)
    ctx = support.context(kube, tmp_path / "rb", TYPE, log=crash_while_holding)
    doc = document(node, "node_cordon", "node_taint", taints=["krkn=chaos:NoSchedule"], duration=60)
    with pytest.raises(Crash):
        run_scenario(TYPE, doc, ctx)
    assert node_spec(kube, node)["unschedulable"] is True
    run = ctx.journal.run_uuid

    # While the records are pending a replay will undo them: nothing for the sweeper.
    assert [f for f in find_leftovers(ctx.journal.store, ctx.client, run_uuid=run)] == []

    lost = Store(str(tmp_path / "elsewhere"))  # the journal is gone
    leftovers = find_leftovers(lost, ctx.client, run_uuid=run)
    assert sorted((f.kind, f.name, f.reason) for f in leftovers) == [
        ("Node", node, "no record of it in the journal"),
        ("Node", node, "no record of it in the journal"),
    ]
    assert all(f"Node {node} patched (krkn.io/patch-" in f.describe() for f in leftovers)
    # Listed newest first, as a replay would undo them: the taint, then the cordon.
    assert [f.mark.expect["spec"].keys() for f in leftovers if f.mark] == [{"taints"}, {"unschedulable"}]
    outcomes = [remove_leftover(ctx.client, f) for f in leftovers]
    assert set(outcomes) == {"undone"}, outcomes
    assert node_spec(kube, node) == before
    assert node_marks(kube, node) == {}
    assert find_leftovers(lost, ctx.client, run_uuid=run) == []


def test_sweeper_leaves_a_forged_mark_alone(kube: Any, node: str, tmp_path: Path) -> None:
    forged = {
        "run": "00000000-0000-4000-8000-000000000000",
        "undo": {"metadata": {"labels": {"evil": "1"}}},
        "expect": {"spec": {"unschedulable": True}},
    }
    kube.core().patch_node(
        node, {"metadata": {"annotations": {"krkn.io/patch-forgedxx": json.dumps(forged)}}}
    )
    store = Store(str(tmp_path / "rb"))
    client = kube.dynamic()
    (leftover,) = [f for f in find_leftovers(store, client) if f.name == node]
    assert "annotation refused, left alone: krkn.io/patch-forgedxx: changes fields no scenario patches" in (
        leftover.describe()
    )
    assert remove_leftover(client, leftover) == "left alone"
    assert "evil" not in (
        (support.get(kube, "v1", "Node", node, namespaced=False) or {})["metadata"].get("labels") or {}
    )


def test_krkn_rollback_sweep_lists_then_reverts_a_marked_cordon(kube: Any, node: str, tmp_path: Path) -> None:
    from tests.journal.test_replay_cluster import cli

    before = node_spec(kube, node)
    ctx = support.context(kube, tmp_path / "rb", TYPE, log=crash_while_holding)
    with pytest.raises(Crash):
        run_scenario(TYPE, document(node, "node_cordon", duration=60), ctx)
    elsewhere = tmp_path / "lost"  # the journal is gone
    args = ("sweep", "--run-uuid", ctx.journal.run_uuid)
    listed = cli(*args, kube=kube, root=elsewhere)
    assert listed.returncode == 0, listed.stderr
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("leftover: ")]
    assert line.startswith(f"leftover: Node {node} patched (krkn.io/patch-")
    assert line.endswith(f"(run {ctx.journal.run_uuid}): no record of it in the journal")
    assert node_spec(kube, node)["unschedulable"] is True  # listing changes nothing
    removed = cli(*args, "--delete", kube=kube, root=elsewhere)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "1 leftover object(s) removed" in removed.stdout
    assert node_spec(kube, node) == before
    assert node_marks(kube, node) == {}

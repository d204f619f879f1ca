"""Plans are objects: targets keep their kind, namespace and name; a random pick says what it matched."""

from __future__ import annotations

import random

import pytest

from krkn_airflow_provider.scenarios.plan import Plan, Target, pick
from krkn_airflow_provider.scenarios.safety import BlastRadius, BlastRadiusExceeded, check_plan


def test_a_target_reads_as_the_line_logs_show_and_back() -> None:
    pod = {"metadata": {"name": "web-1", "namespace": "shop"}, "spec": {}}
    targets = [
        Target.of(pod, "Pod"),
        Target("Node", "worker-2"),
        Target.of(pod, "Pod", detail="/data"),
    ]
    names = [str(target) for target in targets]
    assert names == ["Pod shop/web-1", "Node worker-2", "Pod shop/web-1 /data"]
    assert Plan.parse(names).targets == tuple(targets)  # the object itself is not compared
    assert targets[0].obj is pod and Target.parse(names[0]).obj == {}


def test_pick_draws_a_subset_and_remembers_how_many_matched() -> None:
    found = [Target("Node", f"n{i}") for i in range(10)]
    random.seed(7)
    plan = pick(found, 3, sort=True)
    random.seed(7)
    expected = sorted(random.sample(found, 3), key=str)
    assert list(plan) == expected and plan.selected == (3, 10)
    assert plan.names() == [str(target) for target in expected]


def test_the_blast_radius_reads_namespaces_from_the_targets() -> None:
    plan = Plan((Target("Pod", "a", "kube-system"),))
    with pytest.raises(BlastRadiusExceeded, match="target Pod kube-system/a is in protected namespace"):
        check_plan(BlastRadius(), plan)
    subset = pick([Target("Pod", f"p{i}", "shop") for i in range(4)], 3)
    with pytest.raises(BlastRadiusExceeded, match="hits 3 of the 4 its selection matched"):
        check_plan(BlastRadius(max_percent=50), subset)
    check_plan(BlastRadius(max_percent=50), Plan(subset.targets[:2], selected=(2, 4)))

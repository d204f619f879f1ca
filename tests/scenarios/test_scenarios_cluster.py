"""Each scenario against a cluster: its objects exist during the hold and are gone after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback import Journal, Origin, Store, new_run_uuid
from krkn_airflow_provider.scenarios import ScenarioContext, ScenarioInterrupted, run_scenario
from tests import workloads


class Probe:
    """A log callable that looks at the cluster when the hold begins."""

    def __init__(self, kube: Any) -> None:
        self.api = kube.api_client()
        self.namespace = kube.namespace
        self.lines: list[str] = []
        self.during_hold: list[list[str]] = []
        self.stop_on_hold = False

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if "holding for" in line:
            self.during_hold.append(workloads.managed(self.api, self.namespace))


def context(kube: Any, tmp_path: Path, scenario: str, probe: Probe, **kwargs: Any) -> ScenarioContext:
    store = Store(str(tmp_path / "rollback"))
    journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario=scenario, task_id="test"))
    return ScenarioContext(client=kube.dynamic(), journal=journal, log=probe, poll_interval=0.1, **kwargs)


def states(ctx: ScenarioContext) -> list[str]:
    return [entry.state for entry in ctx.journal.store.entries(run_uuid=ctx.journal.run_uuid)]


def test_application_outage(kube: Any, tmp_path: Path) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=2)
    workloads.wait_ready(api, kube.namespace, "web", 2)
    probe = Probe(kube)
    ctx = context(kube, tmp_path, "application_outages_scenarios", probe)
    config = {
        "application_outage": {"duration": 1, "namespace": kube.namespace, "pod_selector": {"app": "web"}}
    }

    summary = run_scenario("application_outages_scenarios", config, ctx).to_dict()

    (during,) = probe.during_hold
    assert len(during) == 1 and during[0].startswith("NetworkPolicy/krkn-outage-")
    assert workloads.managed(api, kube.namespace) == []
    assert states(ctx) == ["executed"]
    assert len(summary["targets"]) == 2
    assert summary["records"] == [entry.id for entry in ctx.journal.recorded]
    record = ctx.journal.store.load(ctx.journal.store.entries()[0]).data
    assert record["action"] == "delete"
    assert record["kind"] == "NetworkPolicy"
    assert record["guard"]["app.kubernetes.io/managed-by"] == "krkn-airflow-provider"


def test_hog_one_pod_per_node(kube: Any, tmp_path: Path) -> None:
    api = kube.api_client()
    probe = Probe(kube)
    ctx = context(kube, tmp_path, "hog_scenarios", probe)
    config = {"hog-type": "memory", "duration": 1, "namespace": kube.namespace, "number-of-nodes": 1}

    summary = run_scenario("hog_scenarios", config, ctx).to_dict()

    (during,) = probe.during_hold
    assert len(during) == 1 and during[0].startswith("Pod/krkn-memory-hog-")
    assert workloads.managed(api, kube.namespace) == []
    assert states(ctx) == ["executed"]
    (target,) = summary["targets"]
    assert target.startswith("Node ")


def test_pod_disruption_owned_and_bare_pods(kube: Any, tmp_path: Path) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=2)
    workloads.bare_pod(api, kube.namespace, "solo", "solo")
    before = {p.metadata.uid for p in workloads.wait_ready(api, kube.namespace, "web", 2)}
    (solo,) = workloads.wait_ready(api, kube.namespace, "solo", 1)
    probe = Probe(kube)
    ctx = context(kube, tmp_path, "pod_disruption_scenarios", probe)
    pattern = f"^{kube.namespace}$"
    config = [
        {"id": "kill-pods", "config": {"namespace_pattern": pattern, "label_selector": "app=web", "kill": 1}},
        {"id": "kill-pods", "config": {"namespace_pattern": pattern, "name_pattern": "^solo$", "kill": 1}},
    ]

    summary = run_scenario("pod_disruption_scenarios", config, ctx).to_dict()

    # The owned pod: no record (its ReplicaSet replaces it); the bare pod: one create record.
    assert [len(entry["records"]) for entry in summary["entries"]] == [0, 1]
    assert states(ctx) == ["executed"]
    after = {p.metadata.uid for p in workloads.ready_pods(api, kube.namespace, "web")}
    assert len(after) == 2 and len(after - before) == 1
    (recreated,) = workloads.ready_pods(api, kube.namespace, "solo")
    assert recreated.metadata.name == "solo" and recreated.metadata.uid != solo.metadata.uid
    assert all(entry["recovery_seconds"] is not None for entry in summary["entries"])


@pytest.mark.parametrize(
    ("scenario", "config"),
    [
        (
            "pod_disruption_scenarios",
            [{"id": "kill-pods", "config": {"namespace_pattern": "^{ns}$", "label_selector": "app=nothing"}}],
        ),
        (
            "application_outages_scenarios",
            {"application_outage": {"namespace": "{ns}", "pod_selector": {"app": "x"}}},
        ),
        (
            "hog_scenarios",
            {"hog-type": "cpu", "namespace": "{ns}", "node-selector": "krkn.io/no-such-label=1"},
        ),
    ],
)
def test_selector_matching_nothing_changes_nothing(
    kube: Any, tmp_path: Path, scenario: str, config: Any
) -> None:
    import json

    config = json.loads(json.dumps(config).replace("{ns}", kube.namespace))
    ctx = context(kube, tmp_path, scenario, Probe(kube))
    before = len(kube.emulator.writes()) if kube.emulator is not None else 0
    with pytest.raises(ScenarioError, match="match"):
        run_scenario(scenario, config, ctx)
    assert ctx.journal.store.entries() == []
    if kube.emulator is not None:
        assert kube.emulator.writes()[before:] == []


def test_stop_during_hold_leaves_records_pending(kube: Any, tmp_path: Path) -> None:
    probe = Probe(kube)
    stop = {"now": False}

    def log(line: str) -> None:
        probe(line)
        if "holding for" in line:
            stop["now"] = True

    ctx = context(kube, tmp_path, "hog_scenarios", probe)
    ctx.log = log
    ctx.should_stop = lambda: stop["now"]
    config = {"hog-type": "cpu", "duration": 600, "namespace": kube.namespace, "number-of-nodes": 1}
    with pytest.raises(ScenarioInterrupted):
        run_scenario("hog_scenarios", config, ctx)
    assert states(ctx) == ["pending"]
    assert len(workloads.managed(kube.api_client(), kube.namespace)) == 1


def test_unwritable_location_fails_before_any_change(kube: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = Store(str(blocker / "rollback"))
    journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario="hog_scenarios"))
    ctx = ScenarioContext(client=kube.dynamic(), journal=journal)
    config = {"hog-type": "cpu", "duration": 1, "namespace": kube.namespace, "number-of-nodes": 1}
    with pytest.raises(Exception, match="rollback"):
        run_scenario("hog_scenarios", config, ctx)
    assert workloads.managed(kube.api_client(), kube.namespace) == []


def test_dry_run_plans_records_and_changes_nothing(kube: Any, tmp_path: Path) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=1)
    workloads.wait_ready(api, kube.namespace, "web", 1)
    store = Store(str(tmp_path / "rollback"))
    origin = Origin(run_uuid=new_run_uuid(), scenario="application_outages_scenarios")
    journal = Journal(store, origin, dry_run=True)
    probe = Probe(kube)
    ctx = ScenarioContext(client=kube.dynamic(), journal=journal, log=probe)
    config = {
        "application_outage": {"duration": 0, "namespace": kube.namespace, "pod_selector": {"app": "web"}}
    }
    before = len(kube.emulator.writes()) if kube.emulator is not None else 0

    summary = run_scenario("application_outages_scenarios", config, ctx).to_dict()

    assert summary["dry_run"] is True
    (planned,) = journal.planned
    assert (planned.action, planned.kind) == ("delete", "NetworkPolicy")
    assert any(line.startswith("dry run: would create NetworkPolicy") for line in probe.lines)
    assert store.entries() == []
    assert workloads.managed(api, kube.namespace) == []
    if kube.emulator is not None:
        assert kube.emulator.writes()[before:] == []

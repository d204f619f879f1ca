"""Probes and recovery times while real scenarios run against the emulator (or a cluster)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.rollback import Journal, Origin, Store, new_run_uuid
from krkn_airflow_provider.scenarios import ScenarioContext, run_scenario
from krkn_airflow_provider.scenarios.observe import Observer
from krkn_airflow_provider.scenarios.probes import ProbeFailed, parse_probes
from tests import workloads
from tests.probe_servers import FlipServer, Prometheus

RECREATE_DELAY = 1.5
READY_DELAY = 0.5
MARGIN = 1.0


def context(kube: Any, tmp_path: Path, scenario: str, observer: Observer, log: Any = None) -> ScenarioContext:
    store = Store(str(tmp_path / "rollback"))
    journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario=scenario, task_id="chaos"))
    return ScenarioContext(
        client=kube.dynamic(),
        journal=journal,
        observer=observer,
        poll_interval=0.1,
        log=log or (lambda _: None),
    )


@pytest.mark.emulator_only("sets the controllers' recreate and ready delays")
def test_recovery_times_follow_the_controller_delays(kube: Any, tmp_path: Path) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=3)
    workloads.wait_ready(api, kube.namespace, "web", 3)
    kube.emulator.recreate_delay = RECREATE_DELAY
    kube.emulator.pod_ready_delay = READY_DELAY
    kube.emulator.clear_requests()
    probes = parse_probes(
        [{"type": "pods", "namespace": kube.namespace, "label_selector": "app=web", "min_ready": 3}]
    )
    observer = Observer(probes, interval=0.2, recovery_timeout=30)
    ctx = context(kube, tmp_path, "pod_disruption_scenarios", observer)
    config = [
        {
            "id": "kill-pods",
            "config": {"namespace_pattern": f"^{kube.namespace}$", "label_selector": "app=web"},
        }
    ]

    run_scenario("pod_disruption_scenarios", config, ctx)

    (recovery,) = observer.recovery()
    first, ready, probes_ok = (
        recovery["first_replacement_seconds"],
        recovery["all_ready_seconds"],
        recovery["probes_passing_seconds"],
    )
    assert recovery["pod_targets"] == 1
    assert RECREATE_DELAY <= first < RECREATE_DELAY + MARGIN, recovery
    assert RECREATE_DELAY + READY_DELAY <= ready < RECREATE_DELAY + READY_DELAY + MARGIN, recovery
    assert ready - 0.3 <= probes_ok < ready + MARGIN, recovery
    assert recovery["scenario_recovery_seconds"] >= RECREATE_DELAY + READY_DELAY - 0.3
    assert [(r["phase"], r["ok"]) for r in observer.probe_results()] == [("before", True), ("after", True)]
    # The probes and the sampler only read: the one write is the scenario's delete.
    writes = [(r.verb, r.path) for r in kube.emulator.requests if r.verb not in ("get", "list", "watch", "")]
    assert len(writes) == 1 and writes[0][0] == "delete", writes
    assert writes[0][1].startswith(f"/api/v1/namespaces/{kube.namespace}/pods/web-")


def flip_http(server: FlipServer, prometheus: Prometheus) -> tuple[list[dict[str, Any]], Any]:
    return [{"type": "http", "url": server.url, "timeout": 2}], lambda: server.answer(503)


def flip_prometheus(server: FlipServer, prometheus: Prometheus) -> tuple[list[dict[str, Any]], Any]:
    query = 'sum(rate(http_requests_total{code=~"5.."}[1m])) < 1'
    prometheus.series[query] = [0.2]
    return [{"type": "prometheus", "url": prometheus.url, "query": query}], lambda: prometheus.series.update(
        {query: []}
    )


@pytest.mark.parametrize("flip", [flip_http, flip_prometheus], ids=["http", "prometheus"])
def test_a_probe_failing_during_the_hold_aborts_and_restores(
    kube: Any, tmp_path: Path, flip_server: FlipServer, prometheus: Prometheus, flip: Any
) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=2)
    workloads.wait_ready(api, kube.namespace, "web", 2)
    specs, break_it = flip(flip_server, prometheus)
    observer = Observer(parse_probes(specs), interval=0.2, recovery_timeout=10)
    during: list[list[str]] = []

    def log(line: str) -> None:
        if "holding for" in line:
            during.append(workloads.managed(api, kube.namespace))
            break_it()

    ctx = context(kube, tmp_path, "application_outages_scenarios", observer, log)
    config = {
        "application_outage": {"duration": 60, "namespace": kube.namespace, "pod_selector": {"app": "web"}}
    }
    started = time.monotonic()

    with pytest.raises(ProbeFailed, match="steady state lost during the hold") as failure:
        run_scenario("application_outages_scenarios", config, ctx)

    assert time.monotonic() - started < 15  # not the 60 s hold
    (policies,) = during
    assert len(policies) == 1 and policies[0].startswith("NetworkPolicy/krkn-outage-")
    assert workloads.managed(api, kube.namespace) == []  # restored at once
    store = ctx.journal.store
    assert [entry.state for entry in store.entries(run_uuid=ctx.journal.run_uuid)] == ["executed"]
    assert re.search(r"replay of 1 record\(s\) in [0-9.]+ s: 1 undone$", str(failure.value)), failure.value
    phases = [(r["phase"], r["ok"]) for r in observer.probe_results()]
    assert phases[0] == ("before", True) and phases[-1] == ("hold", False)
    if kube.emulator is not None:
        deletes = [r for r in kube.emulator.requests if r.verb in ("delete", "deletecollection")]
        assert [r.path.split("/")[-1] for r in deletes] == ["networkpolicies"]

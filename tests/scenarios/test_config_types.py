"""Config types are strict where Krkn's parsing is, every number is bounded, caps count what is created.

Shapes Krkn's own parsing accepts are accepted here too (an integer ``action`` in a container
scenario, numbers written as strings where Krkn passes them on); everything else is refused
by name before any request.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.scenarios import BlastRadius, BlastRadiusExceeded, load_configs, run_scenario
from krkn_airflow_provider.scenarios.fields import MAX_COUNT, MAX_RUNS, MAX_SECONDS
from tests.scenarios import catalogue_support as support


def pods(**config: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": "kill-pods",
            "config": {"namespace_pattern": "^default$", "label_selector": "app=web", **config},
        }
    ]


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"kill": "2"}, "config.kill"),  # Krkn: "Must be a non-negative integer"
        ({"kill": True}, "config.kill"),
        ({"kill": 2.0}, "config.kill"),
        ({"force": "off"}, "config.force"),  # Krkn: "Must be a boolean (true/false)"
        ({"force": 1}, "config.force"),
        ({"duration": True}, "config.duration"),
        ({"timeout": 2.5}, "config.timeout"),
    ],
)
def test_lax_types_are_refused_by_name(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"key '{key}'"):
        load_configs("pod_disruption_scenarios", pods(**config))


@pytest.mark.parametrize(
    ("type_name", "document", "key"),
    [
        ("pod_disruption_scenarios", pods(duration=MAX_SECONDS + 1), "config.duration"),
        ("pod_disruption_scenarios", pods(kill=MAX_COUNT + 1), "config.kill"),
        ("hog_scenarios", {"hog-type": "cpu", "duration": 10**12}, "duration"),
        ("hog_scenarios", {"hog-type": "cpu", "number-of-nodes": 10**6}, "number-of-nodes"),
        (
            "application_outages_scenarios",
            {"application_outage": {"namespace": "a", "pod_selector": {"a": "b"}, "duration": 10**9}},
            "application_outage.duration",
        ),
        (
            "syn_flood_scenarios",
            {"target-service": "s", "target-port": 80, "number-of-pods": 5000},
            "number-of-pods",
        ),
        (
            "network_chaos_ng_scenarios",
            [{"id": "node_network_chaos", "target": "n", "egress": True, "loss": 5, "test_duration": 10**7}],
            "test_duration",
        ),
        (
            "network_chaos_ng_scenarios",
            [{"id": "node_network_chaos", "target": "n", "egress": "yes"}],
            "egress",
        ),
        (
            "service_disruption_scenarios",
            {"scenarios": [{"namespace": "^a$", "sleep": MAX_SECONDS + 1}]},
            "sleep",
        ),
        (
            "time_scenarios",
            {
                "time_scenarios": [
                    {"action": "skew_time", "object_type": "pod", "label_selector": "a=b", "duration": -1}
                ]
            },
            "duration",
        ),
    ],
)
def test_numbers_are_bounded(type_name: str, document: Any, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"key '[^']*{key}'"):
        load_configs(type_name, document)


def test_huge_runs_is_refused_before_anything_is_allocated() -> None:
    document = {"scenarios": [{"namespace": "^a$", "runs": 10**9}]}
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=rf"entry.*key 'runs': at most {MAX_RUNS} \(got 1000000000\)"):
            load_configs("service_disruption_scenarios", document, source="entry")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000  # bytes: the entry was never repeated
    node_document = {"node_scenarios": [{"actions": ["node_cordon"], "node_name": "n", "runs": MAX_RUNS + 1}]}
    with pytest.raises(ConfigError, match="key 'runs'"):
        load_configs("node_scenarios", node_document)


def test_runs_as_a_string_repeats_the_entry() -> None:
    configs = load_configs("service_disruption_scenarios", {"scenarios": [{"namespace": "^a$", "runs": "3"}]})
    assert len(configs) == 3


# Shapes Krkn's own parsing accepts (read from its plugins), each loaded as Krkn loads it.
def test_container_action_as_a_signal_number_is_sent_as_kill() -> None:
    """Krkn (container_scenario_plugin.py) requires an integer 1-15 and runs ``kill <action>``."""
    entry = {"namespace": "^db$", "label_selector": "app=db", "action": 9}
    (config,) = load_configs("container_scenarios", {"scenarios": [entry]})
    assert config.model_dump()["action"] == "kill 9"
    (older,) = load_configs("container_scenarios", {"scenarios": [{**entry, "action": "kill 1"}]})
    assert older.model_dump()["action"] == "kill 1"
    for bad in (0, 16, True):
        with pytest.raises(ConfigError, match="key 'action'"):
            load_configs("container_scenarios", {"scenarios": [{**entry, "action": bad}]})


def test_numbers_written_as_strings_where_krkn_passes_them_on() -> None:
    """What a Jinja-rendered ``scenario_config`` gives: whole numbers as strings."""
    (hog,) = load_configs("hog_scenarios", {"hog-type": "cpu", "duration": "60", "number-of-nodes": "2"})
    assert (hog.model_dump()["duration"], hog.model_dump()["number_of_nodes"]) == (60, 2)
    (kill,) = load_configs("pod_disruption_scenarios", pods(kill=2, krkn_pod_recovery_time="30"))
    assert kill.model_dump()["config"]["krkn_pod_recovery_time"] == 30


def test_syn_flood_cap_counts_the_pods_it_creates(kube: Any, tmp_path: Path) -> None:
    support.create(kube, support.service("search", {"app": "search"}, target_port=9200))
    ctx = support.context(kube, tmp_path / "rb", "syn_flood_scenarios")
    ctx.limits = BlastRadius(max_targets=1)
    if kube.emulator is not None:
        kube.emulator.clear_requests()
    document = {
        "namespace": kube.namespace,
        "target-service": "search",
        "target-port": 9200,
        "number-of-pods": 300,
    }
    with pytest.raises(
        BlastRadiusExceeded, match=r"creates 300 attacker pods .* max_targets=1: lower number-of-pods"
    ):
        run_scenario("syn_flood_scenarios", document, ctx)
    assert ctx.journal.store.entries() == []
    if kube.emulator is not None:
        assert kube.emulator.writes() == []

"""Scenario types, registered under Krkn's config keys. No Airflow here.

To add a type: write one module with one ``Scenario`` subclass decorated with
``@register`` and import it below (see docs/scenarios.md).
"""

from __future__ import annotations

from krkn_airflow_provider.scenarios import (
    application_outage,
    container,
    hog,
    network_chaos_ng,
    node_scenarios,
    pod_disruption,
    pvc,
    service_disruption,
    service_hijacking,
    syn_flood,
    time_scenarios,
)
from krkn_airflow_provider.scenarios.base import (
    EntryResult,
    Scenario,
    ScenarioConfig,
    ScenarioContext,
    ScenarioInterrupted,
    ScenarioSummary,
    known_types,
    load_configs,
    register,
    run_scenario,
    scenario_class,
)
from krkn_airflow_provider.scenarios.files import read_scenario_file
from krkn_airflow_provider.scenarios.plan import Plan, Target
from krkn_airflow_provider.scenarios.safety import BlastRadius, BlastRadiusExceeded

__all__ = [
    "BlastRadius",
    "BlastRadiusExceeded",
    "EntryResult",
    "Plan",
    "Scenario",
    "ScenarioConfig",
    "ScenarioContext",
    "ScenarioInterrupted",
    "ScenarioSummary",
    "Target",
    "application_outage",
    "container",
    "hog",
    "known_types",
    "load_configs",
    "network_chaos_ng",
    "node_scenarios",
    "pod_disruption",
    "pvc",
    "read_scenario_file",
    "register",
    "run_scenario",
    "scenario_class",
    "service_disruption",
    "service_hijacking",
    "syn_flood",
    "time_scenarios",
]

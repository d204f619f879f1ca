"""Weekly chaos gameday: kill a pod, cut the app off the network, hog a node's CPU.

Each step writes an undo record before each change and cleans up after itself. If a
step fails, ``rollback`` replays what is still pending and ``watcher`` fails the run.
Scenario files (Krkn's format, rendered with Jinja) are in ``scenarios/`` next to this
file. Trigger with a config to aim it elsewhere, e.g. ``{"namespace": "shop"}``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from krkn_airflow_provider.operators import ChaosScenarioOperator, chaos_experiment

with DAG(
    dag_id="chaos_gameday",
    description="Pod disruption, application outage and CPU hog, rolled back on failure",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["chaos", "krkn"],
    params={
        "namespace": Param("demo", type="string", description="namespace of the application"),
        "app": Param("web", type="string", description="value of the pods' `app` label"),
        "hold_seconds": Param(20, type="integer", minimum=0, description="how long each fault lasts"),
        "recovery_seconds": Param(120, type="integer", minimum=1, description="pod recovery budget"),
    },
) as dag:
    pod_disruption = ChaosScenarioOperator(
        task_id="pod_disruption",
        scenario_type="pod_disruption_scenarios",
        scenario_file="scenarios/pod_disruption.yaml",
    )
    application_outage = ChaosScenarioOperator(
        task_id="application_outage",
        scenario_type="application_outages_scenarios",
        scenario_file="scenarios/application_outage.yaml",
    )
    cpu_hog = ChaosScenarioOperator(
        task_id="cpu_hog",
        scenario_type="hog_scenarios",
        scenario_file="scenarios/cpu_hog.yaml",
    )
    # Chains the three, then `rollback` (one_failed) and `watcher` (fails the run if any
    # chaos task did not finish). See docs/wiring.md.
    chaos_experiment([pod_disruption, application_outage, cpu_hog])

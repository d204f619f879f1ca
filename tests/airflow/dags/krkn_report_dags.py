"""A gameday with steady-state probes, for the report tests; aimed with run conf."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from krkn_airflow_provider.operators import ChaosScenarioOperator, chaos_experiment

with DAG(
    "krkn_report_gameday",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        "namespace": Param("default", type="string"),
        "probe_url": Param("http://127.0.0.1:9/", type="string"),
        "query": Param("up == 1", type="string"),
        "hold_seconds": Param(30, type="integer"),
    },
):
    probes = [
        {"type": "pods", "namespace": "{{ params.namespace }}", "label_selector": "app=web", "min_ready": 1},
        {"type": "prometheus", "http_conn_id": "krkn_prom", "query": "{{ params.query }}"},
    ]
    kill = ChaosScenarioOperator(
        task_id="kill_web",
        scenario_type="pod_disruption_scenarios",
        scenario_config=[
            {
                "id": "kill-pods",
                "config": {"namespace_pattern": "^{{ params.namespace }}$", "label_selector": "app=web"},
            }
        ],
        probes=probes,
        probe_interval=0.2,
        recovery_timeout=30,
        retries=0,
    )
    outage = ChaosScenarioOperator(
        task_id="outage",
        scenario_type="application_outages_scenarios",
        scenario_config={
            "application_outage": {
                "duration": "{{ params.hold_seconds }}",
                "namespace": "{{ params.namespace }}",
                "pod_selector": {"app": "web"},
            }
        },
        probes=[{"type": "http", "url": "{{ params.probe_url }}", "timeout": 2}],
        probe_interval=0.2,
        retries=0,
    )
    chaos_experiment([kill, outage], rollback_kwargs={"retries": 0})

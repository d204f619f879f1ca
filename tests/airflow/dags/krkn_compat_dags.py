"""A Krkn config (five scenario types, two iterations, 1 s waits) run as a DAG."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Param

from krkn_airflow_provider.operators import dag_from_krkn_config

dag = dag_from_krkn_config(
    Path(__file__).parent / "krkn_compat" / "config" / "config.yaml",
    dag_id="krkn_config_compat",
    params={"namespace": Param("default", type="string"), "app": Param("web", type="string")},
)

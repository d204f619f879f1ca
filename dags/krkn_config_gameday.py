"""A Krkn ``config.yaml`` as a weekly gameday: ``krkn/config.yaml`` next to this file.

Each scenario file of ``kraken.chaos_scenarios`` becomes one task, in Krkn's order, with
``tunings.wait_duration`` between them and ``tunings.iterations`` repeats; a rollback and a
watcher follow (``chaos_experiment``). Keys the provider does not use are listed once in
the DAG processor's log. See docs/krkn.md.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Param

from krkn_airflow_provider.operators import dag_from_krkn_config

dag = dag_from_krkn_config(
    Path(__file__).parent / "krkn" / "config.yaml",
    dag_id="krkn_config_gameday",
    schedule="@weekly",
    params={
        "namespace": Param("demo", type="string", description="namespace of the application"),
        "app": Param("web", type="string", description="the pods' `app` label and the Service's name"),
        "hold_seconds": Param(20, type="integer", minimum=1, description="how long each fault lasts"),
    },
)

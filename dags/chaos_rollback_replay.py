"""Replay the pending undo records of a past DAG run (manual trigger).

Give ``dag_id`` + ``run_id`` of the run (as shown in the UI), or the ``run_uuid`` printed
by ``krkn-rollback list``. Safe to trigger again: what is done is never redone.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, TriggerRule

from krkn_airflow_provider.operators import RollbackOperator

with DAG(
    dag_id="chaos_rollback_replay",
    description="Roll back what a past chaos run left pending",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["chaos", "krkn", "rollback"],
    params={
        "dag_id": Param("chaos_gameday", type="string", description="DAG of the run to roll back"),
        "run_id": Param("", type="string", description="run id of the run to roll back"),
        "run_uuid": Param("", type="string", description="or: the journal's run uuid"),
    },
) as dag:
    RollbackOperator(
        task_id="replay",
        target_dag_id="{{ params.dag_id }}",
        target_run_id="{{ params.run_id }}",
        target_run_uuid="{{ params.run_uuid }}",
        require_target=True,
        trigger_rule=TriggerRule.ALL_SUCCESS,
    )

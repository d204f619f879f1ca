"""Operators of the provider, and the ``chaos_experiment`` wiring helper."""

from __future__ import annotations

from krkn_airflow_provider.operators.chaos import ChaosScenarioOperator
from krkn_airflow_provider.operators.experiment import Experiment, chaos_experiment
from krkn_airflow_provider.operators.krkn_config import (
    ChaosWaitOperator,
    dag_from_krkn_config,
    read_krkn_config,
)
from krkn_airflow_provider.operators.preflight import ChaosPreflightOperator
from krkn_airflow_provider.operators.rollback import RollbackOperator
from krkn_airflow_provider.operators.watcher import ChaosWatcherOperator

__all__ = [
    "ChaosPreflightOperator",
    "ChaosScenarioOperator",
    "ChaosWaitOperator",
    "ChaosWatcherOperator",
    "Experiment",
    "RollbackOperator",
    "chaos_experiment",
    "dag_from_krkn_config",
    "read_krkn_config",
]

"""``chaos_experiment``: wire chaos tasks, their rollback and a watcher the safe way.

Why a helper (docs/wiring.md has the measurements): a bare ``chaos >> rollback``
with ``trigger_rule="one_failed"`` ends the DAG run *success* when chaos failed and the
rollback worked; it fires before sibling chaos tasks finish; it is skipped when a
person marks the run failed; and a SIGKILLed task can be reported success. The helper
adds a final watcher (``all_done``) that replays anything still pending and fails the
run when any chaos task did not report — and, with ``teardown=True``, makes the
rollback a teardown of a preflight setup, so it runs even when the run is marked failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator, TriggerRule, chain

from krkn_airflow_provider.operators.chaos import ChaosScenarioOperator
from krkn_airflow_provider.operators.preflight import ChaosPreflightOperator
from krkn_airflow_provider.operators.rollback import RollbackOperator
from krkn_airflow_provider.operators.watcher import ChaosWatcherOperator


@dataclass
class Experiment:
    """The tasks ``chaos_experiment`` wired; ``preflight`` is set with ``teardown=True``."""

    chaos: list[BaseOperator]
    rollback: RollbackOperator
    watcher: ChaosWatcherOperator
    preflight: ChaosPreflightOperator | None = None


def chaos_experiment(
    chaos_tasks: Sequence[BaseOperator],
    *,
    kubernetes_conn_id: str = "kubernetes_default",
    rollback_location: str | None = None,
    storage_conn_id: str | None = None,
    sequential: bool = True,
    teardown: bool = False,
    rollback_task_id: str = "rollback",
    watcher_task_id: str = "watcher",
    preflight_task_id: str = "preflight",
    rollback_kwargs: dict[str, Any] | None = None,
) -> Experiment:
    """Add a rollback and a watcher after ``chaos_tasks`` (call it inside the DAG).

    :param chaos_tasks: the chaos tasks, in order (``ChaosScenarioOperator`` or any task
        that writes to the run's journal).
    :param sequential: chain the chaos tasks in the given order (recommended: a
        ``one_failed`` rollback does not wait for siblings still injecting). With
        ``False`` they run in parallel and the rollback waits for all of them
        (``all_done``), running — harmlessly — on success too.
    :param teardown: make the rollback a teardown of a preflight setup task, with
        ``on_failure_fail_dagrun=True``: it runs whatever happened to the chaos tasks,
        even when the run is marked failed from the UI.
    :param rollback_kwargs: extra arguments for the ``RollbackOperator`` (retries, ...).
    """
    if not chaos_tasks:
        raise ValueError("chaos_experiment needs at least one chaos task")
    tasks = list(chaos_tasks)
    common: dict[str, Any] = {
        "kubernetes_conn_id": kubernetes_conn_id,
        "rollback_location": rollback_location,
        "storage_conn_id": storage_conn_id,
    }
    for task in tasks:
        if isinstance(task, ChaosScenarioOperator) and rollback_location and not task.rollback_location:
            task.rollback_location = rollback_location
    if sequential and len(tasks) > 1:
        chain(*tasks)
    rollback = RollbackOperator(task_id=rollback_task_id, **common, **(rollback_kwargs or {}))
    if not sequential:
        rollback.trigger_rule = TriggerRule.ALL_DONE
    preflight = None
    if teardown:
        preflight = ChaosPreflightOperator(task_id=preflight_task_id, **common)
        _as_teardown(tasks, rollback, preflight, sequential=sequential)
    else:
        # one_failed must see every chaos task, not only the last one of the chain.
        tasks >> rollback
    watcher = ChaosWatcherOperator(
        task_id=watcher_task_id,
        chaos_task_ids=[task.task_id for task in tasks],
        rollback_task_id=rollback.task_id,
        **common,
    )
    [*tasks, rollback] >> watcher
    return Experiment(chaos=tasks, rollback=rollback, watcher=watcher, preflight=preflight)


def _as_teardown(
    tasks: list[BaseOperator],
    rollback: RollbackOperator,
    preflight: ChaosPreflightOperator,
    *,
    sequential: bool,
) -> None:
    """Run ``preflight`` before the chaos tasks, ``rollback`` as its teardown after them."""
    if sequential:
        preflight >> tasks[0]
    else:
        preflight >> tasks
    last = [tasks[-1]] if sequential else tasks
    last >> rollback.as_teardown(setups=preflight, on_failure_fail_dagrun=True)

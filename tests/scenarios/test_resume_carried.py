"""A hold deferred by one release and resumed by the next: the carried state still reads.

The previous release carried hog pods as ``[namespace, name]`` pairs in the trigger's
kwargs; a task resumed after an upgrade gets those back and must still clean up and wait
for exactly those pods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from krkn_airflow_provider.rollback import Journal, Origin, Store, new_run_uuid
from krkn_airflow_provider.scenarios import ScenarioContext
from krkn_airflow_provider.scenarios.base import finish_entry, inject_entry, plan_entries


def test_hog_pods_carried_as_pairs_are_cleaned_up_after_resume(kube: Any, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rollback"))
    journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario="hog_scenarios", task_id="chaos"))
    ctx = ScenarioContext(client=kube.dynamic(), journal=journal, poll_interval=0.1)
    config = {"hog-type": "cpu", "duration": 1, "namespace": kube.namespace, "number-of-nodes": 1}
    scenarios, targets = plan_entries("hog_scenarios", config, ctx)
    result = inject_entry("hog_scenarios", scenarios, 0, ctx, targets=targets)
    (name,) = scenarios[0].carry()["pods"]
    # The task resumes in a new process with a fresh scenario and the old release's state.
    resumed, _ = plan_entries("hog_scenarios", config, ctx)
    resumed[0].restore({"pods": [[kube.namespace, name]]})
    assert resumed[0].carry() == {"pods": [name]}
    finish_entry("hog_scenarios", resumed[0], result, ctx)
    assert result.cleanup is not None and result.cleanup.endswith("1 undone")
    pods = kube.core().list_namespaced_pod(kube.namespace, label_selector="krkn.io/hog").items
    assert [pod.metadata.name for pod in pods if pod.metadata.deletion_timestamp is None] == []

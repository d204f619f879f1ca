"""Dead man's switch in the cluster: pods a scenario creates end by themselves after the hold.

The task that injected is gone (a SIGKILLed worker): nothing deletes the hog pod, yet the
kubelet fails it once ``activeDeadlineSeconds`` (hold + ``dead_man_seconds``) has passed,
even if the container does not stop at the end of its hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from krkn_airflow_provider.rollback import Journal, Origin, Store, new_run_uuid, replay
from krkn_airflow_provider.scenarios import ScenarioContext
from krkn_airflow_provider.scenarios.base import inject_entry, plan_entries


def test_a_hog_pod_left_behind_ends_by_its_own_deadline(kube: Any, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rollback"))
    journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario="hog_scenarios", task_id="chaos"))
    ctx = ScenarioContext(client=kube.dynamic(), journal=journal, poll_interval=0.1, dead_man_seconds=3)
    config = {"hog-type": "cpu", "duration": 2, "namespace": kube.namespace, "number-of-nodes": 1}
    scenarios, targets = plan_entries("hog_scenarios", config, ctx)
    result = inject_entry("hog_scenarios", scenarios, 0, ctx, targets=targets)
    # ... and the process that injected dies here: no cleanup, no recovery check.
    core = kube.core()
    (pod,) = core.list_namespaced_pod(kube.namespace, label_selector="krkn.io/hog").items
    assert pod.spec.active_deadline_seconds == 5  # hold 2 s + dead man's 3 s

    def finished() -> Any:
        current = core.read_namespaced_pod(pod.metadata.name, kube.namespace)
        return current.status.phase in ("Succeeded", "Failed") and current

    ended = kube.wait_for(finished, timeout=120, interval=0.2, message="the hog pod to end by itself")
    # The emulator runs no stress-ng: only the deadline can end the pod there. On a real
    # cluster stress-ng's own --timeout usually ends it first; the deadline is the backstop.
    if kube.emulator is not None or ended.status.phase == "Failed":
        assert ended.status.reason == "DeadlineExceeded"
    # The record is still pending: a rollback deletes the pod object later, as usual.
    summary = replay(store, ctx.client, run_uuid=journal.run_uuid, only=result.records)
    assert summary.ok and summary.line().endswith("1 undone")

"""pod_disruption_scenarios writes the next bare pod's record while deleting the current one.

Write-ahead must still hold per pod: a pod's delete is sent only after its own record is
durable, and a record that cannot be written stops the run before its pod and every later
one. A delete whose answer says the pod is already removed is not followed by a GET.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import StorageError
from krkn_airflow_provider.rollback import Journal, Origin, Store, UndoRecord, new_run_uuid
from krkn_airflow_provider.rollback.store import Entry, Prepared
from krkn_airflow_provider.scenarios import ScenarioContext, load_configs, scenario_class
from tests.scenarios import catalogue_support as support

TYPE = "pod_disruption_scenarios"


class NotingStore(Store):
    """A real store that notes when each record became durable and can fail the n-th record."""

    def __init__(self, root: str, *, fail_at: int = 0) -> None:
        super().__init__(root)
        self.fail_at = fail_at
        self.written: list[str] = []  # pod names, in write order
        self.durable_at: dict[str, float] = {}  # pod name -> time.time() once its record was durable
        self.bursts: list[int] = []  # records per write
        self.pods: dict[Any, str] = {}  # record name -> pod name

    def prepare(self, record: UndoRecord, *, run_info: dict[str, Any] | None = None) -> Prepared:
        prepared = super().prepare(record, run_info=run_info)
        self.pods[prepared.entry.name] = record.name
        return prepared

    def commit_many(self, prepared: list[Prepared]) -> list[Entry]:
        if len(self.written) < self.fail_at <= len(self.written) + len(prepared):
            raise StorageError("no space left on device (the test's storage fails this write)")
        entries = super().commit_many(prepared)
        self._durable([self.pods[entry.name] for entry in entries])
        return entries

    def commit(self, prepared: Prepared) -> Entry:
        entry = super().commit(prepared)
        self._durable([self.pods[entry.name]])
        return entry

    def _durable(self, pods: list[str]) -> None:
        now = time.time()
        self.written += pods
        self.durable_at.update((pod, now) for pod in pods)
        self.bursts.append(len(pods))


def scenario(kube: Any, store: Store, **config: Any) -> tuple[Any, ScenarioContext]:
    journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario=TYPE, task_id="chaos"))
    ctx = ScenarioContext(client=kube.dynamic(), journal=journal, poll_interval=0.05)
    base = {"namespace_pattern": f"^{kube.namespace}$", "label_selector": "app=bare"}
    [entry] = load_configs(TYPE, [{"id": "kill-pods", "config": {**base, **config}}])
    return scenario_class(TYPE)(entry, ctx), ctx


def bare_pods(kube: Any, count: int, **spec: Any) -> dict[str, str]:
    """``count`` ready bare pods; returns name -> uid."""
    names = [f"bare-{index}" for index in range(count)]
    support.create(kube, *(support.pod_manifest(name, {"app": "bare"}, **spec) for name in names))
    support.wait_for(lambda: len(support.ready_pods(kube, "app=bare")) == count, what="bare pods ready")
    return {pod["metadata"]["name"]: pod["metadata"]["uid"] for pod in support.ready_pods(kube, "app=bare")}


def uids(kube: Any) -> dict[str, str]:
    client = kube.dynamic()
    resource = client.resources.get(api_version="v1", kind="Pod")
    pods = client.get(resource, namespace=kube.namespace, label_selector="app=bare").to_dict()["items"]
    live = [pod["metadata"] for pod in pods if not pod["metadata"].get("deletionTimestamp")]
    return {metadata["name"]: metadata["uid"] for metadata in live}


def test_a_record_that_cannot_be_written_stops_before_its_pod(kube: Any, tmp_path: Path) -> None:
    before = bare_pods(kube, 5)
    store = NotingStore(str(tmp_path / "rb"), fail_at=3)
    chaos, ctx = scenario(kube, store, kill=5)
    targets = chaos.plan()
    with pytest.raises(StorageError, match="no space left"):
        chaos.inject(targets)
    order = [target.name for target in targets]
    # Bursts of 1, 2 and 2 records: the first is written and its pod deleted; the second
    # holds record 3, so none of it is written and pods 2 to 5 are untouched.
    assert store.written == order[:1] and len(ctx.journal.recorded) == 1
    support.wait_for(lambda: set(uids(kube)) == set(order[1:]), what="exactly the recorded pod deleted")
    assert uids(kube) == {name: before[name] for name in order[1:]}
    assert [r["name"] for r in support.records(ctx)] == order[:1]  # nothing of the failed burst is left


@pytest.mark.emulator_only("reads the API server's request log to order deletes against record writes")
def test_each_delete_is_sent_after_its_own_record_is_durable(kube: Any, tmp_path: Path) -> None:
    bare_pods(kube, 6)
    store = NotingStore(str(tmp_path / "rb"))
    chaos, _ctx = scenario(kube, store, kill=6)
    since = time.time()
    chaos.inject(chaos.plan())
    deletes = {
        r.path.rsplit("/", 1)[1]: r.ts
        for r in kube.emulator.requests
        if r.ts >= since and r.method == "DELETE" and "/pods/bare-" in r.path
    }
    assert sorted(deletes) == sorted(store.durable_at) and len(deletes) == 6
    for name, sent in deletes.items():
        assert store.durable_at[name] < sent, f"{name} was deleted before its record was durable"


@pytest.mark.emulator_only("reads the API server's request log to count GETs per pod")
def test_serial_waits_for_a_terminating_pod_but_not_for_a_removed_one(kube: Any, tmp_path: Path) -> None:
    # Grace 0: the API server removes the pod at once and says so; grace 1: it terminates.
    bare_pods(kube, 2)
    slow = [
        support.pod_manifest(f"slow-{i}", {"app": "bare"}, terminationGracePeriodSeconds=1) for i in (0, 1)
    ]
    support.create(kube, *slow)
    support.wait_for(lambda: len(support.ready_pods(kube, "app=bare")) == 4, what="4 bare pods ready")
    chaos, _ctx = scenario(kube, NotingStore(str(tmp_path / "rb")), kill=4, execution="serial")
    since = time.time()
    chaos.inject(chaos.plan())
    log = [r for r in kube.emulator.requests if r.ts >= since and "/pods/" in r.path]
    gets = {r.path.rsplit("/", 1)[1] for r in log if r.method == "GET"}
    assert gets == {"slow-0", "slow-1"}
    # Serial, as Krkn: after a terminating pod's delete, the next delete waits until a GET saw it gone.
    for index, request in enumerate(log):
        name = request.path.rsplit("/", 1)[1]
        if request.method == "DELETE" and name.startswith("slow-"):
            later = log[index + 1 :]
            next_delete = next((i for i, r in enumerate(later) if r.method == "DELETE"), len(later))
            seen_gone = [r for r in later[:next_delete] if r.method == "GET" and r.path.endswith(name)]
            assert any(r.status == 404 for r in seen_gone), f"{name}: next delete sent before it was gone"


def test_a_burst_of_records_shares_one_folder_sync(kube: Any, tmp_path: Path) -> None:
    bare_pods(kube, 7)
    store = NotingStore(str(tmp_path / "rb"))
    chaos, ctx = scenario(kube, store, kill=7)
    chaos.inject(chaos.plan())
    # Bursts of 1, 2 and 4 records: three group commits for seven durable records.
    assert len(store.durable_at) == 7 and store.bursts == [1, 2, 4]
    assert uids(kube) == {}
    assert sorted(r["name"] for r in support.records(ctx)) == [f"bare-{i}" for i in range(7)]

"""Sequential replay sends a batch of guarded deletes from a sender thread and claims and
reads the next records while its request is out; requests still go out one at a time,
newest first, and a batch is answered and marked before the next one is sent."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from krkn_airflow_provider.rollback import Store, replay
from krkn_airflow_provider.rollback.store import Claim, Entry

from .test_replay_cluster import deleted_nonces, journal_for, record_create
from .test_replay_faults import FAST

# A guard against a hang, never a timing assertion: the wait ends as soon as it is met.
PATIENCE = 30.0


class CountingStore(Store):
    """A store that tells waiters how many claims it has given."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.claims = 0
        self.changed = threading.Condition()

    def claim(self, entry: Entry, *, owner: str, ttl: float, steal_expired: bool = True) -> Claim | None:
        claim = super().claim(entry, owner=owner, ttl=ttl, steal_expired=steal_expired)
        with self.changed:
            self.claims += claim is not None
            self.changed.notify_all()
        return claim


class Spy:
    """The real client; each delete notes what the journal held when it was sent. The
    first one is held back until ``claims_before_first`` records are claimed."""

    def __init__(self, real: Any, store: CountingStore, claims_before_first: int = 0) -> None:
        self.real = real
        self.store = store
        self.claims_before_first = claims_before_first
        self.sent: list[dict[str, Any]] = []
        self.overlapped = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def delete(self, resource: Any, **options: Any) -> Any:
        if not self.sent and self.claims_before_first:
            with self.store.changed:
                self.overlapped = self.store.changed.wait_for(
                    lambda: self.store.claims >= self.claims_before_first, PATIENCE
                )
        executed = {entry.id for entry in self.store.entries(state="executed")}
        self.sent.append({"selector": options.get("label_selector") or "", "executed": executed})
        return self.real.delete(resource, **options)


def _journal(kube: Any, tmp_path: Path, count: int) -> tuple[CountingStore, str, list[str]]:
    """``count`` recorded ConfigMaps; their record ids newest first (the replay's order)."""
    core = k8s.CoreV1Api(kube.api_client())
    store = CountingStore(str(tmp_path / "rb"))
    journal = journal_for(store)
    for index in range(count):
        record_create(journal, core, kube.namespace, f"cm-{index}")
    ids = [entry.id for entry in reversed(store.entries(state="pending"))]
    return store, journal.run_uuid, ids


def _nonces(store: Store, ids: list[str]) -> set[str]:
    by_id = {stored.entry.id: stored for stored in store.records()}
    return {by_id[record_id].data["guard"]["krkn.io/nonce"] for record_id in ids}


def _named(selector: str) -> set[str]:
    class Request:
        method = "DELETE"
        query = {"labelSelector": selector}

    return set(deleted_nonces([Request()]))


def test_the_next_batch_is_claimed_while_a_request_is_out(kube: Any, tmp_path: Path) -> None:
    store, run_uuid, ids = _journal(kube, tmp_path, 7)
    nonces = [_nonces(store, ids[0:3]), _nonces(store, ids[3:6]), _nonces(store, ids[6:])]
    # The first batch's request waits until the three records after it are claimed too.
    spy = Spy(kube.dynamic(), store, claims_before_first=6)
    summary = replay(store, spy, run_uuid=run_uuid, batch_size=3)
    assert spy.overlapped, "the next records were not claimed while the first batch was out"
    assert summary.counts == {"undone": 7}
    assert [result.entry.id for result in summary.results] == ids
    # Newest first, one request at a time; each batch marked before the next is sent.
    assert [_named(sent["selector"]) for sent in spy.sent] == nonces
    assert [sent["executed"] for sent in spy.sent] == [set(), set(ids[0:3]), set(ids[0:6])]
    assert store.entries(state="pending") == []
    assert not list((tmp_path / "rb").glob("*/*.claim*")), "every claim was released"


@pytest.mark.emulator_only
def test_a_failed_batch_sent_ahead_falls_back_before_the_next_goes_out(kube: Any, tmp_path: Path) -> None:
    store, run_uuid, ids = _journal(kube, tmp_path, 7)
    kube.emulator.clear_requests()
    kube.emulator.inject_fault(method="DELETE", path_regex="/configmaps", status=503, times=1)
    summary = replay(store, kube.dynamic(), run_uuid=run_uuid, retry=FAST, batch_size=3)
    assert summary.counts == {"undone": 7}
    deletes = [request for request in kube.emulator.writes() if request.method == "DELETE"]
    # The first batch (refused), its three records one by one, then the next batch, then the last.
    assert [request.status for request in deletes] == [503, 200, 200, 200, 200, 200]
    named = [set(deleted_nonces([request])) for request in deletes]
    first, second = _nonces(store, ids[0:3]), _nonces(store, ids[3:6])
    assert named[0] == first and set().union(*named[1:4]) == first and named[4] == second
    assert named[5] == _nonces(store, ids[6:])
    assert store.entries(state="pending") == []


def test_a_stop_while_a_batch_is_out_still_marks_it(kube: Any, tmp_path: Path) -> None:
    store, run_uuid, ids = _journal(kube, tmp_path, 7)
    # The first batch stays out until the record after it is claimed; then the replay is
    # stopped: that record (claimed) is still applied, the later ones are left pending.
    spy = Spy(kube.dynamic(), store, claims_before_first=4)
    summary = replay(store, spy, run_uuid=run_uuid, batch_size=3, should_stop=lambda: store.claims >= 4)
    assert spy.overlapped
    assert [result.outcome for result in summary.results] == ["undone"] * 4 + ["skipped"] * 3
    assert [sent["executed"] for sent in spy.sent] == [set(), set(ids[0:3])]
    assert {entry.id for entry in store.entries(state="executed")} == set(ids[0:4])
    assert {entry.id for entry in store.entries(state="pending")} == set(ids[4:])
    assert not list((tmp_path / "rb").glob("*/*.claim*")), "every claim was released"

"""Parallel replay lanes in forked processes, against a cluster over real HTTP."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback import Entry, Journal, Store, replay
from krkn_airflow_provider.rollback.store import Claim
from tests.journal.test_replay_cluster import (
    config_map,
    deleted_nonces,
    journal_for,
    record_create,
    record_patch,
    selector,
    service,
)
from tests.workloads import wait_for


class PidStore(Store):
    """A store that notes which process marked each record (one line per mark)."""

    def mark_executed(self, entry: Entry, *, verified_text: str | None = None) -> Entry:
        marked = super().mark_executed(entry, verified_text=verified_text)
        with open(Path(self.location) / "marks.log", "a") as log:
            log.write(f"{os.getpid()} {entry.id}\n")
        return marked


class KillingStore(Store):
    """A store whose lane process kills itself with SIGKILL when it claims ``victim``."""

    victim = ""
    parent = os.getpid()

    def claim(self, entry: Entry, *, owner: str, ttl: float, steal_expired: bool = True) -> Claim | None:
        if entry.id == self.victim and os.getpid() != self.parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().claim(entry, owner=owner, ttl=ttl, steal_expired=steal_expired)


class StoppingStore(Store):
    """A store whose lane process, claiming ``trigger``, asks the parent to stop the replay
    (a file ``asked``) and goes on only once the parent has said so (a file ``told``)."""

    trigger = ""
    parent = os.getpid()

    def claim(self, entry: Entry, *, owner: str, ttl: float, steal_expired: bool = True) -> Claim | None:
        if entry.id == self.trigger and os.getpid() != self.parent:
            (Path(self.location) / "asked").touch()
            told = Path(self.location) / "told"
            wait_for(told.exists, "the parent to stop the replay", timeout=60)
        return super().claim(entry, owner=owner, ttl=ttl, steal_expired=steal_expired)

    def stop_asked(self) -> bool:
        """The replay's ``should_stop``, in the parent: true once a lane asked."""
        if not (Path(self.location) / "asked").exists():
            return False
        (Path(self.location) / "told").touch()
        return True


def chaos_run(journal: Journal, core: k8s.CoreV1Api, namespace: str, count: int) -> None:
    """A Service patched twice around ``count`` created ConfigMaps: one object with two
    records (their order matters) among many objects with one record each."""
    core.create_namespaced_service(namespace, service("target", namespace, value="original"))
    record_patch(journal, core, namespace, "target", {"spec": {"selector": {"value": "first"}}})
    for index in range(count):
        record_create(journal, core, namespace, f"cm-{index:03d}")
    record_patch(journal, core, namespace, "target", {"spec": {"selector": {"value": "second"}}})


def test_lane_processes_apply_and_mark_each_record_once(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = PidStore(str(tmp_path / "rb"))
    journal = journal_for(store)
    chaos_run(journal, core, kube.namespace, 120)
    if kube.emulator is not None:
        kube.emulator.clear_requests()
    lines: list[str] = []
    summary = replay(
        store, kube.dynamic(), run_uuid=journal.run_uuid, workers=3, processes=True, log=lines.append
    )
    assert summary.counts == {"undone": 122}
    assert [result.entry for result in summary.results] == list(reversed(journal.recorded))
    # Numbered and logged by the parent, one line per record.
    assert sorted(int(line[1 : line.index("/")]) for line in lines) == list(range(1, 123))
    assert selector(core, kube.namespace, "target") == {"value": "original"}
    assert core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items == []
    assert store.entries(run_uuid=journal.run_uuid, state="pending") == []
    marks = (tmp_path / "rb" / "marks.log").read_text().split()
    pids, ids = marks[0::2], marks[1::2]
    assert sorted(ids) == sorted(entry.id for entry in journal.recorded)  # each marked once
    assert str(os.getpid()) not in pids and len(set(pids)) >= 2  # in lane processes
    if kube.emulator is not None:
        nonces = deleted_nonces(kube.emulator.writes())
        assert len(nonces) == 120 and len(set(nonces)) == 120  # each delete sent once


def outcomes(summary: Any, store: Store) -> list[tuple[str, str, bool, str]]:
    """Each record's description, outcome and message (its file's path left out)."""
    return [
        (
            result.description,
            result.outcome,
            result.still_pending,
            result.message.replace(store.path(result.entry), "FILE"),
        )
        for result in summary.results
    ]


def odd_run(kube: Any, root: Path) -> tuple[Store, Journal]:
    """Records with every kind of outcome: undone, already clean, not ours, refused."""
    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(root))
    journal = journal_for(store, run_uuid="6f1c1b42-3f7e-4c55-9d8e-3a6f3c8e4b10")
    chaos_run(journal, core, kube.namespace, 70)
    core.delete_namespaced_config_map("cm-005", kube.namespace)  # gone already
    core.delete_namespaced_config_map("cm-006", kube.namespace)
    core.create_namespaced_config_map(kube.namespace, config_map("cm-006", kube.namespace))  # a look-alike
    edited = Path(store.path(journal.recorded[9]))
    edited.write_text(edited.read_text().replace("cm-008", "cm-xyz"))  # refused: digest
    return store, journal


@pytest.mark.parametrize("processes", [True, False])
def test_parallel_replay_equals_sequential_replay(kube: Any, tmp_path: Path, processes: bool) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    first, journal = odd_run(kube, tmp_path / "one")
    sequential = replay(first, kube.dynamic(), run_uuid=journal.run_uuid)
    left = len(first.entries(state="pending"))
    for name in ("cm-006", "cm-008"):  # the look-alike, the object of the refused record
        core.delete_namespaced_config_map(name, kube.namespace)
    core.delete_namespaced_service("target", kube.namespace)
    store, journal = odd_run(kube, tmp_path / "two")
    parallel = replay(store, kube.dynamic(), run_uuid=journal.run_uuid, workers=4, processes=processes)
    assert sequential.counts == {"undone": 69, "already_clean": 1, "not_ours": 1, "failed": 1}
    assert outcomes(parallel, store) == outcomes(sequential, first)
    assert len(store.entries(state="pending")) == left == 1  # the refused record


def test_a_killed_lane_process_leaves_its_records_pending(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = KillingStore(str(tmp_path / "rb"))
    journal = journal_for(store)
    chaos_run(journal, core, kube.namespace, 80)
    store.victim = journal.recorded[40].id
    summary = replay(
        store, kube.dynamic(), run_uuid=journal.run_uuid, workers=2, processes=True, claim_ttl=1.0
    )
    assert not summary.ok
    pending = {result.entry for result in summary.pending}
    assert journal.recorded[40] in pending
    assert set(store.entries(run_uuid=journal.run_uuid, state="pending")) == pending  # none marked
    for result in summary.pending:
        assert "killed by SIGKILL" in result.message and "still pending" in result.message
    assert "still pending" in summary.pending_message()
    assert summary.counts["undone"] + summary.counts["failed"] == 82
    # The claims the dead process held lapse; a replay then does exactly the rest.
    store.victim = ""
    again = replay(Store(str(tmp_path / "rb")), kube.dynamic(), run_uuid=journal.run_uuid, workers=2)
    assert again.ok and len(again.results) == len(pending)
    assert core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items == []
    assert selector(core, kube.namespace, "target") == {"value": "original"}


def test_a_stopped_replay_stops_its_lane_processes(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    chaos_run(journal, core, kube.namespace, 100)
    # Stopped as the lanes start: the processes are told before they apply anything.
    summary = replay(
        store, kube.dynamic(), run_uuid=journal.run_uuid, workers=2, processes=True, should_stop=lambda: True
    )
    assert summary.counts == {"skipped": 102}
    assert {result.message for result in summary.pending} == {"replay stopped"}
    assert len(store.entries(run_uuid=journal.run_uuid, state="pending")) == 102
    assert len(core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items) == 100
    assert not list((tmp_path / "rb").glob("*/*.claim"))  # no claim left behind


def test_a_replay_stopped_midway_stops_its_lane_processes_at_the_next_record(
    kube: Any, tmp_path: Path
) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = StoppingStore(str(tmp_path / "rb"))
    journal = journal_for(store)
    chaos_run(journal, core, kube.namespace, 600)
    # Among the first records a lane applies: ~300 records of its lane come after it, far
    # more than a lane gets through in the 20 ms between two looks at its socket.
    store.trigger = journal.recorded[-4].id
    summary = replay(
        store,
        kube.dynamic(),
        run_uuid=journal.run_uuid,
        workers=2,
        processes=True,
        should_stop=store.stop_asked,
    )
    stopped = [result for result in summary.pending if result.message == "replay stopped"]
    assert stopped and not summary.ok
    assert {result.message for result in summary.pending} == {"replay stopped"}
    assert summary.counts["undone"] + len(stopped) == 602
    # Nothing is marked that was not undone, and nothing undone is left unmarked.
    assert set(store.entries(run_uuid=journal.run_uuid, state="pending")) == {r.entry for r in stopped}
    left = core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items
    assert len(stopped) - 2 <= len(left) <= len(stopped)  # the other two: the Service's patches
    assert not list((tmp_path / "rb").glob("*/*.claim"))  # no claim left behind
    # A replay then does exactly the rest.
    again = replay(Store(str(tmp_path / "rb")), kube.dynamic(), run_uuid=journal.run_uuid, workers=2)
    assert again.ok and len(again.results) == len(stopped)
    assert core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items == []
    assert selector(core, kube.namespace, "target") == {"value": "original"}


def test_lane_processes_need_a_local_journal(tmp_path: Path) -> None:
    store = Store("memory://krkn-lanes")
    with pytest.raises(ConfigError, match="local folder"):
        replay(store, object(), workers=2, processes=True, only=[])

"""Claims: renewed while a slow record is applied, waited for in order, taken over only when expired."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from krkn_airflow_provider.rollback import Store, UndoRecord, replay
from krkn_airflow_provider.rollback.records import NONCE_LABEL
from krkn_airflow_provider.rollback.replay import ReplaySummary

from .conftest import make_journal
from .test_replay_cluster import cli, deleted_nonces


def _guarded_config_maps(kube: Any, store: Store, count: int) -> tuple[str, list[str]]:
    core = k8s.CoreV1Api(kube.api_client())
    journal = make_journal(store)
    nonces = []
    for index in range(count):
        labels = journal.object_labels()
        nonces.append(labels[NONCE_LABEL])
        name = f"cm-{index}"
        journal.record(
            UndoRecord(
                action="delete",
                api_version="v1",
                kind="ConfigMap",
                namespace=kube.namespace,
                name=name,
                guard=labels,
            )
        )
        core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": name, "labels": labels}})
    return journal.run_uuid, nonces


@pytest.mark.emulator_only  # delays the undo requests and reads the request log
def test_two_replays_of_slow_records_apply_each_once_in_order(kube: Any, tmp_path: Path) -> None:
    emulator = kube.require_emulator("delays DELETE requests and reads the request log")
    root = tmp_path / "rb"
    run_uuid, nonces = _guarded_config_maps(kube, Store(str(root)), 4)
    emulator.clear_requests()
    # Each undo request takes twice as long as a claim lives unrenewed.
    emulator.inject_fault(method="DELETE", path_regex="/configmaps", delay=2.4, times=None)
    summaries: dict[str, ReplaySummary] = {}
    logs: dict[str, list[str]] = {"a": [], "b": []}
    ready = threading.Barrier(2)

    def run(owner: str) -> None:
        client = kube.dynamic()
        ready.wait()
        summaries[owner] = replay(
            Store(str(root)),
            client,
            run_uuid=run_uuid,
            claim_ttl=1.2,
            batch_size=1,
            owner=owner,
            log=logs[owner].append,
        )

    threads = [threading.Thread(target=run, args=(owner,)) for owner in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    emulator.clear_faults()
    assert set(summaries) == {"a", "b"}
    assert all(summary.ok for summary in summaries.values()), {o: s.to_dict() for o, s in summaries.items()}
    # Exactly once each, newest record first, across both replays.
    assert deleted_nonces(emulator.writes()) == list(reversed(nonces))
    assert Store(str(root)).entries(state="pending") == []
    # The replay that met the other's claims said who held them and until when.
    waiting = re.compile(r"^waiting: \S+ is claimed by (a|b) until \d\d:\d\d:\d\d UTC \(\d+ s left")
    assert any(waiting.match(line) for line in logs["a"] + logs["b"]), logs


def test_an_expired_owner_is_named_and_taken_over_only_when_asked(kube: Any, tmp_path: Path) -> None:
    root = tmp_path / "rb"
    store = Store(str(root))
    run_uuid, _ = _guarded_config_maps(kube, store, 1)
    (entry,) = store.entries(run_uuid=run_uuid)
    # A replay that died holding the claim: it stopped renewing, so the claim expired.
    assert store.claim(entry, owner="worker-7:4242:1", ttl=-5) is not None
    core = k8s.CoreV1Api(kube.api_client())

    kept = cli("execute", "--run-uuid", run_uuid, kube=kube, root=root)
    assert kept.returncode == 1, kept.stdout + kept.stderr
    assert "claimed by worker-7:4242:1, whose claim expired at" in kept.stdout
    assert "--steal-expired" in kept.stdout
    assert [e.id for e in store.entries(state="pending")] == [entry.id]
    assert core.read_namespaced_config_map("cm-0", kube.namespace) is not None

    taken = cli("execute", "--run-uuid", run_uuid, "--steal-expired", kube=kube, root=root)
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert "… undone in" in taken.stdout
    assert store.entries(state="pending") == []
    assert core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items == []


def test_the_operator_default_takes_over_an_expired_claim(kube: Any, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rb"))
    run_uuid, _ = _guarded_config_maps(kube, store, 1)
    (entry,) = store.entries(run_uuid=run_uuid)
    assert store.claim(entry, owner="dead", ttl=-5) is not None
    refused = replay(store, kube.dynamic(), run_uuid=run_uuid, steal_expired=False)
    assert not refused.ok and "claimed by dead" in refused.results[0].message
    taken = replay(store, kube.dynamic(), run_uuid=run_uuid)
    assert taken.ok and [r.outcome for r in taken.results] == ["undone"]


def test_a_claim_taken_over_is_not_ours_to_apply_or_release(tmp_path: Path) -> None:
    from krkn_airflow_provider.rollback.claims import ClaimKeeper

    from .conftest import delete_record

    store = Store(str(tmp_path / "rb"))
    entry = make_journal(store).record(delete_record("a"))
    assert entry is not None
    lines: list[str] = []

    def keeper(ttl: float) -> ClaimKeeper:
        return ClaimKeeper(
            store, owner="a", ttl=ttl, steal_expired=True, log=lines.append, should_stop=lambda: False
        )

    fresh = keeper(60)
    claim = fresh.try_claim(entry)
    assert claim is not None and fresh.still_holds(entry, claim)
    fresh.release(entry, claim)
    assert store.read_claim(entry) is None
    # A holder that could not renew in time (as when its heartbeat stalled): its claim is
    # already expired, and another replay takes it over.
    stalled = keeper(-1)
    claim = stalled.try_claim(entry)
    assert claim is not None
    theirs = Store(str(tmp_path / "rb")).claim(entry, owner="b", ttl=60)
    assert theirs is not None
    assert not stalled.still_holds(entry, claim), "a record whose claim was lost is not applied"
    assert store.renew(entry, claim, ttl=60) is None
    stalled.release(entry, claim)
    assert store.read_claim(entry) == theirs, "releasing never removes another owner's claim"

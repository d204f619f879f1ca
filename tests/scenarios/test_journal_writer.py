"""Long runs of bare-pod deletes write their records in a writer process.

It must fail closed as the writer thread does: a pod's delete only after its own record
is durable, a writer that dies stops the run before any later pod, and the writer never
outlives the task, however the task ends.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import JournalError, StorageError
from krkn_airflow_provider.rollback import Journal, Origin, Store, UndoRecord, new_run_uuid
from krkn_airflow_provider.rollback.store import Entry, Prepared
from krkn_airflow_provider.scenarios import ScenarioContext, load_configs, pipeline, scenario_class
from krkn_airflow_provider.scenarios.journal_writer import WriterProcess
from tests.journal.conftest import s3_endpoint, s3_store  # noqa: F401 - a fixture, used by name
from tests.scenarios import catalogue_support as support

TYPE = "pod_disruption_scenarios"
PODS = pipeline.PROCESS_AT + 8  # enough for a writer process: bursts of 1, 2, 4, 8, 16, 9


class LoggingStore(Store):
    """A real store that appends ``pid pod time`` to a file once each record is durable,
    and can SIGKILL the process writing its ``kill_at``-th burst (a real signal), or fail
    its ``fail_at``-th burst as a full disk would."""

    def __init__(self, root: str, log: Path, *, kill_at: int = 0, fail_at: int = 0) -> None:
        super().__init__(root)
        self.log = log
        self.kill_at = kill_at
        self.fail_at = fail_at
        self.bursts = 0

    def commit_many(self, prepared: list[Prepared]) -> list[Entry]:
        self.bursts += 1
        if self.bursts == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.bursts == self.fail_at:
            raise StorageError("no space left on device (the test's storage fails this burst)")
        entries = super().commit_many(prepared)
        now = time.time()
        with self.log.open("a") as out:
            for entry in entries:
                out.write(f"{os.getpid()} {self.load(entry).record.name} {now}\n")
        return entries


def scenario(kube: Any, store: Store) -> tuple[Any, ScenarioContext]:
    journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario=TYPE, task_id="chaos"))
    ctx = ScenarioContext(client=kube.dynamic(), journal=journal, poll_interval=0.05)
    config = {"namespace_pattern": f"^{kube.namespace}$", "label_selector": "app=bare", "kill": PODS}
    [entry] = load_configs(TYPE, [{"id": "kill-pods", "config": config}])
    return scenario_class(TYPE)(entry, ctx), ctx


def bare_pods(kube: Any) -> None:
    support.create(kube, *(support.pod_manifest(f"bare-{i}", {"app": "bare"}) for i in range(PODS)))
    support.wait_for(lambda: len(support.ready_pods(kube, "app=bare")) == PODS, what="bare pods ready")


def live_pods(kube: Any) -> set[str]:
    client = kube.dynamic()
    resource = client.resources.get(api_version="v1", kind="Pod")
    pods = client.get(resource, namespace=kube.namespace, label_selector="app=bare").to_dict()["items"]
    return {pod["metadata"]["name"] for pod in pods if not pod["metadata"].get("deletionTimestamp")}


def durable(log: Path) -> dict[str, tuple[int, float]]:
    lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return {pod: (int(pid), float(at)) for pid, pod, at in lines}


@pytest.mark.emulator_only("reads the API server's request log to order deletes against record writes")
def test_a_long_run_writes_each_record_elsewhere_before_its_delete(kube: Any, tmp_path: Path) -> None:
    bare_pods(kube)
    log = tmp_path / "durable.log"
    chaos, ctx = scenario(kube, LoggingStore(str(tmp_path / "rb"), log))
    since = time.time()
    chaos.inject(chaos.plan())
    written = durable(log)
    deletes = {
        r.path.rsplit("/", 1)[1]: r.ts
        for r in kube.emulator.requests
        if r.ts >= since and r.method == "DELETE" and "/pods/bare-" in r.path
    }
    assert len(deletes) == PODS and sorted(deletes) == sorted(written)
    assert {pid for pid, _at in written.values()} - {os.getpid()}, "written in this process"
    assert len({pid for pid, _at in written.values()}) == 1
    for name, sent in deletes.items():
        assert written[name][1] < sent, f"{name} was deleted before its record was durable"
    # This side knows every record the writer wrote, in order, and can add more after them.
    assert [e.name for e in ctx.journal.recorded] == [e.name for e in ctx.journal.store.entries()]
    assert sorted(r["name"] for r in support.records(ctx)) == sorted(written)


def test_a_writer_killed_by_a_signal_stops_the_run_before_any_later_pod(kube: Any, tmp_path: Path) -> None:
    bare_pods(kube)
    log = tmp_path / "durable.log"
    chaos, ctx = scenario(kube, LoggingStore(str(tmp_path / "rb"), log, kill_at=3))
    targets = chaos.plan()
    with pytest.raises(JournalError, match=r"writer process \d+ stopped \(killed by SIGKILL\)"):
        chaos.inject(targets)
    order = [target.name for target in targets]
    # Bursts 1 and 2 (three records) were durable and their pods deleted; the writer died
    # on burst 3, so its four pods and every later one are untouched.
    assert sorted(durable(log)) == sorted(order[:3]) and len(ctx.journal.recorded) == 3
    support.wait_for(lambda: live_pods(kube) == set(order[3:]), what="exactly the recorded pods deleted")
    assert sorted(r["name"] for r in support.records(ctx)) == sorted(order[:3])


def test_no_burst_sent_ahead_is_written_after_a_failed_one(kube: Any, tmp_path: Path) -> None:
    bare_pods(kube)
    log = tmp_path / "durable.log"
    chaos, ctx = scenario(kube, LoggingStore(str(tmp_path / "rb"), log, fail_at=3))
    targets = chaos.plan()
    with pytest.raises(StorageError, match="no space left"):
        chaos.inject(targets)
    order = [target.name for target in targets]
    # Burst 3 (pods 4-7) failed; burst 4 (pods 8-15) had been sent to the writer ahead of
    # it, and is not written: only bursts 1 and 2 are durable, and only their pods go.
    assert sorted(durable(log)) == sorted(order[:3]) and len(ctx.journal.recorded) == 3
    assert sorted(r["name"] for r in support.records(ctx)) == sorted(order[:3])
    support.wait_for(lambda: live_pods(kube) == set(order[3:]), what="exactly the recorded pods deleted")


def undo(name: str) -> UndoRecord:
    return UndoRecord(action="delete", api_version="v1", kind="ConfigMap", namespace="n", name=name)


def test_the_writer_writes_no_burst_after_a_failed_one(tmp_path: Path) -> None:
    class FailsFirst(Store):
        def commit_many(self, prepared: list[Prepared]) -> list[Entry]:
            if not self.failed:
                self.failed = True
                raise StorageError("no space left on device (the test's storage fails this burst)")
            return super().commit_many(prepared)

    store = FailsFirst(str(tmp_path / "rb"))
    store.failed = False  # type: ignore[attr-defined]
    journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario=TYPE))
    writer = WriterProcess(journal)
    try:
        # Both bursts are sent before the first is answered, as the task does.
        writer.send([(undo, ("first",))])
        writer.send([(undo, ("second",))])
        with pytest.raises(StorageError, match="no space left"):
            writer.result()
        with pytest.raises(JournalError, match="a burst before it failed"):
            writer.result()
    finally:
        writer.close()
    assert store.entries() == [] and journal.recorded == []


def test_a_writer_whose_task_stopped_listening_exits_with_bursts_queued(tmp_path: Path) -> None:
    release, hold = os.pipe()

    class Slow(Store):
        def commit_many(self, prepared: list[Prepared]) -> list[Entry]:
            os.read(release, 1)  # a disk that answers when the test says so
            return super().commit_many(prepared)

    journal = Journal(Slow(str(tmp_path / "rb")), Origin(run_uuid=new_run_uuid(), scenario=TYPE))
    writer = WriterProcess(journal)
    exited = os.pidfd_open(writer.pid)
    try:
        # One burst being written, one waiting for it, one more sent: then the task's end of
        # the pipe closes (without a kill), and the first write completes.
        for name in ("one", "two", "three"):
            writer.send([(undo, (name,))])
        writer._conn.close()
        os.write(hold, b"xxx")
        ready, _, _ = select.select([exited], [], [], 60)
        assert ready, "the writer still runs after its task closed the pipe"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(writer.pid, signal.SIGKILL)
        os.waitpid(writer.pid, 0)
        for fd in (exited, release, hold):
            os.close(fd)


class OverlapStore(Store):
    """A real store whose second burst is written only once a record of the third burst
    was built: the writer process must build one burst while it writes another."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.built = 0
        self.third_built = threading.Event()
        self.bursts = 0

    def prepare(self, record: UndoRecord, *, run_info: dict[str, Any] | None = None) -> Prepared:
        self.built += 1
        if self.built > 3:  # bursts of 1 and 2, then the third
            self.third_built.set()
        return super().prepare(record, run_info=run_info)

    def commit_many(self, prepared: list[Prepared]) -> list[Entry]:
        self.bursts += 1
        if self.bursts == 2 and not self.third_built.wait(60):
            raise StorageError("burst 3 was not built while burst 2 was written")
        return super().commit_many(prepared)


def test_the_writer_builds_the_next_burst_while_it_writes_one(kube: Any, tmp_path: Path) -> None:
    bare_pods(kube)
    chaos, ctx = scenario(kube, OverlapStore(str(tmp_path / "rb")))
    chaos.inject(chaos.plan())
    support.wait_for(lambda: live_pods(kube) == set(), what="every bare pod deleted")
    assert len(ctx.journal.recorded) == PODS


TASK = textwrap.dedent(
    """
    import os, signal, sys
    from krkn_airflow_provider.rollback import Journal, Origin, Store, UndoRecord, new_run_uuid
    from krkn_airflow_provider.scenarios import ScenarioContext, pipeline

    class Stuck(Store):
        def commit_many(self, prepared):
            os.read(int(sys.argv[2]), 1)  # a disk that never answers

    # As Airflow does: SIGTERM raises in the task's main thread.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    blocked, _never_written = os.pipe()
    sys.argv.append(str(blocked))
    origin = Origin(run_uuid=new_run_uuid(), scenario="pod_disruption_scenarios")
    journal = Journal(Stuck(sys.argv[1]), origin)
    ctx = ScenarioContext(client=None, journal=journal)
    undo = UndoRecord(action="delete", api_version="v1", kind="ConfigMap", namespace="n", name="c")
    changes = pipeline.changes_ahead(ctx, [(undo, "change", lambda: None)], writer_process=True)
    original = pipeline.WriterProcess.send
    def send(self, burst):
        original(self, burst)
        print(self.pid, flush=True)
    pipeline.WriterProcess.send = send
    next(changes)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_the_writer_process_never_outlives_its_task(tmp_path: Path, signum: int) -> None:
    task = subprocess.Popen(
        [sys.executable, "-c", TASK, str(tmp_path / "rb")],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert task.stdout is not None
        writer = int(task.stdout.readline())  # the writer is started and busy with the record
        exited = os.pidfd_open(writer)
        task.send_signal(signum)
        assert task.wait(timeout=60) == (-signal.SIGKILL if signum == signal.SIGKILL else 143)
        ready, _, _ = select.select([exited], [], [], 60)
        assert ready, f"writer {writer} still runs after its task got {signal.Signals(signum).name}"
        os.close(exited)
    finally:
        if task.poll() is None:
            os.killpg(task.pid, signal.SIGKILL)
            task.wait()


def test_a_long_run_on_object_storage_writes_its_records_in_the_task(
    kube: Any, request: pytest.FixtureRequest
) -> None:
    # An object store's client (s3fs runs an event loop in a thread) does not survive a
    # fork: a journal on S3 keeps the writer thread, and the run goes through.
    bare_pods(kube)
    endpoint = request.getfixturevalue("s3_endpoint")
    chaos, ctx = scenario(kube, s3_store(endpoint, f"bucket-{new_run_uuid()[:8]}"))
    chaos.inject(chaos.plan())
    support.wait_for(lambda: live_pods(kube) == set(), what="every bare pod deleted")
    assert sorted(r["name"] for r in support.records(ctx)) == sorted(f"bare-{i}" for i in range(PODS))

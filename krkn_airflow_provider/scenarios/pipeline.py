"""Write-ahead changes in a two-stage pipeline: the next records are written during these changes.

``ScenarioContext.change`` writes a record and then makes its change, one after the
other. For a long run of independent changes (one pod deleted after another) a single
writer thread writes the records of the next burst of changes while this burst's changes
are on the wire, and a burst's records share one folder sync (group commit). For long runs
the writer is a process of its own (:mod:`journal_writer`), so that building and rendering
records does not take turns with the changes under one interpreter lock; it is sent two
bursts ahead, so it can build the next burst while it writes one. Write-ahead still holds
per change: a change is only made once the burst holding its record is durable, and
bursts are written strictly in order, none after one that failed, so a failed record
stops the run before its own change and before any later record or change.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from krkn_airflow_provider.rollback import UndoRecord
from krkn_airflow_provider.rollback.storage import LocalBackend
from krkn_airflow_provider.rollback.store import Prepared
from krkn_airflow_provider.scenarios.journal_writer import Build, WriterProcess

if TYPE_CHECKING:
    from krkn_airflow_provider.scenarios.base import ScenarioContext

T = TypeVar("T")


class Later(NamedTuple):
    """An undo record built where it is written: ``build(*args)``, in the writer process
    for a long run. ``build`` is a module-level function (a process gets it by name)."""

    build: Callable[..., UndoRecord]
    args: tuple[Any, ...]
    namespace: str | None  # checked against the protected namespaces before it is sent

    def record(self) -> UndoRecord:
        return self.build(*self.args)


Change = tuple[UndoRecord | Later | None, str, Callable[[], T]]

# Records written ahead of their change are harmless (a crash leaves records whose change
# was never made; their undo finds nothing to do), but a stop should not leave many.
MAX_BURST = 16
# From this many records on, a writer process pays for itself (it starts in ~1 ms).
PROCESS_AT = 32


def writer_process_for(ctx: ScenarioContext, records: int) -> bool:
    """Whether a run of ``records`` write-ahead changes should get a writer process.

    Only for a journal on a local or mounted folder: an object store's client (s3fs, gcsfs)
    runs its requests on an event loop in a thread, which a forked process does not have.
    """
    local = isinstance(ctx.journal.store.backend, LocalBackend)
    return records >= PROCESS_AT and local and not ctx.journal.dry_run and hasattr(os, "fork")


def changes_ahead(
    ctx: ScenarioContext, changes: Iterable[Change[T]], *, writer_process: bool = False
) -> Iterator[T | None]:
    """Make ``changes`` in order, as ``ctx.change`` would, yielding each change's result.

    Each change is ``(undo, what, apply)``; ``undo`` is ``None`` for a change with nothing
    to undo. The caller may do more work between two results (wait for a pod to go): the
    next records are being written meanwhile. The first burst holds one change, so the
    first change waits for one record only; each burst is at most twice the one before.
    A burst is written all or none: if record *k* cannot be written, the changes of the
    bursts before its own are made and then its error is raised; change *k*, the rest of
    its burst and every later one are not made.

    :param writer_process: write in a process of its own (see :func:`writer_process_for`),
        two bursts ahead of the changes; if it dies, the run stops as if its burst had
        failed, and a burst sent after a failed one is never written.
    """
    items = iter(changes)
    writer: _Writer = _ProcessWriter(ctx) if writer_process else _ThreadWriter(ctx)
    sent: deque[tuple[list[Change[T]], Written | None]] = deque()  # started, oldest first
    size = 0

    def start_next() -> bool:
        nonlocal size
        size = min(2 * size, MAX_BURST) if size else 1
        burst = list(islice(items, size))
        if burst:
            sent.append((burst, writer.start(burst)))
        return bool(burst)

    try:
        ctx.check_stop()
        start_next()
        while sent:
            burst, written = sent.popleft()
            durable, error = written() if written is not None else (0, None)
            if error is None:
                ctx.check_stop()  # stopped while they were written: start no other record
                # The next records are written while this burst's changes are made.
                while len(sent) < writer.ahead and start_next():
                    pass
            for undo, what, apply in burst:
                if undo is not None:
                    if not durable:
                        break  # this change's record was not written
                    durable -= 1
                # The record is durable: the change itself goes through ctx.change as any
                # other (stop flag, dry run, log), with nothing left to record.
                yield ctx.change(None, what, apply)
            if error is not None:
                raise error
    finally:
        writer.close()


Written = Callable[[], tuple[int, Exception | None]]


class _Writer:
    # Bursts started but not yet answered while a burst's changes are made.
    ahead = 1

    def __init__(self, ctx: ScenarioContext) -> None:
        self.ctx = ctx

    def start(self, burst: list[Change[Any]]) -> Written | None:
        """Start writing the records of ``burst``; ``None`` when it has none."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _refuse(self, undo: UndoRecord | Later, what: str) -> None:
        self.ctx.limits.refuse_namespace(undo.namespace, f"the change '{what}'")


class _ThreadWriter(_Writer):
    """Records rendered here, written by a thread (which only waits on the disk)."""

    def __init__(self, ctx: ScenarioContext) -> None:
        super().__init__(ctx)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="krkn-journal")

    def start(self, burst: list[Change[Any]]) -> Written | None:
        prepared: list[Prepared | None] = []
        for undo, what, _apply in burst:
            if undo is not None:
                self._refuse(undo, what)
                prepared.append(self.ctx.journal.prepare(undo.record() if isinstance(undo, Later) else undo))
        if not prepared:
            return None
        future: Future[tuple[int, Exception | None]] = self.pool.submit(_write_burst, self.ctx, prepared)
        return future.result

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class _ProcessWriter(_Writer):
    """Records built, rendered and written by a writer process, which holds the next
    burst while it writes one (so its disk waits overlap its CPU work)."""

    ahead = 2

    def __init__(self, ctx: ScenarioContext) -> None:
        super().__init__(ctx)
        self.process = WriterProcess(ctx.journal)

    def start(self, burst: list[Change[Any]]) -> Written | None:
        builds: list[Build] = []
        for undo, what, _apply in burst:
            if undo is not None:
                self._refuse(undo, what)
                builds.append((undo.build, undo.args) if isinstance(undo, Later) else (_same, (undo,)))
        if not builds:
            return None
        try:
            self.process.send(builds)
        except Exception as error:
            failed: Exception = error
            return lambda: (0, failed)
        return self._result

    def _result(self) -> tuple[int, Exception | None]:
        try:
            return len(self.process.result()), None
        except Exception as error:
            return 0, error

    def close(self) -> None:
        self.process.close()


def _same(record: UndoRecord) -> UndoRecord:
    return record


def _write_burst(ctx: ScenarioContext, prepared: list[Prepared | None]) -> tuple[int, Exception | None]:
    """Write a burst of prepared records (``None``: a dry run's) all or none; how many are
    durable and the error that stopped them."""
    try:
        ctx.journal.commit_many([record for record in prepared if record is not None])
    except Exception as error:
        return 0, error
    return len(prepared), None

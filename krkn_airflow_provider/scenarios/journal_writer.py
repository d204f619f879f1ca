"""A journal writer in its own process, for long runs of write-ahead changes.

Building, rendering, checking and writing a record is CPU work under the interpreter
lock; for a long run of bare-pod deletes it costs as much as the deletes themselves, and
a writer *thread* only takes turns with the thread that sends them. A forked writer
process does that work on another core: the scenario sends it how to build each record
(a module-level function and its arguments) and waits for the names of the records once
they are durable.

Failing closed: a burst's answer is read before any of its changes is made; if the
writer dies (killed, out of memory) the next read fails and the run stops. The writer
dies with the task: it reads until its pipe closes (the task ended, however it ended),
and on Linux the kernel also sends it SIGKILL when the thread that started it is gone.
Forked, not spawned: it starts in about a millisecond with the journal already open, and
``multiprocessing`` is avoided because a Celery pool process may not start children.

The task may send the next burst before the one before it is durable: the writer builds
and renders it while a thread of its own writes the one before (the disk's waits overlap
the CPU work). Bursts are written strictly in order, and after a burst fails no later
burst is written: each is answered with an error instead.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import signal
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from krkn_airflow_provider.errors import JournalError
from krkn_airflow_provider.rollback import Journal, UndoRecord
from krkn_airflow_provider.rollback.forked import fork_child
from krkn_airflow_provider.rollback.store import Entry, Prepared

# One record to build in the writer: a module-level function (sent by name) and its arguments.
Build = tuple[Callable[..., UndoRecord], tuple[Any, ...]]


class WriterProcess:
    """A forked process that builds and durably writes bursts of records for ``journal``.

    :param journal: the run's journal; the writer works on its copy, this side adopts the
        entries it wrote (:meth:`Journal.adopt`).
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.pid, self._conn = fork_child(lambda conn: _serve(conn, journal))
        self._waiting = 0  # bursts sent whose answer was not read
        self._how_ended: str | None = None  # how the writer ended, once reaped

    def send(self, burst: Sequence[Build]) -> None:
        """Start writing ``burst`` (all or none) after the bursts sent before it;
        :meth:`result` waits for the oldest burst not yet answered."""
        self._waiting += 1  # from here on, a writer left behind is killed (see close)
        try:
            self._conn.send(list(burst))
        except OSError as error:
            raise self._died(error) from None

    def result(self) -> list[Entry]:
        """The entries of the oldest burst not yet answered, once they are durable; raises
        if it (or one before it) failed."""
        try:
            status, payload = self._conn.recv()
        except (EOFError, OSError) as error:
            raise self._died(error) from None
        self._waiting -= 1
        if status != "ok":
            raise payload if isinstance(payload, Exception) else JournalError(str(payload))
        entries: list[Entry] = payload
        self.journal.adopt(entries)
        return entries

    def close(self) -> None:
        """Stop the writer and wait for it to exit.

        A writer still busy with a burst nobody waits for any more (the task is being
        stopped) is killed: none of that burst's changes is made, so its records, written
        or not, only undo what never happened.
        """
        if self._waiting:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._conn.close()  # an idle writer reads EOF and leaves
        if self._how_ended is None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)

    def _died(self, error: BaseException) -> JournalError:
        if self._how_ended is None:
            with contextlib.suppress(ChildProcessError):
                # Only the writer holds the other end: it closed, so the writer is exiting.
                # Reaped once: a send and then a read may both find it gone.
                pid, status = os.waitpid(self.pid, 0)
                if pid and os.WIFSIGNALED(status):
                    self._how_ended = f" (killed by {signal.Signals(os.WTERMSIG(status)).name})"
                elif pid:
                    self._how_ended = f" (exit code {os.WEXITSTATUS(status)})"
        how = self._how_ended or ""
        return JournalError(
            f"the journal writer process {self.pid} stopped{how}: its records are not known to be "
            f"durable, so no further change is made ({type(error).__name__})"
        )


def _serve(conn: Connection, journal: Journal) -> int:
    """The writer's loop (in a child of :func:`fork_child`): build, render and check each
    burst here while a thread writes the one before it; the thread answers with each
    burst's entries, in order."""
    gc.disable()  # the task's garbage is the task's: collecting here only costs time
    # At most one burst waits while one is written: the task sends at most two ahead.
    ready: queue.Queue[list[Prepared] | Exception | None] = queue.Queue(maxsize=1)
    committer = threading.Thread(target=_commit_in_order, args=(conn, journal, ready), daemon=True)
    committer.start()
    try:
        while True:
            try:
                burst: list[Build] = conn.recv()
            except (EOFError, OSError):
                return 0  # the task closed the pipe, or ended
            try:
                prepared = [journal.prepare(build(*args)) for build, args in burst]
                ready.put([p for p in prepared if p is not None])
            except Exception as error:  # the task raises it in place of the burst's changes
                ready.put(error)
    finally:
        ready.put(None)
        committer.join()  # a burst being written is finished (or the process is killed)


def _commit_in_order(
    conn: Connection, journal: Journal, ready: queue.Queue[list[Prepared] | Exception | None]
) -> None:
    """Write each prepared burst and answer it; after a failure, write nothing more.
    Reads the queue to its end even when the task is gone, so the loop feeding it never
    blocks on a full queue."""
    failed: Exception | None = None
    listening = True
    while (burst := ready.get()) is not None:
        if not listening:
            continue  # the task is gone: nobody waits for these records
        answer: tuple[str, Any]
        if failed is not None:
            answer = ("error", JournalError(f"not written: a burst before it failed ({failed})"))
        elif isinstance(burst, Exception):
            failed, answer = burst, ("error", burst)
        else:
            try:
                answer = ("ok", journal.commit_many(burst))
            except Exception as error:
                failed, answer = error, ("error", error)
        listening = _answer(conn, answer)


def _answer(conn: Connection, answer: tuple[str, Any]) -> bool:
    """Send ``answer`` to the task; ``False`` once the task is gone."""
    try:
        conn.send(answer)
    except OSError:
        return False
    except Exception:  # an error that does not pickle: its text does
        with contextlib.suppress(OSError):
            conn.send(("error", JournalError(f"{type(answer[1]).__name__}: {answer[1]}")))
            return True
        return False
    return True

"""Write-ahead changes in a two-stage pipeline: the next records are written during these changes.

``ScenarioContext.change`` writes a record and then makes its change, one after the
other. For a long run of independent changes (one pod deleted after another) a single
writer thread writes the records of the next burst of changes while this burst's changes
are on the wire, and a burst's records share one folder sync (group commit). Write-ahead
still holds per change: a change is only made once the burst holding its record is
durable, and a burst is only started once the one before it was written, so a failed
record stops the run before its own change and before any later record or change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TYPE_CHECKING, TypeVar

from krkn_airflow_provider.rollback import UndoRecord
from krkn_airflow_provider.rollback.store import Prepared

if TYPE_CHECKING:
    from krkn_airflow_provider.scenarios.base import ScenarioContext

T = TypeVar("T")

Change = tuple[UndoRecord | None, str, Callable[[], T]]

# Records written ahead of their change are harmless (a crash leaves records whose change
# was never made; their undo finds nothing to do), but a stop should not leave many.
MAX_BURST = 16


def changes_ahead(ctx: ScenarioContext, changes: Iterable[Change[T]]) -> Iterator[T | None]:
    """Make ``changes`` in order, as ``ctx.change`` would, yielding each change's result.

    Each change is ``(undo, what, apply)``; ``undo`` is ``None`` for a change with nothing
    to undo. The caller may do more work between two results (wait for a pod to go): the
    next records are being written meanwhile. The first burst holds one change, so the
    first change waits for one record only; each burst is at most twice the one before.
    A burst is written all or none: if record *k* cannot be written, the changes of the
    bursts before its own are made and then its error is raised; change *k*, the rest of
    its burst and every later one are not made.
    """
    items = iter(changes)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="krkn-journal") as writer:

        def start(burst: list[Change[T]]) -> Future[tuple[int, Exception | None]] | None:
            # Rendering and checking is CPU work, done here; the writer only waits on the
            # disk, so it does not hold the interpreter lock against this thread's requests.
            prepared: list[Prepared | None] = []
            for undo, what, _apply in burst:
                if undo is not None:
                    ctx.limits.refuse_namespace(undo.namespace, f"the change '{what}'")
                    prepared.append(ctx.journal.prepare(undo))
            if not prepared:
                return None
            return writer.submit(_write_burst, ctx, prepared)

        ctx.check_stop()
        burst = list(islice(items, 1))
        written = start(burst)
        while burst:
            durable, error = written.result() if written is not None else (0, None)
            if error is None:
                ctx.check_stop()  # stopped while they were written: start no other record
                following = list(islice(items, min(2 * len(burst), MAX_BURST)))
                written = start(following)  # the next records while this burst's changes are made
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
            burst = following


def _write_burst(ctx: ScenarioContext, prepared: list[Prepared | None]) -> tuple[int, Exception | None]:
    """Write a burst of prepared records (``None``: a dry run's) all or none; how many are
    durable and the error that stopped them."""
    try:
        ctx.journal.commit_many([record for record in prepared if record is not None])
    except Exception as error:
        return 0, error
    return len(prepared), None

"""Write-ahead changes in a two-stage pipeline: the next record is written during this change.

``ScenarioContext.change`` writes a record and then makes its change, one after the
other. For a long run of independent changes (one pod deleted after another) a single
writer thread writes record *k + 1* while change *k* is on the wire. Write-ahead still
holds per change: change *k* is only made once record *k* is durable, and record *k + 1*
is only started once record *k* was written, so a failed record stops the run before its
own change and before any later record or change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from krkn_airflow_provider.rollback import UndoRecord

if TYPE_CHECKING:
    from krkn_airflow_provider.scenarios.base import ScenarioContext

T = TypeVar("T")

Change = tuple[UndoRecord | None, str, Callable[[], T]]


def changes_ahead(ctx: ScenarioContext, changes: Iterable[Change[T]]) -> Iterator[T | None]:
    """Make ``changes`` in order, as ``ctx.change`` would, yielding each change's result.

    Each change is ``(undo, what, apply)``; ``undo`` is ``None`` for a change with nothing
    to undo. The caller may do more work between two results (wait for a pod to go): the
    next record is being written meanwhile.
    """
    items = iter(changes)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="krkn-journal") as writer:

        def start(change: Change[T] | None) -> Future[object] | None:
            if change is None or change[0] is None:
                return None
            undo = change[0]
            ctx.limits.refuse_namespace(undo.namespace, f"the change '{change[1]}'")
            return writer.submit(ctx.journal.record, undo)

        current = next(items, None)
        ctx.check_stop()
        written = start(current)
        while current is not None:
            _undo, what, apply = current
            if written is not None:
                written.result()  # record k is durable (or this raises and nothing follows)
            ctx.check_stop()  # stopped while record k was written: start no other record
            current = next(items, None)
            if current is not None:
                written = start(current)  # record k + 1 while change k is made
            # The record is durable: the change itself goes through ctx.change as any other
            # (stop flag, dry run, log), with nothing left to record.
            yield ctx.change(None, what, apply)

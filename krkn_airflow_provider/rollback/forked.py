"""Work run in forked child processes that send messages back over a socket pair.

Replay lanes are CPU work under the interpreter lock (reading, checking and marking
version files); threads only take turns at it. A forked child runs on another core with
the parent's memory (the records already read) as it was at the fork. Not
``multiprocessing``: a Celery pool process may not start children through it.

A child never outlives its parent: it stops when its socket closes or the parent asks it
to, and on Linux the kernel sends it SIGKILL when the thread that forked it is gone. It
leaves through ``os._exit``, so none of the parent's exit handlers or finalizers run in it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol, cast

from krkn_airflow_provider.errors import JournalError

# How often the parent looks at its stop flag while it waits for messages.
POLL_SECONDS = 0.1
# How soon a child notices that the parent asked it to stop.
STOP_CHECK_SECONDS = 0.02
_PR_SET_PDEATHSIG = 1
_DONE = "done"
_ERROR = "error"
STOP = "stop"
# Messages to send to children: (child number, message).
Tell = list[tuple[int, Any]]


@dataclass
class Ended:
    """How one child ended: ``done`` when it finished its work; else ``error`` (its
    exception, raised again in the parent) or ``how`` (killed by a signal, an exit code)."""

    pid: int
    done: bool = False
    error: BaseException | None = None
    how: str = ""


class Parent(Protocol):
    """What the parent does with its children's messages; each answer is what to tell them."""

    def received(self, number: int, message: Any) -> Tell: ...

    def ended(self, number: int, ended: Ended) -> Tell: ...


class Channel:
    """A child's end of its socket: send to the parent, receive from it, and ask whether the
    parent wants it to stop (it sent ``STOP`` or went away)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()  # the child's heartbeat thread may send too
        self._stopped = False
        self._next_check = 0.0

    def send(self, message: Any) -> None:
        with self._lock:
            self._conn.send(message)

    def recv(self) -> Any:
        """The parent's next message (``STOP`` if it went away)."""
        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            message = STOP
        self._stopped = self._stopped or message == STOP
        return message

    def stopped(self) -> bool:
        # Asked before every record: look at the socket only every STOP_CHECK_SECONDS
        # (a poll is a system call, ~5 % of a lane's CPU when made per record).
        now = time.monotonic()
        if not self._stopped and now >= self._next_check:
            self._next_check = now + STOP_CHECK_SECONDS
            with self._lock:
                try:
                    # Once the work is handed out, the parent sends nothing but STOP.
                    self._stopped = self._conn.poll()
                except (EOFError, OSError):
                    self._stopped = True
        return self._stopped


# What a child runs, talking to the parent through its channel.
Work = Callable[[Channel], None]


class _Child:
    """The parent's handle on one forked child."""

    def __init__(self, work: Work) -> None:
        pid, self.conn = fork_child(lambda conn: _serve(conn, work))
        self.ended = Ended(pid)
        self.reaped = False

    def tell(self, message: Any) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(message)

    def reap(self) -> None:
        """Wait for the child's exit (its socket closed, so it is exiting) and say how."""
        if self.reaped:
            return
        self.reaped = True
        with contextlib.suppress(OSError):
            self.conn.close()
        try:
            _, status = os.waitpid(self.ended.pid, 0)
        except ChildProcessError:
            return
        if os.WIFSIGNALED(status):
            self.ended.how = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        elif os.WEXITSTATUS(status) != 0 and not self.ended.error:
            self.ended.how = f"exit code {os.WEXITSTATUS(status)}"


def run_forked(works: Sequence[Work], parent: Parent, should_stop: Callable[[], bool]) -> list[Ended]:
    """Run each of ``works`` in its own forked child; hand every message a child sends to
    ``parent`` in the order it sent them, and tell the children what it answers.

    :param should_stop: polled while waiting; once true, every child is told ``STOP``.
    :returns: how each child ended, in the order of ``works``.
    """
    children: list[_Child] = []
    try:
        children += [_Child(work) for work in works]
        _collect(children, parent, should_stop)
    finally:
        for child in children:  # on an error here the sockets close: the children stop
            child.reap()
    return [child.ended for child in children]


def _collect(children: list[_Child], parent: Parent, should_stop: Callable[[], bool]) -> None:
    """Hand on the children's messages until every child closed its socket."""
    running = {child.conn.fileno(): number for number, child in enumerate(children)}
    stopping = False
    while running:
        if not stopping and should_stop():
            stopping = True
            for number in running.values():
                children[number].tell(STOP)
        for ready in wait(list(running), timeout=POLL_SECONDS):
            number = running[cast(int, ready)]
            child = children[number]
            try:
                message = child.conn.recv()
            except (EOFError, OSError):
                del running[cast(int, ready)]
                child.reap()
                tell = parent.ended(number, child.ended)
            else:
                tell = _take(child, number, message, parent)
            for to, answer in tell:
                children[to].tell(answer)


def _take(child: _Child, number: int, message: Any, parent: Parent) -> Tell:
    if message == _DONE:
        child.ended.done = True
        return []
    if isinstance(message, tuple) and message[:1] == (_ERROR,):
        child.ended.error = message[1]
        return []
    return parent.received(number, message)


def fork_child(serve: Callable[[Connection], int]) -> tuple[int, Connection]:
    """Fork a child that runs ``serve`` on its end of a socket pair and exits with what it
    returns; the parent gets the child's pid and its own end.

    The child ignores Ctrl-C (the parent's to handle), takes the default SIGTERM (not the
    parent's handler), dies with its parent (on Linux), collects none of the parent's
    objects (their finalizers are the parent's) and leaves through ``os._exit``.
    """
    ours, theirs = socket.socketpair()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        ours.close()
        status = 1
        try:
            gc.freeze()
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _die_with_parent()
            if os.getppid() == parent:  # else the parent ended before the line above
                status = serve(Connection(theirs.detach()))
        finally:
            os._exit(status)  # never run the parent's exit handlers here
    theirs.close()
    return pid, Connection(ours.detach())


def _serve(conn: Connection, work: Work) -> int:
    """The child: run ``work``, then say it is done (or send its error)."""
    channel = Channel(conn)
    try:
        work(channel)
    except Exception as error:
        _send_error(channel, error)
        return 1
    channel.send(_DONE)
    return 0


def _send_error(channel: Channel, error: Exception) -> None:
    with contextlib.suppress(OSError):
        try:
            channel.send((_ERROR, error))
        except OSError:
            raise
        except Exception:  # an error that does not pickle: its text does
            channel.send((_ERROR, JournalError(f"{type(error).__name__}: {error}")))


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return  # elsewhere the closed socket alone stops the child
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def can_fork() -> bool:
    """Children here die with their parent (Linux's parent-death signal)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")

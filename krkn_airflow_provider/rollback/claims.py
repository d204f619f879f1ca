"""The claims one replay holds: taken right before use, renewed while applying, released by their owner.

A claim is a small file next to the record (owner, expiry, token). While a replay holds
claims, a heartbeat thread pushes their expiry out every third of the time to live, so a
slow apply (an exec against a hung kubelet) never lets a claim lapse; a claim that lapses
anyway is marked lost and its record is not applied. A replay that meets another owner's
claim waits for it in order, saying who holds what and until when.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

from krkn_airflow_provider.errors import JournalError
from krkn_airflow_provider.rollback.store import Claim, Entry, Store

# How often a waiting replay says whom it waits for, and how often it looks again.
PROGRESS_EVERY = 10.0
WAIT_POLL = 0.1
# A live owner renews its claim for as long as it applies; do not wait on it forever.
MAX_WAIT = 900.0
EXECUTED = "executed"


def _at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


class ClaimKeeper:
    """Claims of one replay and the heartbeat that renews them.

    :param steal_expired: take over a claim its owner stopped renewing; when false such a
        record is left pending with a message saying who held it and how to take it over.
    """

    def __init__(
        self,
        store: Store,
        *,
        owner: str,
        ttl: float,
        steal_expired: bool,
        log: Callable[[str], None],
        should_stop: Callable[[], bool],
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.store = store
        self.owner = owner
        self.ttl = ttl
        self.steal_expired = steal_expired
        self.log = log
        self.should_stop = should_stop
        self.max_wait = max_wait
        self._held: dict[Entry, Claim] = {}
        self._lost: set[Entry] = set()
        self._lock = threading.Lock()
        # Renewing and releasing one claim never interleave: a renewal must not write back
        # a claim file that was just released.
        self._io = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ClaimKeeper:
        self._thread = threading.Thread(target=self._beat, name="krkn-claim-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            left = list(self._held.items())
        for entry, claim in left:
            self.release(entry, claim)

    def try_claim(self, entry: Entry) -> Claim | None:
        claim = self.store.claim(entry, owner=self.owner, ttl=self.ttl, steal_expired=self.steal_expired)
        if claim is not None:
            with self._lock:
                self._held[entry] = claim
                self._lost.discard(entry)
        return claim

    def wait_for(self, entry: Entry) -> Claim | str:
        """Our claim of ``entry`` once its holder lets go; else ``EXECUTED`` or why we gave up."""
        started = time.monotonic()
        announced: float | None = None
        while True:
            if self.should_stop():
                return "replay stopped"
            claim = self.try_claim(entry)
            if claim is not None:
                return claim
            if self.store.is_executed(entry):
                return EXECUTED
            current = self.store.read_claim(entry)
            if current is None:
                continue  # released just now: claim it
            now = time.time()
            if current.expires <= now and not self.steal_expired:
                return (
                    f"claimed by {current.owner}, whose claim expired at {_at(current.expires)} "
                    f"({now - current.expires:.0f} s ago: it stopped renewing it, probably dead); run "
                    "again with --steal-expired (RollbackOperator: steal_expired=True) to take it over"
                )
            if time.monotonic() - started > self.max_wait:
                until = _at(current.expires)
                return f"still claimed by {current.owner} until {until} after {self.max_wait:.0f} s"
            if announced is None or time.monotonic() - announced >= PROGRESS_EVERY:
                left = max(0.0, current.expires - now)
                self.log(
                    f"waiting: {entry.id} is claimed by {current.owner} until {_at(current.expires)} "
                    f"({left:.0f} s left; renewed while it is applied)"
                )
                announced = time.monotonic()
            self._stop.wait(WAIT_POLL)

    def still_holds(self, entry: Entry, claim: Claim) -> bool:
        """Checked right before applying: the claim is ours and live.

        A claim taken or renewed less than a third of its life ago cannot have been taken
        over (that needs it expired), so only older ones are read back from the storage.
        """
        with self._lock:
            if entry in self._lost:
                return False
            current = self._held.get(entry)
        if (
            current is not None
            and current.token == claim.token
            and current.expires - time.time() > 2 * self.ttl / 3
        ):
            return True
        return self.store.holds(entry, claim)

    def release(self, entry: Entry, claim: Claim) -> None:
        with self._lock:
            self._held.pop(entry, None)
            self._lost.discard(entry)
        with self._io:
            self.store.release(entry, claim)

    def _beat(self) -> None:
        interval = max(self.ttl / 3, 0.05)
        while not self._stop.wait(interval):
            with self._lock:
                items = list(self._held.items())
            for entry, claim in items:
                with self._io:
                    with self._lock:
                        if entry not in self._held:
                            continue  # released meanwhile
                    try:
                        renewed = self.store.renew(entry, claim, ttl=self.ttl)
                    except (JournalError, OSError) as error:
                        self.log(f"cannot renew the claim of {entry.id}: {error}")
                        continue
                with self._lock:
                    if entry not in self._held:
                        continue
                    if renewed is None:
                        self._held.pop(entry)
                        self._lost.add(entry)
                        self.log(f"lost the claim of {entry.id} to another replay; it is not applied here")
                    else:
                        self._held[entry] = renewed

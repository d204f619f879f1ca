"""Replay pending version files: newest first, each claimed, retried, and marked once.

A replay goes on past a failed record, marks only what really succeeded, and returns a
summary listing what is still pending; raising on it makes an Airflow retry (or a
clear from the UI) do exactly the rest.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from krkn_airflow_provider.errors import ConfigError, JournalError, ReplayIncomplete
from krkn_airflow_provider.rollback.claims import EXECUTED, ClaimKeeper
from krkn_airflow_provider.rollback.forked import STOP, Channel, Ended, Tell, Work, can_fork, run_forked
from krkn_airflow_provider.rollback.policy import ReplayPolicy
from krkn_airflow_provider.rollback.records import NONCE_LABEL, RUN_LABEL
from krkn_airflow_provider.rollback.storage import LocalBackend
from krkn_airflow_provider.rollback.store import Claim, Entry, Store, StoredRecord
from krkn_airflow_provider.rollback.undo import (
    ALREADY_CLEAN,
    DIVERGED,
    NOT_OURS,
    PLANNED,
    UNDONE,
    UndoFailed,
    apply_undo,
    backoff_delay,
    retryable,
    undo_delete_batch,
)

# At most this many adjacent guarded deletes are claimed together and sent as one request.
BATCH_SIZE = 50
# Seconds a claim lives without renewal; the heartbeat renews every third of it.
CLAIM_TTL = 60.0
# Parallel lanes run in forked processes (local journals) from this many records on; below
# it a fork costs more than the lanes save.
PROCESS_LANES_FROM = 64
# A lane process sends its results to the parent at least this often (else group by group).
OUTBOX_SECONDS = 0.1
# Lane processes keep the records they read whole (the file's text too, which marking seals
# again) in a replay of up to this many records; past it, the text is read again to mark.
READ_AHEAD_TEXT_UP_TO = 5000
FAILED = "failed"
SKIPPED = "skipped"

Log = Callable[[str], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for 429, 5xx, timeouts and lost connections."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        return backoff_delay(attempt, self.base_delay, self.max_delay)


@dataclass
class RecordResult:
    """What happened to one version file in a replay."""

    entry: Entry
    outcome: str
    message: str = ""
    seconds: float = 0.0
    attempts: int = 0
    description: str = ""
    task_id: str | None = None
    done_elsewhere: bool = False
    claimed_elsewhere: bool = False

    @property
    def still_pending(self) -> bool:
        return self.outcome in (FAILED, SKIPPED, PLANNED) and not self.done_elsewhere

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": self.entry.id,
            "run_uuid": self.entry.run_uuid,
            "outcome": self.outcome,
            "description": self.description,
            "message": self.message,
            "seconds": round(self.seconds, 4),
            "attempts": self.attempts,
            "task_id": self.task_id,
        }


@dataclass
class ReplaySummary:
    """Per-record results of one replay, newest record first."""

    results: list[RecordResult] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
        return counts

    @property
    def pending(self) -> list[RecordResult]:
        return [result for result in self.results if result.still_pending and result.outcome != PLANNED]

    @property
    def ok(self) -> bool:
        return not self.pending

    def line(self) -> str:
        counts = (
            ", ".join(f"{count} {outcome}" for outcome, count in sorted(self.counts.items())) or "nothing"
        )
        verb = "dry run" if self.dry_run else "replay"
        return f"{verb} of {len(self.results)} record(s) in {self.seconds:.2f} s: {counts}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "records": [result.to_dict() for result in self.results],
        }

    def pending_message(self) -> str:
        """What is still pending, one line a record (empty when nothing is)."""
        if self.ok:
            return ""
        lines = [f"{len(self.pending)} rollback record(s) still pending; a retry does exactly the rest:"]
        lines += [f"  {result.entry.id}: {result.description} - {result.message}" for result in self.pending]
        return "\n".join(lines)

    def raise_if_incomplete(self) -> None:
        if not self.ok:
            raise ReplayIncomplete(self.pending_message())


class _Outbox:
    """A lane process's results on their way to the parent, a group at a time: a message
    per result costs more than the result (each wakes the parent and switches to it)."""

    def __init__(self, send: Callable[[Any], None]) -> None:
        self.send = send
        self.results: list[RecordResult] = []
        self.sent = time.monotonic()

    def put(self, result: RecordResult) -> None:
        self.results.append(result)
        if time.monotonic() - self.sent >= OUTBOX_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.results:
            self.send(("results", self.results))
            self.results = []
        self.sent = time.monotonic()


@dataclass
class _Claimed:
    """A record this replay holds the claim of, read and ready to apply."""

    stored: StoredRecord
    result: RecordResult
    started: float
    claim: Claim
    key: tuple[str, ...] | None = None
    applied: bool = False

    @property
    def entry(self) -> Entry:
        return self.stored.entry


def _apply_steps(client: Any, stored: StoredRecord, dry_run: bool) -> str:
    outcomes = [apply_undo(client, step, dry_run=dry_run) for step in stored.steps]
    for outcome in (DIVERGED, NOT_OURS, PLANNED, UNDONE, ALREADY_CLEAN):
        if outcome in outcomes:
            return outcome
    return outcomes[0]


def _batch_key(record: dict[str, Any]) -> tuple[str, ...] | None:
    """Records with equal keys can be deleted together (guards equal but for the nonce)."""
    guard = record.get("guard") or {}
    if (
        "steps" in record
        or record["action"] != "delete"
        or NONCE_LABEL not in guard
        or RUN_LABEL not in guard
    ):
        return None
    common = sorted((name, value) for name, value in guard.items() if name != NONCE_LABEL)
    return (record["api_version"], record["kind"], record.get("namespace") or "", repr(common))


def _object_key(stored: StoredRecord) -> tuple[str, ...]:
    """The object a record acts on (its first step's); records of one object share a lane."""
    if stored.parsed is None:
        return ("unreadable", stored.entry.id)
    data = stored.steps[0]
    return (data["api_version"], data["kind"], data.get("namespace") or "", data["name"])


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _retryable(error: UndoFailed) -> bool:
    # The API error under the failure decides; a failure with no cause (an exit code, an object
    # still terminating) is judged by its own status, and without one it is not worth retrying.
    return retryable(error.__cause__ or error)


@dataclass
class _InFlight:
    """A batch of guarded deletes whose one request is out, sent by the chain's sender."""

    items: list[_Claimed]
    answer: Future[list[str]]


@dataclass
class _Chain:
    """The state of one lane's walk through its records."""

    results: list[RecordResult] = field(default_factory=list)
    group: list[_Claimed] = field(default_factory=list)  # claimed, read, not yet applied
    held_elsewhere: bool = False  # a newer record of the lane is held by another replay
    in_flight: _InFlight | None = None  # applied (request out), not yet marked
    sender: ThreadPoolExecutor | None = None  # one thread, made for the chain's first batch


class _Replayer:
    """Claims, reads, applies and marks the records of one replay, lane by lane."""

    def __init__(
        self,
        store: Store,
        client: Any,
        *,
        total: int,
        dry_run: bool,
        task_id: str | None,
        retry: RetryPolicy | None,
        log: Log | None,
        should_stop: Callable[[], bool] | None,
        batch_size: int,
        policy: ReplayPolicy | None,
        wait_for_claims: bool,
        owner: str | None,
        claim_ttl: float,
        steal_expired: bool,
        forward: _Outbox | None = None,
    ) -> None:
        self.options: dict[str, Any] = {
            "total": total,
            "dry_run": dry_run,
            "task_id": task_id,
            "retry": retry,
            "log": log,
            "should_stop": should_stop,
            "batch_size": batch_size,
            "policy": policy,
            "wait_for_claims": wait_for_claims,
            "owner": owner,
            "claim_ttl": claim_ttl,
            "steal_expired": steal_expired,
        }
        # In a lane process: each result goes to the parent, which numbers and logs it.
        self.forward = forward
        self.store = store
        self.client = client
        self.total = total
        self.dry_run = dry_run
        self.task_id = task_id
        self.retry = retry or RetryPolicy()
        self.log: Log = log or (lambda line: None)
        self.should_stop: Callable[[], bool] = should_stop or (lambda: False)
        self.batch_size = max(1, batch_size)
        self.policy = policy or ReplayPolicy()
        self.wait_for_claims = wait_for_claims
        self.keeper = ClaimKeeper(
            store,
            owner=owner or default_owner(),
            ttl=claim_ttl,
            steal_expired=steal_expired,
            log=self.log,
            should_stop=self.should_stop,
        )
        self.done = 0
        self.lock = threading.Lock()
        # Records read ahead (to pick their lane), each used once instead of read again.
        self.read_ahead: dict[Entry, StoredRecord] = {}

    def lane(
        self,
        number: int,
        *,
        log: Log,
        should_stop: Callable[[], bool],
        forward: _Outbox,
    ) -> _Replayer:
        """The replayer of lane ``number`` in a forked process: its own claims (owner) and
        heartbeat; its results and log lines go to the parent."""
        owner = self.options["owner"]
        options = {**self.options, "log": log, "should_stop": should_stop}
        options["owner"] = f"{owner}:lane-{number}" if owner else default_owner()
        return _Replayer(self.store, self.client, **options, forward=forward)

    def _report(self, result: RecordResult) -> RecordResult:
        if self.forward is not None:
            self.forward.put(result)
            return result
        with self.lock:
            self.done += 1
            position = f"[{self.done}/{self.total}]"
        where = f" ({result.message})" if result.message else ""
        ms = result.seconds * 1000
        self.log(
            f"{position} {result.description or result.entry.id} … {result.outcome} in {ms:.0f} ms{where}"
        )
        return result

    def _read(self, entry: Entry) -> StoredRecord:
        return self.read_ahead.pop(entry, None) or self.store.read(entry)

    def run_chain(self, chain: list[Entry]) -> list[RecordResult]:
        """Apply records in order, each claimed right before use.

        Adjacent guarded deletes of one kind and namespace (up to ``batch_size``) are
        claimed together and go out as one request. A record claimed by another replay is
        waited for in place, after applying what this replay holds, so order is kept.
        """
        if self.dry_run:
            found = (self._read_and_apply(entry, time.monotonic()) for entry in chain)
            return [result for result in found if result is not None]
        walk = _Chain()
        try:
            for entry in chain:
                self._step(walk, entry)
            self._flush(walk)
        finally:
            try:
                self._settle(walk)  # an error on the way: a batch sent is still marked
            finally:
                if walk.sender is not None:
                    walk.sender.shutdown()
                for item in walk.group:  # give back what was not finished
                    self.keeper.release(item.entry, item.claim)
        return walk.results

    def _step(self, walk: _Chain, entry: Entry) -> None:
        """Claim and read one record; add it to the group that goes out together."""
        started = time.monotonic()
        claim = self._claim(walk, entry)
        if isinstance(claim, RecordResult):
            walk.results.append(self._report(claim))
            return
        got = self._read_claimed(entry, claim, started)
        if not isinstance(got, _Claimed):
            if got is not None:
                walk.results.append(got)
            return
        walk.results.append(got.result)
        group = walk.group
        if group and (got.key is None or got.key != group[0].key or len(group) >= self.batch_size):
            self._send(walk)
        walk.group.append(got)
        if got.key is None:
            self._flush(walk)

    def _claim(self, walk: _Chain, entry: Entry) -> Claim | RecordResult:
        """Our claim of ``entry``, waiting for another replay's if need be; else why not."""
        if self.should_stop():
            return RecordResult(entry, SKIPPED, "replay stopped")
        if walk.held_elsewhere:
            # Older than a record another replay holds: applying it now would break the
            # newest-first order; the caller waits (deferred) and replays again.
            why = "waits for a newer record another replay holds"
            return RecordResult(entry, SKIPPED, why, claimed_elsewhere=True)
        # Claim before reading: another replay may mark the file at any moment.
        claim = self.keeper.try_claim(entry)
        if claim is not None:
            return claim
        self._flush(walk)  # what we hold is newer: apply it before waiting
        if not self.wait_for_claims:
            walk.held_elsewhere = True
            why = "claimed by another replay; waiting for it outside this task"
            return RecordResult(entry, SKIPPED, why, claimed_elsewhere=True)
        waited = self.keeper.wait_for(entry)
        return self._not_claimed(entry, waited) if isinstance(waited, str) else waited

    def _not_claimed(self, entry: Entry, why: str) -> RecordResult:
        if why == EXECUTED:
            return RecordResult(entry, SKIPPED, "executed by another replay meanwhile", done_elsewhere=True)
        return RecordResult(entry, SKIPPED, why, claimed_elsewhere=True)

    def _flush(self, walk: _Chain) -> None:
        """Apply, mark and release the claimed records of the chain's group; empties it.
        A batch still out is answered and marked first: requests go out in order."""
        self._settle(walk)
        group = walk.group
        try:
            self._apply_claimed(group)
        finally:
            while group:
                self._finish(group.pop(0))
            if self.forward is not None:
                self.forward.flush()  # a lane process: the group's results to the parent

    def _send(self, walk: _Chain) -> None:
        """:meth:`_flush`, but a batch of guarded deletes goes out from the sender thread:
        the caller claims and reads the next records while its request is out (the
        interpreter lock is free while the thread waits on the socket). It is answered,
        and marked, before any other request (:meth:`_settle`)."""
        self._settle(walk)
        group = walk.group
        key = group[0].key if group else None
        if key is None or len(group) < 2 or any(item.key != key for item in group):
            self._flush(walk)
            return
        mine = self._holding(group)
        if len(mine) < 2:
            self._flush(walk)
            return
        held = {id(item) for item in mine}
        walk.group = [item for item in group if id(item) not in held]  # lapsed: finished now
        self._flush(walk)
        sender = walk.sender or ThreadPoolExecutor(max_workers=1, thread_name_prefix="krkn-replay-send")
        walk.sender = sender
        data = [item.stored.data for item in mine]
        walk.in_flight = _InFlight(mine, sender.submit(undo_delete_batch, self.client, data, key=NONCE_LABEL))

    def _settle(self, walk: _Chain) -> None:
        """Wait for the batch that is out, if any; mark and release its records (a failed
        batch falls back to one by one first, as in :meth:`_apply_batch`)."""
        flight, walk.in_flight = walk.in_flight, None
        if flight is None:
            return
        try:
            try:
                outcomes: list[str] | None = flight.answer.result()
            except UndoFailed:
                outcomes = None
            self._batch_done(flight.items, outcomes)
        finally:
            for item in flight.items:
                self._finish(item)

    def _checked(self, entry: Entry, started: float) -> StoredRecord | RecordResult | None:
        """The record read and checked against the policy; a result if refused, ``None``
        if it belongs to another task than the one replayed."""
        stored = self._read(entry)
        try:
            parsed = stored.unwrap()
            self.policy.check(parsed.data, source=self.store.path(entry))
        except JournalError as error:
            return self._report(RecordResult(entry, FAILED, f"refused: {error}", time.monotonic() - started))
        if self.task_id is not None and stored.task_id != self.task_id:
            return None
        return stored

    def _read_claimed(self, entry: Entry, claim: Claim, started: float) -> _Claimed | RecordResult | None:
        """Read a claimed record; a result when there is nothing to apply."""
        checked: StoredRecord | RecordResult | None = None
        try:
            if self.store.is_executed(entry):
                done = RecordResult(
                    entry, SKIPPED, "executed by another replay meanwhile", done_elsewhere=True
                )
                checked = self._report(done)
            else:
                checked = self._checked(entry, started)
        finally:
            if not isinstance(checked, StoredRecord):
                self.keeper.release(entry, claim)
        if not isinstance(checked, StoredRecord):
            return checked
        # Claimed and readable: the caller applies, marks and releases it.
        result = RecordResult(entry, SKIPPED, description=checked.description, task_id=checked.task_id)
        return _Claimed(checked, result, started, claim, key=_batch_key(checked.data))

    def _holding(self, claimed: list[_Claimed]) -> list[_Claimed]:
        """The records whose claim this replay still holds; the others say why they wait."""
        # Never apply a record whose claim lapsed: another replay may be applying it now.
        mine = []
        for item in claimed:
            if self.keeper.still_holds(item.entry, item.claim):
                mine.append(item)
            else:
                item.result.message = "the claim lapsed before applying; left to the replay that took it"
                item.result.claimed_elsewhere = True
        return mine

    def _apply_claimed(self, claimed: list[_Claimed]) -> None:
        mine = self._holding(claimed)
        index = 0
        while index < len(mine):
            key = mine[index].key
            end = index + 1
            while key is not None and end < len(mine) and mine[end].key == key:
                end += 1
            group = mine[index:end]
            if len(group) > 1:
                self._apply_batch(group)
            else:
                self._apply(group[0].result, group[0].stored, group[0].started)
                group[0].applied = True
            index = end

    def _apply_batch(self, group: list[_Claimed]) -> None:
        try:
            outcomes: list[str] | None = undo_delete_batch(
                self.client, [item.stored.data for item in group], key=NONCE_LABEL
            )
        except UndoFailed:
            outcomes = None
        self._batch_done(group, outcomes)

    def _batch_done(self, group: list[_Claimed], outcomes: list[str] | None) -> None:
        """Record a batch's answer; ``None`` (it failed): apply its records one by one."""
        if outcomes is None:
            # The batch is only a shortcut: on any failure, apply one by one with retries.
            for item in group:
                self._apply(item.result, item.stored, item.started)
                item.applied = True
            return
        now = time.monotonic()
        for item, outcome in zip(group, outcomes, strict=True):
            item.result.outcome, item.result.attempts, item.result.seconds = outcome, 1, now - item.started
            item.applied = True

    def _finish(self, item: _Claimed) -> RecordResult:
        try:
            if item.applied and item.result.outcome != FAILED:
                text = item.stored.parsed.text if item.stored.parsed is not None else ""
                self.store.mark_executed(item.entry, verified_text=text or None)
        finally:
            self.keeper.release(item.entry, item.claim)
        return self._report(item.result)

    def _read_and_apply(self, entry: Entry, started: float) -> RecordResult | None:
        checked = self._checked(entry, started)
        if not isinstance(checked, StoredRecord):
            return checked
        result = RecordResult(entry, SKIPPED, description=checked.description, task_id=checked.task_id)
        return self._report(self._apply(result, checked, started))

    def _apply(self, result: RecordResult, stored: StoredRecord, started: float) -> RecordResult:
        for attempt in range(1, self.retry.attempts + 1):
            result.attempts = attempt
            try:
                result.outcome = _apply_steps(self.client, stored, self.dry_run)
                result.message = ""
                break
            except UndoFailed as error:
                result.outcome, result.message = FAILED, str(error)
                if attempt == self.retry.attempts or not _retryable(error) or self.should_stop():
                    break
                time.sleep(self.retry.delay(attempt))
            except Exception as error:  # a client bug must not stop the other records
                result.outcome, result.message = FAILED, f"{type(error).__name__}: {error}"
                break
        result.seconds = time.monotonic() - started
        return result


def _pending(
    store: Store, run_uuid: str | None, scenario: str | None, only: Iterable[str] | None
) -> list[Entry]:
    """The pending records the filters select, newest first (an undo stack)."""
    wanted = set(only) if only is not None else None
    entries = [
        entry
        for entry in store.entries(run_uuid=run_uuid, scenario=scenario, state="pending")
        if wanted is None or entry.id in wanted
    ]
    entries.reverse()
    return entries


def _lanes(replayer: _Replayer, entries: list[Entry], workers: int) -> list[list[Entry]]:
    """Split ``entries`` into at most ``workers`` lanes (none empty); all records of one
    object share a lane, so they keep their newest-first order. Each record is read here
    once: the lane uses that read (without the file's text, ~19 KB, to keep memory small;
    marking reads it again) instead of reading it again."""
    lanes: list[list[Entry]] = [[] for _ in range(workers)]
    for entry in entries:
        stored = replayer.store.read(entry)
        replayer.read_ahead[entry] = stored.slim()
        lanes[zlib.crc32(repr(_object_key(stored)).encode()) % workers].append(entry)
    return [lane for lane in lanes if lane]


def _in_processes(store: Store, count: int, processes: bool | None) -> bool:
    """Whether parallel lanes run in forked processes (a local journal) or in threads."""
    if processes is None:
        return _can_fork(store) and count >= PROCESS_LANES_FROM
    return processes


def _cores() -> int:
    """Lane processes worth running: one per core this process may use (at least two).
    Each lane is CPU-bound; more processes than cores only take turns, and each costs a
    fork, its own connections and the pages it copies."""
    try:
        return max(2, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(2, os.cpu_count() or 2)


def _can_fork(store: Store) -> bool:
    # An object store's client (fsspec's event loop in a thread) does not survive a fork.
    return isinstance(store.backend, LocalBackend) and can_fork()


def _run(
    replayer: _Replayer, entries: list[Entry], workers: int, processes: bool | None
) -> list[RecordResult]:
    """Every record's result, newest first: in one lane, or in parallel lanes."""
    if workers == 1 or len(entries) < 2:
        with replayer.keeper:
            return replayer.run_chain(entries)
    if _in_processes(replayer.store, len(entries), processes):
        results = _run_forked(replayer, entries, min(workers, len(entries), _cores()))
    else:
        lanes = _lanes(replayer, entries, workers)
        with (
            replayer.keeper,
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="krkn-replay") as pool,
        ):
            results = [result for lane in pool.map(replayer.run_chain, lanes) for result in lane]
    order = {entry: index for index, entry in enumerate(entries)}
    results.sort(key=lambda result: order[result.entry])
    return results


@dataclass(frozen=True)
class _Read:
    """What a lane process read of one record, for the parent: where it goes and who it is."""

    index: int  # in the replay's newest-first order
    key: tuple[str, ...]  # the object it acts on
    description: str
    task_id: str | None
    readable: bool


def _read_share(lane: _Replayer, entries: list[Entry], number: int, processes: int) -> list[_Read]:
    """Lane process ``number`` reads every ``processes``-th record (in parallel with the
    others), keeps it to apply if it stays in this lane, and says what object it acts on."""
    keep_text = len(entries) <= READ_AHEAD_TEXT_UP_TO
    found = []
    for index in range(number, len(entries), processes):
        stored = lane.store.read(entries[index])
        lane.read_ahead[entries[index]] = stored if keep_text else stored.slim()
        readable = stored.parsed is not None
        description = stored.description if readable else ""
        found.append(_Read(index, _object_key(stored), description, stored.task_id, readable))
    return found


def _lane_process(replayer: _Replayer, entries: list[Entry], number: int, processes: int) -> Work:
    """What lane process ``number`` runs: read its share, learn its lane, apply it."""

    def run(channel: Channel) -> None:
        _fresh_connections(replayer.client)
        outbox = _Outbox(channel.send)
        lane = replayer.lane(
            number, log=lambda line: channel.send(("log", line)), should_stop=channel.stopped, forward=outbox
        )
        channel.send(("read", _read_share(lane, entries, number, processes)))
        answer = channel.recv()
        if answer == STOP:
            return
        mine = [entries[index] for index in answer]
        for entry in set(lane.read_ahead) - set(mine):
            del lane.read_ahead[entry]  # another lane applies it
        try:
            with lane.keeper:
                lane.run_chain(mine)
        finally:
            outbox.flush()

    return run


def _run_forked(replayer: _Replayer, entries: list[Entry], processes: int) -> list[RecordResult]:
    """Each lane in a forked process with its own connections, claims and heartbeat. The
    processes read the records in parallel first, then apply the lanes the parent picks;
    the results come back here as each is reported, and are numbered and logged here."""
    parent = _LaneParent(replayer, entries, processes)
    works = [_lane_process(replayer, entries, number, processes) for number in range(processes)]
    ended = run_forked(works, parent, replayer.should_stop)
    for end in ended:
        if end.error is not None:
            raise end.error  # as a thread lane's error is raised
    return parent.results()


class _LaneParent:
    """The parent of the lane processes: picks the lanes once every share is read, numbers
    and logs the results, and fails what a dead process left unreported (still pending)."""

    def __init__(self, replayer: _Replayer, entries: list[Entry], processes: int) -> None:
        self.replayer = replayer
        self.entries = entries
        self.processes = processes
        self.read: dict[int, tuple[int, _Read]] = {}  # index -> (the process that read it, what)
        self.shares = 0
        self.lanes: list[list[int]] | None = None
        self.got: dict[Entry, RecordResult] = {}
        self.died: dict[int, Ended] = {}

    def received(self, number: int, message: tuple[str, Any]) -> Tell:
        kind, payload = message
        if kind == "log":
            self.replayer.log(payload)
        elif kind == "results":
            self.got.update((result.entry, self.replayer._report(result)) for result in payload)
        else:
            self.read.update((item.index, (number, item)) for item in payload)
            self.shares += 1
            if self.shares == self.processes and not self.died:
                self.lanes = self._pick()
                return list(enumerate(self.lanes))
        return []

    def ended(self, number: int, ended: Ended) -> Tell:
        if ended.done or ended.error is not None:
            return []
        self.died[number] = ended
        # A share unread: the lanes cannot be picked; nothing was applied, all stays pending.
        return [] if self.lanes is not None else [(other, STOP) for other in range(self.processes)]

    def _pick(self) -> list[list[int]]:
        """All records of one object in one lane (where the first of them was read); a
        record alone for its object stays with the process that read it."""
        where: dict[tuple[str, ...], int] = {}
        lanes: list[list[int]] = [[] for _ in range(self.processes)]
        for index in range(len(self.entries)):
            reader, item = self.read[index]
            lanes[where.setdefault(item.key, reader)].append(index)
        return lanes

    def results(self) -> list[RecordResult]:
        """Every result reported, and one for each record left unreported: failed where its
        process died, skipped where the replay was stopped before the lanes were picked."""
        lane_of = {index: number for number, lane in enumerate(self.lanes or []) for index in lane}
        results = list(self.got.values())
        for index in range(len(self.entries)):
            if not self._unreported(index):
                continue
            died = self.died.get(lane_of[index]) if index in lane_of else next(iter(self.died.values()), None)
            results.append(self._left(index, died))
        return results

    def _unreported(self, index: int) -> bool:
        entry, read = self.entries[index], self.read.get(index)
        if entry in self.got:
            return False
        task_id = self.replayer.task_id
        # A readable record of another task: a lane would have left it alone, unreported.
        return read is None or not read[1].readable or task_id is None or read[1].task_id == task_id

    def _left(self, index: int, died: Ended | None) -> RecordResult:
        if died is None:
            result = RecordResult(self.entries[index], SKIPPED, "replay stopped")
        else:
            how = died.how or "without saying why"
            why = (
                f"not finished: replay lane process {died.pid} stopped ({how}); not marked, so "
                f"still pending (a claim it held lapses within {self.replayer.keeper.ttl:.0f} s)"
            )
            result = RecordResult(self.entries[index], FAILED, why)
        read = self.read.get(index)
        if read is not None:
            result.description, result.task_id = read[1].description, read[1].task_id
        return self.replayer._report(result)


def _fresh_connections(client: Any) -> None:
    """Drop the HTTP connections a forked lane inherited: they are the parent's. Closing
    the child's copies of the sockets leaves the parent's connections open."""
    api = getattr(client, "client", client)  # a DynamicClient wraps an ApiClient
    pool = getattr(getattr(api, "rest_client", None), "pool_manager", None)
    if pool is not None:
        pool.clear()


def _check_lanes(store: Store, workers: int, processes: bool | None) -> None:
    if workers < 1:
        raise ConfigError(f"workers={workers}: must be at least 1")
    if processes and not _can_fork(store):
        raise ConfigError(
            "lanes in processes need a journal in a local folder, on Linux "
            f"(not {store.backend.display()}): an object store's client does not survive a fork"
        )


def replay(
    store: Store,
    client: Any,
    *,
    run_uuid: str | None = None,
    scenario: str | None = None,
    task_id: str | None = None,
    only: Iterable[str] | None = None,
    dry_run: bool = False,
    workers: int = 1,
    retry: RetryPolicy | None = None,
    claim_ttl: float = CLAIM_TTL,
    owner: str | None = None,
    log: Log | None = None,
    should_stop: Callable[[], bool] | None = None,
    batch_size: int = BATCH_SIZE,
    policy: ReplayPolicy | None = None,
    steal_expired: bool = True,
    wait_for_claims: bool = True,
    processes: bool | None = None,
) -> ReplaySummary:
    """Apply the pending records that match the filters, newest first.

    :param client: a ``kubernetes.dynamic.DynamicClient``, shared by every record.
    :param run_uuid: only this run (``None``: every run); ``scenario``: only this type;
        ``task_id``: only records of this Airflow task; ``only``: only these record ids.
    :param dry_run: say what would be applied; change and mark nothing.
    :param workers: apply records of different objects concurrently, in that many lanes;
        the records of one object share a lane and keep their newest-first order.
    :param processes: run parallel lanes in forked processes, each on its own core with
        its own connections, claims and heartbeat (``None``: when the journal is a local
        folder on Linux and at least ``PROCESS_LANES_FROM`` records are pending; object
        stores use threads, their client does not survive a fork).
    :param claim_ttl: seconds a claim lives unrenewed; a heartbeat renews it every third of that.
    :param batch_size: records claimed ahead; adjacent guarded deletes of one kind and
        namespace among them go out as one request (1: every record alone).
    :param policy: what a record may do (default ``ReplayPolicy()``); a refused one stays pending.
    :param steal_expired: take over claims their owner stopped renewing (it died); else
        they stay pending, named.
    :param wait_for_claims: wait (up to ``claim_ttl``) for records another replay holds; ``False``
        leaves them pending with ``claimed_elsewhere`` (a deferrable caller waits in the triggerer).
    """
    _check_lanes(store, workers, processes)
    started = time.monotonic()
    entries = _pending(store, run_uuid, scenario, only)
    replayer = _Replayer(
        store,
        client,
        total=len(entries),
        dry_run=dry_run,
        task_id=task_id,
        retry=retry,
        log=log,
        should_stop=should_stop,
        batch_size=batch_size,
        policy=policy,
        wait_for_claims=wait_for_claims,
        owner=owner,
        claim_ttl=claim_ttl,
        steal_expired=steal_expired,
    )
    results = _run(replayer, entries, workers, processes)
    return ReplaySummary(results=results, dry_run=dry_run, seconds=time.monotonic() - started)

"""Replay pending version files: newest first, each claimed, retried, and marked once.

A replay goes on past a failed record, marks only what really succeeded, and returns a
summary listing what is still pending; raising on it makes an Airflow retry (or a
clear from the UI) do exactly the rest.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from krkn_airflow_provider.errors import ConfigError, JournalError, ReplayIncomplete
from krkn_airflow_provider.rollback.claims import EXECUTED, ClaimKeeper
from krkn_airflow_provider.rollback.policy import ReplayPolicy
from krkn_airflow_provider.rollback.records import NONCE_LABEL, RUN_LABEL
from krkn_airflow_provider.rollback.store import Claim, Entry, Store
from krkn_airflow_provider.rollback.undo import (
    ALREADY_CLEAN,
    DIVERGED,
    NOT_OURS,
    PLANNED,
    UNDONE,
    UndoFailed,
    apply_undo,
    describe,
    undo_delete_batch,
)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# At most this many adjacent guarded deletes are claimed together and sent as one request.
BATCH_SIZE = 50
# Seconds a claim lives without renewal; the heartbeat renews every third of it.
CLAIM_TTL = 60.0
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
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))


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


@dataclass
class _Claimed:
    """A record this replay holds the claim of, read and ready to apply."""

    entry: Entry
    record: dict[str, Any]
    result: RecordResult
    started: float
    claim: Claim
    text: str
    applied: bool = False


def _steps(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The undo steps of one loaded file: one record, or a ``steps`` bundle (a Krkn file
    whose callable did several things, see rollback/krkn.py) applied in order."""
    steps: list[dict[str, Any]] = record.get("steps", [record])
    return steps


def _describe(record: dict[str, Any]) -> str:
    return "; ".join(describe(step) for step in _steps(record))


def _apply_steps(client: Any, record: dict[str, Any], dry_run: bool) -> str:
    outcomes = [apply_undo(client, step, dry_run=dry_run) for step in _steps(record)]
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


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _retryable(error: UndoFailed) -> bool:
    if error.status is not None:
        return error.status in RETRYABLE_STATUS
    cause = error.__cause__
    if cause is None:
        return False  # e.g. a command's non-zero exit code: retrying will not help
    import urllib3

    return isinstance(cause, (urllib3.exceptions.HTTPError, OSError, TimeoutError))


class _Replayer:
    def __init__(
        self,
        store: Store,
        client: Any,
        *,
        dry_run: bool,
        task_id: str | None,
        retry: RetryPolicy,
        claim_ttl: float,
        owner: str,
        log: Log,
        should_stop: Callable[[], bool],
        total: int,
        batch_size: int,
        policy: ReplayPolicy,
        keeper: ClaimKeeper,
        wait_for_claims: bool = True,
    ) -> None:
        self.store = store
        self.wait_for_claims = wait_for_claims
        self.policy = policy
        self.keeper = keeper
        self.client = client
        self.dry_run = dry_run
        self.task_id = task_id
        self.retry = retry
        self.claim_ttl = claim_ttl
        self.owner = owner
        self.log = log
        self.should_stop = should_stop
        self.total = total
        self.batch_size = max(1, batch_size)
        self.done = 0
        self.lock = threading.Lock()

    def _report(self, result: RecordResult) -> RecordResult:
        with self.lock:
            self.done += 1
            position = f"[{self.done}/{self.total}]"
        where = f" ({result.message})" if result.message else ""
        ms = result.seconds * 1000
        self.log(
            f"{position} {result.description or result.entry.id} … {result.outcome} in {ms:.0f} ms{where}"
        )
        return result

    def run_chain(self, chain: list[Entry]) -> list[RecordResult]:
        """Apply records in order, each claimed right before use.

        Adjacent guarded deletes of one kind and namespace (up to ``batch_size``) are
        claimed together and go out as one request. A record claimed by another replay is
        waited for in place, after applying what this replay holds, so order is kept.
        """
        if self.dry_run:
            found = (self._load_and_apply(entry, time.monotonic()) for entry in chain)
            return [result for result in found if result is not None]
        results: list[RecordResult] = []
        group: list[_Claimed] = []
        held_elsewhere = False
        try:
            for entry in chain:
                started = time.monotonic()
                if self.should_stop():
                    results.append(self._report(RecordResult(entry, SKIPPED, "replay stopped")))
                    continue
                if held_elsewhere:
                    # Older than a record another replay holds: applying it now would break
                    # the newest-first order; the caller waits (deferred) and replays again.
                    why = "waits for a newer record another replay holds"
                    results.append(self._report(RecordResult(entry, SKIPPED, why, claimed_elsewhere=True)))
                    continue
                # Claim before reading: another replay may mark the file at any moment.
                claim = self.keeper.try_claim(entry)
                if claim is None and not self.wait_for_claims:
                    self._flush(group)
                    held_elsewhere = True
                    why = "claimed by another replay; waiting for it outside this task"
                    results.append(self._report(RecordResult(entry, SKIPPED, why, claimed_elsewhere=True)))
                    continue
                if claim is None:
                    self._flush(group)  # what we hold is newer: apply it before waiting
                    waited = self.keeper.wait_for(entry)
                    if isinstance(waited, str):
                        results.append(self._report(self._not_claimed(entry, waited)))
                        continue
                    claim = waited
                got = self._load_claimed(entry, claim, started)
                if not isinstance(got, _Claimed):
                    if got is not None:
                        results.append(got)
                    continue
                results.append(got.result)
                key = _batch_key(got.record)
                if group and (
                    key is None or key != _batch_key(group[0].record) or len(group) >= self.batch_size
                ):
                    self._flush(group)
                group.append(got)
                if key is None:
                    self._flush(group)
            self._flush(group)
        finally:
            for item in group:  # an error on the way: give back what was not finished
                self.keeper.release(item.entry, item.claim)
        return results

    def _not_claimed(self, entry: Entry, why: str) -> RecordResult:
        if why == EXECUTED:
            return RecordResult(entry, SKIPPED, "executed by another replay meanwhile", done_elsewhere=True)
        return RecordResult(entry, SKIPPED, why, claimed_elsewhere=True)

    def _flush(self, group: list[_Claimed]) -> None:
        """Apply, mark and release the claimed records of ``group``; empties it."""
        try:
            self._apply_claimed(group)
        finally:
            while group:
                self._finish(group.pop(0))

    def _load_claimed(self, entry: Entry, claim: Claim, started: float) -> _Claimed | RecordResult | None:
        """Read a claimed record; a result when there is nothing to apply."""
        keep = False
        try:
            if self.store.is_executed(entry):
                done = RecordResult(
                    entry, SKIPPED, "executed by another replay meanwhile", done_elsewhere=True
                )
                return self._report(done)
            try:
                parsed = self.store.load(entry)
                record = parsed.data
                self.policy.check(record, source=self.store.path(entry))
            except JournalError as error:
                return self._report(
                    RecordResult(entry, FAILED, f"refused: {error}", time.monotonic() - started)
                )
            origin = record.get("origin") or {}
            if self.task_id is not None and origin.get("task_id") != self.task_id:
                return None
            keep = True
        finally:
            if not keep:
                self.keeper.release(entry, claim)
        # Claimed and readable: the caller applies, marks and releases it.
        result = RecordResult(entry, SKIPPED, description=_describe(record), task_id=origin.get("task_id"))
        return _Claimed(entry, record, result, started, claim, parsed.text)

    def _apply_claimed(self, claimed: list[_Claimed]) -> None:
        # Never apply a record whose claim lapsed: another replay may be applying it now.
        mine = []
        for item in claimed:
            if self.keeper.still_holds(item.entry, item.claim):
                mine.append(item)
            else:
                item.result.message = "the claim lapsed before applying; left to the replay that took it"
                item.result.claimed_elsewhere = True
        index = 0
        while index < len(mine):
            key = _batch_key(mine[index].record)
            end = index + 1
            while key is not None and end < len(mine) and _batch_key(mine[end].record) == key:
                end += 1
            group = mine[index:end]
            if len(group) > 1:
                self._apply_batch(group)
            else:
                self._apply(group[0].result, group[0].record, group[0].started)
                group[0].applied = True
            index = end

    def _apply_batch(self, group: list[_Claimed]) -> None:
        try:
            outcomes = undo_delete_batch(self.client, [item.record for item in group], key=NONCE_LABEL)
        except UndoFailed:
            # The batch is only a shortcut: on any failure, apply one by one with retries.
            for item in group:
                self._apply(item.result, item.record, item.started)
                item.applied = True
            return
        now = time.monotonic()
        for item, outcome in zip(group, outcomes, strict=True):
            item.result.outcome, item.result.attempts, item.result.seconds = outcome, 1, now - item.started
            item.applied = True

    def _finish(self, item: _Claimed) -> RecordResult:
        try:
            if item.applied and item.result.outcome != FAILED:
                self.store.mark_executed(item.entry, verified_text=item.text)
        finally:
            self.keeper.release(item.entry, item.claim)
        return self._report(item.result)

    def _load_and_apply(self, entry: Entry, started: float) -> RecordResult | None:
        try:
            record = self.store.load(entry).data
            self.policy.check(record, source=self.store.path(entry))
        except JournalError as error:
            return self._report(RecordResult(entry, FAILED, f"refused: {error}", time.monotonic() - started))
        origin = record.get("origin") or {}
        if self.task_id is not None and origin.get("task_id") != self.task_id:
            return None
        result = RecordResult(entry, SKIPPED, description=_describe(record), task_id=origin.get("task_id"))
        return self._report(self._apply(result, record, started))

    def _apply(self, result: RecordResult, record: dict[str, Any], started: float) -> RecordResult:
        for attempt in range(1, self.retry.attempts + 1):
            result.attempts = attempt
            try:
                result.outcome = _apply_steps(self.client, record, self.dry_run)
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


def _object_key(store: Store, entry: Entry) -> tuple[str, ...]:
    try:
        data = _steps(store.load(entry).data)[0]
    except JournalError:
        return ("unreadable", entry.id)
    return (data["api_version"], data["kind"], data.get("namespace") or "", data["name"])


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
) -> ReplaySummary:
    """Apply the pending records that match the filters, newest first.

    :param client: a ``kubernetes.dynamic.DynamicClient``, shared by every record.
    :param run_uuid: only this run; ``None`` replays every run under the store.
    :param scenario: only records of this scenario type.
    :param task_id: only records written by this Airflow task.
    :param only: only these record ids (``<scenario>_<ts>_<suffix>``).
    :param dry_run: say what would be applied; change and mark nothing.
    :param workers: apply records of different objects concurrently, in that many lanes;
        the records of one object share a lane and keep their newest-first order.
    :param claim_ttl: seconds a claim protects a record from a second replay without being
        renewed; a heartbeat renews every claim held every third of that.
    :param batch_size: records claimed ahead; adjacent guarded deletes of one kind and
        namespace among them are sent as one request. 1 applies every record alone.
    :param policy: what a record may do (default ``ReplayPolicy()``); every record is
        checked before any request, and one refused stays pending.
    :param steal_expired: take over claims their owner stopped renewing (it died); when
        false, such records stay pending with a message naming the owner.
    :param wait_for_claims: wait (up to ``claim_ttl``) for records another replay holds;
        ``False`` returns at once, those records pending with ``claimed_elsewhere`` set
        (a deferrable caller waits for them in the triggerer instead).
    """
    if workers < 1:
        raise ConfigError(f"workers={workers}: must be at least 1")
    started = time.monotonic()
    retry = retry or RetryPolicy()
    log = log or (lambda line: None)
    stop = should_stop or (lambda: False)
    wanted = set(only) if only is not None else None
    entries = [
        entry
        for entry in store.entries(run_uuid=run_uuid, scenario=scenario, state="pending")
        if wanted is None or entry.id in wanted
    ]
    entries.reverse()  # newest first: an undo stack
    keeper = ClaimKeeper(
        store,
        owner=owner or default_owner(),
        ttl=claim_ttl,
        steal_expired=steal_expired,
        log=log,
        should_stop=stop,
    )
    replayer = _Replayer(
        store,
        client,
        dry_run=dry_run,
        task_id=task_id,
        retry=retry,
        claim_ttl=claim_ttl,
        owner=owner or default_owner(),
        log=log,
        should_stop=stop,
        total=len(entries),
        batch_size=batch_size,
        policy=policy or ReplayPolicy(),
        keeper=keeper,
        wait_for_claims=wait_for_claims,
    )

    def run_all(chain: list[Entry]) -> list[RecordResult]:
        return replayer.run_chain(chain)

    with keeper:
        if workers > 1 and len(entries) > 1:
            # One lane per worker; all records of one object go to the same lane, so they keep
            # their newest-first order, and each lane still batches its adjacent deletes.
            lanes: list[list[Entry]] = [[] for _ in range(workers)]
            for entry in entries:
                lanes[zlib.crc32(repr(_object_key(store, entry)).encode()) % workers].append(entry)
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="krkn-replay") as pool:
                results = [result for lane in pool.map(run_all, lanes) for result in lane]
            order = {entry: index for index, entry in enumerate(entries)}
            results.sort(key=lambda result: order[result.entry])
        else:
            results = run_all(entries)
    return ReplaySummary(results=results, dry_run=dry_run, seconds=time.monotonic() - started)

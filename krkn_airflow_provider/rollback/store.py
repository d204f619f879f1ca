"""The journal's folder: run contexts, version files, their state and claims.

``Store`` plays the part Alembic's ``ScriptDirectory`` plays for migrations: it owns the
layout, lists strictly by pattern, orders by timestamp, and refuses unsafe names.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from krkn_airflow_provider.errors import CorruptRecord, DigestMismatch, JournalError, StorageError, UnsafeName
from krkn_airflow_provider.rollback import naming, versionfile
from krkn_airflow_provider.rollback.naming import ContextName, RecordName
from krkn_airflow_provider.rollback.records import Origin, UndoRecord
from krkn_airflow_provider.rollback.storage import Backend, open_backend
from krkn_airflow_provider.rollback.undo import describe

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

ENV_LOCATION = "KRKN_ROLLBACK_LOCATION"
DEFAULT_LOCATION = "~/.krkn/rollback"

State = Literal["pending", "executed"]
CLAIM_GRACE_SECONDS = 30.0
# A claim file is shared (linked) by the claims one replay takes within this many seconds
# (and a tenth of their ttl): their expiry is at most that much earlier than a new file's.
SHARED_CLAIM_SECONDS = 1.0


def resolve_location(location: str | None = None) -> str:
    """The journal root: the argument, else ``$KRKN_ROLLBACK_LOCATION``, else ``~/.krkn/rollback``.

    (Inside Airflow the hook puts ``[krkn] rollback_location`` between the two.)
    """
    return location or os.environ.get(ENV_LOCATION) or DEFAULT_LOCATION


class Entry(NamedTuple):
    """One version file: its run context, name and state."""

    name: RecordName
    context: ContextName
    state: State

    @property
    def file_name(self) -> str:
        return self.name.pending if self.state == "pending" else self.name.executed

    @property
    def run_uuid(self) -> str:
        return self.context.run_uuid

    @property
    def id(self) -> str:
        """Short id used in logs and CLI filters: ``<scenario>_<ts>_<suffix>``."""
        return self.name.stem

    def name_in(self, state: State) -> Entry:
        return Entry(self.name, self.context, state)


def _order(entry: Entry) -> tuple[int, str]:
    return entry.name.ts_ns, entry.name.suffix


class Prepared(NamedTuple):
    """A record named, rendered and checked, not yet written (:meth:`Store.prepare`)."""

    entry: Entry
    data: bytes


@dataclass(frozen=True)
class StoredRecord:
    """One version file read through the store: where it lies and what it holds, verified.

    ``parsed`` is ``None`` when the file could not be read or was refused; ``error`` says
    why. Read with :meth:`Store.read` or :meth:`Store.records`.
    """

    entry: Entry
    parsed: versionfile.ParsedVersionFile | None = None
    error: JournalError | None = None

    @property
    def record(self) -> UndoRecord | None:
        return None if self.parsed is None else self.parsed.record

    @property
    def origin(self) -> Origin | None:
        return None if self.parsed is None else self.parsed.record.origin

    @property
    def task_id(self) -> str | None:
        origin = self.origin
        return None if origin is None else origin.task_id

    @property
    def data(self) -> dict[str, Any]:
        """The record as JSON data, as the undo code applies it (``{}`` when unreadable)."""
        return {} if self.parsed is None else self.parsed.data

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The undo steps: the record, or a ``steps`` bundle (a Krkn file whose callable did
        several things, see rollback/krkn.py) applied in order."""
        steps: list[dict[str, Any]] = self.data.get("steps", [self.data])
        return steps

    @cached_property
    def description(self) -> str:
        """What applying it does, e.g. ``delete Pod ns/name`` (said from the action itself)."""
        return "; ".join(describe(step) for step in self.steps) if self.parsed is not None else ""

    def unwrap(self) -> versionfile.ParsedVersionFile:
        """The parsed file; raises the read's error when there is none."""
        if self.parsed is None:
            raise self.error or JournalError(f"{self.entry.id}: not read")
        return self.parsed

    def slim(self) -> StoredRecord:
        """The same record without the file's text (held for a while, it costs memory)."""
        if self.parsed is None or not self.parsed.text:
            return self
        return StoredRecord(self.entry, replace(self.parsed, text="", header=""), self.error)


@dataclass(frozen=True)
class Claim:
    """Who may apply a record until when; the token tells one claim from the next."""

    owner: str
    expires: float
    token: str = ""

    def body(self) -> bytes:
        return json.dumps({"owner": self.owner, "expires": self.expires, "token": self.token}).encode()


@dataclass(frozen=True)
class _SharedClaim:
    """A claim file this store created: its claim, name and inode, and when (monotonic)."""

    claim: Claim
    name: str
    inode: int
    made: float


class Store:
    """The version files under one root.

    :param location: a local path, ``file://`` URL or fsspec URL (``s3://bucket/prefix``).
    :param fs: an fsspec file system to use for ``location`` (from Airflow's ObjectStoragePath).
    :param hmac_key: sign records with HMAC-SHA256 and refuse unsigned or mis-signed ones.
    :param old_keys: keys records may also be signed with (read only, e.g. after a rotation).
    """

    def __init__(
        self,
        location: str | None = None,
        *,
        fs: AbstractFileSystem | None = None,
        hmac_key: bytes | None = None,
        old_keys: Sequence[bytes] = (),
        **storage_options: Any,
    ) -> None:
        self.location = resolve_location(location)
        self.backend: Backend = open_backend(self.location, fs=fs, **storage_options)
        self.hmac_key = hmac_key or None
        self.old_keys = tuple(key for key in old_keys if key)
        self._root_checked = False
        self._parsed_back = False  # a record written by this store was parsed back in full
        # Per run: its context and the newest timestamp written through this store.
        self._newest: dict[str, tuple[ContextName, int]] = {}
        self._scenario_ok: dict[str, bool] = {}
        # The newest claim file per (run folder, owner, ttl), which new claims may link to.
        self._shared_claims: dict[tuple[str, str, float], _SharedClaim] = {}
        self._claim_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({self.backend.display()!r})"

    # -- layout ------------------------------------------------------------------------

    def contexts(self, run_uuid: str | None = None) -> list[ContextName]:
        """Run contexts, oldest first; only those of ``run_uuid`` when given."""
        found = []
        for name in self.backend.list_contexts():
            try:
                context = naming.parse_context_name(name)
            except UnsafeName:
                continue  # not ours (a stray folder, a temp file)
            if run_uuid is None or context.run_uuid == run_uuid:
                found.append(context)
        return sorted(found)

    def entries(
        self,
        *,
        run_uuid: str | None = None,
        scenario: str | None = None,
        state: State | None = None,
        contexts: Iterable[ContextName] | None = None,
    ) -> list[Entry]:
        """Version files in timestamp order (oldest first), filtered by run, type and state."""
        if run_uuid is not None:
            run_uuid = naming.check_run_uuid(run_uuid)
        result: list[Entry] = []
        for context in contexts if contexts is not None else self.contexts(run_uuid):
            result.extend(self._context_entries(context, scenario, state))
        result.sort(key=_order)
        return result

    def _context_entries(
        self, context: ContextName, scenario: str | None, state: State | None
    ) -> Iterator[Entry]:
        # Hot path of `list` over large journals: plain string operations per name, the
        # strict pattern only once per distinct scenario type.
        found: dict[str, tuple[str, str, str, bool]] = {}
        for file_name in self.backend.list_files(context.name):
            if file_name.endswith(naming.PENDING_EXT):
                stem, executed = file_name[:-3], False
            elif file_name.endswith(naming.EXECUTED_EXT):
                stem, executed = file_name[:-12], True
            else:
                continue  # a claim, a temp file, a stray
            kind, _, rest = stem.rpartition("_")
            kind, _, ts = kind.rpartition("_")
            suffix = rest
            if not (len(suffix) == 8 and suffix.isascii() and suffix.isalpha() and suffix.islower()):
                continue
            if not (0 < len(ts) <= naming.TS_MAX_DIGITS and ts.isascii() and ts.isdigit()):
                continue
            if not self._known_scenario(kind):
                continue
            if scenario is not None and kind != scenario:
                continue
            if executed or stem not in found:
                found[stem] = (kind, ts, suffix, executed)
        for kind, ts, suffix, executed in found.values():
            entry_state: State = "executed" if executed else "pending"
            if state is None or state == entry_state:
                yield Entry(RecordName(int(ts), suffix, kind), context, entry_state)

    def _known_scenario(self, kind: str) -> bool:
        known = self._scenario_ok.get(kind)
        if known is None:
            known = self._scenario_ok[kind] = naming.SCENARIO_RE.fullmatch(kind) is not None
        return known

    def context_info(self, context: ContextName) -> dict[str, Any]:
        try:
            data = json.loads(self.backend.read(context.name, naming.CONTEXT_INFO))
        except (OSError, ValueError, JournalError):
            return {"run_uuid": context.run_uuid}
        return data if isinstance(data, dict) else {"run_uuid": context.run_uuid}

    def path(self, entry: Entry) -> str:
        return self.backend.display(entry.context.name, entry.file_name)

    # -- writing -----------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise ``StorageError`` now if records could not be written later."""
        if not self._root_checked:
            self.backend.ensure_root()
            self._root_checked = True

    def write(self, record: UndoRecord, *, run_info: dict[str, Any] | None = None) -> Entry:
        """Write ``record`` durably as a new pending version file and return it.

        The file is rendered, parsed back and checked before it is written; when this
        returns, the record survives a crash of this process or machine.
        """
        return self.commit(self.prepare(record, run_info=run_info))

    def prepare(self, record: UndoRecord, *, run_info: dict[str, Any] | None = None) -> Prepared:
        """Name, render and check ``record``; :meth:`commit` writes it. Not thread-safe:
        prepare in one thread, commit in order (another thread may commit)."""
        if record.origin is None:
            raise JournalError("a record needs its origin (run uuid and scenario) before it is written")
        run_uuid = naming.check_run_uuid(record.origin.run_uuid)
        self.check_writable()
        context, newest = self._newest.get(run_uuid) or self._find_context(run_uuid, run_info)
        # Monotonic within the run even when workers' clocks differ a little.
        record_name = RecordName(max(time.time_ns(), newest + 1), naming.new_suffix(), record.origin.scenario)
        naming.record_stem(record_name.scenario, record_name.ts_ns, record_name.suffix)
        # Fail closed: what is written must read back as the same record. The first record
        # a store writes is parsed back in full; later ones get the cheaper equivalent check
        # (versionfile.render_checked) — the template and code paths are the same for all.
        if self._parsed_back:
            text = versionfile.render_checked(record, file_name=record_name.pending, key=self.hmac_key)
        else:
            text = versionfile.render(record, file_name=record_name.pending, key=self.hmac_key)
            parsed = versionfile.parse(text, source=record_name.pending, keys=self.keys)
            if parsed.data != record.to_dict():
                raise CorruptRecord(f"{record_name.pending}: rendered record does not read back the same")
            self._parsed_back = True
        self._newest[run_uuid] = (context, record_name.ts_ns)
        return Prepared(Entry(record_name, context, "pending"), text.encode())

    def commit(self, prepared: Prepared) -> Entry:
        """Write a prepared record durably (see :meth:`write`); I/O only."""
        entry = prepared.entry
        self.backend.write_durable(entry.context.name, entry.file_name, prepared.data)
        return entry

    def commit_many(self, prepared: list[Prepared]) -> list[Entry]:
        """Write prepared records of one run durably, all or none (group commit)."""
        if not prepared:
            return []
        context = prepared[0].entry.context
        if any(item.entry.context != context for item in prepared):
            raise JournalError("a burst of records must belong to one run folder")
        self.backend.write_durable_many(
            context.name, [(item.entry.file_name, item.data) for item in prepared]
        )
        return [item.entry for item in prepared]

    def adopt(self, entries: Iterable[Entry]) -> None:
        """Records written by another process for this store: later names order after them."""
        for entry in entries:
            known = self._newest.get(entry.run_uuid)
            if known is None or known[1] < entry.name.ts_ns:
                self._newest[entry.run_uuid] = (entry.context, entry.name.ts_ns)

    def _find_context(self, run_uuid: str, run_info: dict[str, Any] | None) -> tuple[ContextName, int]:
        """The run's context and its newest timestamp, listed once per store and run."""
        contexts = self.contexts(run_uuid)
        if contexts:
            newest = max((entry.name.ts_ns for entry in self.entries(contexts=contexts)), default=0)
            return contexts[0], newest
        context = ContextName(time.time_ns(), run_uuid)
        self.backend.make_context(context.name)
        info = {"run_uuid": run_uuid, "created": datetime.now(UTC).isoformat(), **(run_info or {})}
        self.backend.create_exclusive(context.name, naming.CONTEXT_INFO, json.dumps(info).encode())
        return context, 0

    # -- reading and state -------------------------------------------------------------

    def read_text(self, entry: Entry) -> str:
        try:
            return self.backend.read(entry.context.name, entry.file_name).decode()
        except FileNotFoundError:
            raise JournalError(f"{self.path(entry)}: no longer exists") from None
        except PermissionError:
            raise JournalError(f"{self.path(entry)}: cannot read it: permission denied") from None
        except OSError as error:
            raise JournalError(f"{self.path(entry)}: cannot read it: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise CorruptRecord(f"{self.path(entry)}: not a text file") from None

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The HMAC keys a record may be signed with: the signing key first."""
        return ((self.hmac_key,) if self.hmac_key else ()) + self.old_keys

    def load(self, entry: Entry) -> versionfile.ParsedVersionFile:
        """Parse and verify one version file (never executes it).

        Besides the digest, what the file signs must match where it lies: its record id,
        its run folder and its state. A record copied into another run, or an executed
        one renamed back to pending, is refused.
        """
        source = self.path(entry)
        parsed = versionfile.parse(self.read_text(entry), source=source, keys=self.keys)
        origin = parsed.record.origin
        if parsed.record_id != entry.id:
            raise DigestMismatch(
                f"{source}: holds record {parsed.record_id} under another name (copied or renamed)"
            )
        if parsed.run_uuid != entry.run_uuid or origin is None or origin.run_uuid != entry.run_uuid:
            raise DigestMismatch(
                f"{source}: belongs to run {parsed.run_uuid}, not to the run folder it lies in "
                f"({entry.run_uuid}); copied from another run"
            )
        if parsed.state != entry.state:
            raise DigestMismatch(
                f"{source}: signed as {parsed.state} but named {entry.state} "
                "(an executed record renamed back to pending?)"
            )
        return parsed

    def read(self, entry: Entry) -> StoredRecord:
        """:meth:`load` one version file; a refused or unreadable one carries its error."""
        try:
            return StoredRecord(entry, self.load(entry))
        except JournalError as error:
            return StoredRecord(entry, error=error)

    def records(
        self,
        *,
        run_uuid: str | None = None,
        scenario: str | None = None,
        state: State | None = None,
        entries: Iterable[Entry] | None = None,
    ) -> Iterator[StoredRecord]:
        """Read the version files :meth:`entries` lists (or ``entries``), oldest first, one
        at a time: each verified as :meth:`load` does, unreadable ones with their error."""
        found = (
            entries
            if entries is not None
            else self.entries(run_uuid=run_uuid, scenario=scenario, state=state)
        )
        for entry in found:
            yield self.read(entry)

    def is_executed(self, entry: Entry) -> bool:
        return self.backend.exists(entry.context.name, entry.name.executed)

    def mark_executed(self, entry: Entry, *, verified_text: str | None = None) -> Entry:
        """Rename the record to ``.executed`` and seal it again as ``STATE = "applied"``.

        :param verified_text: the pending file's text as :meth:`load` verified it (saves
            reading and checking it again).
        """
        try:
            executed = self._executed_text(entry, verified_text)
            self.backend.mark_executed(
                entry.context.name, entry.name.pending, entry.name.executed, executed.encode()
            )
        except JournalError:
            if not self.is_executed(entry):
                raise
        return Entry(entry.name, entry.context, "executed")

    def _executed_text(self, entry: Entry, verified_text: str | None) -> str:
        """What the ``.executed`` file holds: the record sealed again as applied."""
        text = verified_text
        if text is None:
            text = self.read_text(entry.name_in("pending"))
            versionfile.check_digest(text, source=self.path(entry), keys=self.keys)
        return versionfile.with_state(text, "executed", self.hmac_key)

    # -- claims ------------------------------------------------------------------------

    def claim(self, entry: Entry, *, owner: str, ttl: float, steal_expired: bool = True) -> Claim | None:
        """Take the exclusive right to apply ``entry`` for ``ttl`` seconds; ``None`` if taken.

        The holder renews it (:meth:`renew`) while it applies the record. A claim that was
        not renewed in time (its owner died or hung) is taken over when ``steal_expired``.
        """
        shared = self._share_claim(entry, owner, ttl)
        if shared is not None:
            return shared
        mine = Claim(owner, time.time() + ttl, secrets.token_hex(8))
        if self.backend.create_exclusive(entry.context.name, entry.name.claim, mine.body()):
            self._remember_claim(entry, mine, ttl)
            return mine
        current = self.read_claim(entry)
        if current is None:
            # Released between our two calls: try once more, never remove a fresh claim.
            return (
                mine
                if self.backend.create_exclusive(entry.context.name, entry.name.claim, mine.body())
                else None
            )
        if current.expires > time.time() or not steal_expired:
            return None
        # Taking over an expired claim is remove + create: two replays doing it at the same
        # moment can both win the create race only if the remove of one follows the create
        # of the other; the holder re-checks its claim right before applying, so at most
        # one of them applies the record.
        self.backend.remove(entry.context.name, entry.name.claim)
        return (
            mine if self.backend.create_exclusive(entry.context.name, entry.name.claim, mine.body()) else None
        )

    def _share_claim(self, entry: Entry, owner: str, ttl: float) -> Claim | None:
        """A claim made by linking a claim file this store created just before, in the same
        run folder, for the same owner and ttl: the same claim (owner, expiry, token) for
        both records, taken just as exclusively, without allocating a file."""
        key = (entry.context.name, owner, ttl)
        with self._claim_lock:
            shared = self._shared_claims.get(key)
        if shared is None or time.monotonic() - shared.made > min(SHARED_CLAIM_SECONDS, ttl / 10):
            return None
        if self.backend.link_exclusive(entry.context.name, shared.name, entry.name.claim, shared.inode):
            return shared.claim
        return None

    def _remember_claim(self, entry: Entry, claim: Claim, ttl: float) -> None:
        inode = self.backend.inode(entry.context.name, entry.name.claim)
        if inode is not None:
            made = _SharedClaim(claim, entry.name.claim, inode, time.monotonic())
            with self._claim_lock:
                self._shared_claims[(entry.context.name, claim.owner, ttl)] = made

    def renew(self, entry: Entry, claim: Claim, *, ttl: float) -> Claim | None:
        """Push the expiry of our own claim ``ttl`` seconds out; ``None`` if it is not ours any more."""
        current = self.read_claim(entry)
        if current is None or current.token != claim.token or current.owner != claim.owner:
            return None
        renewed = Claim(claim.owner, time.time() + ttl, claim.token)
        self.backend.write_durable(entry.context.name, entry.name.claim, renewed.body())
        return renewed

    def holds(self, entry: Entry, claim: Claim) -> bool:
        """True while ``claim`` is the record's live claim (checked right before applying)."""
        current = self.read_claim(entry)
        return (
            current is not None
            and current.token == claim.token
            and current.owner == claim.owner
            and current.expires > time.time()
        )

    def read_claim(self, entry: Entry) -> Claim | None:
        try:
            data = json.loads(self.backend.read(entry.context.name, entry.name.claim))
            return Claim(str(data["owner"]), float(data["expires"]), str(data.get("token") or ""))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, JournalError):
            # Being written right now, or garbage: honour it for a grace period from its mtime.
            mtime = self.backend.mtime(entry.context.name, entry.name.claim)
            return None if mtime is None else Claim("unreadable claim", mtime + CLAIM_GRACE_SECONDS)

    def release(self, entry: Entry, claim: Claim) -> bool:
        """Remove our own claim; one another replay took over is left alone."""
        current = self.read_claim(entry)
        if current is None or current.token != claim.token or current.owner != claim.owner:
            return False
        self.backend.remove(entry.context.name, entry.name.claim)
        return True

    # -- housekeeping ------------------------------------------------------------------

    def prune(
        self, *, older_than_seconds: float, include_pending: bool = False, dry_run: bool = False
    ) -> list[ContextName]:
        """Remove run contexts older than the given age whose records are all executed."""
        cutoff = time.time_ns() - int(older_than_seconds * 1e9)
        removed = []
        for context in self.contexts():
            if context.ts_ns >= cutoff:
                continue
            entries = self.entries(contexts=[context])
            if any(entry.name.ts_ns >= cutoff for entry in entries):
                continue
            if not include_pending and any(entry.state == "pending" for entry in entries):
                continue
            if dry_run:
                removed.append(context)
                continue
            try:
                self.backend.remove_context(context.name)
            except OSError as error:
                raise StorageError(f"cannot remove {self.backend.display(context.name)}: {error}") from error
            removed.append(context)
        return removed

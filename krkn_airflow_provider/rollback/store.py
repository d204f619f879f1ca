"""The journal's folder: run contexts, version files, their state and claims.

``Store`` plays the part Alembic's ``ScriptDirectory`` plays for migrations: it owns the
layout, lists strictly by pattern, orders by timestamp, and refuses unsafe names.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from krkn_airflow_provider.errors import CorruptRecord, JournalError, StorageError, UnsafeName
from krkn_airflow_provider.rollback import naming, versionfile
from krkn_airflow_provider.rollback.naming import ContextName, RecordName
from krkn_airflow_provider.rollback.records import UndoRecord
from krkn_airflow_provider.rollback.storage import Backend, open_backend

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

ENV_LOCATION = "KRKN_ROLLBACK_LOCATION"
DEFAULT_LOCATION = "~/.krkn/rollback"

State = Literal["pending", "executed"]
CLAIM_GRACE_SECONDS = 30.0


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


def _order(entry: Entry) -> tuple[int, str]:
    return entry.name.ts_ns, entry.name.suffix


@dataclass(frozen=True)
class Claim:
    owner: str
    expires: float


class Store:
    """The version files under one root.

    :param location: a local path, ``file://`` URL or fsspec URL (``s3://bucket/prefix``).
    :param fs: an fsspec file system to use for ``location`` (from Airflow's ObjectStoragePath).
    :param hmac_key: sign records with HMAC-SHA256 and refuse unsigned or mis-signed ones.
    :param old_keys: retired keys whose signatures are still accepted when reading (rotation).
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
        # What a record may be signed with: the current key first, then the retired ones.
        self.read_keys = ((self.hmac_key,) if self.hmac_key else ()) + self.old_keys
        self._root_checked = False
        # Per run: its context and the newest timestamp written through this store.
        self._newest: dict[str, tuple[ContextName, int]] = {}
        self._scenario_ok: dict[str, bool] = {}

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
            if not (ts.isascii() and ts.isdigit()) or not self._known_scenario(kind):
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
            known = self._scenario_ok[kind] = bool(naming.SCENARIO_RE.match(kind))
        return known

    def context_info(self, context: ContextName) -> dict[str, Any]:
        try:
            data = json.loads(self.backend.read(context.name, naming.CONTEXT_INFO))
        except (OSError, ValueError):
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
        if record.origin is None:
            raise JournalError("a record needs its origin (run uuid and scenario) before it is written")
        run_uuid = naming.check_run_uuid(record.origin.run_uuid)
        self.check_writable()
        context, newest = self._newest.get(run_uuid) or self._find_context(run_uuid, run_info)
        # Monotonic within the run even when workers' clocks differ a little.
        record_name = RecordName(max(time.time_ns(), newest + 1), naming.new_suffix(), record.origin.scenario)
        naming.record_stem(record_name.scenario, record_name.ts_ns, record_name.suffix)
        text = versionfile.render(record, file_name=record_name.pending, key=self.hmac_key)
        # Fail closed: what is written must read back as the same record.
        parsed = versionfile.parse(
            text, source=record_name.pending, keys=(self.hmac_key,) if self.hmac_key else ()
        )
        if parsed.data != record.to_dict():
            raise CorruptRecord(f"{record_name.pending}: rendered record does not read back the same")
        self.backend.write_durable(context.name, record_name.pending, text.encode())
        self._newest[run_uuid] = (context, record_name.ts_ns)
        return Entry(record_name, context, "pending")

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
        except UnicodeDecodeError:
            raise CorruptRecord(f"{self.path(entry)}: not a text file") from None

    def load(self, entry: Entry) -> versionfile.ParsedVersionFile:
        """Parse and verify one version file (never executes it)."""
        return versionfile.parse(self.read_text(entry), source=self.path(entry), keys=self.read_keys)

    def is_executed(self, entry: Entry) -> bool:
        return self.backend.exists(entry.context.name, entry.name.executed)

    def mark_executed(self, entry: Entry) -> Entry:
        try:
            self.backend.mark_executed(entry.context.name, entry.name.pending, entry.name.executed)
        except StorageError:
            if not self.is_executed(entry):
                raise
        return Entry(entry.name, entry.context, "executed")

    # -- claims ------------------------------------------------------------------------

    def claim(self, entry: Entry, *, owner: str, ttl: float) -> bool:
        """Take the exclusive right to apply ``entry`` for ``ttl`` seconds.

        A claim whose owner died is taken over once it has expired.
        """
        body = json.dumps({"owner": owner, "expires": time.time() + ttl}).encode()
        if self.backend.create_exclusive(entry.context.name, entry.name.claim, body):
            return True
        current = self.read_claim(entry)
        if current is None:
            # Released between our two calls: try once more, never remove a fresh claim.
            return self.backend.create_exclusive(entry.context.name, entry.name.claim, body)
        if current.expires > time.time():
            return False
        # Taking over an expired claim is remove + create: two replays doing it at the same
        # moment can both win. Claims expire only when their owner died, and the re-check of
        # `.executed` after claiming keeps an idempotent undo from running twice in practice.
        self.backend.remove(entry.context.name, entry.name.claim)
        return self.backend.create_exclusive(entry.context.name, entry.name.claim, body)

    def read_claim(self, entry: Entry) -> Claim | None:
        try:
            data = json.loads(self.backend.read(entry.context.name, entry.name.claim))
            return Claim(str(data["owner"]), float(data["expires"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # Being written right now, or garbage: honour it for a grace period from its mtime.
            mtime = self.backend.mtime(entry.context.name, entry.name.claim)
            return None if mtime is None else Claim("unreadable claim", mtime + CLAIM_GRACE_SECONDS)

    def release(self, entry: Entry) -> None:
        self.backend.remove(entry.context.name, entry.name.claim)

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

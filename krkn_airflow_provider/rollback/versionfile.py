"""Render and parse version files.

A version file is a Python program a person can read and run by hand (see the
template). The provider never imports or executes one: it checks ``DIGEST``, reads the
``ROLLBACK`` literal as ``ast.literal_eval`` does (through JSON where that gives the same
value, see ``_plain_literal``) and applies the record with its own copy of the undo code.

``DIGEST`` covers the whole file with its own value blanked (SHA-256, or HMAC-SHA256 with
a key), so code added anywhere is detected. What it signs includes ``RECORD_ID``,
``RUN_UUID`` and ``STATE``: the store checks them against the file's name, run folder and
state, so a signed record copied to another run or renamed back to pending is refused.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import math
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from importlib import resources
from string import Template
from typing import Any

from krkn_airflow_provider.errors import CorruptRecord, DigestMismatch
from krkn_airflow_provider.rollback.records import UndoRecord, validate_record
from krkn_airflow_provider.rollback.undo import describe

END_MARKER = "# krkn-airflow-provider: end of version file\n"
ROLLBACK_PREFIX = "\nROLLBACK = "
DIGEST_PREFIX = '\nDIGEST = "'
# DIGEST_PREFIX starts the one line the digest leaves out (the embedded check in the
# template finds the same line with a regular expression; plain string search is ten
# times faster here).
_BOUND = {
    name: re.compile(rf'{name} = "([a-z0-9_-]{{1,160}})"') for name in ("RECORD_ID", "RUN_UUID", "STATE")
}
STATE_LINE = '\nSTATE = "{}"\n'
# CPython 3.11's AST constructor is not safe across threads ("recursion depth mismatch"
# under parallel replay lanes): one parse at a time.
_PARSE_LOCK = threading.Lock()


def _new_parse_lock() -> None:
    # A process forked while another thread parsed (a journal writer process) must not
    # inherit the lock held.
    global _PARSE_LOCK
    _PARSE_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_parse_lock)


@cache
def _template() -> Template:
    return Template(resources.files(__package__).joinpath("templates/version_file.py.tmpl").read_text())


@dataclass(frozen=True)
class _Compiled:
    """The template split where the digest goes, prepared once per process.

    ``head`` alternates literal text and value names; it ends with ``DIGEST = "``. ``tail``
    (from the digest's closing quote on, the undo code embedded) is the same for every
    file, so what :func:`parse` checks in it is checked here once, not per record.
    """

    head: tuple[str, ...]
    tail: str
    tail_bytes: bytes


def _compiled() -> _Compiled:
    return _compile(_template().template)


@lru_cache(maxsize=4)
def _compile(source: str) -> _Compiled:
    head_text, marker, tail_text = source.partition('"$digest"')
    if not marker:
        raise CorruptRecord("version file template lacks its DIGEST line")
    tail = '"' + Template(tail_text).substitute(undo_source=undo_source())
    head_text += '"'
    parts: list[str] = []
    literal = 0
    for match in Template.pattern.finditer(head_text):
        parts.append(head_text[literal : match.start()])
        if match.group("escaped") is not None:
            parts[-1] += "$"
            parts.append("")  # no value: keeps text and names alternating
        elif match.group("named") or match.group("braced"):
            parts.append(match.group("named") or match.group("braced"))
        else:
            raise CorruptRecord("version file template: a stray '$'")
        literal = match.end()
    parts.append(head_text[literal:])
    # What parse() needs of the part no value can change (see render_checked).
    if not (head_text.endswith(DIGEST_PREFIX) and tail.startswith('"\n') and tail.endswith(END_MARKER)):
        raise CorruptRecord("version file template: DIGEST line or end marker misplaced")
    if DIGEST_PREFIX in tail:
        raise CorruptRecord("version file template: a second DIGEST line after the first")
    return _Compiled(tuple(parts), tail, tail.encode())


# The ROLLBACK literal's layout: a readable form of JSON data that ast.literal_eval reads
# back; pprint's layout without its cost (it walks the data in Python, ours uses repr).
_WIDTH = 100


def _literal(value: object, column: int = 0) -> str:
    text = repr(value)
    if len(text) + column < _WIDTH or not value or type(value) not in (dict, list):
        return text
    # Too long: one item per line, each laid out in turn only where it does not fit.
    inner = column + 1
    joint = ",\n" + " " * inner
    if type(value) is dict:
        items = []
        for key, item in value.items():  # type: ignore[attr-defined]
            shown = repr(key)
            items.append(f"{shown}: {_literal(item, inner + len(shown) + 2)}")
        return "{" + joint.join(items) + "}"
    return "[" + joint.join(_literal(item, inner) for item in value) + "]"  # type: ignore[attr-defined]


@cache
def undo_source() -> str:
    """The undo module's source, embedded in every version file."""
    source = resources.files(__package__).joinpath("undo.py").read_text()
    # The template opens with the __future__ import, which must come first in a file.
    return source.replace("from __future__ import annotations\n", "", 1)


def canonical_json(record: dict[str, Any]) -> bytes:
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _split(text: str) -> tuple[str, str, str] | None:
    """(up to the DIGEST value, the value, from its closing quote on), or ``None`` unless
    the file has exactly one well-formed ``DIGEST = "..."`` line."""
    first = text.find(DIGEST_PREFIX)
    if first < 0:
        return None
    start = first + len(DIGEST_PREFIX)
    end = text.find('"', start)
    if end < 0 or text[end + 1 : end + 2] != "\n" or "\n" in text[start:end]:
        return None
    tail = text[end:]
    # No second DIGEST line: nothing before the first; after it, a tail equal to this
    # version's template (checked once, see _compile) needs no search of its ~17 KB.
    # Such a tail is returned as the template's own string: _payload_digest then hashes
    # its bytes encoded once per process.
    compiled = _compiled()
    if tail == compiled.tail:
        tail = compiled.tail
    elif DIGEST_PREFIX in tail:
        return None
    return text[:start], text[start:end], tail


def file_digest(text: str, key: bytes | None = None) -> str:
    """The digest of a whole version file: every byte but the value of its DIGEST line."""
    parts = _split(text)
    if parts is None:
        raise CorruptRecord("a version file needs exactly one DIGEST line")
    return _payload_digest(parts[0], parts[2], key)


def _payload_digest(head: str, tail: str, key: bytes | None) -> str:
    """The digest (SHA-256, or HMAC-SHA256 with ``key``) of ``head + tail``, the file
    without its digest value: hashed in two parts instead of joining and encoding ~20 KB;
    a tail that is the template's (see :func:`_split`) is hashed from its bytes, encoded
    once per process."""
    compiled = _compiled()
    hasher = hmac.new(key, digestmod=hashlib.sha256) if key else hashlib.sha256()
    hasher.update(head.encode())
    hasher.update(compiled.tail_bytes if tail is compiled.tail else tail.encode())
    return ("hmac-sha256:" if key else "sha256:") + hasher.hexdigest()


def seal(text: str, key: bytes | None = None) -> str:
    """``text`` with its DIGEST line set to the digest of the rest."""
    parts = _split(text)
    if parts is None:
        raise CorruptRecord("a version file needs exactly one DIGEST line")
    return parts[0] + _payload_digest(parts[0], parts[2], key) + parts[2]


# The state words in a file; equal in length, so marking rewrites the file in place.
STATE_WORDS = {"pending": "pending", "executed": "applied"}


def with_state(text: str, state: str, key: bytes | None = None) -> str:
    """The same version file in another state (``executed``), sealed again; same length."""
    for old in STATE_WORDS.values():
        if STATE_LINE.format(old) in text:
            changed = text.replace(STATE_LINE.format(old), STATE_LINE.format(STATE_WORDS[state]), 1)
            return seal(changed, key)
    raise CorruptRecord("version file has no STATE line")


def _one_line(value: object) -> str:
    # Header values are comments: a newline in a name must not start a line of code.
    return " ".join(str(value).split()) if value is not None else "-"


def render(record: UndoRecord, *, file_name: str, key: bytes | None = None) -> str:
    """The text of the version file for ``record``, sealed with ``key`` (or plain SHA-256).

    :param file_name: the pending file's name; its stem is signed as ``RECORD_ID``.
    """
    head, digest, tail, _literal_text = _render(record, record.to_dict(), file_name=file_name, key=key)
    return head + digest + tail


def render_checked(record: UndoRecord, *, file_name: str, key: bytes | None = None) -> str:
    """:func:`render`, then check, failing closed, that a reader gets ``record`` back.

    The ``ROLLBACK`` literal is ``repr`` of JSON data (the record's ``to_dict``), which
    ``ast.literal_eval`` reads back as the same data by construction; what can go wrong is
    the file around it. So instead of parsing the literal again (as long as rendering it),
    this checks what :func:`parse` checks around it: the end marker, one ``DIGEST`` line,
    the literal unchanged where a reader looks for it, the bound ``RECORD_ID``/``RUN_UUID``/
    ``STATE`` lines, the data carried by JSON, and the data valid as a record. (The digest
    itself was just computed over the same split: hashing it again would check nothing.)
    Everything a value can change lies before the digest; the part after it is the same
    for every file and was checked once (:func:`_compiled`).
    """
    data = record.to_dict()
    head, digest, tail, literal = _render(record, data, file_name=file_name, key=key)
    if head.count(DIGEST_PREFIX) != 1 or not head.endswith(DIGEST_PREFIX):
        raise CorruptRecord(f"{file_name}: rendered file needs exactly one DIGEST line")
    if not tail.endswith(END_MARKER) or "\n" in digest or '"' in digest:
        raise CorruptRecord(f"{file_name}: rendered file lacks its end marker or DIGEST value")
    start = head.find(ROLLBACK_PREFIX)
    end = head.find(DIGEST_PREFIX, start)
    if start < 0 or end < 0 or head[start + len(ROLLBACK_PREFIX) : end].strip() != literal.strip():
        raise CorruptRecord(f"{file_name}: rendered ROLLBACK literal is not where a reader finds it")
    expected = {
        "RECORD_ID": file_name.removesuffix(".py"),
        "RUN_UUID": record.origin.run_uuid if record.origin else "",
        "STATE": STATE_WORDS["pending"],
    }
    bound = head[: start + 1]  # with the newline that ends the line before ROLLBACK
    for name, value in expected.items():
        # What _BOUND finds: exactly one line ``NAME = "value"`` (plain search is cheaper).
        if bound.count(f"\n{name} = ") != 1 or f'\n{name} = "{value}"\n' not in bound:
            raise CorruptRecord(f"{file_name}: rendered {name} does not read back")
    try:
        canonical_json(data)
    except (TypeError, ValueError) as error:
        raise CorruptRecord(f"{file_name}: the record holds a value JSON cannot carry ({error})") from None
    validate_record(data, source=file_name)
    return head + digest + tail


def _render(
    record: UndoRecord, data: dict[str, Any], *, file_name: str, key: bytes | None
) -> tuple[str, str, str, str]:
    """The sealed file in three parts (up to the DIGEST value, the value, the rest) and
    the ``ROLLBACK`` literal in it."""
    origin = record.origin
    values = {
        "description": _one_line(record.description or describe(data)),
        "scenario": _one_line(origin.scenario if origin else None),
        "dag_id": _one_line(origin.dag_id if origin else None),
        "run_id": _one_line(origin.run_id if origin else None),
        "run_uuid": _one_line(origin.run_uuid if origin else None),
        "task_id": _one_line(origin.task_id if origin else None),
        "try_number": _one_line(origin.try_number if origin else None),
        "written": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "file_name": _one_line(file_name),
        "record_id": file_name.removesuffix(".py"),
        "rollback": _literal(data),
        "": "",
    }
    compiled = _compiled()
    parts = compiled.head
    head = "".join([part if index % 2 == 0 else values[part] for index, part in enumerate(parts)])
    # What seal() computes, without searching the whole text for the DIGEST line.
    digest = _payload_digest(head, compiled.tail, key)
    return head, digest, compiled.tail, values["rollback"]


@dataclass(frozen=True)
class ParsedVersionFile:
    record: UndoRecord
    data: dict[str, Any]
    digest: str
    header: str
    record_id: str
    run_uuid: str
    state: str
    text: str = ""


def _bound_values(head: str, source: str) -> dict[str, str]:
    """The value of each bound constant: its one line ``NAME = "value"`` in ``head``.

    Each name is searched as a line start (a string search in C; splitting the header
    into lines or a multiline regular expression costs several times more). A second
    line assigning the name, well-formed or not, is refused."""
    text = "\n" + head
    values: dict[str, str] = {}
    for name, pattern in _BOUND.items():
        start = f"\n{name} = "
        found = text.count(start)
        at = text.find(start) + 1
        end = text.find("\n", at)
        match = pattern.fullmatch(text, at, end if end >= 0 else len(text)) if found == 1 else None
        if match is None:
            shape = "" if found != 1 else ' (it is not NAME = "lowercase letters, digits, - or _")'
            raise CorruptRecord(f"{source}: needs exactly one {name} line, found {found}{shape}")
        values[name] = match[1]
    return values


def check_digest(text: str, *, source: str, keys: Sequence[bytes] = ()) -> str:
    """Check the whole-file digest of ``text``; return it. Never parses the record.

    :param keys: HMAC keys accepted (the signing key first, then older ones); when any is
        given, unsigned files are refused too.
    """
    parts = _split(text)
    if parts is None:
        raise DigestMismatch(f"{source}: needs exactly one DIGEST line (edited after it was written)")
    stored = parts[1]
    keys = [key for key in keys if key]
    if stored.startswith("sha256:") and keys:
        raise DigestMismatch(f"{source}: record is not signed, but an HMAC key is configured")
    if stored.startswith("hmac-sha256:") and not keys:
        raise DigestMismatch(f"{source}: record is signed; configure the HMAC key to read it")
    candidates: list[bytes | None] = [*keys] or [None]
    for key in candidates:
        if hmac.compare_digest(stored, _payload_digest(parts[0], parts[2], key)):
            return stored
    raise DigestMismatch(f"{source}: record does not match its digest (edited after it was written)")


# A ROLLBACK literal as this provider lays it out: ``repr`` of JSON data whose strings hold
# no quote, backslash, control character or surrogate, and numbers as JSON writes them. Such
# a literal is also JSON text once its quotes and True/False/None are spelled the JSON way,
# and ``json.loads`` reads it to the very value ``ast.literal_eval`` gives, several times
# faster (parsing Python into syntax trees is most of the cost). Anything else (escapes,
# tuples, comments, other spellings) is read by ``ast.literal_eval``, which alone decides
# what is accepted: the shortcut never accepts a literal it would refuse. The repetition is
# possessive (no backtracking), so a hostile literal costs linear time to turn away.
_PLAIN_CHARS = r"""[^'"\\\x00-\x1f\ud800-\udfff]*"""
_PLAIN_LITERAL = re.compile(
    r"(?:[ \n{}\[\],:]"
    rf"|'{_PLAIN_CHARS}'|\"{_PLAIN_CHARS}\""
    r"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|True|False|None)*+"
)
_JSON_WORDS = (("True", "true"), ("False", "false"), ("None", "null"))
# Fewer brackets than this (counting those in strings) bound the nesting far below the
# depth at which the Python parser refuses a literal ("too many nested parentheses").
_PLAIN_MAX_BRACKETS = 100


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: JSON cannot carry it; the slow path says so
        raise ValueError(text)
    return value


# Made once: json.loads with an argument builds a decoder per call.
_PLAIN_DECODER = json.JSONDecoder(parse_float=_finite)


def _plain_literal(literal: str) -> Any:
    """The value of a plain literal (see ``_PLAIN_LITERAL``), or ``None`` when it is not one
    (or is ``None`` itself, which the slow path refuses as not a dict just the same).

    :param literal: the text of the ``ROLLBACK`` literal, stripped.
    """
    if (
        literal.count("[") + literal.count("{") >= _PLAIN_MAX_BRACKETS
        or _PLAIN_LITERAL.fullmatch(literal) is None
    ):
        return None
    # No string holds a quote, so every quote delimits one: all become JSON's.
    text = literal.replace("'", '"')
    if "True" in text or "False" in text or "None" in text:
        parts = text.split('"')  # even parts lie outside strings
        for index in range(0, len(parts), 2):
            for word, json_word in _JSON_WORDS:
                parts[index] = parts[index].replace(word, json_word)
        text = '"'.join(parts)
    try:
        return _PLAIN_DECODER.decode(text)
    except (ValueError, RecursionError, MemoryError):
        return None  # e.g. two strings side by side: the slow path decides


def _read_literal(literal: str, source: str) -> dict[str, Any]:
    """The ``ROLLBACK`` literal's value: a dict of JSON data, else ``CorruptRecord``."""
    data = _plain_literal(literal)
    if data is None:
        try:
            with _PARSE_LOCK:
                data = ast.literal_eval(literal)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as error:
            raise CorruptRecord(f"{source}: ROLLBACK is not a plain literal ({error})") from None
        # JSON's own reading carries only JSON values; this one must be checked.
        try:
            canonical_json(data)
        except (TypeError, ValueError) as error:
            raise CorruptRecord(f"{source}: ROLLBACK holds a value JSON cannot carry ({error})") from None
    if not isinstance(data, dict):
        raise CorruptRecord(f"{source}: ROLLBACK is not a dict")
    return data


def parse(text: str, *, source: str, keys: Sequence[bytes] = ()) -> ParsedVersionFile:
    """Check a version file's digest, then read its record; never executes it.

    :param source: the file's name or path, for error messages.
    :param keys: the HMAC keys accepted; when any is given, unsigned records are refused.
    """
    keys = [key for key in keys if key]
    if not text.endswith(END_MARKER):
        raise CorruptRecord(f"{source}: truncated version file (the end marker is missing)")
    stored = check_digest(text, source=source, keys=keys)
    start = text.find(ROLLBACK_PREFIX)
    end = text.find(DIGEST_PREFIX, start)
    if start < 0 or end < 0:
        raise CorruptRecord(f"{source}: no ROLLBACK/DIGEST assignment found")
    # The bound constants come right before ROLLBACK; the digest already covers the rest.
    head = text[:start]
    bound = _bound_values(head, source)
    data = _read_literal(text[start + len(ROLLBACK_PREFIX) : end].strip(), source)
    record = validate_record(data, source=source)
    return ParsedVersionFile(
        record=record,
        data=data,
        digest=stored,
        header=text[:start],
        record_id=bound["RECORD_ID"],
        run_uuid=bound["RUN_UUID"],
        state={word: state for state, word in STATE_WORDS.items()}.get(bound["STATE"], bound["STATE"]),
        text=text,
    )

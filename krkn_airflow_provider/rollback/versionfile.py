"""Render and parse version files.

A version file is a Python program a person can read and run by hand (see the
template). The provider never imports or executes one: it reads the ``ROLLBACK``
literal with ``ast.literal_eval``, checks ``DIGEST`` and applies the record with its own
copy of the undo code.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import pprint
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from krkn_airflow_provider.errors import CorruptRecord, DigestMismatch
from krkn_airflow_provider.rollback.records import UndoRecord, validate_record
from krkn_airflow_provider.rollback.undo import describe

END_MARKER = "# krkn-airflow-provider: end of version file\n"
ROLLBACK_PREFIX = "\nROLLBACK = "
DIGEST_PREFIX = '\nDIGEST = "'


@cache
def _template() -> Template:
    return Template(resources.files(__package__).joinpath("templates/version_file.py.tmpl").read_text())


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


def digest(record: dict[str, Any], key: bytes | None = None) -> str:
    payload = canonical_json(record)
    if key:
        return "hmac-sha256:" + hmac.new(key, payload, hashlib.sha256).hexdigest()
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def _one_line(value: object) -> str:
    # Header values are comments: a newline in a name must not start a line of code.
    return " ".join(str(value).split()) if value is not None else "-"


def render(record: UndoRecord, *, file_name: str, key: bytes | None = None) -> str:
    """The text of the version file for ``record``."""
    data = record.to_dict()
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
        "rollback": pprint.pformat(data, indent=1, width=100, sort_dicts=False),
        "digest": digest(data, key),
        "undo_source": undo_source(),
    }
    return _template().substitute(values)


@dataclass(frozen=True)
class ParsedVersionFile:
    record: UndoRecord
    data: dict[str, Any]
    digest: str
    header: str


def parse(text: str, *, source: str, keys: Sequence[bytes] = ()) -> ParsedVersionFile:
    """Read the record of a version file and check its digest; never executes it.

    :param source: the file's name or path, for error messages.
    :param keys: the HMAC keys a record may be signed with (the current one first, then
        retired ones still accepted for reading); when any is set, unsigned records are refused.
    """
    keys = [key for key in keys if key]
    if not text.endswith(END_MARKER):
        raise CorruptRecord(f"{source}: truncated version file (the end marker is missing)")
    start = text.find(ROLLBACK_PREFIX)
    end = text.find(DIGEST_PREFIX, start)
    if start < 0 or end < 0:
        raise CorruptRecord(f"{source}: no ROLLBACK/DIGEST assignment found")
    try:
        data = ast.literal_eval(text[start + len(ROLLBACK_PREFIX) : end].strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as error:
        raise CorruptRecord(f"{source}: ROLLBACK is not a plain literal ({error})") from None
    digest_end = text.find('"', end + len(DIGEST_PREFIX))
    stored = text[end + len(DIGEST_PREFIX) : digest_end]
    if not isinstance(data, dict):
        raise CorruptRecord(f"{source}: ROLLBACK is not a dict")
    if stored.startswith("sha256:") and keys:
        raise DigestMismatch(f"{source}: record is not signed, but an HMAC key is configured")
    if stored.startswith("hmac-sha256:") and not keys:
        raise DigestMismatch(f"{source}: record is signed; configure the HMAC key to read it")
    try:
        expected = [digest(data, key) for key in keys] if keys else [digest(data)]
    except (TypeError, ValueError) as error:
        raise CorruptRecord(f"{source}: ROLLBACK holds a value JSON cannot carry ({error})") from None
    # Every key is compared (no early exit), so timing does not tell which one matched.
    matches = [hmac.compare_digest(stored, candidate) for candidate in expected]
    if not any(matches):
        raise DigestMismatch(f"{source}: record does not match its digest (edited after it was written)")
    record = validate_record(data, source=source)
    return ParsedVersionFile(record=record, data=data, digest=stored, header=text[:start])

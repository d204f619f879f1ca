"""Names of contexts and version files: one pattern each, one function to make each.

Layout: ``<root>/<ts_ns>-<run_uuid>/<scenario>_<ts_ns>_<suffix>.py[.executed]``.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from typing import NamedTuple

from krkn_airflow_provider.errors import UnsafeName

PENDING_EXT = ".py"
EXECUTED_EXT = ".py.executed"
CLAIM_EXT = ".claim"
CONTEXT_INFO = "context.json"

# Always used with ``fullmatch``: ``$`` alone would accept a trailing newline.
TS_MAX_DIGITS = 20
CONTEXT_RE = re.compile(r"(?P<ts>[0-9]{1,20})-(?P<run_uuid>[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})")
RECORD_RE = re.compile(
    r"(?P<scenario>[a-z][a-z0-9_]{0,80})_(?P<ts>[0-9]{1,20})_(?P<suffix>[a-z]{8})"
    r"(?P<ext>\.py\.executed|\.py|\.claim)"
)
SCENARIO_RE = re.compile(r"[a-z][a-z0-9_]{0,80}")

# Fixed namespace so that every worker derives the same run uuid from dag_id and run_id.
RUN_NAMESPACE = uuid.UUID("6d1f0d2c-5a9b-4c1e-9f3a-4b7e2c8d9a10")


def run_uuid_for(dag_id: str, run_id: str) -> str:
    """The run uuid shared by every task of one Airflow DAG run, on any worker."""
    return str(uuid.uuid5(RUN_NAMESPACE, f"{dag_id}\x00{run_id}"))


def new_run_uuid() -> str:
    """A run uuid for a run started outside Airflow (the CLI, a test)."""
    return str(uuid.uuid4())


_SUFFIX_SPACE = 26**8


def new_suffix() -> str:
    """Eight random lowercase letters: one read of the system's random source (a choice
    per letter costs a system call each)."""
    number = secrets.randbelow(_SUFFIX_SPACE)
    letters = []
    for _ in range(8):
        number, digit = divmod(number, 26)
        letters.append(string.ascii_lowercase[digit])
    return "".join(letters)


def context_name(ts_ns: int, run_uuid: str) -> str:
    return f"{ts_ns}-{run_uuid}"


def record_stem(scenario: str, ts_ns: int, suffix: str) -> str:
    if not SCENARIO_RE.fullmatch(scenario):
        raise UnsafeName(f"scenario type {scenario!r} must be lowercase letters, digits and '_'")
    return f"{scenario}_{ts_ns}_{suffix}"


class RecordName(NamedTuple):
    """The parts of one version file name; orders by timestamp."""

    ts_ns: int
    suffix: str
    scenario: str

    @property
    def stem(self) -> str:
        return f"{self.scenario}_{self.ts_ns}_{self.suffix}"

    @property
    def pending(self) -> str:
        return self.stem + PENDING_EXT

    @property
    def executed(self) -> str:
        return self.stem + EXECUTED_EXT

    @property
    def claim(self) -> str:
        return self.stem + CLAIM_EXT


class ContextName(NamedTuple):
    ts_ns: int
    run_uuid: str

    @property
    def name(self) -> str:
        return context_name(self.ts_ns, self.run_uuid)


def parse_record_name(name: str) -> tuple[RecordName, str]:
    """Split a file name into its parts and its extension; raise ``UnsafeName`` if it is not one."""
    match = RECORD_RE.fullmatch(name)
    if not match:
        raise UnsafeName(f"{name!r} is not a version file name (<scenario>_<ts_ns>_<8 letters>.py)")
    return RecordName(int(match["ts"]), match["suffix"], match["scenario"]), match["ext"]


def parse_context_name(name: str) -> ContextName:
    match = CONTEXT_RE.fullmatch(name)
    if not match:
        raise UnsafeName(f"{name!r} is not a run context name (<ts_ns>-<run uuid>)")
    return ContextName(int(match["ts"]), match["run_uuid"])


# Other files the provider writes into a run folder: task results, replay outcomes and the
# gameday report (report/results.py), and temp files a crash left behind mid-write.
OWNED_RE = re.compile(
    r"(?:\.tmp-[0-9a-f]{12}-)?(?:"
    r"[A-Za-z0-9_.-]{1,250}?\.[0-9]{1,6}(?:\.m[0-9]{1,9})?\.result\.json"
    r"|replay\.[0-9]{1,20}\.[A-Za-z0-9_.-]{1,250}\.json"
    r"|gameday-report\.(?:html|xml)"
    r"|context\.json"
    r"|[a-z][a-z0-9_]{0,80}_[0-9]{1,20}_[a-z]{8}(?:\.py\.executed|\.py|\.claim)"
    r")"
)


def is_owned(name: str) -> bool:
    """True for the names the provider writes inside a run folder (and so may remove)."""
    return OWNED_RE.fullmatch(name) is not None


def check_run_uuid(run_uuid: str) -> str:
    try:
        return str(uuid.UUID(run_uuid))
    except ValueError:
        raise UnsafeName(f"{run_uuid!r} is not a run uuid") from None

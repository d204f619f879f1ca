"""One way to open the rollback journal, for every part of the provider.

Chaos, rollback and watcher tasks (through ``KrknHook``), the "Chaos gameday" UI page, the
report and ``krkn-rollback`` all call ``open_store``, so they read the same files through
the same storage connection with the same keys. Each setting is resolved in one order:

1. an explicit argument (operator argument, CLI option);
2. Airflow's ``[krkn]`` section, when Airflow is installed (``airflow.cfg`` or
   ``AIRFLOW__KRKN__*`` variables);
3. the environment (``KRKN_ROLLBACK_LOCATION``, ``KRKN_ROLLBACK_CONN_ID``,
   ``KRKN_ROLLBACK_HMAC_KEY``, ``KRKN_ROLLBACK_HMAC_OLD_KEYS``);
4. the default: ``~/.krkn/rollback``, no connection, and under Airflow a signing key kept
   in the Airflow Variable ``krkn_rollback_hmac_key``, created by the first task that needs it.

Airflow is imported lazily and only when it is installed, so the CLI runs without it.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback.store import DEFAULT_LOCATION, ENV_LOCATION, Store

SECTION = "krkn"
ENV_CONN_ID = "KRKN_ROLLBACK_CONN_ID"
ENV_KEY = "KRKN_ROLLBACK_HMAC_KEY"
ENV_OLD_KEYS = "KRKN_ROLLBACK_HMAC_OLD_KEYS"
DEFAULT_KEY_VARIABLE = "krkn_rollback_hmac_key"
# Exclusive-create lock at the journal root: only its holder creates the key Variable.
KEY_LOCK = ".krkn-hmac-key.lock"
KEY_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class JournalSettings:
    """What ``open_store`` resolved, and where each value came from (for logs and the CLI)."""

    location: str
    location_source: str
    conn_id: str | None = None
    conn_source: str = "none"
    key: bytes | None = field(default=None, repr=False)
    old_keys: tuple[bytes, ...] = field(default=(), repr=False)
    key_source: str = "none"

    def describe(self) -> str:
        """One line: the location, its connection and the key, each with its source."""
        parts = [f"journal {self.location} (from {self.location_source})"]
        if self.conn_id:
            parts.append(f"connection {self.conn_id!r} (from {self.conn_source})")
        if self.key:
            rotated = f", {len(self.old_keys)} old key(s) accepted" if self.old_keys else ""
            parts.append(f"records signed, key from {self.key_source}{rotated}")
        else:
            parts.append("records not signed")
        return "; ".join(parts)


def airflow_installed() -> bool:
    """Whether Airflow can be imported here (the CLI also runs where it is not)."""
    return importlib.util.find_spec("airflow") is not None


def airflow_option(option: str) -> str:
    """``[krkn] <option>`` from Airflow's configuration; empty without Airflow."""
    if not airflow_installed():
        return ""
    from airflow.configuration import conf

    return str(conf.get(SECTION, option, fallback="") or "").strip()


def _first(*candidates: tuple[str | Callable[[], str] | None, str]) -> tuple[str | None, str]:
    # A callable is asked only when nothing before it answered: reading Airflow's
    # configuration imports Airflow (seconds), which the CLI must not pay for nothing.
    for candidate, source in candidates:
        value = candidate() if callable(candidate) else candidate
        if value:
            return value, source
    return None, "none"


def _split_keys(text: str) -> tuple[bytes, ...]:
    return tuple(part.strip().encode() for part in text.replace("\n", ",").split(",") if part.strip())


def resolve_location(location: str | None = None) -> tuple[str, str]:
    """The journal root and where it came from: argument > ``[krkn]`` > environment > default."""
    value, source = _first(
        (location, "argument"),
        (lambda: airflow_option("rollback_location"), f"[{SECTION}] rollback_location"),
        (os.environ.get(ENV_LOCATION), f"${ENV_LOCATION}"),
    )
    return (value, source) if value else (DEFAULT_LOCATION, "default")


def resolve_conn_id(conn_id: str | None = None) -> tuple[str | None, str]:
    """The storage connection: argument > ``[krkn] rollback_conn_id`` > environment."""
    return _first(
        (conn_id, "argument"),
        (lambda: airflow_option("rollback_conn_id"), f"[{SECTION}] rollback_conn_id"),
        (os.environ.get(ENV_CONN_ID), f"${ENV_CONN_ID}"),
    )


def settings(
    *,
    location: str | None = None,
    conn_id: str | None = None,
    hmac_key: str | bytes | None = None,
    old_keys: Sequence[bytes] | None = None,
    key_variable: Callable[[str, bool], str | None] | None = None,
    create_key: Callable[[str], None] | None = None,
    connection_unused: bool = False,
) -> JournalSettings:
    """Resolve location, storage connection and signing keys in the documented order.

    :param location: journal root; wins over configuration.
    :param conn_id: Airflow connection for an object storage location.
    :param hmac_key: signing key; wins over configuration.
    :param old_keys: retired keys still accepted for reading; default from
        ``[krkn] hmac_old_keys_variable`` or ``$KRKN_ROLLBACK_HMAC_OLD_KEYS``.
    :param key_variable: reads an Airflow Variable (name, required) -> value or None. Given
        under Airflow; without it (the CLI) no Variable is read.
    :param create_key: called with the default Variable's name when it does not exist yet.
    :param connection_unused: no connection can be used (a local location, no Airflow
        access): none is looked up.
    """
    where, where_from = resolve_location(location)
    conn, conn_from = (None, "none") if connection_unused else resolve_conn_id(conn_id)
    key, key_from = _resolve_key(hmac_key, key_variable, create_key)
    if old_keys is None:
        old_keys = _resolve_old_keys(key_variable)
    return JournalSettings(where, where_from, conn, conn_from, key, tuple(old_keys), key_from)


def _resolve_key(
    hmac_key: str | bytes | None,
    key_variable: Callable[[str, bool], str | None] | None,
    create_key: Callable[[str], None] | None,
) -> tuple[bytes | None, str]:
    if hmac_key:
        return (hmac_key.encode() if isinstance(hmac_key, str) else hmac_key), "argument"
    # Only read when a Variable can be read at all (not from the CLI).
    configured = airflow_option("hmac_key_variable") if key_variable is not None else ""
    if configured and key_variable is not None:
        value = key_variable(configured, True)
        return (value or "").encode(), f"Airflow Variable {configured!r} ([{SECTION}] hmac_key_variable)"
    env = os.environ.get(ENV_KEY)
    if env:
        return env.encode(), f"${ENV_KEY}"
    if key_variable is None:
        return None, "none"
    value = key_variable(DEFAULT_KEY_VARIABLE, False)
    if value is None and create_key is not None:
        create_key(DEFAULT_KEY_VARIABLE)
        value = key_variable(DEFAULT_KEY_VARIABLE, True)
    if value is None:
        return None, "none"
    return value.encode(), f"Airflow Variable {DEFAULT_KEY_VARIABLE!r} (default)"


def _resolve_old_keys(key_variable: Callable[[str, bool], str | None] | None) -> tuple[bytes, ...]:
    name = airflow_option("hmac_old_keys_variable") if key_variable is not None else ""
    if name and key_variable is not None:
        return _split_keys(key_variable(name, True) or "")
    return _split_keys(os.environ.get(ENV_OLD_KEYS, ""))


# -- Airflow ---------------------------------------------------------------------------


def _task_sdk_context() -> bool:
    """In a task (execution API) or a server process (metadata DB): ``airflow.sdk.Variable`` works."""
    from airflow.sdk.execution_time import task_runner

    in_task = getattr(task_runner, "SUPERVISOR_COMMS", None) is not None
    return in_task or os.environ.get("_AIRFLOW_PROCESS_CONTEXT") == "server"


def _get_variable(name: str) -> str | None:
    if _task_sdk_context():
        from airflow.sdk import Variable

        value: Any = Variable.get(name, default=None)
    else:  # a script or test with the metadata DB configured
        from airflow.models.variable import Variable as VariableModel

        value = VariableModel.get(name, default_var=None)
    return None if value is None else str(value)


def _set_variable(name: str, value: str) -> None:
    description = "krkn rollback journal HMAC key (created by the first chaos task)"
    if _task_sdk_context():
        from airflow.sdk import Variable

        Variable.set(name, value, description=description)
    else:
        from airflow.models.variable import Variable as VariableModel

        VariableModel.set(name, value, description=description)


def read_variable(name: str, required: bool) -> str | None:
    """An Airflow Variable (task: execution API; api-server: metadata DB; both: secrets backends).

    :param required: a missing or empty Variable is a ``ConfigError`` naming it.
    """
    try:
        value = _get_variable(name)
    except Exception as error:  # a secrets backend that is down or denies access
        raise ConfigError(
            f"cannot read the HMAC key from Airflow Variable {name!r}: {error} "
            "(check the secrets backend, or set [krkn] hmac_key_variable to a readable Variable)"
        ) from error
    if value is None and not required:
        return None
    if not value or not str(value).strip():
        raise ConfigError(
            f"Airflow Variable {name!r} (the journal's HMAC key) is missing or empty: "
            f"set it (`airflow variables set {name} <random text>`) or fix [krkn] hmac_key_variable"
        )
    return str(value).strip()


def key_creator(store: Store, *, wait_seconds: float = KEY_WAIT_SECONDS) -> Callable[[str], None]:
    """Create the key Variable once, even when many tasks start at the same moment.

    The task that wins an exclusive create of a lock object at the journal root writes a
    random key; the others wait until the Variable can be read. Exclusive create works on
    local folders and on object stores with conditional writes (S3).
    """

    def create(name: str) -> None:
        store.check_writable()
        owner = f"{os.uname().nodename}:{os.getpid()}".encode()
        if store.backend.create_exclusive("", KEY_LOCK, owner):
            _set_variable(name, secrets.token_urlsafe(32))
            return
        deadline = time.monotonic() + wait_seconds
        while read_variable(name, False) is None:
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"Airflow Variable {name!r} (the journal's HMAC key) was not created within "
                    f"{wait_seconds:.0f} s by the task holding {store.backend.display(KEY_LOCK)}: set the "
                    f"Variable yourself (`airflow variables set {name} <random text>`) or remove the lock"
                )
            time.sleep(0.5)

    return create


def _filesystem(location: str, conn_id: str) -> Any:
    """The fsspec file system of ``location`` through Airflow connection ``conn_id``."""
    from airflow.sdk import BaseHook, ObjectStoragePath

    try:
        BaseHook.get_connection(conn_id)
    except Exception as error:  # AirflowNotFoundException, and the same from the execution API
        raise ConfigError(
            f"rollback storage connection {conn_id!r} does not exist ({error}): create it, or fix "
            f"[{SECTION}] rollback_conn_id / the operator's storage_conn_id"
        ) from error
    try:
        return ObjectStoragePath(location, conn_id=conn_id).fs
    except (ValueError, ImportError) as error:
        raise ConfigError(
            f"rollback location {location} with connection {conn_id!r}: {error} "
            "(is the provider for this storage installed, e.g. apache-airflow-providers-amazon[s3fs]?)"
        ) from error


def _is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def open_store(
    *,
    location: str | None = None,
    conn_id: str | None = None,
    hmac_key: str | bytes | None = None,
    old_keys: Sequence[bytes] | None = None,
    use_airflow: bool | None = None,
    create_key: bool = False,
) -> tuple[Store, JournalSettings]:
    """The journal, opened the one way every component opens it, and what was resolved.

    :param location: journal root; default ``[krkn] rollback_location``, then the environment.
    :param conn_id: Airflow connection for an object storage location (``ObjectStoragePath``).
    :param hmac_key: signing key; default the Variable named by ``[krkn] hmac_key_variable``,
        then ``$KRKN_ROLLBACK_HMAC_KEY``, then (under Airflow) the default Variable.
    :param old_keys: retired keys still accepted for reading.
    :param use_airflow: read Airflow Variables and connections (tasks, api-server); default:
        whenever Airflow is installed and a connection or Variable is needed.
    :param create_key: create the default key Variable when it is missing (tasks that write).
    """
    airflow = airflow_installed() if use_airflow is None else use_airflow
    where, where_from = resolve_location(location)
    # The CLI on a local journal needs no connection: do not import Airflow to look one up.
    unused = not airflow and not conn_id and not _is_remote(where)
    conn, conn_from = (None, "none") if unused else resolve_conn_id(conn_id)
    fs = None
    if conn and _is_remote(where):
        if not airflow_installed():
            raise ConfigError(
                f"storage connection {conn!r} needs Airflow installed; without it, drop the connection "
                "and give fsspec's own credentials (e.g. AWS_* environment variables)"
            )
        fs = _filesystem(where, conn)
    try:
        unsigned = Store(where, fs=fs)
    except (ValueError, ImportError) as error:
        raise ConfigError(
            f"rollback location {where}: {error} (no file system for this URL scheme: install its "
            "fsspec package or Airflow provider, e.g. s3fs / apache-airflow-providers-amazon[s3fs])"
        ) from error
    resolved = settings(
        location=where,
        conn_id=conn,
        hmac_key=hmac_key,
        old_keys=old_keys,
        key_variable=read_variable if airflow else None,
        create_key=key_creator(unsigned) if airflow and create_key else None,
        connection_unused=unused,
    )
    resolved = JournalSettings(
        where, where_from, conn, conn_from, resolved.key, resolved.old_keys, resolved.key_source
    )
    store = Store(where, fs=fs, hmac_key=resolved.key, old_keys=resolved.old_keys)
    return store, resolved


__all__ = [
    "DEFAULT_KEY_VARIABLE",
    "ENV_CONN_ID",
    "ENV_KEY",
    "ENV_OLD_KEYS",
    "JournalSettings",
    "airflow_installed",
    "open_store",
    "resolve_location",
    "settings",
]

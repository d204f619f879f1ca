"""How ``krkn-rollback`` opens the journal and picks records: location, keys, selection, one file."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from krkn_airflow_provider.errors import ConfigError, KrknError, UnsafeName
from krkn_airflow_provider.rollback import naming
from krkn_airflow_provider.rollback.storage import LocalBackend
from krkn_airflow_provider.rollback.store import Entry, Store

HMAC_ENV = "KRKN_ROLLBACK_HMAC_KEY"

KEY_HINT = (
    f"pass the journal's HMAC key with {HMAC_ENV}=<key> or --hmac-key-file PATH (under Airflow it is "
    "the Variable named by [krkn] hmac_key_variable, default krkn_rollback_hmac_key: "
    "`airflow variables get krkn_rollback_hmac_key`)"
)


def _read_key_file(path: str, option: str) -> bytes:
    try:
        key = Path(path).expanduser().read_bytes().strip()
    except OSError as error:
        raise ConfigError(f"{option} {path}: cannot read it ({error.strerror or error})") from error
    if not key:
        raise ConfigError(f"{option} {path}: the file is empty; it must hold the key")
    return key


def open_store(args: argparse.Namespace, *, must_exist: bool = False) -> Store:
    """The journal as every component opens it (``settings.open_store``), said on stderr.

    Location and storage connection: options, else Airflow's ``[krkn]`` settings when Airflow
    is installed, else the environment. Key: ``--hmac-key-file``, else ``$KRKN_ROLLBACK_HMAC_KEY``.
    A bad location is bad input (exit 2), said before anything is read.

    :param must_exist: refuse a local location that does not exist (a typo must not look
        like a journal with nothing pending).
    """
    from krkn_airflow_provider import settings

    location = args.location
    if location is not None and not location.strip():
        raise ConfigError(
            "--location is empty: give a path or URL, or leave it out for $KRKN_ROLLBACK_LOCATION"
        )
    key_file = getattr(args, "hmac_key_file", None)
    old_files = getattr(args, "old_hmac_key_file", None) or []
    store, resolved = settings.open_store(
        location=location,
        conn_id=getattr(args, "conn_id", None),
        hmac_key=_read_key_file(key_file, "--hmac-key-file") if key_file else None,
        old_keys=[_read_key_file(path, "--old-hmac-key-file") for path in old_files] or None,
        use_airflow=False,  # no metadata DB from here: the key comes from a file or the environment
    )
    source = f"--hmac-key-file {key_file}" if key_file else resolved.key_source
    line = resolved.describe().replace(f"key from {resolved.key_source}", f"key from {source}")
    print(f"krkn-rollback: {line}", file=sys.stderr)
    if isinstance(store.backend, LocalBackend):
        root = Path(store.backend.root)
        if root.exists() and not root.is_dir():
            raise ConfigError(f"location {root} is not a folder (it is a file); point it at the journal root")
        if must_exist and not root.exists():
            raise ConfigError(f"location {root} does not exist; check --location or $KRKN_ROLLBACK_LOCATION")
    return store


def require_match(store: Store, args: argparse.Namespace) -> None:
    """Refuse a selection that names a run, record, scenario or DAG the journal does not hold."""
    given = [
        (option, value)
        for option, value in (
            ("--run-uuid", args.run_uuid),
            ("--dag-id", args.dag_id),
            ("--task-id", args.task_id),
            ("--scenario", args.scenario),
            ("--record", " ".join(args.record or [])),
        )
        if value
    ]
    if not given:
        return
    entries = select(store, argparse.Namespace(**{**vars(args), "state": None}))
    if args.record:
        known = {entry.id for entry in entries}
        unknown = [record_id for record_id in args.record if record_id not in known]
        if unknown:
            given = [("--record", " ".join(unknown))]
            entries = []
    if not entries:
        selection = " ".join(f"{option} {value}" for option, value in given)
        raise ConfigError(
            f"{selection} matches no record under {store.backend.display()}; see `krkn-rollback list`"
        )


def selected(args: argparse.Namespace) -> bool:
    names = ("run_uuid", "run_id", "dag_id", "task_id", "scenario", "record")
    return any(getattr(args, name, None) for name in names)


def select(store: Store, args: argparse.Namespace) -> list[Entry]:
    entries = store.entries(
        run_uuid=args.run_uuid, scenario=args.scenario, state=getattr(args, "state", None)
    )
    for key in ("dag_id", "run_id"):
        wanted = getattr(args, key, None)
        if wanted:
            runs = {
                context.run_uuid
                for context in {entry.context for entry in entries}
                if store.context_info(context).get(key) == wanted
            }
            entries = [entry for entry in entries if entry.run_uuid in runs]
    if args.task_id:
        entries = [
            stored.entry for stored in store.records(entries=entries) if stored.task_id == args.task_id
        ]
    return entries


def find_entry(store: Store, target: str) -> tuple[Store, Entry]:
    """The version file named by a path, a file name or a record id, and its store."""
    path = Path(target)
    stem = re.sub(r"\.py(\.executed)?$", "", path.name)
    try:
        record_name, _ = naming.parse_record_name(stem + naming.PENDING_EXT)
    except UnsafeName:
        raise ConfigError(
            f"show: {target!r} is not a version file name, record id or run uuid; give a version file "
            "path, its name (<scenario>_<ts_ns>_<8 letters>.py), its record id (the name without .py) "
            "or a run uuid (see krkn-rollback list)"
        ) from None
    if naming.CONTEXT_RE.fullmatch(path.parent.name):
        # A path into a run folder: its root is the store, whatever --location says.
        store = Store(str(path.parent.parent), hmac_key=store.hmac_key, old_keys=store.old_keys)
    for entry in store.entries():
        if entry.name == record_name:
            return store, entry
    raise ConfigError(f"{target}: no such version file under {store.backend.display()}")


def run_uuid_of(text: str) -> str | None:
    """``text`` as a run uuid, or None when it is not one."""
    try:
        return naming.check_run_uuid(text.strip())
    except KrknError:
        return None

"""``krkn-rollback``: list, show, verify, execute and prune the rollback journal without Airflow.

Each subcommand is one function below; ``main`` maps every error to one message line and
an exit code (0 all done, 1 some records failed or a place could not be reached, 2 bad
input); no traceback reaches the user unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from krkn_airflow_provider.errors import ConfigError, KrknError, UnsafeName
from krkn_airflow_provider.rollback import naming
from krkn_airflow_provider.rollback.policy import check_policy
from krkn_airflow_provider.rollback.replay import replay
from krkn_airflow_provider.rollback.storage import LocalBackend
from krkn_airflow_provider.rollback.store import Entry, Store

HMAC_ENV = "KRKN_ROLLBACK_HMAC_KEY"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_DURATION_RE = re.compile(r"(\d{1,12}(?:\.\d{1,9})?)([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_AGE_SECONDS = 100 * 365 * 86400
_NAMESPACE_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def parse_duration(text: str) -> float:
    """Seconds in ``30s``, ``15m``, ``12h``, ``7d`` or ``2w`` (at most 100 years)."""
    match = _DURATION_RE.fullmatch(text.strip())
    if not match:
        raise ConfigError(f"--older-than {text[:40]!r}: use a number with s, m, h, d or w, e.g. 7d")
    seconds = float(match[1]) * _UNITS[match[2]]
    if seconds > MAX_AGE_SECONDS:
        raise ConfigError(f"--older-than {text[:40]!r}: at most 100 years")
    return seconds


def open_store(location: str | None, *, must_exist: bool = False) -> Store:
    """The journal at ``location``; bad locations are bad input (exit 2), said up front.

    :param must_exist: refuse a local location that does not exist (a typo must not look
        like a journal with nothing pending).
    """
    if location is not None and not location.strip():
        raise ConfigError(
            "--location is empty: give a path or URL, or leave it out for $KRKN_ROLLBACK_LOCATION"
        )
    key = os.environ.get(HMAC_ENV)
    try:
        store = Store(location, hmac_key=key.encode() if key else None)
    except ImportError as error:
        scheme = (location or "").partition("://")[0]
        raise ConfigError(
            f"location {location!r}: the fsspec library for {scheme}:// is not installed ({error})"
        ) from error
    except ValueError as error:
        raise ConfigError(f"location {location!r}: {error}") from error
    if isinstance(store.backend, LocalBackend):
        root = Path(store.backend.root)
        if root.exists() and not root.is_dir():
            raise ConfigError(f"location {root} is not a folder (it is a file); point it at the journal root")
        if must_exist and not root.exists():
            raise ConfigError(f"location {root} does not exist; check --location or $KRKN_ROLLBACK_LOCATION")
    return store


def _require_match(store: Store, args: argparse.Namespace) -> None:
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
    entries = _select(store, argparse.Namespace(**{**vars(args), "state": None}))
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


def _select(store: Store, args: argparse.Namespace) -> list[Entry]:
    entries = store.entries(
        run_uuid=args.run_uuid, scenario=args.scenario, state=getattr(args, "state", None)
    )
    if args.dag_id:
        runs = {
            context.run_uuid
            for context in {entry.context for entry in entries}
            if store.context_info(context).get("dag_id") == args.dag_id
        }
        entries = [entry for entry in entries if entry.run_uuid in runs]
    if args.task_id:
        entries = [entry for entry in entries if _task_id(store, entry) == args.task_id]
    return entries


def _task_id(store: Store, entry: Entry) -> str | None:
    try:
        origin = store.load(entry).data.get("origin") or {}
    except KrknError:
        return None
    task_id = origin.get("task_id")
    return str(task_id) if task_id is not None else None


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """List version files by run, with their state."""
    store = open_store(args.location)
    entries = _select(store, args)
    runs: dict[Any, list[Entry]] = {}
    for entry in entries:
        runs.setdefault(entry.context, []).append(entry)
    if args.format == "json":
        data = []
        for context, items in runs.items():
            info = store.context_info(context)
            data.append(
                {
                    "context": context.name,
                    "run_uuid": context.run_uuid,
                    "dag_id": info.get("dag_id"),
                    "run_id": info.get("run_id"),
                    "records": [
                        {"id": e.id, "scenario": e.name.scenario, "state": e.state, "path": store.path(e)}
                        for e in items
                    ],
                }
            )
        json.dump(data, out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not entries:
        out.write(f"no version files under {store.backend.display()}\n")
        return EXIT_OK
    if args.format == "table":
        out.write(f"{'RUN UUID':36}  {'STATE':8}  {'SCENARIO':32}  FILE\n")
        for entry in entries:
            out.write(f"{entry.run_uuid:36}  {entry.state:8}  {entry.name.scenario:32}  {entry.file_name}\n")
        return EXIT_OK
    out.write(f"{store.backend.display()}/\n")
    for context, items in runs.items():
        info = store.context_info(context)
        pending = sum(1 for e in items if e.state == "pending")
        label = f"dag {info['dag_id']}, run {info.get('run_id')}" if info.get("dag_id") else "run from CLI"
        out.write(f"  {context.name}/  ({label}; {pending} pending, {len(items) - pending} executed)\n")
        for entry in items:
            out.write(f"    {entry.file_name}  [{entry.state}]\n")
    return EXIT_OK


def _find_entry(store: Store, target: str) -> tuple[Store, Entry]:
    """The version file named by a path, a file name or a record id, and its store."""
    path = Path(target)
    stem = re.sub(r"\.py(\.executed)?$", "", path.name)
    record_name, _ = naming.parse_record_name(stem + naming.PENDING_EXT)
    if naming.CONTEXT_RE.fullmatch(path.parent.name):
        # A path into a run folder: its root is the store, whatever --location says.
        store = Store(str(path.parent.parent), hmac_key=store.hmac_key, old_keys=store.old_keys)
    for entry in store.entries():
        if entry.name == record_name:
            return store, entry
    raise ConfigError(f"{target}: no such version file under {store.backend.display()}")


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    """Print a version file's header and its record, verified."""
    store, entry = _find_entry(open_store(args.location), args.file)
    parsed = store.load(entry)
    if args.format == "json":
        document = {
            "path": store.path(entry),
            "state": entry.state,
            "digest": parsed.digest,
            "record": parsed.data,
        }
        json.dump(document, out, indent=2)
        out.write("\n")
        return EXIT_OK
    out.write(f"file:    {store.path(entry)}\nstate:   {entry.state}\ndigest:  {parsed.digest} (verified)\n")
    header = [line[2:] for line in parsed.header.splitlines() if line.startswith("# ") and ":" in line][:7]
    out.writelines(f"  {line}\n" for line in header)
    out.write("record:\n")
    out.write(json.dumps(parsed.data, indent=2) + "\n")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    """Check version files before anyone runs them: digest, run and state, replay policy."""
    store = open_store(args.location)
    if bool(args.file) == bool(args.run_uuid):
        raise ConfigError("verify: give a FILE (path, file name or record id) or --run-uuid, one of them")
    if args.file:
        store, entry = _find_entry(store, args.file)
        entries = [entry]
    else:
        entries = store.entries(run_uuid=args.run_uuid)
        if not entries:
            raise ConfigError(
                f"no run {args.run_uuid} under {store.backend.display()}; see `krkn-rollback list`"
            )
    refused = 0
    for entry in entries:
        try:
            parsed = store.load(entry)
            check_policy(parsed.data, source=store.path(entry))
        except KrknError as error:
            refused += 1
            out.write(f"refused  {store.path(entry)}: {error}\n")
            continue
        algorithm = parsed.digest.partition(":")[0]
        out.write(f"ok       {store.path(entry)}  ({algorithm}, run {entry.run_uuid}, {entry.state})\n")
    return EXIT_FAILED if refused else EXIT_OK


def dynamic_client(kubeconfig: str | None, context: str | None) -> Any:
    """A ``DynamicClient`` from a kubeconfig (or in-cluster config when none is given)."""
    from kubernetes import config, dynamic
    from kubernetes.client import ApiClient

    if kubeconfig or context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            api = config.new_client_from_config(config_file=kubeconfig, context=context)
        except Exception as error:  # missing file, not YAML, no such context
            reason = " ".join(str(error).split())[:300]
            raise ConfigError(f"cannot load kubeconfig {kubeconfig or '~/.kube/config'}: {reason}") from error
    else:
        config.load_incluster_config()
        api = ApiClient()
    try:
        return dynamic.DynamicClient(api)  # discovery: the first request to the server
    except Exception as error:
        raise KrknError(_unreachable(api.configuration.host, error)) from error


def _unreachable(host: str, error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    return f"cannot reach the Kubernetes API server at {host}: {' '.join(str(reason).split())[:300]}"


def cmd_execute(args: argparse.Namespace, out: TextIO) -> int:
    """Apply pending records, newest first; mark each that succeeds ``.executed``."""
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: must be at least 1")
    store = open_store(args.location, must_exist=True)
    _require_match(store, args)
    only = None
    if args.dag_id or args.record:
        args.state = "pending"
        only = [entry.id for entry in _select(store, args)]
        if args.record:
            only = [record_id for record_id in only if record_id in set(args.record)]
    client = dynamic_client(args.kubeconfig, args.context)

    from krkn_airflow_provider.report.progress import ReplayProgress

    log = ReplayProgress(out)  # one line per record; a progress bar too on a terminal
    try:
        summary = replay(
            store,
            client,
            run_uuid=args.run_uuid,
            scenario=args.scenario,
            task_id=args.task_id,
            only=only,
            dry_run=args.dry_run,
            workers=args.workers,
            log=log,
            steal_expired=args.steal_expired,
        )
    finally:
        log.close()
    out.write(summary.line() + "\n")
    for result in summary.pending:
        out.write(f"still pending: {store.path(result.entry)}: {result.message}\n")
    return EXIT_OK if summary.ok else EXIT_FAILED


def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    """Remove run folders older than --older-than whose records are all executed."""
    store = open_store(args.location)
    seconds = parse_duration(args.older_than)
    removed = store.prune(
        older_than_seconds=seconds, include_pending=args.include_pending, dry_run=args.dry_run
    )
    verb = "would remove" if args.dry_run else "removed"
    for context in removed:
        out.write(f"{verb} {store.backend.display(context.name)}\n")
    out.write(f"{verb} {len(removed)} run folder(s)\n")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace, out: TextIO) -> int:
    """Find objects the provider created that no pending record covers; --delete removes them."""
    from krkn_airflow_provider.rollback.sweep import find_leftovers, remove_leftover

    if args.run_uuid is not None:
        args.run_uuid = naming.check_run_uuid(args.run_uuid)
    if args.namespace is not None and not _NAMESPACE_RE.fullmatch(args.namespace):
        raise ConfigError(
            f"--namespace {args.namespace[:80]!r} is not a namespace name (lowercase DNS label)"
        )
    store = open_store(args.location)
    client = dynamic_client(args.kubeconfig, args.context)
    leftovers = find_leftovers(store, client, run_uuid=args.run_uuid, namespace=args.namespace)
    failed = 0
    for leftover in leftovers:
        if not args.delete:
            out.write(f"leftover: {leftover.describe()}\n")
            continue
        outcome = remove_leftover(client, leftover)
        failed += outcome.startswith("failed")
        out.write(f"{outcome}: {leftover.describe()}\n")
    verb = "removed" if args.delete else "found (run again with --delete to remove)"
    out.write(f"{len(leftovers) - failed} leftover object(s) {verb}\n")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    """Render a run's gameday report (HTML and JUnit XML) next to its version files."""
    from krkn_airflow_provider.report import write_report

    store = open_store(args.location)
    if not store.contexts(naming.check_run_uuid(args.run_uuid)):
        raise ConfigError(f"no run {args.run_uuid} under {store.backend.display()}; see `krkn-rollback list`")
    if args.output is not None and os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ConfigError(f"--output {args.output} is a file; give a folder")
    files = write_report(store, args.run_uuid, output=args.output)
    counts = files.report.counts
    score = files.report.score().value
    out.write(f"html:  {files.html}\njunit: {files.junit}\n")
    out.write(
        f"score {'-' if score is None else score}; {len(files.report.tasks)} scenario task(s); records: "
        f"{counts['executed']} executed, {counts['pending']} pending, {counts['failed']} failed\n"
    )
    return EXIT_OK


def _filters(parser: argparse.ArgumentParser, *, state: bool) -> None:
    parser.add_argument("--run-uuid", "-r", help="only this run")
    parser.add_argument("--dag-id", help="only runs of this DAG")
    parser.add_argument("--task-id", help="only records written by this task")
    parser.add_argument("--scenario", "-s", help="only this scenario type, e.g. pod_disruption_scenarios")
    if state:
        parser.add_argument("--state", choices=["pending", "executed"], help="only records in this state")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="krkn-rollback", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--location",
        "-l",
        help="journal root: a path or fsspec URL (default: $KRKN_ROLLBACK_LOCATION, else ~/.krkn/rollback)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help=cmd_list.__doc__)
    _filters(listing, state=True)
    listing.add_argument("--format", choices=["tree", "table", "json"], default="tree")
    listing.add_argument(
        "--json", dest="format", action="store_const", const="json", help="same as --format json"
    )
    listing.set_defaults(func=cmd_list)

    show = commands.add_parser("show", help=cmd_show.__doc__)
    show.add_argument("file", help="a version file path, file name or record id")
    show.add_argument("--json", dest="format", action="store_const", const="json", default="text")
    show.set_defaults(func=cmd_show)

    verify = commands.add_parser("verify", help=cmd_verify.__doc__)
    verify.add_argument("file", nargs="?", help="a version file path, file name or record id")
    verify.add_argument("--run-uuid", "-r", help="every version file of this run")
    verify.set_defaults(func=cmd_verify)

    execute = commands.add_parser("execute", help=cmd_execute.__doc__)
    _filters(execute, state=False)
    execute.add_argument("--record", action="append", help="only this record id (repeatable)")
    execute.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    execute.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    execute.add_argument("--context", help="kubeconfig context")
    execute.add_argument(
        "--workers", type=int, default=1, help="apply records of different objects in parallel"
    )
    execute.add_argument(
        "--steal-expired",
        action="store_true",
        help="take over records whose claim its owner stopped renewing (the owner died)",
    )
    execute.set_defaults(func=cmd_execute)

    prune = commands.add_parser("prune", help=cmd_prune.__doc__)
    prune.add_argument("--older-than", required=True, help="age such as 7d, 12h, 30m")
    prune.add_argument("--include-pending", action="store_true", help="also remove runs with pending records")
    prune.add_argument("--dry-run", action="store_true")
    prune.set_defaults(func=cmd_prune)
    sweep = commands.add_parser("sweep", help=cmd_sweep.__doc__)
    sweep.add_argument("--run-uuid", "-r", help="only objects of this run")
    sweep.add_argument("--namespace", "-n", help="only this namespace (default: all)")
    sweep.add_argument("--delete", action="store_true", help="delete what is found (default: only list)")
    sweep.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    sweep.add_argument("--context", help="kubeconfig context")
    sweep.set_defaults(func=cmd_sweep)

    report = commands.add_parser("report", help=cmd_report.__doc__)
    report.add_argument("run_uuid", metavar="RUN_UUID", help="the run's uuid (see `list`)")
    report.add_argument("--output", "-o", help="write into this local folder instead of the run folder")
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args, out)
        return code
    except KrknError as error:
        if args.debug:
            raise
        print(f"krkn-rollback: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(error, ConfigError | UnsafeName) else EXIT_FAILED
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("krkn-rollback: error: interrupted; pending records stay pending", file=sys.stderr)
        return 130
    except Exception as error:  # anything else still gets one line, never a traceback
        if args.debug:
            raise
        print(f"krkn-rollback: error: {_unexpected(error)} (--debug shows the traceback)", file=sys.stderr)
        return EXIT_FAILED


def _unexpected(error: Exception) -> str:
    import urllib3

    if isinstance(error, urllib3.exceptions.HTTPError):
        pool = getattr(error, "pool", None)
        host = f"{pool.scheme}://{pool.host}:{pool.port}" if pool is not None else "its address"
        return _unreachable(host, error)
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        return f"{error.strerror or error}{where}"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"


if __name__ == "__main__":
    raise SystemExit(main())

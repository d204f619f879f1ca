"""``krkn-rollback``: list, show, execute and prune the rollback journal without Airflow.

Each subcommand is one function below; ``main`` maps the provider's errors to a message
and an exit code (0 all done, 1 some records failed, 2 bad input), ``--debug`` re-raises.
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
from krkn_airflow_provider.rollback.replay import replay
from krkn_airflow_provider.rollback.store import Entry, Store

HMAC_ENV = "KRKN_ROLLBACK_HMAC_KEY"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in ``30s``, ``15m``, ``12h``, ``7d`` or ``2w``."""
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise ConfigError(f"--older-than {text!r}: use a number with s, m, h, d or w, e.g. 7d")
    return float(match[1]) * _UNITS[match[2]]


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


def open_store(args: argparse.Namespace) -> Store:
    """The journal as every component opens it (``settings.open_store``), said on stderr.

    Location and storage connection: options, else Airflow's ``[krkn]`` settings when Airflow
    is installed, else the environment. Key: ``--hmac-key-file``, else ``$KRKN_ROLLBACK_HMAC_KEY``.
    """
    from krkn_airflow_provider import settings

    key_file = getattr(args, "hmac_key_file", None)
    old_files = getattr(args, "old_hmac_key_file", None) or []
    store, resolved = settings.open_store(
        location=args.location,
        conn_id=getattr(args, "conn_id", None),
        hmac_key=_read_key_file(key_file, "--hmac-key-file") if key_file else None,
        old_keys=[_read_key_file(path, "--old-hmac-key-file") for path in old_files] or None,
        use_airflow=False,  # no metadata DB from here: the key comes from a file or the environment
    )
    source = f"--hmac-key-file {key_file}" if key_file else resolved.key_source
    line = resolved.describe().replace(f"key from {resolved.key_source}", f"key from {source}")
    print(f"krkn-rollback: {line}", file=sys.stderr)
    return store


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
    store = open_store(args)
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
    if naming.CONTEXT_RE.match(path.parent.name):
        # A path into a run folder: its root is the store, whatever --location says.
        store = Store(str(path.parent.parent), hmac_key=store.hmac_key, old_keys=store.old_keys)
    for entry in store.entries():
        if entry.name == record_name:
            return store, entry
    raise ConfigError(f"{target}: no such version file under {store.backend.display()}")


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    """Print a version file's header and its record, verified."""
    store, entry = _find_entry(open_store(args), args.file)
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


def dynamic_client(kubeconfig: str | None, context: str | None) -> Any:
    """A ``DynamicClient`` from a kubeconfig (or in-cluster config when none is given)."""
    from kubernetes import config, dynamic
    from kubernetes.client import ApiClient

    if kubeconfig or context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            api = config.new_client_from_config(config_file=kubeconfig, context=context)
        except (config.ConfigException, OSError) as error:
            raise ConfigError(f"cannot load kubeconfig {kubeconfig or '~/.kube/config'}: {error}") from error
    else:
        config.load_incluster_config()
        api = ApiClient()
    return dynamic.DynamicClient(api)


def cmd_execute(args: argparse.Namespace, out: TextIO) -> int:
    """Apply pending records, newest first; mark each that succeeds ``.executed``."""
    store = open_store(args)
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
        )
    finally:
        log.close()
    out.write(summary.line() + "\n")
    for result in summary.pending:
        out.write(f"still pending: {store.path(result.entry)}: {result.message}\n")
    if not store.hmac_key and any("HMAC key" in result.message for result in summary.pending):
        out.write(f"hint: {KEY_HINT}\n")
    return EXIT_OK if summary.ok else EXIT_FAILED


def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    """Remove run folders older than --older-than whose records are all executed."""
    store = open_store(args)
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

    store = open_store(args)
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

    store = open_store(args)
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
        help="journal root: a path or fsspec URL (default: [krkn] rollback_location when Airflow is "
        "installed, else $KRKN_ROLLBACK_LOCATION, else ~/.krkn/rollback)",
    )
    parser.add_argument(
        "--conn-id",
        help="Airflow connection for an object storage location (default: [krkn] rollback_conn_id, "
        "else $KRKN_ROLLBACK_CONN_ID); needs Airflow installed",
    )
    parser.add_argument("--hmac-key-file", help=f"file holding the journal's HMAC key (default: ${HMAC_ENV})")
    parser.add_argument(
        "--old-hmac-key-file",
        action="append",
        help="file holding a retired key whose signatures are still accepted (repeatable; default: "
        "$KRKN_ROLLBACK_HMAC_OLD_KEYS, comma-separated)",
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

    execute = commands.add_parser("execute", help=cmd_execute.__doc__)
    _filters(execute, state=False)
    execute.add_argument("--record", action="append", help="only this record id (repeatable)")
    execute.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    execute.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    execute.add_argument("--context", help="kubeconfig context")
    execute.add_argument(
        "--workers", type=int, default=1, help="apply records of different objects in parallel"
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
        if "HMAC key" in str(error) and "configure" in str(error):
            print(f"krkn-rollback: hint: {KEY_HINT}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(error, ConfigError | UnsafeName) else EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())

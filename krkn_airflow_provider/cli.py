"""``krkn-rollback``: list, show, verify, execute, prune, sweep and report on the rollback journal.

Each verb is one function below, registered with ``@command`` (help from its docstring,
options from small builders); ``main`` maps every error to one message line and an exit
code (0 all done, 1 some records failed or a place could not be reached, 2 bad input); no
traceback reaches the user unless ``--debug`` is given. Options go before or after the
verb, as with kubectl. Nothing here needs Airflow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from krkn_airflow_provider import cli_args
from krkn_airflow_provider.cli_args import (
    cluster,
    command,
    flag,
    output,
    plain,
    selection,
)
from krkn_airflow_provider.errors import ConfigError, KrknError, UnsafeName
from krkn_airflow_provider.report.tables import age, table
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

# -- shared helpers ------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds in ``30s``, ``15m``, ``12h``, ``7d`` or ``2w`` (at most 100 years)."""
    match = _DURATION_RE.fullmatch(text.strip())
    if not match:
        raise ConfigError(f"--older-than {text[:40]!r}: use a number with s, m, h, d or w, e.g. 7d")
    seconds = float(match[1]) * _UNITS[match[2]]
    if seconds > MAX_AGE_SECONDS:
        raise ConfigError(f"--older-than {text[:40]!r}: at most 100 years")
    return seconds


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


def _dump(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, default=str)
    out.write("\n")


def _selected(args: argparse.Namespace) -> bool:
    names = ("run_uuid", "run_id", "dag_id", "task_id", "scenario", "record")
    return any(getattr(args, name, None) for name in names)


def _select(store: Store, args: argparse.Namespace) -> list[Entry]:
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


def _age(entry: Entry, now: float) -> str:
    return age(now - entry.name.ts_ns / 1e9)


def _nothing_matches(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    total = store.entries()
    where = store.backend.display()
    if not total:
        out.write(f"no version files under {where}\n")
        return EXIT_OK
    asked = [
        f"{name.replace('_', '-')} {getattr(args, name)}"
        for name in ("state", "run_uuid", "run_id", "dag_id", "task_id", "scenario")
        if getattr(args, name, None)
    ]
    states = {state: sum(1 for entry in total if entry.state == state) for state in ("pending", "executed")}
    out.write(
        f"no version files match ({', '.join(asked)}) under {where}; "
        f"it holds {states['pending']} pending and {states['executed']} executed\n"
    )
    return EXIT_OK


# -- verbs ---------------------------------------------------------------------------


@command("list", selection(state=True), output("tree"))
def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """List version files by run, with their state.

    -o tree (default) groups them by run folder; -o table prints one row per file with
    DAG, RUN ID and AGE; -o wide adds the task, try and what each record undoes.
    """
    store = open_store(args)
    entries = _select(store, args)
    runs: dict[Any, list[Entry]] = {}
    for entry in entries:
        runs.setdefault(entry.context, []).append(entry)
    infos = {context: store.context_info(context) for context in runs}
    if args.format == "json":
        _dump(
            [
                {
                    "context": context.name,
                    "run_uuid": context.run_uuid,
                    "dag_id": infos[context].get("dag_id"),
                    "run_id": infos[context].get("run_id"),
                    "records": [
                        {"id": e.id, "scenario": e.name.scenario, "state": e.state, "path": store.path(e)}
                        for e in items
                    ],
                }
                for context, items in runs.items()
            ],
            out,
        )
        return EXIT_OK
    if not entries:
        return _nothing_matches(store, args, out)
    now = time.time()
    if args.format in ("table", "wide"):
        headers = ["DAG", "RUN ID", "RUN UUID", "STATE", "SCENARIO", "AGE", "FILE"]
        wide = args.format == "wide"
        if wide:
            headers += ["TASK", "UNDO"]
        rows = []
        for entry in entries:
            info = infos[entry.context]
            row = [info.get("dag_id"), info.get("run_id"), entry.run_uuid, entry.state, entry.name.scenario]
            row += [_age(entry, now), store.path(entry) if wide else entry.file_name]
            if wide:
                parsed = _wide_cells(store, entry)
                row += parsed
            rows.append(row)
        out.write(table(headers, rows, limit=None if wide else 60) + "\n")
        return EXIT_OK
    out.write(f"{store.backend.display()}/\n")
    for context, items in runs.items():
        info = infos[context]
        pending = sum(1 for e in items if e.state == "pending")
        label = f"dag {info['dag_id']}, run {info.get('run_id')}" if info.get("dag_id") else "run from CLI"
        out.write(f"  {context.name}/  ({label}; {pending} pending, {len(items) - pending} executed)\n")
        for entry in items:
            out.write(f"    {entry.file_name}  [{entry.state}]  {_age(entry, now)}\n")
    return EXIT_OK


def _wide_cells(store: Store, entry: Entry) -> list[str]:
    stored = store.read(entry)
    if stored.record is None:
        return ["-", f"unreadable: {stored.error}"]
    origin = stored.record.origin
    task, try_number = (origin.task_id, origin.try_number) if origin is not None else (None, None)
    return [f"{task} #{try_number}", stored.record.description]


def _find_entry(store: Store, target: str) -> tuple[Store, Entry]:
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


def _run_uuid(text: str) -> str | None:
    try:
        return naming.check_run_uuid(text.strip())
    except KrknError:
        return None


@command(
    "show",
    flag("target", metavar="FILE_OR_RUN", help="a version file path, file name or record id; or a run uuid"),
    output("table"),
)
def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    """Print a version file's header and its record, verified; or a run: its records and verdict."""
    store = open_store(args)
    run_uuid = _run_uuid(args.target)
    if run_uuid is not None:
        return _show_run(store, run_uuid, args, out)
    store, entry = _find_entry(store, args.target)
    parsed = store.load(entry)
    if args.format == "json":
        _dump(
            {"path": store.path(entry), "state": entry.state, "digest": parsed.digest, "record": parsed.data},
            out,
        )
        return EXIT_OK
    out.write(f"file:    {store.path(entry)}\nstate:   {entry.state}\ndigest:  {parsed.digest} (verified)\n")
    # The whole comment header (what it undoes, where from, how to run it by hand).
    header = [
        line[2:] if line.startswith("# ") else line[1:]
        for line in parsed.header.splitlines()
        if line.startswith("#") and not line.startswith("#!")
    ]
    out.writelines(f"  {line}".rstrip() + "\n" for line in header)
    out.write("record:\n")
    out.write(json.dumps(parsed.data, indent=2) + "\n")
    return EXIT_OK


def _show_run(store: Store, run_uuid: str, args: argparse.Namespace, out: TextIO) -> int:
    from krkn_airflow_provider.report import build_report

    report = build_report(store, run_uuid)
    if args.format == "json":
        _dump(report.to_dict(), out)
        return EXIT_OK
    verdict, score = report.verdict(), report.score()
    out.write(f"run:      {run_uuid}\nDAG:      {report.dag_id or '-'}\nrun id:   {report.run_id or '-'}\n")
    out.write(f"folder:   {', '.join(report.contexts)}\nverdict:  {verdict.word}: {verdict.text}\n")
    out.write(f"score:    {'-' if score.value is None else score.value}\n")
    tasks = [
        [f"{task.get('task_id')}", task.get("try_number"), task.get("state"), task.get("airflow_state")]
        for task in report.tasks
    ]
    if tasks:
        out.write("\n" + table(["TASK", "TRY", "STATE", "AIRFLOW STATE"], tasks) + "\n")
    records = [
        [row.id, row.state, row.task_id, row.outcome or "-", row.description] for row in report.records
    ]
    if records:
        out.write("\n" + table(["RECORD", "STATE", "TASK", "LAST REPLAY", "UNDO"], records) + "\n")
    return EXIT_OK


@command(
    "verify",
    flag("file", nargs="?", help="a version file path, file name or record id"),
    flag("--run-uuid", "--run_uuid", "-r", help="every version file of this run"),
)
def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    """Check version files before anyone runs them: digest, run and state, replay policy."""
    store = open_store(args)
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
    for stored in store.records(entries=entries):
        entry = stored.entry
        try:
            parsed = stored.unwrap()
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


@command(
    "execute",
    selection(),
    flag("--record", action="append", help="only this record id (repeatable)"),
    flag("--all", dest="all_runs", action="store_true", help="replay every pending record of every run"),
    flag("--dry-run", action="store_true", help="print what would be done, change nothing"),
    cluster,
    flag("--workers", type=int, default=1, help="apply records of different objects in parallel"),
    flag(
        "--steal-expired",
        action="store_true",
        help="take over records whose claim its owner stopped renewing (the owner died)",
    ),
    output("table"),
)
def cmd_execute(args: argparse.Namespace, out: TextIO) -> int:
    """Apply pending records, newest first; mark each that succeeds executed.

    Give a selection (--run-uuid, --run-id, --dag-id, --task-id, --scenario, --record)
    or --all. The outcomes go into the run's folder, so its gameday report shows the replay.
    """
    if not (_selected(args) or args.all_runs):
        raise ConfigError(
            "execute: give a selection (--run-uuid, --run-id, --dag-id, --task-id, --scenario, --record) "
            "or --all to replay every pending record of every run"
        )
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: must be at least 1")
    store = open_store(args, must_exist=True)
    _require_match(store, args)
    only = None
    if args.dag_id or args.run_id or args.record:
        args.state = "pending"
        only = [entry.id for entry in _select(store, args)]
        if args.record:
            only = [record_id for record_id in only if record_id in set(args.record)]
    client = dynamic_client(args.kubeconfig, args.context)

    from krkn_airflow_provider.report.progress import ReplayProgress

    # One line per record (a progress bar too on a terminal); on stderr when stdout is JSON.
    log = ReplayProgress(sys.stderr if args.format == "json" else out)
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
    reports = _record_replay(store, summary.to_dict())
    if args.format == "json":
        _dump({**summary.to_dict(), "reports": reports}, out)
        return EXIT_OK if summary.ok else EXIT_FAILED
    out.write(summary.line() + "\n")
    for result in summary.pending:
        out.write(f"still pending: {store.path(result.entry)}: {result.message}\n")
    for where in reports:
        out.write(f"gameday report: {where}\n")
    if not store.hmac_key and any("HMAC key" in result.message for result in summary.pending):
        out.write(f"hint: {KEY_HINT}\n")
    return EXIT_OK if summary.ok else EXIT_FAILED


def _record_replay(store: Store, summary: dict[str, Any]) -> list[str]:
    """Write the replay's outcomes into each run's folder; re-render reports already written."""
    from krkn_airflow_provider.report import REPORT_HTML, write_replay_outcomes, write_report

    by_run: dict[str, list[dict[str, Any]]] = {}
    for record in summary.get("records") or []:
        by_run.setdefault(str(record.get("run_uuid")), []).append(record)
    reports = []
    for run_uuid, records in by_run.items():
        try:
            write_replay_outcomes(store, run_uuid, {**summary, "records": records}, source="krkn-rollback")
            contexts = store.contexts(run_uuid)
            if any(REPORT_HTML in store.backend.list_files(context.name) for context in contexts):
                reports.append(write_report(store, run_uuid).html)
        except (KrknError, OSError) as error:
            # The replay itself is done and marked; only its trace for the report is missing.
            print(
                f"krkn-rollback: warning: could not record the replay of run {run_uuid}: {error}",
                file=sys.stderr,
            )
    return reports


@command(
    "prune",
    flag("--older-than", required=True, help="age such as 7d, 12h, 30m"),
    flag("--include-pending", action="store_true", help="also remove runs with pending records"),
    flag("--dry-run", action="store_true", help="print what would be removed, remove nothing"),
    output("table"),
)
def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    """Remove run folders older than --older-than whose records are all executed."""
    store = open_store(args)
    seconds = parse_duration(args.older_than)
    removed = store.prune(
        older_than_seconds=seconds, include_pending=args.include_pending, dry_run=args.dry_run
    )
    if args.format == "json":
        _dump({"dry_run": args.dry_run, "removed": [store.backend.display(c.name) for c in removed]}, out)
        return EXIT_OK
    verb = "would remove" if args.dry_run else "removed"
    for context in removed:
        out.write(f"{verb} {store.backend.display(context.name)}\n")
    out.write(f"{verb} {len(removed)} run folder(s)\n")
    return EXIT_OK


@command(
    "sweep",
    flag("--run-uuid", "--run_uuid", "-r", dest="run_uuid", help="only objects of this run"),
    flag("--namespace", "-n", help="only this namespace (default: all)"),
    flag("--delete", action="store_true", help="delete what is found (default: only list)"),
    cluster,
    output("table"),
)
def cmd_sweep(args: argparse.Namespace, out: TextIO) -> int:
    """Find objects the provider created that no pending record covers; --delete removes them."""
    from krkn_airflow_provider.rollback.sweep import find_leftovers, remove_leftover

    if args.run_uuid is not None:
        args.run_uuid = naming.check_run_uuid(args.run_uuid)
    if args.namespace is not None and not _NAMESPACE_RE.fullmatch(args.namespace):
        raise ConfigError(
            f"--namespace {args.namespace[:80]!r} is not a namespace name (lowercase DNS label)"
        )
    store = open_store(args)
    client = dynamic_client(args.kubeconfig, args.context)
    leftovers = find_leftovers(store, client, run_uuid=args.run_uuid, namespace=args.namespace)
    failed, found = 0, []
    for leftover in leftovers:
        outcome = remove_leftover(client, leftover) if args.delete else "leftover"
        failed += outcome.startswith("failed")
        found.append({"object": leftover.describe(), "outcome": outcome})
    if args.format == "json":
        _dump(found, out)
        return EXIT_FAILED if failed else EXIT_OK
    out.writelines(f"{item['outcome']}: {item['object']}\n" for item in found)
    verb = "removed" if args.delete else "found (run again with --delete to remove)"
    out.write(f"{len(leftovers) - failed} leftover object(s) {verb}\n")
    return EXIT_FAILED if failed else EXIT_OK


@command(
    "report",
    flag("run_uuid", metavar="RUN_UUID", help="the run's uuid (see `krkn-rollback list`)"),
    flag("--output-dir", "--dir", dest="output_dir", help="write into this local folder, not the run folder"),
    output("table"),
)
def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    """Render a run's gameday report (HTML and JUnit XML) next to its version files."""
    from krkn_airflow_provider.report import write_report

    store = open_store(args)
    if not store.contexts(naming.check_run_uuid(args.run_uuid)):
        raise ConfigError(f"no run {args.run_uuid} under {store.backend.display()}; see `krkn-rollback list`")
    if args.output_dir is not None and os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise ConfigError(f"--output-dir {args.output_dir} is a file; give a folder")
    files = write_report(store, args.run_uuid, output=args.output_dir)
    report = files.report
    counts, score, verdict = report.counts, report.score().value, report.verdict()
    if args.format == "json":
        _dump({"html": files.html, "junit": files.junit, **report.to_dict()}, out)
        return EXIT_OK
    out.write(f"html:  {files.html}\njunit: {files.junit}\n")
    out.write(f"{verdict.word}: {verdict.text}\n")
    out.write(
        f"score {'-' if score is None else score}; {len(report.tasks)} chaos task row(s); records: "
        f"{counts['executed']} executed, {counts['pending']} pending, {counts['failed']} failed\n"
    )
    return EXIT_OK


def _krkn_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "execute"])
    parser.add_argument("directory", metavar="DIR", help="Krkn's rollback_versions_directory")
    parser.add_argument("--run-uuid", "-r", help="only this Krkn run")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context")


@command("krkn", _krkn_options)
def cmd_krkn(args: argparse.Namespace, out: TextIO) -> int:
    """Krkn's own rollback folder: list, or execute without ever running its code (docs/krkn.md)."""
    from krkn_airflow_provider.rollback import krkn

    store = krkn.KrknStore(args.directory)
    items = krkn.plan(store, run_uuid=args.run_uuid)
    for item in items:
        where = f"{item.entry.context.name}/{item.entry.file_name}"
        if item.status == "ready":
            out.write(f"{where}  [pending]  {item.callable_name}: {'; '.join(item.steps)}\n")
        elif item.status == "not_importable":
            out.write(f"{where}  [pending]  {item.callable_name}: not importable (no mapping; left as is)\n")
        else:
            out.write(f"{where}  [{item.status}]  {item.reason}\n")
    blocked = [item for item in items if item.status in ("not_importable", "refused")]
    ready = [item.entry.id for item in items if item.status == "ready"]
    if args.action == "list" or not ready:
        out.write(f"{len(ready)} to replay, {len(blocked)} left as is\n")
        return EXIT_FAILED if args.action == "execute" and blocked else EXIT_OK
    client = dynamic_client(args.kubeconfig, args.context)
    summary = replay(
        store,
        client,
        run_uuid=args.run_uuid,
        only=ready,
        policy=krkn.KrknPolicy(),
        dry_run=args.dry_run,
        log=lambda line: print(line, file=out),
    )
    out.write(summary.line() + f"; {len(blocked)} left as is\n")
    return EXIT_OK if summary.ok and not blocked else EXIT_FAILED


# -- parser and entry point ------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    return cli_args.build_parser(plain(__doc__).splitlines()[0])


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

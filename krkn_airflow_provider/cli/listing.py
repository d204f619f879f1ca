"""The reading verbs of ``krkn-rollback``: ``list``, ``show`` and ``verify``."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, TextIO

from krkn_airflow_provider.cli.journal import find_entry, open_store, run_uuid_of, select
from krkn_airflow_provider.cli.output import EXIT_FAILED, EXIT_OK, dump, entry_age, nothing_matches
from krkn_airflow_provider.cli_args import command, flag, output, selection
from krkn_airflow_provider.errors import ConfigError, KrknError
from krkn_airflow_provider.report.tables import table
from krkn_airflow_provider.rollback.policy import check_policy
from krkn_airflow_provider.rollback.store import Entry, Store


@command("list", selection(state=True), output("tree"))
def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """List version files by run, with their state.

    -o tree (default) groups them by run folder; -o table prints one row per file with
    DAG, RUN ID and AGE; -o wide adds the task, try and what each record undoes.
    """
    store = open_store(args)
    entries = select(store, args)
    runs: dict[Any, list[Entry]] = {}
    for entry in entries:
        runs.setdefault(entry.context, []).append(entry)
    infos = {context: store.context_info(context) for context in runs}
    if args.format == "json":
        _list_json(store, runs, infos, out)
        return EXIT_OK
    if not entries:
        return nothing_matches(store, args, out)
    now = time.time()
    if args.format in ("table", "wide"):
        _list_table(store, entries, infos, args.format == "wide", now, out)
        return EXIT_OK
    out.write(f"{store.backend.display()}/\n")
    for context, items in runs.items():
        info = infos[context]
        pending = sum(1 for e in items if e.state == "pending")
        label = f"dag {info['dag_id']}, run {info.get('run_id')}" if info.get("dag_id") else "run from CLI"
        out.write(f"  {context.name}/  ({label}; {pending} pending, {len(items) - pending} executed)\n")
        for entry in items:
            out.write(f"    {entry.file_name}  [{entry.state}]  {entry_age(entry, now)}\n")
    return EXIT_OK


def _list_json(store: Store, runs: dict[Any, list[Entry]], infos: dict[Any, Any], out: TextIO) -> None:
    dump(
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


def _list_table(
    store: Store, entries: list[Entry], infos: dict[Any, Any], wide: bool, now: float, out: TextIO
) -> None:
    headers = ["DAG", "RUN ID", "RUN UUID", "STATE", "SCENARIO", "AGE", "FILE"]
    if wide:
        headers += ["TASK", "UNDO"]
    rows = []
    for entry in entries:
        info = infos[entry.context]
        row = [info.get("dag_id"), info.get("run_id"), entry.run_uuid, entry.state, entry.name.scenario]
        row += [entry_age(entry, now), store.path(entry) if wide else entry.file_name]
        if wide:
            row += _wide_cells(store, entry)
        rows.append(row)
    out.write(table(headers, rows, limit=None if wide else 60) + "\n")


def _wide_cells(store: Store, entry: Entry) -> list[str]:
    stored = store.read(entry)
    if stored.record is None:
        return ["-", f"unreadable: {stored.error}"]
    origin = stored.record.origin
    task, try_number = (origin.task_id, origin.try_number) if origin is not None else (None, None)
    return [f"{task} #{try_number}", stored.record.description]


@command(
    "show",
    flag("target", metavar="FILE_OR_RUN", help="a version file path, file name or record id; or a run uuid"),
    output("table"),
)
def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    """Print a version file's header and its record, verified; or a run: its records and verdict."""
    store = open_store(args)
    run_uuid = run_uuid_of(args.target)
    if run_uuid is not None:
        return _show_run(store, run_uuid, args, out)
    store, entry = find_entry(store, args.target)
    parsed = store.load(entry)
    if args.format == "json":
        dump(
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
        dump(report.to_dict(), out)
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
        store, entry = find_entry(store, args.file)
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

"""The ``krkn-rollback execute`` verb: replay pending records and record the outcomes for the report."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from krkn_airflow_provider.cli.journal import KEY_HINT, open_store, require_match, select, selected
from krkn_airflow_provider.cli.kube import dynamic_client
from krkn_airflow_provider.cli.output import EXIT_FAILED, EXIT_OK, dump
from krkn_airflow_provider.cli_args import cluster, command, flag, output, selection
from krkn_airflow_provider.errors import ConfigError, KrknError
from krkn_airflow_provider.rollback.replay import replay
from krkn_airflow_provider.rollback.store import Store


@command(
    "execute",
    selection(),
    flag("--record", action="append", help="only this record id (repeatable)"),
    flag("--all", dest="all_runs", action="store_true", help="replay every pending record of every run"),
    flag("--dry-run", action="store_true", help="print what would be done, change nothing"),
    cluster,
    flag(
        "--workers",
        type=int,
        default=1,
        help="apply records of different objects in N parallel lanes (processes for a local journal)",
    ),
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
    if not (selected(args) or args.all_runs):
        raise ConfigError(
            "execute: give a selection (--run-uuid, --run-id, --dag-id, --task-id, --scenario, --record) "
            "or --all to replay every pending record of every run"
        )
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: must be at least 1")
    store = open_store(args, must_exist=True)
    require_match(store, args)
    only = None
    if args.dag_id or args.run_id or args.record:
        args.state = "pending"
        only = [entry.id for entry in select(store, args)]
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
        dump({**summary.to_dict(), "reports": reports}, out)
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

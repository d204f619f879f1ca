"""The ``krkn-rollback report`` verb: render a run's gameday report (HTML and JUnit XML)."""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from krkn_airflow_provider.cli.journal import open_store
from krkn_airflow_provider.cli.output import EXIT_OK, dump
from krkn_airflow_provider.cli_args import command, flag, output
from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback import naming


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
        dump({"html": files.html, "junit": files.junit, **report.to_dict()}, out)
        return EXIT_OK
    out.write(f"html:  {files.html}\njunit: {files.junit}\n")
    out.write(f"{verdict.word}: {verdict.text}\n")
    out.write(
        f"score {'-' if score is None else score}; {len(report.tasks)} chaos task row(s); records: "
        f"{counts['executed']} executed, {counts['pending']} pending, {counts['failed']} failed\n"
    )
    return EXIT_OK

"""The ``krkn-rollback krkn`` verb: list or replay Krkn's own rollback folder without running its code."""

from __future__ import annotations

import argparse
from typing import TextIO

from krkn_airflow_provider.cli.kube import dynamic_client
from krkn_airflow_provider.cli.output import EXIT_FAILED, EXIT_OK
from krkn_airflow_provider.cli_args import command
from krkn_airflow_provider.rollback.replay import replay


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

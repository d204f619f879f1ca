"""The tidying verbs of ``krkn-rollback``: ``prune`` old run folders, ``sweep`` leftover objects."""

from __future__ import annotations

import argparse
import re
from typing import TextIO

from krkn_airflow_provider.cli.journal import open_store
from krkn_airflow_provider.cli.kube import dynamic_client
from krkn_airflow_provider.cli.output import EXIT_FAILED, EXIT_OK, dump
from krkn_airflow_provider.cli_args import cluster, command, flag, output
from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback import naming

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
        dump({"dry_run": args.dry_run, "removed": [store.backend.display(c.name) for c in removed]}, out)
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
        dump(found, out)
        return EXIT_FAILED if failed else EXIT_OK
    out.writelines(f"{item['outcome']}: {item['object']}\n" for item in found)
    verb = "removed" if args.delete else "found (run again with --delete to remove)"
    out.write(f"{len(leftovers) - failed} leftover object(s) {verb}\n")
    return EXIT_FAILED if failed else EXIT_OK

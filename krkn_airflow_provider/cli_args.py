"""The ``krkn-rollback`` argument parser: verbs registered Alembic-style, options anywhere.

A verb is one function ``cmd_x(args, out) -> int`` with a docstring, registered with
``@command("x", *options)``; its docstring (without reST markup) is its help. Option
builders add the flags verbs share: ``selection()``, ``output(default)``, ``cluster``,
``flag(...)``. ``--location`` and ``--debug`` are accepted before or after the verb.
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

FORMATS = ("tree", "table", "wide", "json")

Handler = Callable[[argparse.Namespace, TextIO], int]
Option = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    name: str
    func: Handler
    options: tuple[Option, ...]


COMMANDS: dict[str, Command] = {}


def command(name: str, *options: Option) -> Callable[[Handler], Handler]:
    """Register ``func`` as the verb ``name``; its docstring is the help, ``options`` add its flags."""

    def register(func: Handler) -> Handler:
        COMMANDS[name] = Command(name, func, options)
        return func

    return register


# -- option builders -----------------------------------------------------------------


def selection(*, state: bool = False) -> Option:
    """Filters that pick records: run, DAG, task, scenario (Krkn's spellings too)."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--run-uuid", "--run_uuid", "-r", dest="run_uuid", help="only this run (journal uuid)"
        )
        parser.add_argument("--run-id", dest="run_id", help="only this Airflow run id, e.g. manual__2026-…")
        parser.add_argument("--dag-id", dest="dag_id", help="only runs of this DAG")
        parser.add_argument("--task-id", dest="task_id", help="only records written by this task")
        parser.add_argument(
            "--scenario",
            "--scenario-type",
            "--scenario_type",
            "-s",
            dest="scenario",
            help="only this scenario type, e.g. pod_disruption_scenarios",
        )
        if state:
            parser.add_argument("--state", choices=["pending", "executed"], help="only records in this state")

    return add


def output(default: str) -> Option:
    """``-o json|table|tree|wide`` (and ``--json``)."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-o",
            "--output",
            "--format",
            dest="format",
            choices=FORMATS,
            default=default,
            help="output format",
        )
        parser.add_argument(
            "--json", dest="format", action="store_const", const="json", help="same as -o json"
        )

    return add


def cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context")


def flag(*names: str, **kwargs: Any) -> Option:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*names, **kwargs)

    return add


def plain(doc: str | None) -> str:
    """A docstring as help text: no reST markup, no ``:param:`` lines, dedented."""
    text = inspect.cleandoc(doc or "")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(":")]
    text = "\n".join(lines).strip()
    text = re.sub(r"``([^`]+)``", r"\1", text)
    return re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--location",
        "-l",
        default=default,
        help="journal root: a path or fsspec URL (default: [krkn] rollback_location when Airflow is "
        "installed, else $KRKN_ROLLBACK_LOCATION, else ~/.krkn/rollback)",
    )
    parser.add_argument(
        "--conn-id",
        default=default,
        help="Airflow connection for an object storage location (default: [krkn] rollback_conn_id, "
        "else $KRKN_ROLLBACK_CONN_ID); needs Airflow installed",
    )
    parser.add_argument(
        "--hmac-key-file",
        default=default,
        help="file holding the journal's HMAC key (default: $KRKN_ROLLBACK_HMAC_KEY)",
    )
    parser.add_argument(
        "--old-hmac-key-file",
        action="append",
        default=default,
        help="file holding a retired key whose signatures are still accepted (repeatable; default: "
        "$KRKN_ROLLBACK_HMAC_OLD_KEYS, comma-separated)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="show tracebacks",
    )


def build_parser(description: str) -> argparse.ArgumentParser:
    """The parser of every registered verb."""
    parser = argparse.ArgumentParser(
        prog="krkn-rollback",
        description=description,
        epilog="Options may come before or after the command. `krkn-rollback COMMAND --help` for more.",
    )
    _global_options(parser, suppress=False)
    # The same options after the verb; SUPPRESS keeps a value given before the verb.
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")
    for name, spec in COMMANDS.items():
        doc = plain(spec.func.__doc__)
        sub = commands.add_parser(
            name,
            help=doc.splitlines()[0] if doc else None,
            description=doc,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for option in spec.options:
            option(sub)
        sub.set_defaults(func=spec.func)
    return parser

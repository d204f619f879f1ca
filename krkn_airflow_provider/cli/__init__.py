"""``krkn-rollback``: list, show, verify, execute, prune, sweep and report on the rollback journal.

Each verb is one function in a module of this package, registered with ``@command`` (help
from its docstring, options from small builders in ``cli_args``); ``main`` maps every error
to one message line and an exit code (0 all done, 1 some records failed or a place could not
be reached, 2 bad input); no traceback reaches the user unless ``--debug`` is given. Options
go before or after the verb, as with kubectl. Nothing here needs Airflow; a verb imports the
Kubernetes client and the report renderer only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from krkn_airflow_provider import cli_args

# Importing a verb module registers its verbs; ``--help`` lists them in this order.
# isort: off
from krkn_airflow_provider.cli import listing, execute, cleanup, report, krkn  # noqa: F401

# isort: on
from krkn_airflow_provider.cli.cleanup import parse_duration
from krkn_airflow_provider.cli.journal import HMAC_ENV, KEY_HINT, open_store
from krkn_airflow_provider.cli.kube import dynamic_client, unreachable
from krkn_airflow_provider.cli.output import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from krkn_airflow_provider.cli_args import plain
from krkn_airflow_provider.errors import ConfigError, KrknError, UnsafeName

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_OK",
    "HMAC_ENV",
    "KEY_HINT",
    "build_parser",
    "dynamic_client",
    "main",
    "open_store",
    "parse_duration",
]


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
        return unreachable(host, error)
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        return f"{error.strerror or error}{where}"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"

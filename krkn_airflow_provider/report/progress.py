"""A progress bar under the ``[i/n] …`` lines of a replay, for terminals only."""

from __future__ import annotations

import re
from typing import TextIO

_POSITION = re.compile(r"^\[(\d+)/(\d+)\] ")
MIN_RECORDS = 10
WIDTH = 30


class ReplayProgress:
    """A log callable: writes each line, and on a terminal keeps a bar as the last line.

    The bar shows only for replays of at least ``min_records`` records; elsewhere (a pipe,
    a file, a CI log) the lines are written unchanged.
    """

    def __init__(self, out: TextIO, *, min_records: int = MIN_RECORDS) -> None:
        self.out = out
        self.min_records = min_records
        isatty = getattr(out, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self.bar_shown = False

    def __call__(self, line: str) -> None:
        match = _POSITION.match(line)
        if self.bar_shown:
            self.out.write("\r\033[K")
        self.out.write(line + "\n")
        self.bar_shown = False
        if self.tty and match and int(match[2]) >= self.min_records:
            done, total = int(match[1]), int(match[2])
            filled = WIDTH * done // total
            self.out.write(f"[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total} {100 * done // total}%")
            self.bar_shown = done < total
            if not self.bar_shown:
                self.out.write("\n")
        self.out.flush()

    def close(self) -> None:
        """End the bar's line (a replay that stopped early)."""
        if self.bar_shown:
            self.out.write("\n")
            self.out.flush()
            self.bar_shown = False

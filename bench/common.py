"""Shared helpers for the benchmarks: timing and the result table."""

from __future__ import annotations

import atexit
import contextlib
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_scratch_root: str | None = None


@contextlib.contextmanager
def scratch() -> Iterator[str]:
    """A fresh folder for one benchmark, under ``KRKN_BENCH_DIR`` (default: the system's
    temp folder), removed when the whole run ends rather than when the benchmark does, so
    that no benchmark runs right after the clean-up of another (see :func:`new_file_cost`)."""
    global _scratch_root
    if _scratch_root is None:
        _scratch_root = tempfile.mkdtemp(prefix="krkn-bench-", dir=os.environ.get("KRKN_BENCH_DIR"))
        atexit.register(shutil.rmtree, _scratch_root, ignore_errors=True)
    yield tempfile.mkdtemp(dir=_scratch_root)


def new_file_cost(folder: str, count: int = 300) -> float:
    """Median CPU seconds (this thread, kernel time included) to create an empty file in
    ``folder``. Printed with the table because it can differ by folder and by minute on one
    disk (once on this machine: 0.008 ms in /var/tmp, 0.17-0.26 ms in /tmp, where ext4
    searched for a free inode near a crowded folder), and every record is a new file."""
    took = []
    with tempfile.TemporaryDirectory(dir=folder) as probe:
        for index in range(count):
            started = time.thread_time()
            os.close(os.open(os.path.join(probe, str(index)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            took.append(time.thread_time() - started)
    return statistics.median(took)


@dataclass
class Result:
    name: str
    ours: float
    baseline: float
    unit: str = "s"
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")


def timed(call: Callable[..., object], *args: object, **kwargs: object) -> float:
    """Seconds that ``call(*args, **kwargs)`` takes."""
    started = time.perf_counter()
    call(*args, **kwargs)
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    python = platform.python_version()
    system = f"{platform.system()} {platform.release()}"
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {python}, {system}"


def print_table(results: list[Result]) -> None:
    print(f"machine: {machine()}")
    if _scratch_root is not None:
        cost = new_file_cost(_scratch_root) * 1000
        print(f"scratch folder: {os.path.dirname(_scratch_root)}, a new file costs {cost:.3f} ms of CPU")
    print(f"{'benchmark':58} {'ours':>12} {'baseline':>12} {'ratio':>7}  target")
    for r in results:
        ours, base = _show(r.ours, r.unit), _show(r.baseline, r.unit)
        print(f"{r.name:58} {ours:>12} {base:>12} {r.ratio:>6.2f}x  {r.target}")
        if r.note:
            print(f"    {r.note}")


def _show(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value * 1000:.3f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:.3f} s"

"""Shared helpers for the benchmarks: timing and the result table."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


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
    import os

    python = platform.python_version()
    system = f"{platform.system()} {platform.release()}"
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {python}, {system}"


def print_table(results: list[Result]) -> None:
    print(f"machine: {machine()}")
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

"""Typed fields shared by the scenario config models: strict where Krkn is, bounded always.

A whole number written as a string (``duration: "30"``, what a Jinja-rendered
``scenario_config`` gives) is read as that number. ``true``/``false`` is never a number, a
fraction is never a count, and a boolean key takes only ``true``/``false`` (``force: "off"``
is refused). Where Krkn's own parsing checks the type (pod disruption ``kill`` must be an
integer) the field uses ``StrictInt``.

The upper bounds keep a typo from becoming a week-long outage or a thousand pods; they are
documented in docs/scenarios.md ("Limits").
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool, StrictInt

#: Longest hold, wait or timeout a scenario accepts: one day.
MAX_SECONDS = 86_400
#: Most objects one entry may select or create (pods, nodes, containers, Services).
MAX_COUNT = 1_000
#: Most repetitions of one entry (``runs``).
MAX_RUNS = 100


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got true/false")
    return value


Seconds = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=MAX_SECONDS)]
"""A duration in seconds, 0 to ``MAX_SECONDS``."""
Count = Annotated[int, BeforeValidator(_no_bool), Field(le=MAX_COUNT)]
"""A number of objects, at most ``MAX_COUNT`` (the lower bound is the field's)."""
Runs = Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=MAX_RUNS)]
"""How many times an entry runs, 1 to ``MAX_RUNS``."""
Number = Annotated[int, BeforeValidator(_no_bool)]
"""Any other integer (ports, sizes, percentages: the field gives the bounds)."""

__all__ = [
    "MAX_COUNT",
    "MAX_RUNS",
    "MAX_SECONDS",
    "Count",
    "Number",
    "Runs",
    "Seconds",
    "StrictBool",
    "StrictInt",
]

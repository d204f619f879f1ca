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

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StrictInt

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


def _taint_forms(taints: list[str]) -> list[str]:
    for taint in taints:
        if ":" not in taint or not taint.split(":", 1)[0]:
            raise ValueError(f"expected 'key[=value]:Effect', got {taint!r}")
    return taints


Taints = Annotated[list[str], AfterValidator(_taint_forms)]
"""Taints a helper pod tolerates, each ``key[=value]:Effect``."""


def tolerations(taints: list[str]) -> list[dict[str, str]]:
    """The pod tolerations of ``Taints``: ``Equal`` with a value, ``Exists`` without."""
    result = []
    for taint in taints:
        key_value, effect = taint.split(":", 1)
        key, sep, value = key_value.partition("=")
        if sep:
            result.append({"key": key, "operator": "Equal", "value": value, "effect": effect})
        else:
            result.append({"key": key, "operator": "Exists", "effect": effect})
    return result


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
    "Taints",
    "tolerations",
]

"""What an entry's ``plan()`` returns: the targets as objects, and what the selection matched.

A ``Target`` names one object a scenario will hit (kind, namespace, name, and the object
as the plan read it); its ``str()`` is the ``"Kind ns/name"`` line logs, summaries and
the blast-radius messages show. A ``Plan`` is the targets plus, when the scenario picked
a subset at random, how many it chose of how many the selection matched (``max_percent``
is checked against it). ``pick`` is that random subset, the same for every type.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """One object a plan hits.

    :param detail: shown after the name (a mount path, a container), never parsed.
    :param obj: the object as the plan read it (with ``apiVersion`` and ``kind``), or ``{}``.
    """

    kind: str
    name: str
    namespace: str | None = None
    detail: str = ""
    obj: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, obj: dict[str, Any], kind: str, *, detail: str = "") -> Target:
        """The target for an object read from the cluster (list items may lack ``kind``)."""
        metadata = obj["metadata"]
        return cls(kind, metadata["name"], metadata.get("namespace"), detail, obj)

    @classmethod
    def parse(cls, text: str) -> Target:
        """A target from its ``str()`` (what a deferred hold carried as JSON)."""
        kind, _, rest = text.partition(" ")
        where, _, detail = rest.partition(" ")
        namespace, _, name = where.rpartition("/")
        return cls(kind, name, namespace or None, detail)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where} {self.detail}".rstrip()


@dataclass(frozen=True)
class Plan:
    """The targets of one entry.

    :param selected: ``(chosen, matched)`` when the scenario picked a random subset of
        what its selection matched (namespaces, say, whose objects are the targets);
        ``None``: every match is a target.
    """

    targets: tuple[Target, ...]
    selected: tuple[int, int] | None = None

    def __iter__(self) -> Iterator[Target]:
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def names(self) -> list[str]:
        return [str(target) for target in self.targets]

    @classmethod
    def parse(cls, names: Sequence[str]) -> Plan:
        return cls(tuple(Target.parse(name) for name in names))


def pick(found: Sequence[Target], count: int, *, sort: bool = False) -> Plan:
    """``count`` of ``found`` at random (sorted by name with ``sort``), remembering how many matched."""
    chosen = random.sample(list(found), count)
    if sort:
        chosen.sort(key=str)
    return Plan(tuple(chosen), selected=(count, len(found)))
